// message.h: a message split into header fields and body the way DKIM sees it (RFC 6376
// section 3.7), and the header data both the signer and the verifier hash.
//
// Promises: parse_message accepts any bytes and either splits them or says why it cannot
// (bare CR or LF, a header line that is not a field); the views it returns point into the
// message passed in, which must outlive them. No I/O and no Asio here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/text.h"

namespace ar::dkim {

enum class Canon { Simple, Relaxed };

struct HeaderField {
    std::string_view name;  // as written, without trailing WSP
    std::string_view value; // after the colon, continuation lines included, final CRLF not
    std::string_view raw;   // the whole field as written, final CRLF not included
};

struct ParsedMessage {
    std::vector<HeaderField> fields;
    std::string_view body;
};

ar::Result<ParsedMessage> parse_message(std::string_view message);

// One field canonicalized, with its CRLF: simple is the field as written (3.4.1), relaxed
// that of 3.4.2.
std::string canonical_header(std::string_view name, std::string_view value, std::string_view raw,
                             Canon c);

// The header data of RFC 6376 3.7: each field named in `signed_headers`, chosen from the bottom
// up (5.4.2) and canonicalized; then `signature_field` (the DKIM-Signature field as written,
// its b= value empty), canonicalized, without its final CRLF. A name with no field left
// contributes nothing (that is how over-signing works).
ar::Result<std::string> header_data(const ParsedMessage& msg,
                                    const std::vector<std::string>& signed_headers,
                                    std::string_view signature_field, Canon c);

} // namespace ar::dkim
