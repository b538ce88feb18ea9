// fuzz_http: arbitrary bytes as the parts of an HTTP request the door reads itself (Beast parses
// the message): the query string (parse_query) and the Host header of a browser request
// (host_allowed). Must never crash, leak or trip UBSan; a decoded value is never longer than
// what it came from.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/door_guard.h"
#include "http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto params = ar::http::parse_query(in);
    for (const auto& [k, v] : params)
        if (k.size() + v.size() > size) __builtin_trap();
    (void)ar::http::host_allowed(in, {"relay.example.com"});
    (void)ar::http::reason_phrase(static_cast<int>(size));
    return 0;
}
