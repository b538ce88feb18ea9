// fuzz_address: feeds arbitrary bytes to the address parsers and checks what they promise:
// a parsed mailbox re-parses from address() to the same local part and domain, passes
// check_mailbox, renders a header form without line breaks that reads back (when not encoded),
// and composes into a well-formed message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/address.h"
#include "mime/compose.h"
#include "mime/encoding.h"

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

void check_mailbox_promises(const ar::mime::Mailbox& m, std::string_view input) {
    auto again = ar::mime::parse_address(m.address());
    require(again.ok());
    require(again->local_part == m.local_part && again->domain == m.domain);
    require(ar::mime::same_address(m, *again));
    require(ar::mime::check_mailbox(m).ok());
    require(ar::mime::is_valid_utf8(m.display_name + m.local_part + m.domain));
    require(ar::mime::is_ascii(m.domain_ascii()));
    require(m.needs_smtputf8() == !ar::mime::is_ascii(m.local_part + m.domain));
    require(m.address().size() <= 254);

    const std::string header = m.to_header();
    require(header.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    auto pieces = ar::mime::header_pieces(m);
    bool encoded = !m.display_name.empty() && pieces.front().rfind("=?", 0) == 0;
    if (!encoded) {
        auto back = ar::mime::parse_mailbox(header);
        require(back.ok());
        require(back->display_name == m.display_name);
        require(back->local_part == m.local_part && back->domain == m.domain);
    }

    ar::mime::Draft d;
    d.from = m;
    d.to = {m};
    d.subject = std::string(input.substr(0, 2000));
    d.text = std::string(input.substr(0, 2000));
    d.message_id = "<fuzz@relay.example>";
    auto msg = ar::mime::compose(d);
    // Only bad input may fail (invalid subject or body); the composer's own check never.
    require(msg.ok() || msg.error().code == ar::kErrInvalid);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view s(reinterpret_cast<const char*>(data), size);
    if (auto list = ar::mime::parse_mailbox_list(s))
        for (const auto& m : *list)
            check_mailbox_promises(m, s);
    if (auto one = ar::mime::parse_mailbox(s)) check_mailbox_promises(*one, s);
    if (auto bare = ar::mime::parse_address(s)) {
        require(bare->display_name.empty());
        check_mailbox_promises(*bare, s);
    }
    return 0;
}
