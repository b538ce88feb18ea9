// sender.h: delivers every agent's events (relay/events.h) to its webhooks.
//
// Each webhook has a cursor per agent it covers (its own agent, or every agent for the
// operator's), kept in the control store: the events after it are POSTed one at a time, in
// order, signed (signature.h), each to be answered 2xx before the next goes and the cursor
// moves on. A failure (no answer, a non-2xx status) is retried with exponential backoff
// (250 ms doubling, at most an hour apart) for as long as the event is kept (--retention):
// delivery is at least once, in order per agent, across restarts and kill -9 (only the event in
// flight at the crash is sent again; receivers dedupe on webhook-id). The last error and the
// failures in a row show in `agentrelay webhook list`; deliveries count in
// agentrelay_webhook_deliveries_total{result}. Every target passes target.h's guard first.
// One thread (ar-webhook) of blocking HTTP clients (cpp-httplib), in `serve` only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "relay/relay.h"
#include "store/control_store.h"

namespace ar::webhooks {

// The payload's webhook-id for an agent's event.
std::string delivery_id(const std::string& agent, int64_t seq);

// One signed POST of `body` to the webhook; the HTTP status, or an error saying why none came.
Result<int> post(const store::WebhookRecord& hook, const std::string& id, const std::string& body, int64_t now_ms);

// The JSON body of an event's delivery: {"type", "timestamp", "data": {...}}.
std::string event_body(const std::string& agent, const store::FeedEvent& e);

class Sender {
  public:
    explicit Sender(Relay& relay);
    ~Sender();
    void start();
    void stop();
    // New events may be there: look now rather than at the next tick.
    void notify();

  private:
    void run();
    void pass();  // one round over every webhook and agent
    // Sends what is due of one agent's feed to one webhook; false if it stopped at a failure.
    void deliver(const store::WebhookRecord& hook, const std::string& agent, store::WebhookCursor cursor);

    Relay& relay_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool kicked_ = false;
};

} // namespace ar::webhooks
