// events.h: the agent's event feed, in the words a platform consumes (as SES event
// destinations, Postmark or AgentMail webhooks name them).
//
// Every state change worth knowing is a durable row of the agent's store (store::FeedEvent),
// in commit order, with an id that orders them: "ev_" + its sequence number. The public types:
//   message.queued      a message was accepted (data: recipients and their first status)
//   message.delivered   a recipient's mail was accepted by the next hop (data: code, mx_host)
//   message.deferred    a temporary failure; it will be tried again (data: code, next_attempt_at)
//   message.bounced     a permanent failure, or given up at max-age, or a DSN that came back
//                       (data: code, enhanced_code, bounce_kind: hard, soft, expired, async)
//   message.suppressed  not attempted: the address is on the suppression list
//   message.received    a message landed in the agent's inbox (data: from, subject, from_verified)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace ar {

inline constexpr const char* kEventTypes[] = {"message.queued",     "message.delivered", "message.deferred",
                                              "message.bounced",    "message.suppressed", "message.received"};

// The store's row types behind public types (unknown names: an error naming the known ones).
Result<std::vector<std::string>> store_event_types(const std::vector<std::string>& public_types);
// The public type of a store row type; "" for rows the feed does not show.
std::string public_event_type(const std::string& store_type);

// "ev_42" and back (a bad id is an error naming the field).
std::string event_id(int64_t seq);
Result<int64_t> parse_event_id(const std::string& id, const char* field);

} // namespace ar
