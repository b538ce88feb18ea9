// agent_store.h: one agent's own database (DIR/agents/NAME.db).
//
// Everything an agent owns lives here and nowhere else: its messages with their
// recipients (each recipient is also a queue entry: state, attempts, next attempt,
// lease), delivery events, bounces, suppression list, idempotency keys and inbox.
// Writes are group-committed (see group_commit.h): when a write returns, it is on disk.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/group_commit.h"

namespace ar::store {

// Recipient states, the words of interface.md.
inline constexpr const char* kQueued = "queued";
inline constexpr const char* kDeferred = "deferred";
inline constexpr const char* kDelivered = "delivered";
inline constexpr const char* kBounced = "bounced";
inline constexpr const char* kSuppressed = "suppressed";

struct RecipientRecord {
    std::string address;
    std::string domain;
    std::string status;
    int64_t attempts = 0;
    std::optional<int64_t> last_code;
    std::string last_enhanced_code;
    std::string last_response;
    std::string mx_host;
    std::optional<int64_t> next_attempt_at;
    std::optional<int64_t> delivered_at;
};

struct EventRecord {
    int64_t at = 0;
    std::string recipient;
    std::string type;    // queued, attempt, delivered, deferred, bounced, suppressed, expired
    std::string detail;  // a human line: reply, MX host, TLS version
};

// What the agent's event feed is made of (AgentStore::events_after): every row of the events
// table, in commit order. Besides a recipient's outcomes (delivered, deferred, bounced, expired,
// suppressed) it holds kEventSubmitted (a message accepted; recipient "", data: its recipients
// and their first status) and kEventReceived (a message in the inbox; message_id is the inbox
// id, data: from, subject, mail_from, from_verified).
inline constexpr const char* kEventSubmitted = "submitted";
inline constexpr const char* kEventReceived = "received";

struct FeedEvent {
    int64_t seq = 0;  // the feed's order and cursor
    int64_t at = 0;
    std::string type;
    std::string message_id;
    std::string recipient;
    std::string detail;  // a human line
    std::string data;    // JSON object: the facts of this kind of event ("" for older rows)
};

struct MessageRecord {
    std::string id;
    std::string message_id_header;  // "<...>"
    std::string subject;
    std::string mail_from;  // envelope reverse-path
    int64_t created_at = 0;
    int64_t size = 0;
    bool smtputf8 = false;
    std::vector<RecipientRecord> recipients;
    std::vector<EventRecord> events;
};

// The status of a whole message from its recipients' states (interface.md).
std::string message_status(const std::vector<RecipientRecord>& recipients);

struct NewMessage {
    std::string id;
    std::string message_id_header;
    std::string subject;
    std::string mail_from;
    std::string raw;  // the RFC 5322 message, CRLF
    bool smtputf8 = false;
    int64_t created_at = 0;
    std::optional<std::string> idempotency_key;
    std::vector<std::pair<std::string, std::string>> recipients;  // address, lowercased domain
};

struct RateLimit {
    std::optional<int64_t> per_minute;
    std::optional<int64_t> per_day;
};

struct InsertOutcome {
    std::string id;
    bool duplicate = false;  // the idempotency key was seen within 24 h: nothing new was stored
    std::vector<std::pair<std::string, std::string>> recipients;  // address, status
};

struct BounceRecord {
    int64_t seq = 0;
    std::string message_id;
    std::string recipient;
    int64_t code = 0;
    std::string enhanced_code;
    std::string diagnostic;
    int64_t bounced_at = 0;
    std::string kind;  // hard, soft, expired, async, suppressed
    std::string remote_mta;
    std::string reason = "unknown";  // relay/bounce_reason.h ("suppressed" for a suppressed address)
    bool suppressed = false;         // the address went on the suppression list with it
};

struct InboxRecord {
    std::string id;
    int64_t seq = 0;
    int64_t received_at = 0;
    std::string mail_from;  // envelope
    std::string rcpt_to;    // envelope
    std::string from_header, to_header, cc_header, subject, date_header;
    std::string message_id, in_reply_to, thread_id;
    std::string raw;
    bool unread = true;
    bool has_attachments = false;
    bool auto_submitted = false;
    std::string snippet;
    std::string delivery_key;  // unique: the same delivery stored twice is stored once
    std::string authentication; // JSON (auth::AuthResults::to_json, or a local sender's); '' = not checked
};

struct DueRecipient {
    std::string message_id;
    std::string address;
    std::string domain;
    int64_t attempts = 0;
    int64_t queued_at = 0;
};

struct StoredMessage {
    std::string id;
    std::string mail_from;
    std::string raw;
    bool smtputf8 = false;
    std::string message_id_header;
};

// What one delivery attempt (or a bounce found later) did to one recipient.
struct RecipientUpdate {
    std::string message_id;
    std::string address;
    std::string status;  // new status
    bool counts_as_attempt = true;
    std::optional<int64_t> code;
    std::string enhanced_code;
    std::string response;
    std::string mx_host;
    std::optional<int64_t> next_attempt_at;  // for deferred
    int64_t at = 0;
    std::string event_type;
    std::string event_detail;
    std::optional<std::string> bounce_kind;  // set: a bounce record is written
    std::string bounce_reason = "unknown";   // its reason (relay/bounce_reason.h)
    std::string remote_mta;
    bool suppress = false;  // add the address to the suppression list
};

// A recipient still to be delivered, as `agentrelay queue list` shows it.
struct PendingRecipient {
    std::string message_id;
    std::string address;
    std::string status;  // queued or deferred
    int64_t attempts = 0;
    int64_t queued_at = 0;
    std::optional<int64_t> next_attempt_at;
    std::optional<int64_t> last_code;
    std::string last_response;
    bool in_flight = false;  // leased: a delivery is under way
};

// An address on an agent's suppression list (`agentrelay suppression list`).
struct Suppression {
    std::string address;
    std::string reason;  // the bounce that put it there, or what the operator gave
    int64_t created_at = 0;
};

struct PurgeCount {
    int64_t messages = 0;
    int64_t inbox = 0;
    int64_t bounces = 0;
    bool more = false;
};

// The agent store's schema, one SQL script a version (tests build old versions from it).
const std::vector<const char*>& agent_store_migrations();

class AgentStore {
  public:
    AgentStore(const std::string& path);

