// address.h: email addresses and mailboxes (RFC 5321 section 4.1.2, RFC 5322 section 3.4,
// RFC 6531/6532 for UTF-8).
//
// Parsing is the door: every address an agent hands in goes through parse_address,
// parse_mailbox or parse_mailbox_list once, and what comes out is a Mailbox that obeys the
// RFC 5321 limits (local part at most 64 octets, domain at most 255, labels at most 63, path
// at most 254), holds valid UTF-8 and never a control character (so no CR/LF header or
// envelope injection). Errors are ar::invalid values with an empty field (the caller names
// the field) and a message that says what was wrong and what is allowed.
//
// Not supported, on purpose: comments "(...)" and group syntax "name: a@b;" in mailboxes,
// source routes, and general address literals other than IPv4 and "IPv6:".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ar::mime {

struct Mailbox {
    std::string display_name; // UTF-8, may be empty
    std::string local_part;   // unquoted content (quoted-string contents with escapes removed)
    std::string domain; // as given; U-labels (UTF-8) allowed, or an address literal "[1.2.3.4]"

    // RFC 5321 form local@domain, re-quoting the local part when it is not a dot-atom.
    std::string address() const;
    // ASCII-lowercased domain, for routing and comparison. Non-ASCII bytes are kept as they are.
    std::string domain_lower() const;
    // The domain as DNS knows it: ASCII-lowercased, each U-label turned into its A-label
    // ("xn--" + Punycode, RFC 3492). No Unicode case folding or normalisation is applied
    // (IDNA2008 mapping is the sender's job), so give U-labels in lower case NFC.
    // Address literals come back unchanged.
    std::string domain_ascii() const;
    // True when the local part or the domain has non-ASCII bytes (needs SMTPUTF8, RFC 6531).
    bool needs_smtputf8() const;
    // For a header: "Name <addr>", with the name as atoms, a quoted string or RFC 2047 encoded
    // words as needed; or just "addr" when there is no display name.
    std::string to_header() const;
};

// A bare addr-spec: "local@domain". Surrounding spaces are ignored.
ar::Result<Mailbox> parse_address(std::string_view s);
// "a@b", "<a@b>", "Name <a@b>", "\"Q, Name\" <a@b>", UTF-8 names.
ar::Result<Mailbox> parse_mailbox(std::string_view s);
// Comma-separated mailboxes; commas inside double quotes do not separate. Empty entries (as
// after a trailing comma) are skipped, but the list must hold at least one mailbox.
ar::Result<std::vector<Mailbox>> parse_mailbox_list(std::string_view s);
// Checks a Mailbox built by hand (not parsed) as parse_mailbox would: address limits, and a
// display name that is valid UTF-8 without control characters.
ar::Status check_mailbox(const Mailbox& m);

// Same mailbox for delivery: local part compared exactly, domain case-insensitively (ASCII).
bool same_address(const Mailbox& a, const Mailbox& b);

// The header-ready pieces of to_header(): words and quoted strings of the name (or its encoded
// words) and the final "<addr>", to be joined with single spaces. Header folding may break
// between pieces, never inside one. Encoded words are at most `max_word` characters.
std::vector<std::string> header_pieces(const Mailbox& m, std::size_t max_word = 75);

} // namespace ar::mime
