// encoding.h: the byte-level encodings an outgoing message needs.
//
// RFC 2047 encoded words for non-ASCII header text, base64 (RFC 4648 alphabet, via OpenSSL)
// for attachments, quoted-printable (RFC 2045) for text bodies, and UTF-8 checks. Every
// encoder here returns pure ASCII whose lines never exceed 76 characters, so its output can go
// into a message as is. Nothing here allocates randomness or touches the network.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ar::mime {

// True when every byte is below 0x80.
bool is_ascii(std::string_view s);

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Reads one UTF-8 character of `s` at `i`: on success stores it in `cp`, advances `i` and
// returns true; on a malformed sequence returns false and leaves `i` alone.
bool next_utf8(std::string_view s, std::size_t& i, char32_t& cp);

// True when `s` contains a C0 control (U+0000..U+001F, including TAB, CR, LF, NUL), DEL, or a
// C1 control (U+0080..U+009F). `s` must be valid UTF-8 for the C1 check to be meaningful.
bool has_control_char(std::string_view s);

// RFC 2047: returns `utf8` unchanged when it is ASCII; otherwise the whole text as UTF-8
// encoded words ("=?UTF-8?Q?...?=" or "=?UTF-8?B?...?=", whichever is shorter), each at most
// 75 characters, separated by single spaces (which decoders drop between encoded words).
// Words never split a UTF-8 character. The Q form only uses characters safe in a phrase, so
// the result may stand in a display name as well as in unstructured text like Subject.
std::string encode_words(std::string_view utf8);

// Like encode_words but always encodes, even ASCII, with each word at most `max_word`
// characters (at least 16; larger values are capped at 75). Used when plain text could not be
// folded, or would be misread as an encoded word.
std::string encode_words_always(std::string_view utf8, std::size_t max_word = 75);

// Base64 (RFC 4648 section 4, with '=' padding) on one line.
std::string base64_encode(std::string_view data);

// Strict base64 decoding for data handed in by agents: the standard alphabet only, '=' padding
// only at the end, and a length (not counting whitespace) that is a multiple of 4. Line breaks,
// spaces and tabs are skipped so MIME-wrapped input is accepted. Errors say what was wrong.
ar::Result<std::string> base64_decode(std::string_view text);

// Base64 in 76-character lines, each ending in CRLF (RFC 2045 section 6.8). Empty for empty data.
std::string base64_lines(std::string_view data);

// Quoted-printable (RFC 2045 section 6.7) for text: CRLF or a lone LF is a line break (written
// as CRLF); every other byte outside printable ASCII, '=', and whitespace before a line break
// are escaped. Encoded lines are at most 76 characters, using soft line breaks ("=" CRLF).
std::string quoted_printable(std::string_view text);

} // namespace ar::mime
