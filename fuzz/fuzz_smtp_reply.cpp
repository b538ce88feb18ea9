// fuzz_smtp_reply: ReplyParser::feed and parse_ehlo on arbitrary server output. The input is
// split into lines at LF (a trailing CR removed), as the client's line reader does.
#include "smtp/reply.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    ar::smtp::ReplyParser parser;
    while (!input.empty()) {
        const size_t end = input.find('\n');
        std::string_view line = input.substr(0, end);
        input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto fed = parser.feed(line);
        if (!fed.ok() || !fed->has_value()) continue;
        const ar::smtp::Reply& reply = **fed;
        if (reply.code < 200 || reply.code > 559 || reply.lines.empty()) __builtin_trap();
        (void)reply.to_string();
        auto ext = ar::smtp::parse_ehlo(reply);
        (void)ext.has_auth("PLAIN");
    }
    return 0;
}
