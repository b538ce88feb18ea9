#include "webhooks/registry.h"

#include "core/clock.h"
#include "core/ids.h"
#include "webhooks/sender.h"
#include "webhooks/signature.h"
#include "webhooks/target.h"

namespace ar::webhooks {

Result<store::WebhookRecord> create(store::ControlStore& control, const std::string& url, const std::string& agent,
                                    bool allow_private, int64_t now_ms) {
    auto target = parse_url(url);
    if (!target) return target.error();
    if (auto checked = check_target(*target, allow_private); !checked) return checked.error();
    if (!agent.empty()) {
        auto a = control.find_agent(agent);
        if (!a || a->revoked_at) return Error{kErrNotFound, "no active agent named '" + agent + "'", "agent"};
    }
    store::WebhookRecord w;
    w.id = ordered_id("wh_", now_ms);
    w.agent = agent;
    w.url = url;
    w.secret = new_secret();
    w.allow_private = allow_private;
    w.created_at = now_ms;
    if (auto st = control.add_webhook(w); !st) return st.error();
    return w;
}

nlohmann::json describe(store::ControlStore& control, const store::WebhookRecord& w) {
    nlohmann::json feeds = nlohmann::json::array();
    for (const auto& c : control.webhook_cursors(w.id)) {
        nlohmann::json f = {{"agent", c.agent}, {"failures", c.failures}, {"last_error", c.last_error}};
        if (c.last_seq > 0) f["last_delivered"] = delivery_id(c.agent, c.last_seq);
        if (c.next_attempt_at > 0) f["next_attempt_at"] = format_rfc3339(c.next_attempt_at);
        if (c.last_success_at) f["last_success_at"] = format_rfc3339(*c.last_success_at);
        feeds.push_back(std::move(f));
    }
    return {{"id", w.id},
            {"url", w.url},
            {"agent", w.agent.empty() ? "*" : w.agent},
            {"allow_private", w.allow_private},
            {"created_at", format_rfc3339(w.created_at)},
            {"feeds", feeds}};
}

nlohmann::json created(const store::WebhookRecord& w) {
    return {{"id", w.id}, {"url", w.url}, {"agent", w.agent.empty() ? "*" : w.agent}, {"secret", w.secret}};
}

} // namespace ar::webhooks
