// decode.h: the decoding steps a received message needs before anyone reads it.
//
// Content-Transfer-Encoding (base64, quoted-printable), RFC 2047 encoded words in header
// values, and charset conversion to UTF-8. Every function here accepts any bytes, never
// throws, runs in time linear in its input, and returns valid UTF-8 where it says so.
// Malformed input decodes as well as it can rather than failing: received mail is often
// slightly broken and the reader still wants its text.
#pragma once

#include <string>
#include <string_view>

#include "core/text.h"

// Everything lives in ar::mime::decode so that it reads as `decode::base64(...)` and cannot
// clash with the composing side of ar::mime.
namespace ar::mime::decode {

// Base64 (RFC 2045 section 6.8). Characters outside the alphabet (line breaks, spaces, junk)
// are skipped; a missing final padding is tolerated; '=' ends a run, so concatenated
// encodings decode too.
std::string base64(std::string_view in);

// Quoted-printable (RFC 2045 section 6.7): "=XX" (either case) becomes a byte, "=" at a line
// end is a soft line break, trailing blanks on a line are dropped; a stray "=" stays as is.
std::string quoted_printable(std::string_view in);

// The "Q" encoding of RFC 2047 section 4.2: quoted-printable where "_" stands for a space.
std::string q_encoding(std::string_view in);

// Converts bytes in `charset` to UTF-8. Known: utf-8, us-ascii, iso-8859-1 and
// windows-1252 (with their common aliases; iso-8859-1 is read as windows-1252, as browsers
// do). Any other charset: the bytes pass through with invalid UTF-8 replaced by U+FFFD.
std::string to_utf8(std::string_view bytes, std::string_view charset);

// Valid UTF-8 out of any bytes: each maximal invalid subsequence becomes U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

// Appends the UTF-8 encoding of a code point (U+FFFD for surrogates and out-of-range values).
void append_utf8(std::string& out, unsigned long code_point);

// Decodes RFC 2047 encoded words ("=?charset?B|Q?text?=") in a header value to UTF-8.
// Whitespace between two adjacent encoded words is dropped; adjacent words in the same
// charset are joined before conversion, so a character split across words survives. Text
// outside encoded words is taken as UTF-8 (RFC 6532) with invalid bytes replaced.
std::string rfc2047(std::string_view value);

// Decodes "%XX" escapes (RFC 2231 extended parameter values); a stray "%" stays as is.
std::string percent(std::string_view in);

// ASCII lowercase copy (case-insensitive comparison: ar::iequals, core/text.h).
std::string lower(std::string_view s);

// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trim(std::string_view s);

} // namespace ar::mime::decode
