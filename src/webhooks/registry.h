// registry.h: creating, describing and removing webhooks, for the CLI (the operator's) and the
// REST API (an agent's own).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "store/control_store.h"

namespace ar::webhooks {

// A new webhook for `agent`'s events ("" for every agent's), POSTing to `url`: the URL parsed,
// its host through the private-address guard (target.h) unless allow_private, the agent active.
// Stored with a fresh secret, which the caller shows once.
Result<store::WebhookRecord> create(store::ControlStore& control, const std::string& url, const std::string& agent,
                                    bool allow_private, int64_t now_ms);

// What `webhook list` and GET /v1/webhooks show of one: id, url, agent ("*" for every agent),
// allow_private, created_at and per agent its progress (never the secret).
nlohmann::json describe(store::ControlStore& control, const store::WebhookRecord& hook);

// The new webhook as shown once: {id, url, agent, secret}.
nlohmann::json created(const store::WebhookRecord& hook);

} // namespace ar::webhooks
