#include "webhooks/sender.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/threads.h"
#include "relay/events.h"
#include "webhooks/signature.h"
#include "webhooks/target.h"

namespace ar::webhooks {

namespace {

constexpr auto kTick = std::chrono::milliseconds(250);  // how often the feeds are looked at
constexpr int64_t kFirstRetryMs = 250;
constexpr int64_t kMaxRetryMs = 3'600'000;
constexpr int kBatch = 50;  // events read from a feed at a time

int64_t retry_delay_ms(int64_t failures) {
    int64_t d = kFirstRetryMs;
    for (int64_t i = 1; i < failures && d < kMaxRetryMs; ++i) d *= 2;
    d = std::min(d, kMaxRetryMs);
    static thread_local std::mt19937 rng{std::random_device{}()};
    return d + std::uniform_int_distribution<int64_t>(0, d / 10)(rng);  // jitter: webhooks do not retry in step
}

} // namespace

std::string delivery_id(const std::string& agent, int64_t seq) {
    return agent + "_" + event_id(seq);
}

std::string event_body(const std::string& agent, const store::FeedEvent& e) {
    nlohmann::json data = e.data.empty() ? nlohmann::json::object() : nlohmann::json::parse(e.data, nullptr, false);
    if (!data.is_object()) data = nlohmann::json::object();
    if (data.contains("next_attempt_at") && data["next_attempt_at"].is_number_integer())
        data["next_attempt_at"] = format_rfc3339(data["next_attempt_at"].get<int64_t>());
    nlohmann::json out = {{"id", event_id(e.seq)}, {"agent", agent}, {"message_id", e.message_id}, {"detail", e.detail}};
    if (!e.recipient.empty()) out["recipient"] = e.recipient;
    out.update(data);
    return nlohmann::json{{"type", e.type}, {"timestamp", format_rfc3339(e.at)}, {"data", out}}.dump();
}

Result<int> post(const store::WebhookRecord& hook, const std::string& id, const std::string& body, int64_t now_ms) {
    auto target = parse_url(hook.url);
    if (!target) return target.error();
    auto addresses = check_target(*target, hook.allow_private);
    if (!addresses) return addresses.error();
    int64_t timestamp = now_ms / 1000;
    auto signature = sign(hook.secret, id, timestamp, body);
    if (!signature) return signature.error();
    httplib::Headers headers = {{"webhook-id", id},
                                {"webhook-timestamp", std::to_string(timestamp)},
                                {"webhook-signature", *signature},
                                {"User-Agent", std::string("agentrelay/") + AGENTRELAY_VERSION}};
    auto send = [&](auto& client) -> Result<int> {
        client.set_connection_timeout(5, 0);
        client.set_read_timeout(15, 0);
        client.set_write_timeout(15, 0);
        auto res = client.Post(target->path, headers, body, "application/json");
        if (!res) return Error{kErrUnavailable, "no answer from " + target->host + ": " + httplib::to_string(res.error()), "url"};
        return res->status;
    };
    if (target->tls) {
        httplib::SSLClient client(target->host, target->port);
        client.enable_server_certificate_verification(true);
        return send(client);
    }
    // Plain HTTP goes to the address the guard checked, not to a second lookup of the name
    // (which could answer otherwise); the Host header still names the host.
    std::string host_header = target->host + ":" + std::to_string(target->port);
    headers.emplace("Host", host_header);
    httplib::Client client(addresses->front().to_string(), target->port);
    return send(client);
}

Sender::Sender(Relay& relay) : relay_(relay) {
    Metrics::instance().describe("agentrelay_webhook_deliveries_total", "counter",
                                 "Webhook POSTs by result (ok: answered 2xx)");
}

Sender::~Sender() { stop(); }

void Sender::start() {
    thread_ = std::thread([this] {
        name_this_thread("ar-webhook");
        run();
    });
}

void Sender::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Sender::notify() {
    {
        std::lock_guard lk(mu_);
        kicked_ = true;
    }
    cv_.notify_all();
}

void Sender::run() {
    for (;;) {
        {
            std::unique_lock lk(mu_);
            cv_.wait_for(lk, kTick, [this] { return stopping_ || kicked_; });
            if (stopping_) return;
            kicked_ = false;
        }
        try {
            pass();
        } catch (const std::exception& e) {
            spdlog::error("webhooks: {}", e.what());
        }
    }
}

void Sender::pass() {
    auto& control = relay_.data().control();
    auto hooks = control.webhooks();
    if (hooks.empty()) return;
    std::vector<std::string> all_agents;
    for (const auto& hook : hooks) {
        std::vector<std::string> agents;
        if (!hook.agent.empty()) {
            agents.push_back(hook.agent);
        } else {
            if (all_agents.empty()) all_agents = relay_.data().agent_names();
            agents = all_agents;
        }
        auto cursors = control.webhook_cursors(hook.id);
        for (const auto& agent : agents) {
            store::WebhookCursor cursor{hook.id, agent};
            for (const auto& c : cursors)
                if (c.agent == agent) cursor = c;
            deliver(hook, agent, cursor);
            std::lock_guard lk(mu_);
            if (stopping_) return;
        }
    }
}

void Sender::deliver(const store::WebhookRecord& hook, const std::string& agent, store::WebhookCursor cursor) {
    int64_t now = relay_.clock().now_ms();
    if (cursor.next_attempt_at > now) return;
    auto store = relay_.data().agent_store(agent);
    if (!store) return;
    auto types = store_event_types({});
    if (!types) return;
    auto events = (*store)->events_after(cursor.last_seq, *types, kBatch);
    if (!events) {
        spdlog::warn("webhooks: reading the events of {}: {}", agent, events.error().message);
        return;
    }
    auto& control = relay_.data().control();
    for (auto& e : *events) {
        e.type = public_event_type(e.type);
        std::string id = delivery_id(agent, e.seq);
        auto status = post(hook, id, event_body(agent, e), relay_.clock().now_ms());
        now = relay_.clock().now_ms();
        if (status && *status >= 200 && *status < 300) {
            Metrics::instance().add("agentrelay_webhook_deliveries_total", "{result=\"ok\"}");
            cursor.last_seq = e.seq;
            cursor.failures = 0;
            cursor.next_attempt_at = 0;
            cursor.last_success_at = now;
            if (auto st = control.save_webhook_cursor(cursor); !st)
                spdlog::error("webhooks: saving the cursor of {}: {}", hook.id, st.error().message);
            continue;
        }
        Metrics::instance().add("agentrelay_webhook_deliveries_total", "{result=\"failed\"}");
        cursor.failures += 1;
        cursor.next_attempt_at = now + retry_delay_ms(cursor.failures);
        cursor.last_error = status ? "HTTP " + std::to_string(*status) + " for " + id : status.error().message;
        spdlog::warn("webhook {} ({}): {}; retrying in {} ms", hook.id, hook.url, cursor.last_error,
                     cursor.next_attempt_at - now);
        (void)control.save_webhook_cursor(cursor);
        return;
    }
    if (events->size() == static_cast<size_t>(kBatch)) notify();  // more waiting: go on at once
}

} // namespace ar::webhooks
