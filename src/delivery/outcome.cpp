#include "delivery/outcome.h"

#include "relay/bounce_reason.h"

#include "relay/relay.h"

#include <algorithm>
#include <cmath>

namespace ar::delivery {

using smtp::Reply;

Reply reply_for_recipient(const smtp::TransactionResult& result, size_t i) {
    if (result.local_failure) return *result.local_failure;
    const std::optional<Reply>* rcpt =
        i < result.recipient_replies.size() ? &result.recipient_replies[i] : nullptr;
    if (rcpt && *rcpt && (*rcpt)->positive()) {
        if (result.data_reply) return *result.data_reply;
        return Reply{451, "4.4.2", {"no reply to the end of data"}};
    }
    if (rcpt && *rcpt) return **rcpt;
    if (result.mail_reply && !result.mail_reply->positive()) return *result.mail_reply;
    return Reply{451, "4.4.2", {"the transaction ended before this recipient was tried"}};
}

int64_t backoff_ms(int64_t attempts, const DeliveryConfig& cfg, std::mt19937& rng) {
    double base = static_cast<double>(cfg.retry_initial.count());
    double cap = static_cast<double>(cfg.retry_max.count());
    double delay = base * std::pow(2.0, static_cast<double>(std::clamp<int64_t>(attempts - 1, 0, 40)));
    delay = std::min(delay, cap);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    delay *= jitter(rng);
    delay = std::clamp(delay, base, cap);
    return static_cast<int64_t>(delay);
}

Outcome classify(const Reply& reply, const store::DueRecipient& r, int64_t now_ms,
                 const DeliveryConfig& cfg, std::mt19937& rng) {
    if (reply.positive()) return {OutcomeKind::Delivered};
    if (reply.permanent()) return {OutcomeKind::Bounced};
    int64_t deadline = r.queued_at + cfg.max_age.count();
    if (now_ms >= deadline) return {OutcomeKind::Expired};
    int64_t next = now_ms + backoff_ms(r.attempts + 1, cfg, rng);
    return {OutcomeKind::Deferred, std::min(next, deadline)};
}

store::RecipientUpdate to_update(const Outcome& o, const store::DueRecipient& r,
                                 const std::string& message_id, const Reply& reply,
                                 const std::string& where, const std::string& mx, int64_t now_ms) {
    store::RecipientUpdate u;
    u.message_id = message_id;
    u.address = r.address;
    u.at = now_ms;
    u.code = reply.code;
    u.enhanced_code = reply.enhanced;
    u.response = reply.to_string();
    u.mx_host = mx;
    u.remote_mta = mx;
    u.event_detail = where + ": " + u.response;
    switch (o.kind) {
    case OutcomeKind::Delivered:
        u.status = store::kDelivered;
        u.event_type = "delivered";
        break;
    case OutcomeKind::Deferred:
        u.status = store::kDeferred;
        u.event_type = "deferred";
        u.next_attempt_at = o.next_attempt_at;
        break;
    case OutcomeKind::Bounced:
        u.status = store::kBounced;
        u.event_type = "bounced";
        u.bounce_kind = "hard";
        {
            auto why = classify_bounce(reply.code, reply.enhanced, reply.to_string());
            u.bounce_reason = why.reason;
            u.suppress = why.suppress;
        }
        break;
    case OutcomeKind::Expired:
        u.status = store::kBounced;
        u.event_type = "expired";
        u.bounce_kind = "expired";
        u.bounce_reason = expired_bounce().reason;
        u.enhanced_code = "4.4.7";
        u.response = "gave up: the message was not delivered within the maximum age; last reply: " +
                     reply.to_string();
        u.event_detail = where + ": " + u.response;
        break;
    }
    return u;
}

}  // namespace ar::delivery
