// fuzz_mime: parse_message, html_to_text and the header decoders on arbitrary bytes.
// Beyond not crashing, checks the promise that every decoded string is valid UTF-8.
#include "mime/decode.h"
#include "mime/parse.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void require_utf8(const std::string& s) {
    if (ar::mime::decode::sanitize_utf8(s) != s) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto m = ar::mime::parse_message(in);
    if (m.ok()) {
        for (const auto* s :
             {&m->from, &m->to, &m->cc, &m->reply_to, &m->subject, &m->date, &m->text, &m->html})
            require_utf8(*s);
        for (const auto& a : m->attachments)
            require_utf8(a.filename);
    }
    require_utf8(ar::mime::html_to_text(in));
    require_utf8(ar::mime::decode::rfc2047(in));
    (void)ar::mime::parse_msg_ids(in);
    (void)ar::mime::parse_content_type(in);
    return 0;
}
