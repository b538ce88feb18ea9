// canonicalize.h: the "relaxed" canonicalization of RFC 6376 3.4.2 (header) and 3.4.4 (body).
//
// Both functions accept arbitrary bytes and never fail: canonicalization is defined on any
// input, and the signer is the one that checks a message is well formed. The output of
// relaxed_body is a fixed point: canonicalizing it again gives the same bytes. No OpenSSL
// here, so the fuzz target links only this file.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace ar::dkim {

// One header field, relaxed: "name:value\r\n". `name` is lowercased and loses trailing WSP;
// `value` (everything after the colon, folded or not, with or without its final CRLF) is
// unfolded, each run of WSP becomes one SP, and WSP at its start and end is removed.
std::string relaxed_header(std::string_view name, std::string_view value);

// The body, relaxed: WSP runs become one SP, WSP at line ends is removed, empty lines at the
// end are removed, and a non-empty body ends in CRLF. An empty body stays empty (3.4.4 does not
// add a CRLF, unlike "simple" in 3.4.3). Lines end at CRLF; a lone CR or LF is ordinary data.
std::string relaxed_body(std::string_view body);

// The same, handed to `sink` in pieces (for hashing a large body without copying it).
void relaxed_body(std::string_view body, const std::function<void(std::string_view)>& sink);

} // namespace ar::dkim
