// fuzz_dsn: parse_dsn and parse_delivery_status on arbitrary bytes.
#include "mime/dsn.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto d = ar::mime::parse_dsn(in);
    if (d.ok() && d->recipients.empty()) std::abort(); // promised: at least one recipient
    (void)ar::mime::parse_delivery_status(in);
    return 0;
}
