// outcome.h: what an SMTP reply means for a recipient (RFC 5321 4.2.1, RFC 3463).
//
// 2xx delivered; 4xx deferred, retried with exponential backoff and jitter between
// --retry-initial and --retry-max, until --max-age after queueing, then bounced as
// "expired" (4.4.7); 5xx bounced at once. Hard bounces of a bad address (5.1.x)
// put the address on the agent's suppression list. Pure functions: the engine
// passes time and randomness in.
#pragma once

#include <random>
#include <string>

#include "delivery/config.h"
#include "smtp/client.h"
#include "store/agent_store.h"

namespace ar::delivery {

enum class OutcomeKind { Delivered, Deferred, Bounced, Expired };

struct Outcome {
    OutcomeKind kind;
    int64_t next_attempt_at = 0;  // Deferred only
};

// The reply that decides recipient i of a transaction (see smtp/client.h).
smtp::Reply reply_for_recipient(const smtp::TransactionResult& result, size_t i);

// The delay before retry number `attempts` (1 = the first retry): retry_initial doubled
// each time, capped at retry_max, then spread by ±20% so retries do not arrive in step.
int64_t backoff_ms(int64_t attempts, const DeliveryConfig& cfg, std::mt19937& rng);

Outcome classify(const smtp::Reply& reply, const store::DueRecipient& r, int64_t now_ms,
                 const DeliveryConfig& cfg, std::mt19937& rng);

// The store update for one recipient. `where` says where the reply came from
// ("mx.example.com [192.0.2.1]:25 TLSv1.3", or "dns"), `mx` the MX host name.
store::RecipientUpdate to_update(const Outcome& o, const store::DueRecipient& r,
                                 const std::string& message_id, const smtp::Reply& reply,
                                 const std::string& where, const std::string& mx, int64_t now_ms);

}  // namespace ar::delivery
