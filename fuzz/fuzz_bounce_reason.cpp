// fuzz_bounce_reason: arbitrary bytes as a bounce's diagnostic text (and, from its first bytes,
// the reply code and enhanced status), through classify_bounce. Must never crash, hang or trip
// UBSan, and a suppression is only ever for a permanent failure.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/bounce_reason.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    int code = size >= 2 ? 400 + (data[0] % 2) * 100 + data[1] % 60 : 550;
    std::string status = size >= 4 ? std::string(1, code >= 500 ? '5' : '4') + "." + std::to_string(data[2] % 8) + "." +
                                         std::to_string(data[3] % 12)
                                   : "";
    auto r = ar::classify_bounce(code, status, in);
    if (r.suppress && !r.hard) __builtin_trap();
    if (r.reason.empty()) __builtin_trap();
    (void)ar::classify_bounce(0, "", in);
    return 0;
}
