// submission.h: what a whole message an agent submits (SMTP submission on 587/465, a trusted
// network) must be before the relay signs it with the hosted domain's DKIM keys.
//
// Everything the relay signs carries the operator's reputation, so nothing passes that the
// sender could not have written, and nothing passes that the signer would refuse:
//   - lines end in CRLF (no bare CR, no bare LF) and hold at most 998 octets (RFC 5322 2.1.1);
//   - the header section is header fields only, up to a blank line (a stray line there would
//     make one reader see a field that another reads as body);
//   - exactly one From, and at most one of each of Sender, Reply-To, To, Cc, Bcc, Subject, Date,
//     Message-ID, In-Reply-To, References (RFC 5322 3.6);
//   - every address in From, Sender, Resent-From and Resent-Sender is the agent's own;
//   - a Date that does not parse or a Message-ID that is not one msg-id is replaced, as a
//     missing one is added (the relay writes the new fields; see CheckedSubmission).
// Refusals are ar::Error values: kErrForbidden (SMTP 550 5.7.1) for a sender the agent is
// not, kErrInvalid (554 5.6.0) for everything else; each says which field or line and why.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "mime/address.h"

namespace ar {

struct CheckedSubmission {
    std::string raw;         // the message, less a Date or Message-ID field that was unusable
    std::string message_id;  // its own "<...>" Message-ID; "" when the relay must add one
    bool needs_date = false; // no Date field is left: the relay must add one
    std::string subject;     // decoded, for the agent's store
};

ar::Result<CheckedSubmission> check_submission(std::string raw, const mime::Mailbox& sender);

// The line and length rules alone (CRLF line ends, at most 998 octets a line): the first
// line that breaks them, as an error naming it.
ar::Status check_lines(std::string_view raw);

} // namespace ar
