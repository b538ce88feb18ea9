// Fuzzes DKIM relaxed canonicalization on arbitrary bytes: no crash, and both functions are
// idempotent (canonical output canonicalizes to itself), and the streaming body form agrees.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dkim/canonicalize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    std::string body = ar::dkim::relaxed_body(input);
    if (ar::dkim::relaxed_body(body) != body) abort();
    std::string streamed;
    ar::dkim::relaxed_body(input, [&](std::string_view piece) { streamed += piece; });
    if (streamed != body) abort();
    if (!body.empty() && body.substr(body.size() - 2) != "\r\n") abort();

    // Name up to the first colon, value after it, as a header field is split.
    size_t colon = input.find(':');
    std::string_view name = input.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : input.substr(colon + 1);
    std::string field = ar::dkim::relaxed_header(name, value);
    if (field.size() < 3 || field.substr(field.size() - 2) != "\r\n") abort();
    size_t out_colon = field.find(':');
    if (out_colon == std::string::npos) abort();
    std::string_view canon(field);
    if (ar::dkim::relaxed_header(canon.substr(0, out_colon), canon.substr(out_colon + 1)) != field)
        abort();
    return 0;
}
