// relay.h: the relay core, the one API every door calls.
//
// Doors (MCP tools over stdio and HTTP, REST, SMTP submission, the inbound MX)
// are thin adapters: they turn their wire format into these typed requests and
// turn the results, or the ar::Error values, back into their own vocabulary.
// The core validates, composes RFC 5322 messages, stores them durably in the
// sending agent's store and tells the delivery engine there is work. Mail to an
// address of the hosted domain is delivered into that agent's inbox at once.
// The core never opens a socket.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/intake_meter.h"
#include "core/result.h"
#include "store/data_dir.h"

namespace ar {

struct RelayConfig {
    size_t max_recipients = 50;
    size_t max_message_bytes = 25u << 20;
    int64_t idempotency_window_ms = 24LL * 3600 * 1000;
    std::optional<int64_t> default_rate_per_minute;  // per agent; the agent's own setting wins
    std::optional<int64_t> default_rate_per_day;
};

struct AttachmentIn {
    std::string filename;
    std::string content_type;
    std::string content_base64;
};

struct SendRequest {
    std::vector<std::string> to, cc, bcc;
    std::string subject;
    std::optional<std::string> text, html;
    std::optional<std::string> reply_to;
    std::optional<std::string> in_reply_to;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<AttachmentIn> attachments;
    std::optional<std::string> idempotency_key;
};

struct RecipientStatus {
    std::string address;
    std::string status;
};

struct SendResult {
    std::string message_id;
    std::string status;  // "queued" (the message as a whole: some recipients may already be final)
    std::vector<RecipientStatus> recipients;
    bool duplicate = false;  // an idempotency key matched an earlier send
};

struct Page {
    std::optional<int64_t> after_seq;
    int limit = 20;
};

struct BouncePage {
    std::vector<store::BounceRecord> bounces;
    std::optional<std::string> next_cursor;
};

struct InboxPage {
    std::vector<store::InboxRecord> messages;
    std::optional<std::string> next_cursor;
};

struct EventPage {
    std::vector<store::FeedEvent> events;  // with their public types (relay/events.h)
    std::optional<std::string> next_cursor;  // the last event's id, when the page is full
};

struct InboxAttachment {
    std::string filename;
    std::string content_type;
    size_t size = 0;
    std::string content;  // filled only when asked for
};

struct InboxMessage {
    store::InboxRecord record;
    std::string text;
    std::string html;
    std::vector<InboxAttachment> attachments;
};

// Cursors are opaque to clients: "c" + the last row's sequence number.
std::string make_cursor(int64_t seq);
Result<int64_t> parse_cursor(const std::string& cursor);

class Relay {
  public:
    Relay(store::DataDir& data, const Clock& clock, RelayConfig config = {});

    const std::string& domain() const { return data_.domain(); }
    store::DataDir& data() { return data_; }
    const Clock& clock() const { return clock_; }

    // The agent an API key belongs to (not revoked).
    std::optional<store::AgentRecord> authenticate(const std::string& api_key);
    std::optional<store::AgentRecord> find_agent(const std::string& name);

    Result<SendResult> send(const store::AgentRecord& agent, const SendRequest& request);
    // A whole message from SMTP submission: checked, completed (Date, Message-ID, Received)
    // and queued like send(). `client` describes the SMTP client for the Received header,
    // `protocol` is its "with" word (RFC 3848: ESMTPSA for TLS and AUTH).
    Result<SendResult> submit(const store::AgentRecord& agent, const std::string& reverse_path,
                              const std::vector<std::string>& recipients, std::string raw,
                              const std::string& client, const std::string& protocol = "ESMTPSA");
    // submit() for an event loop: the checks run on the calling thread, and done runs once the
    // message is on disk (or refused), on the agent store's writer thread: done must only hand
    // the result on (post it to the loop). Only for messages without recipients on the hosted
    // domain (those are delivered locally at once, which blocks): check has_local_recipient().
    void submit_async(const store::AgentRecord& agent, const std::string& reverse_path,
                      const std::vector<std::string>& recipients, std::string raw, const std::string& client,
                      const std::string& protocol, std::function<void(Result<SendResult>)> done);
    bool has_local_recipient(const std::vector<std::string>& recipients) const;

