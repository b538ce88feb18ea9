#include "relay/bounce_reason.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

#include "core/text.h"

namespace ar {
namespace {

enum class Class { any, permanent, temporary };

// One rule: the status it applies to (a prefix such as "5.1." or an exact code, "" for any),
// the class of reply, a pattern of the text (ECMAScript, case-insensitive; empty: any), and
// what it means.
struct Rule {
    const char* status;
    Class cls;
    const char* text;
    const char* reason;
    bool suppress;
};

// First match wins. Spam and policy words first: they override an address-looking status.
constexpr std::array kRules{
    Rule{"", Class::any, R"(spam|unsolicited|blocklist|block list|blacklist|black list|\bdnsbl\b|\brbl\b|listed (at|on|in)|reputation|junk mail|content (was )?rejected|message rejected as|bulk mail)", "spam_blocked", false},
    Rule{"", Class::any, R"(rate limit|rate-limit|too many (messages|connections|recipients)|throttl|exceeded .*(limit|quota) for (sending|messages)|try again later|sending limit)", "rate_limited", false},
    Rule{"", Class::any, R"(mailbox (is )?full|over (the )?quota|quota exceeded|exceeded (the )?(storage|quota)|insufficient (system )?storage|mailbox size limit|out of storage|user is over)", "mailbox_full", false},
    Rule{"", Class::any, R"(message (is )?too (large|big)|size limit|exceeds (the )?(maximum )?(message )?size|message size exceeds|too large)", "message_too_large", false},
    Rule{"", Class::permanent, R"(account (has been |is )?(disabled|suspended|deactivated|inactive|closed)|mailbox (has been |is )?(disabled|suspended|inactive)|no longer (active|in use|available))", "mailbox_disabled", true},
    Rule{"", Class::permanent, R"(user (unknown|not found|doesn'?t exist|does not exist|invalid)|unknown (user|recipient|mailbox|address)|no such (user|mailbox|recipient|address|person)|(recipient|mailbox|address|addressee)( address)? (unknown|not found|does not exist|doesn'?t exist|invalid|unavailable|rejected)|invalid (recipient|mailbox|address)|not a valid (mailbox|recipient)|mailbox unavailable|recipient not found|user not found|address rejected|unrouteable address|no mailbox here|resolver\.adr\.recipnotfound|recipientnotfound)", "user_unknown", true},
    Rule{"", Class::permanent, R"(domain (not found|does not exist|doesn'?t exist|unknown)|host (or domain name )?not found|no (mx|mail exchanger)|unrouteable (mail )?domain|nxdomain|name or service not known|null mx)", "domain_not_found", true},
    Rule{"5.1.7", Class::permanent, "", "policy_rejected", false}, // the sender's address, not the recipient's
    Rule{"5.1.8", Class::permanent, "", "policy_rejected", false},
    Rule{"5.1.2", Class::permanent, "", "domain_not_found", true},
    Rule{"5.1.10", Class::permanent, "", "domain_not_found", true},
    Rule{"5.1.", Class::permanent, "", "user_unknown", true},
    Rule{"5.2.1", Class::permanent, "", "mailbox_disabled", true},
    Rule{"5.2.2", Class::any, "", "mailbox_full", false},
    Rule{"4.2.2", Class::any, "", "mailbox_full", false},
    Rule{"5.3.4", Class::any, "", "message_too_large", false},
    Rule{"5.2.3", Class::any, "", "message_too_large", false},
    Rule{"4.7.", Class::temporary, "", "rate_limited", false},
    Rule{"5.7.", Class::permanent, "", "policy_rejected", false},
    Rule{"", Class::permanent, R"(policy|not (allowed|permitted|authori[sz]ed)|relay(ing)? (access )?denied|access denied|administrative prohibition|dmarc|spf|dkim)", "policy_rejected", false},
};

bool status_matches(std::string_view rule, std::string_view status) {
    if (rule.empty()) return true;
    if (rule.back() == '.') return status.substr(0, rule.size()) == rule;
    return status == rule;
}

} // namespace

BounceReason classify_bounce(int code, std::string_view enhanced, std::string_view text) {
    bool permanent = enhanced.empty() ? code >= 500 : enhanced[0] == '5';
    if (code >= 500 && enhanced.empty()) permanent = true;
    if (code >= 400 && code < 500) permanent = false;
    static const auto patterns = [] {
        std::array<std::regex, kRules.size()> out;
        for (std::size_t i = 0; i < kRules.size(); ++i)
            if (*kRules[i].text) out[i] = std::regex(kRules[i].text, std::regex::ECMAScript | std::regex::icase);
        return out;
    }();
    // What decides is in the first lines; std::regex recurses per character, so the text it
    // reads is bounded (a DSN's diagnostic can be long).
    std::string t = ascii_lower(text.substr(0, 2000));
    for (std::size_t i = 0; i < kRules.size(); ++i) {
        const Rule& r = kRules[i];
        if (r.cls == Class::permanent && !permanent) continue;
        if (r.cls == Class::temporary && permanent) continue;
        if (!status_matches(r.status, enhanced)) continue;
        if (*r.text && !std::regex_search(t, patterns[i])) continue;
        return BounceReason{r.reason, permanent, r.suppress && permanent};
    }
    return BounceReason{"unknown", permanent, false};
}

BounceReason expired_bounce() {
    return BounceReason{"expired", false, false};
}

} // namespace ar
