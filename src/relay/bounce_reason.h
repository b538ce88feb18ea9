// bounce_reason.h: why a recipient bounced, from everything the far side said, as the well-known
// bounce classifiers put it; and whether the address should be suppressed.
//
// The reply code, the enhanced status code (RFC 3463) and the diagnostic text are read
// together, by an ordered table of rules (bounce_reason.cpp): the first that matches decides.
// Text rules come before status rules where servers are known to use a status loosely: a
// "5.0.0 user unknown" is a bad address, a "5.7.1 blocked as spam" is not, and "5.1.1 ... spam"
// is a block. Only bad addresses (user_unknown, domain_not_found, mailbox_disabled) suppress,
// and only when permanent (5xx); a full mailbox, a policy or spam block, a size limit or a
// temporary failure never does.
#pragma once

#include <string>
#include <string_view>

namespace ar {

struct BounceReason {
    std::string reason; // user_unknown, mailbox_full, domain_not_found, mailbox_disabled,
                        // policy_rejected, spam_blocked, message_too_large, rate_limited,
                        // expired, unknown
    bool hard = false;  // permanent: retrying will not help
    bool suppress = false;
};

// code: the reply code (0 when none, e.g. a report without one); enhanced: "5.1.1" or "".
BounceReason classify_bounce(int code, std::string_view enhanced, std::string_view text);

// The relay gave up retrying (--max-age): "expired", soft, never suppressing.
BounceReason expired_bounce();

} // namespace ar