    Result<store::MessageRecord> status(const store::AgentRecord& agent, const std::string& id);
    Result<BouncePage> bounces(const store::AgentRecord& agent, std::optional<int64_t> since_ms,
                               int limit, const std::optional<std::string>& cursor);
    Result<InboxPage> inbox(const store::AgentRecord& agent, bool unread_only, int limit,
                            const std::optional<std::string>& cursor);
    Result<InboxMessage> read(const store::AgentRecord& agent, const std::string& id,
                              bool include_attachments);
    // The agent's event feed after the event id `after` (from the start without one), oldest
    // first, only `types` (public names, relay/events.h; all when empty), at most `limit`.
    Result<EventPage> events(const store::AgentRecord& agent, const std::optional<std::string>& after,
                             const std::vector<std::string>& types, int limit);

    // Stores a message in the inbox of the hosted-domain agent `rcpt_agent`. The same
    // delivery_key stored twice is stored once (a retried local delivery). `authentication`:
    // what is known of the sender, as JSON (see store::InboxRecord).
    Result<store::InboxRecord> deliver_to_inbox(const std::string& rcpt_agent,
                                                const std::string& mail_from,
                                                const std::string& rcpt_to, const std::string& raw,
                                                const std::string& delivery_key,
                                                const std::string& authentication);

    // How busy the intake is (every send and submission passes through it): the delivery
    // engine holds new deliveries back while it is saturated (delivery::Engine, intake first).
    IntakeMeter& intake() { return intake_; }

    // Called after new mail is queued, so the delivery engine can start at once.
    void on_queued(std::function<void(const std::string& agent)> listener) {
        queued_listener_ = std::move(listener);
    }
    // Called after a message lands in an inbox (wait_for_message wakes on it).
    void on_inbox(std::function<void(const std::string& agent)> listener) {
        inbox_listener_ = std::move(listener);
    }

    // The agent `address` belongs to if it is on the hosted domain ("bob" for bob@ and for
    // bob+tag@, RFC 5233 subaddressing), else nullopt. The agent may not exist.
    std::optional<std::string> local_agent_of(const std::string& address) const;
    // The agent whose inbox takes mail for `address` on the hosted domain: local_agent_of's,
    // if it exists and is not revoked. postmaster@ (RFC 5321 4.5.1: every mail domain has one)
    // without an agent of that name goes to the oldest active agent.
    std::optional<store::AgentRecord> mailbox_owner(const std::string& address);

    // The local transport: delivers `sender`'s message to each queued recipient of the hosted
    // domain (into that agent's inbox; an unknown agent bounces 5.1.1) and records the outcome
    // in the sender's store. Updates each recipient's status in place; a recipient whose
    // inbox could not be written stays queued for the delivery engine.
    void deliver_local(const std::string& sender, const std::string& message_id,
                       const std::string& mail_from, const std::string& raw,
                       std::vector<RecipientStatus>& recipients);

    // An asynchronous bounce: a delivery status notification that came back to a message's
    // return path. `action` is the DSN's (failed, delayed, delivered, relayed, expanded); a
    // failed recipient becomes bounced (kind "async") and, for a bad address, suppressed.
    // A report is matched to the message's recipient by its final, else its original
    // recipient, else (a message to one recipient) to that one; other reports are ignored, as
    // is a second report on a recipient already bounced (a DSN delivered twice).
    struct AsyncReport {
        std::string recipient;  // the DSN's Final-Recipient
        std::string action;
        std::string status;      // "5.1.1"
        std::string diagnostic;  // "smtp; 550 5.1.1 ..." with the type stripped
        std::string remote_mta;
        std::string original_recipient = {};  // the DSN's Original-Recipient, if any
    };
    Status record_async_report(const std::string& agent, const std::string& message_id,
                               const std::vector<AsyncReport>& reports);

  private:
    Result<SendResult> enqueue(const store::AgentRecord& agent, store::NewMessage message);
    Result<store::NewMessage> prepare_submission(const store::AgentRecord& agent, const std::string& reverse_path,
                                                 const std::vector<std::string>& recipients, std::string raw,
                                                 const std::string& client, const std::string& protocol);
    store::RateLimit rate_limit_of(const store::AgentRecord& agent) const;
    static SendResult result_of(const store::InsertOutcome& inserted);
    // Tells the delivery engine (on_queued) if any recipient of `result` is left to deliver.
    void notify_queued(const std::string& agent, const SendResult& result);

    store::DataDir& data_;
    const Clock& clock_;
    RelayConfig config_;
    IntakeMeter intake_;
    std::function<void(const std::string&)> queued_listener_;
    std::function<void(const std::string&)> inbox_listener_;
};

}  // namespace ar