    // Waits until every queued write is committed and its completion has run.
    void drain() { writer_.drain(); }

    Result<InsertOutcome> insert_message(const NewMessage& m, const RateLimit& limit,
                                         int64_t idempotency_window_ms);
    // The same without blocking: done runs on the store's writer thread once the message is
    // on disk (or refused); see GroupWriter::write_async for what done may do.
    void insert_message_async(NewMessage m, const RateLimit& limit, int64_t idempotency_window_ms,
                              std::function<void(Result<InsertOutcome>)> done);
    Result<MessageRecord> message(const std::string& id);
    Result<StoredMessage> stored_message(const std::string& id);
    Result<std::vector<BounceRecord>> bounces(std::optional<int64_t> since_ms,
                                              std::optional<int64_t> after_seq, int limit);

    Status insert_inbox(const InboxRecord& r);
    Result<std::vector<InboxRecord>> inbox(bool unread_only, std::optional<int64_t> after_seq,
                                           int limit, std::optional<int64_t> since_ms = {});
    Result<InboxRecord> inbox_message(const std::string& id, bool mark_read);
    // The event feed after `after_seq`, oldest first, at most `limit`; only the internal types
    // named (all when empty).
    Result<std::vector<FeedEvent>> events_after(int64_t after_seq, const std::vector<std::string>& types, int limit);

    // The delivery queue.
    Result<std::vector<DueRecipient>> claim_due(const std::string& owner, int64_t now_ms,
                                                int64_t lease_ms, int limit);
    Status release(const std::string& owner, const std::vector<DueRecipient>& recipients);
    Status apply(const std::vector<RecipientUpdate>& updates);
    // Like apply() without blocking: done(status) runs on the store's writer thread once the
    // outcomes are committed (see GroupWriter::write_async: it must only hand the result on).
    void apply_async(std::vector<RecipientUpdate> updates, std::function<void(Status)> done);
    // Clears the leases whose owner `dead(owner)` says no longer runs.
    Status release_leases_if(const std::function<bool(const std::string& owner)>& dead);
    // Retention: deletes what is older than before_ms and finished with: messages whose every
    // recipient is final (with their recipients, events and idempotency keys), inbox messages
    // and bounces; at most `limit` of each kind a call (more: there is more to delete). The
    // suppression list is kept.
    Result<PurgeCount> purge_before(int64_t before_ms, int limit);
    std::optional<int64_t> next_due_at();
    // The queue (like Postfix's mailq): recipients in flight first, then the waiting ones by
    // their next attempt; at most `limit`.
    Result<std::vector<PendingRecipient>> pending(int limit);
    // Makes every waiting recipient due at now_ms (like postqueue -f); returns how many.
    Result<int64_t> retry_now(int64_t now_ms);
    Result<int64_t> count_by_status(const std::string& status);

    bool is_suppressed(const std::string& address);
    // The suppression list, newest first, at most `limit`. Sends to a listed address are not
    // attempted (their recipients become `suppressed`); the operator adds and removes
    // addresses (like SES's suppression list API). Addresses compare without regard to case.
    Result<std::vector<Suppression>> suppressions(int limit);
    // Adds address (false: it was listed already, and keeps its first reason).
    Result<bool> suppress(const std::string& address, const std::string& reason, int64_t now_ms);
    // Removes address (false: it was not listed); later sends to it are attempted again.
    Result<bool> unsuppress(const std::string& address);

  private:
    GroupWriter writer_;
};

}  // namespace ar::store
