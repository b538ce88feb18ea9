// parse.h: reads a received RFC 5322 / MIME message into what an agent's inbox shows.
//
// parse_message takes the raw bytes of any message, however broken or hostile, and returns
// its headers, decoded address and subject fields, message ids, the text and HTML bodies in
// UTF-8, and the attachments as decoded bytes, or an Error saying why it could not. It
// promises: no exceptions, no crash, time linear in the input (times the nesting depth),
// multiparts nested at most kMaxDepth deep and at most kMaxParts parts (beyond either: an
// error), and a multipart whose final boundary is missing still yields the parts read.
//
// The lower-level pieces (header section, Content-Type parameters, multipart splitting,
// transfer decoding) are public too: the DSN reader (dsn.h) walks a report with them.
#pragma once

#include "core/result.h"

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ar::mime {

inline constexpr int kMaxDepth = 20;   // nested multiparts below the top-level entity
inline constexpr int kMaxParts = 1000; // body parts in the whole message

struct Header {
    std::string name;
    std::string value; // unfolded raw value (line breaks of folding removed), trimmed
};

struct ParsedAttachment {
    std::string filename;     // decoded (RFC 2231 / 2047), without any directory part
    std::string content_type; // type/subtype, lowercased
    std::string content;      // decoded bytes
};

struct ParsedMessage {
    std::vector<Header> headers; // top-level, in order
    // First header with this name (case-insensitive), RFC 2047-decoded to UTF-8; "" if none.
    std::string header(std::string_view name) const;

    std::string from, to, cc, reply_to, subject, date; // decoded header values
    std::string message_id, in_reply_to;               // bare "<...>" ids
    std::vector<std::string> references;               // "<...>" ids in order
    std::string content_type;                          // top-level type/subtype, lowercased
    std::string text; // first text/plain body (UTF-8, LF line ends); else from html
    std::string html; // first text/html body (UTF-8)
    // Parts with Content-Disposition: attachment, non-text leaves with a filename, and
    // attached messages (message/rfc822, message/global).
    std::vector<ParsedAttachment> attachments;
    // RFC 3834 Auto-Submitted other than "no"; also X-Autoreply, X-Autorespond and
    // Precedence: auto_reply. Agents must not answer such mail automatically.
    bool auto_submitted = false;
};

// Parses a whole message; CRLF or LF line ends. A leading mbox "From " line is skipped.
// Errors (kErrInvalid, field "message"): empty input, no header field at the start,
// multiparts nested deeper than kMaxDepth, more than kMaxParts parts.
// With Depth::Headers only the top-level header fields are read (text, html, attachments
// and content_type stay empty): what a relay needs to check a message it passes on.
enum class Depth { Full, Headers };
ar::Result<ParsedMessage> parse_message(std::string_view raw, Depth depth = Depth::Full);

// Plain text from HTML: drops tags, comments, scripts and styles, decodes the common
// entities, keeps paragraph and line breaks, and shows a link's target after its text.
// Input should be UTF-8; the output is valid UTF-8 in any case.
std::string html_to_text(std::string_view html);

// The message ids of a Message-ID, In-Reply-To or References value, "<...>" included, in
// order; comments are skipped. A lone id written without angle brackets is accepted too.
std::vector<std::string> parse_msg_ids(std::string_view header_value);

// --- Lower level ---------------------------------------------------------------------

// One MIME entity split at its first blank line. `body` views the input.
struct Entity {
    std::vector<Header> headers;
    std::string_view body;
    // The header section ended at a line that is not a header field (no blank line before
    // the body): that line, as read. Empty when a blank line or the end of input ended it.
    std::string_view stray_line;
};
// Reads the header section (unfolding continuation lines) up to the blank line or the
// first line that is not a header field; the rest is the body.
Entity split_entity(std::string_view raw);

// The message less the top-level header fields for whose name (trimmed, case as written)
// `drop` returns true, continuation lines included; the body is untouched.
std::string remove_header_fields(std::string_view raw,
                                 const std::function<bool(std::string_view name)>& drop);

// The raw (undecoded) value of the first header named `name`, case-insensitive; "" if none.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

// A Content-Type or Content-Disposition value: "type/subtype" (or "attachment") lowercased,
// and its parameters with lowercased names and values decoded: quoted strings unquoted,
// RFC 2231 continuations joined and charset-converted, RFC 2047 words decoded, all UTF-8.
struct ContentType {
    std::string value;
    std::vector<std::pair<std::string, std::string>> params;
    std::string param(std::string_view name) const; // "" if absent
};
ContentType parse_content_type(std::string_view header_value);

// The effective Content-Type of an entity: RFC 2045 defaults (text/plain) when absent or
// malformed, and message/rfc822 by default inside multipart/digest.
ContentType entity_content_type(const Entity& e, bool in_digest = false);

// The body parts of a multipart body, as views, in order (preamble and epilogue dropped).
// Stops after max_parts + 1 parts so a caller can tell that the limit was passed. A
// missing close delimiter ends the last part at the end of the body.
std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary,
                                              size_t max_parts = kMaxParts);

// The body with its Content-Transfer-Encoding (base64, quoted-printable) undone.
std::string decoded_body(const Entity& e);

} // namespace ar::mime
