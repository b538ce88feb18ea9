// Bounce reasons from the reply code, the enhanced status and the text together, with replies
// as the big providers and MTAs word them.
#include <catch2/catch.hpp>

#include "relay/bounce_reason.h"

using ar::classify_bounce;

namespace {

struct Case {
    int code;
    const char* status;
    const char* text;
    const char* reason;
    bool hard;
    bool suppress;
};

} // namespace

TEST_CASE("bounce reasons read the code, the status and the text together", "[bounce]") {
    const Case cases[] = {
        {550, "5.1.1", "5.1.1 The email account that you tried to reach does not exist.", "user_unknown", true, true},
        {550, "5.0.0", "User unknown", "user_unknown", true, true},
        {550, "5.5.0", "Requested action not taken: mailbox unavailable", "user_unknown", true, true},
        {550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "user_unknown", true, true},
        {550, "5.1.351", "Remote server returned 'Recipient address rejected: Access denied'", "user_unknown", true, true},
        {550, "", "no such user here", "user_unknown", true, true},
        {554, "5.7.1", "Message rejected as spam by Content Filtering", "spam_blocked", true, false},
        {550, "5.7.1", "Service unavailable; client host [1.2.3.4] blocked using Spamhaus", "spam_blocked", true, false},
        {550, "5.1.1", "blocked: listed at zen.spamhaus.org", "spam_blocked", true, false},
        {550, "5.7.26", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy", "policy_rejected", true, false},
        {552, "5.2.2", "The email account that you tried to reach is over quota", "mailbox_full", true, false},
        {452, "4.2.2", "Mailbox full", "mailbox_full", false, false},
        {552, "5.3.4", "Message size exceeds fixed maximum message size", "message_too_large", true, false},
        {421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail", "spam_blocked", false, false},
        {421, "4.7.0", "Try again later, closing connection", "rate_limited", false, false},
        {451, "4.7.650", "The mail server has been temporarily rate limited due to IP reputation", "spam_blocked", false, false},
        {550, "5.1.2", "Host unknown, domain name not found", "domain_not_found", true, true},
        {550, "5.2.1", "The email account that you tried to reach is disabled.", "mailbox_disabled", true, true},
        {550, "5.1.7", "Invalid sender address", "policy_rejected", true, false},
        {554, "5.0.0", "Service unavailable", "unknown", true, false},
        {450, "4.0.0", "Temporary failure", "unknown", false, false},
        {450, "4.1.1", "Recipient address rejected: user unknown in local recipient table", "unknown", false, false},
    };
    for (const auto& c : cases) {
        INFO(c.code << " " << c.status << " " << c.text);
        auto r = classify_bounce(c.code, c.status, c.text);
        CHECK(r.reason == c.reason);
        CHECK(r.hard == c.hard);
        CHECK(r.suppress == c.suppress);
    }
    auto expired = ar::expired_bounce();
    CHECK(expired.reason == "expired");
    CHECK_FALSE(expired.suppress);
}
