// compose.h: turns a Draft into the bytes of an outgoing RFC 5322 / MIME message.
//
// compose() promises a message that any RFC 5322 parser reads back as the Draft: CRLF line
// ends everywhere, no line longer than 998 octets (headers folded at 78 where possible),
// non-ASCII header text as RFC 2047 encoded words, bodies as 7bit or quoted-printable UTF-8,
// attachments in base64, random multipart boundaries that occur in no part. It never writes a
// Bcc header, and it refuses (ar::invalid) any header value holding CR, LF, NUL or another
// control character, so no input can inject a header. Mailbox addresses with non-ASCII
// characters are written as UTF-8 (RFC 6532); sending them needs SMTPUTF8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "mime/address.h"

namespace ar::mime {

struct Attachment {
    std::string filename;     // UTF-8, no path separators; may be empty
    std::string content_type; // "type/subtype"; empty means application/octet-stream
    std::string content;      // raw bytes
};

struct Draft {
    Mailbox from;
    std::vector<Mailbox> to, cc; // Bcc is never a header: it is not in Draft
    std::optional<Mailbox> reply_to;
    std::string subject;                   // UTF-8
    std::optional<std::string> text, html; // UTF-8 bodies; at least one, or attachments
    std::string in_reply_to;               // "<id@host>" or empty: sets In-Reply-To and References
    std::vector<std::string> references;   // earlier ids, "<...>"
    std::vector<std::pair<std::string, std::string>> extra_headers; // passed check_extra_header
    std::vector<Attachment> attachments;
    std::string message_id; // "<...@domain>"
    int64_t date_ms = 0;    // ms since epoch
};

// The whole message, CRLF line ends. Errors (ar::invalid, field set to the Draft member at
// fault, like "subject", "to[1]", "attachments[0].filename") when a value cannot be written
// safely or the draft has no body.
ar::Result<std::string> compose(const Draft& d);

// Whether an agent may set this header. Allowed: names starting with "X-", and List-Unsubscribe,
// List-Unsubscribe-Post, List-Id, List-Help, Auto-Submitted, Precedence, Keywords, Comments,
// Importance, Priority, Sensitivity, Organization, Thread-Topic, Thread-Index, Feedback-ID.
// Names are printable ASCII without ':' or spaces; values valid UTF-8 without CR, LF, NUL or
// other control characters (TAB allowed), at most 998 octets with the name.
ar::Status check_extra_header(std::string_view name, std::string_view value);

// RFC 5322 section 3.3 date in UTC: "Fri, 27 Nov 2026 21:30:00 +0000".
std::string format_date(int64_t ms);

// "<left@right>" per RFC 5322 section 3.6.4 msg-id: left a dot-atom, right a dot-atom or a
// [no-fold-literal]; no spaces, CR or LF; at most 900 octets so it fits a header line.
bool is_msg_id(std::string_view s);

} // namespace ar::mime
