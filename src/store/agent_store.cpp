#include "store/agent_store.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "store/migrate.h"

namespace ar::store {

namespace {

const std::vector<const char*> kMigrations = {
    // 1: the first schema.
    R"sql(
    CREATE TABLE messages(
        id TEXT PRIMARY KEY,
        message_id_header TEXT NOT NULL,
        subject TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        raw BLOB NOT NULL,
        size INTEGER NOT NULL,
        smtputf8 INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL);
    CREATE INDEX messages_created ON messages(created_at);
    CREATE INDEX messages_header_id ON messages(message_id_header);
    CREATE TABLE recipients(
        message_id TEXT NOT NULL REFERENCES messages(id),
        address TEXT NOT NULL,
        domain TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        queued_at INTEGER NOT NULL,
        next_attempt_at INTEGER,
        last_code INTEGER,
        last_enhanced_code TEXT NOT NULL DEFAULT '',
        last_response TEXT NOT NULL DEFAULT '',
        mx_host TEXT NOT NULL DEFAULT '',
        delivered_at INTEGER,
        lease_owner TEXT,
        lease_until INTEGER,
        UNIQUE(message_id, address));
    CREATE INDEX recipients_due ON recipients(next_attempt_at) WHERE status IN ('queued', 'deferred');
    CREATE TABLE events(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL DEFAULT '',
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '');
    CREATE INDEX events_message ON events(message_id);
    CREATE TABLE bounces(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        code INTEGER NOT NULL,
        enhanced_code TEXT NOT NULL,
        diagnostic TEXT NOT NULL,
        bounced_at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        remote_mta TEXT NOT NULL DEFAULT '');
    CREATE INDEX bounces_at ON bounces(bounced_at);
    CREATE TABLE suppression(
        address TEXT PRIMARY KEY COLLATE NOCASE,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE idempotency(
        key TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE inbox(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        delivery_key TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt_to TEXT NOT NULL,
        from_header TEXT NOT NULL,
        to_header TEXT NOT NULL,
        cc_header TEXT NOT NULL,
        subject TEXT NOT NULL,
        date_header TEXT NOT NULL,
        message_id TEXT NOT NULL,
        in_reply_to TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        raw BLOB NOT NULL,
        unread INTEGER NOT NULL DEFAULT 1,
        has_attachments INTEGER NOT NULL DEFAULT 0,
        auto_submitted INTEGER NOT NULL DEFAULT 0,
        snippet TEXT NOT NULL DEFAULT '');
    )sql",
    // 2: the queue's two halves, each with its own index, so claiming and finding the next
    // due time stay O(log n) however many recipients are leased (in flight) at the moment.
    R"sql(
    CREATE INDEX recipients_free ON recipients(next_attempt_at)
        WHERE status IN ('queued', 'deferred') AND lease_until IS NULL;
    CREATE INDEX recipients_leased ON recipients(lease_until) WHERE lease_until IS NOT NULL;
    DROP INDEX recipients_due;
    )sql",
    // 3: a recipient's "queued" event is its row's queued_at, read back as an event rather than
    // stored (two B-trees and sqlite_sequence less to write on every send); events lose
    // AUTOINCREMENT (never deleted, so rowids are not reused and seq stays in insertion order).
    R"sql(
    CREATE TABLE events_v3(
        seq INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL DEFAULT '',
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '');
    INSERT INTO events_v3(seq, message_id, recipient, at, type, detail)
        SELECT seq, message_id, recipient, at, type, detail FROM events WHERE type != 'queued';
    DROP TABLE events;
    ALTER TABLE events_v3 RENAME TO events;
    CREATE INDEX events_message ON events(message_id);
    DELETE FROM sqlite_sequence WHERE name = 'events';
    CREATE INDEX idempotency_created ON idempotency(created_at);
    )sql",
    // 4: what the inbound MX found out about who sent each inbox message (SPF, DKIM, DMARC),
    // as JSON; '' for messages stored before (not checked).
    R"sql(
    ALTER TABLE inbox ADD COLUMN authentication TEXT NOT NULL DEFAULT '';
    )sql",
    // 5: events as the agent's event feed (events_after): each row's facts as JSON (codes, MX
    // host, bounce kind), and two kinds of row that are not a recipient's outcome: 'submitted'
    // (a message accepted, one row a message) and 'received' (an inbox message).
    R"sql(
    ALTER TABLE events ADD COLUMN data TEXT NOT NULL DEFAULT '';
    )sql",
    // 6: each bounce's reason (relay/bounce_reason.h) and whether it suppressed the address.
    // Older rows read as 'unknown'; a suppressed recipient's row says so.
    R"sql(
    ALTER TABLE bounces ADD COLUMN reason TEXT NOT NULL DEFAULT 'unknown';
    ALTER TABLE bounces ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;
    UPDATE bounces SET reason = 'suppressed' WHERE kind = 'suppressed';
    )sql",
};

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 86'400'000;

void add_event(Db& db, const std::string& message_id, const std::string& recipient, int64_t at,
               const std::string& type, const std::string& detail, const std::string& data = "") {
    db.prepare("INSERT INTO events(message_id, recipient, at, type, detail, data) VALUES(?, ?, ?, ?, ?, ?)")
        .bind(1, message_id)
        .bind(2, recipient)
        .bind(3, at)
        .bind(4, type)
        .bind(5, detail)
        .bind(6, data)
        .run();
}

// Whether at least `max` messages were created after `since`: counts no further than `max`
// (a full day's count would walk the day's index entries on every send).
bool at_least_since(Db& db, int64_t since, int64_t max) {
    auto s = db.prepare("SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE created_at > ? LIMIT ?)");
    s.bind(1, since).bind(2, max);
    s.step();
    return s.int64(0) >= max;
}

// The oldest send inside the window, to tell the caller when a slot frees up.
int64_t oldest_since(Db& db, int64_t since) {
    auto s = db.prepare("SELECT MIN(created_at) FROM messages WHERE created_at > ?");
    s.bind(1, since);
    s.step();
    return s.int64(0);
}

void check_rate(Db& db, const RateLimit& limit, int64_t now) {
    struct Window {
        std::optional<int64_t> max;
        int64_t ms;
        const char* name;
    };
    for (const Window& w : {Window{limit.per_minute, kMinuteMs, "minute"},
                            Window{limit.per_day, kDayMs, "day"}}) {
        if (!w.max) continue;
        int64_t since = now - w.ms;
        if (!at_least_since(db, since, *w.max)) continue;
        int64_t retry_at = oldest_since(db, since) + w.ms;
        int64_t secs = (retry_at - now + 999) / 1000;
        throw Error{kErrRateLimited,
                    "rate limit reached: at most " + std::to_string(*w.max) + " messages per " +
                        w.name + " for this agent; retry in " + std::to_string(secs) + " s",
                    "", secs};
    }
}

RecipientRecord recipient_from_row(Stmt& s) {
    RecipientRecord r;
    r.address = s.text(0);
    r.domain = s.text(1);
    r.status = s.text(2);
    r.attempts = s.int64(3);
    r.last_code = s.opt_int64(4);
    r.last_enhanced_code = s.text(5);
    r.last_response = s.text(6);
    r.mx_host = s.text(7);
    r.next_attempt_at = s.opt_int64(8);
    r.delivered_at = s.opt_int64(9);
    return r;
}

constexpr const char* kInboxCols =
    "seq, id, delivery_key, received_at, mail_from, rcpt_to, from_header, to_header, cc_header, "
    "subject, date_header, message_id, in_reply_to, thread_id, unread, has_attachments, "
    "auto_submitted, snippet, authentication";

InboxRecord inbox_from_row(Stmt& s) {
    InboxRecord r;
    r.seq = s.int64(0);
    r.id = s.text(1);
    r.delivery_key = s.text(2);
    r.received_at = s.int64(3);
    r.mail_from = s.text(4);
    r.rcpt_to = s.text(5);
    r.from_header = s.text(6);
    r.to_header = s.text(7);
    r.cc_header = s.text(8);
    r.subject = s.text(9);
    r.date_header = s.text(10);
    r.message_id = s.text(11);
    r.in_reply_to = s.text(12);
    r.thread_id = s.text(13);
    r.unread = s.int64(14) != 0;
    r.has_attachments = s.int64(15) != 0;
    r.auto_submitted = s.int64(16) != 0;
    r.snippet = s.text(17);
    r.authentication = s.text(18);
    return r;
}

}  // namespace

std::string message_status(const std::vector<RecipientRecord>& recipients) {
    size_t delivered = 0, bounced = 0, suppressed = 0, deferred = 0, pending = 0;
    for (const auto& r : recipients) {
        if (r.status == kDelivered) ++delivered;
        else if (r.status == kBounced) ++bounced;
        else if (r.status == kSuppressed) ++suppressed;
        else if (r.status == kDeferred) ++deferred;
        else ++pending;
    }
    if (deferred) return kDeferred;
    if (pending) return kQueued;
    if (delivered == recipients.size()) return kDelivered;
    if (delivered) return "partially_delivered";
    if (bounced) return kBounced;
    return kSuppressed;
}

const std::vector<const char*>& agent_store_migrations() { return kMigrations; }

AgentStore::AgentStore(const std::string& path)
    : writer_(path, [](Db& db) { migrate(db, kMigrations, "agent store"); }) {}

namespace {
// One message, its recipients and their first events, inside the writer's transaction.
InsertOutcome insert_in(Db& db, const NewMessage& m, const RateLimit& limit, int64_t idempotency_window_ms) {
    InsertOutcome out;
    if (m.idempotency_key) {
        auto q = db.prepare("SELECT message_id, created_at FROM idempotency WHERE key = ?");
        q.bind(1, *m.idempotency_key);
        if (q.step() && q.int64(1) > m.created_at - idempotency_window_ms) {
            out.id = q.text(0);
            out.duplicate = true;
            auto r = db.prepare("SELECT address, status FROM recipients WHERE message_id = ? "
                                "ORDER BY rowid");
            r.bind(1, out.id);
            while (r.step()) out.recipients.emplace_back(r.text(0), r.text(1));
            return out;
        }
    }
    check_rate(db, limit, m.created_at);
    db.prepare("INSERT INTO messages(id, message_id_header, subject, mail_from, raw, size, "
               "smtputf8, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, m.id)
        .bind(2, m.message_id_header)
        .bind(3, m.subject)
        .bind(4, m.mail_from)
        .bind_blob(5, m.raw)
        .bind(6, static_cast<int64_t>(m.raw.size()))
        .bind(7, m.smtputf8 ? 1 : 0)
        .bind(8, m.created_at)
        .run();
    auto suppressed = db.prepare("SELECT reason FROM suppression WHERE address = ?");
    auto ins = db.prepare("INSERT OR IGNORE INTO recipients(message_id, address, domain, status, "
                          "queued_at, next_attempt_at) VALUES(?, ?, ?, ?, ?, ?)");
    for (const auto& [address, domain] : m.recipients) {
        suppressed.reset();
        suppressed.bind(1, address);
        bool is_suppressed = suppressed.step();
        std::string reason = is_suppressed ? suppressed.text(0) : "";
        const char* status = is_suppressed ? kSuppressed : kQueued;
        ins.reset();
        ins.bind(1, m.id).bind(2, address).bind(3, domain).bind(4, status).bind(5, m.created_at);
        if (is_suppressed) ins.bind(6, nullptr);
        else ins.bind(6, m.created_at);
        ins.run();
        if (db.changes() == 0) continue;  // the same address twice
        out.recipients.emplace_back(address, status);
        // A queued recipient's first event is its row (see message()); a suppressed one's is stored.
        if (is_suppressed) {
            add_event(db, m.id, address, m.created_at, status, "on the suppression list: " + reason);
            db.prepare("INSERT INTO bounces(message_id, recipient, code, enhanced_code, diagnostic, "
                       "bounced_at, kind, reason) VALUES(?, ?, 550, '5.1.1', ?, ?, 'suppressed', 'suppressed')")
                .bind(1, m.id)
                .bind(2, address)
                .bind(3, "not attempted: address is on the suppression list (" + reason + ")")
                .bind(4, m.created_at)
                .run();
        }
    }
    {
        nlohmann::json recipients = nlohmann::json::array();
        for (const auto& [address, status] : out.recipients)
            recipients.push_back({{"address", address}, {"status", status}});
        add_event(db, m.id, "", m.created_at, kEventSubmitted, m.subject,
                  nlohmann::json{{"recipients", recipients}}.dump());
    }
    if (m.idempotency_key) {
        db.prepare("INSERT INTO idempotency(key, message_id, created_at) VALUES(?, ?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET message_id = excluded.message_id, "
                   "created_at = excluded.created_at")
            .bind(1, *m.idempotency_key)
            .bind(2, m.id)
            .bind(3, m.created_at)
            .run();
    }
    out.id = m.id;
    return out;
}
}  // namespace

Result<InsertOutcome> AgentStore::insert_message(const NewMessage& m, const RateLimit& limit,
                                                 int64_t idempotency_window_ms) {
    return writer_.write_value<InsertOutcome>(
        [&](Db& db) { return insert_in(db, m, limit, idempotency_window_ms); });
}

void AgentStore::insert_message_async(NewMessage m, const RateLimit& limit, int64_t idempotency_window_ms,
                                      std::function<void(Result<InsertOutcome>)> done) {
    struct State {
        NewMessage m;
        RateLimit limit;
        InsertOutcome out;
    };
    auto st = std::make_shared<State>(State{std::move(m), limit, {}});
    writer_.write_async(
        [st, idempotency_window_ms](Db& db) { st->out = insert_in(db, st->m, st->limit, idempotency_window_ms); },
        [st, done = std::move(done)](Status status) {
            if (!status) return done(status.error());
            done(std::move(st->out));
        });
}

Result<MessageRecord> AgentStore::message(const std::string& id) {
    return writer_.read<MessageRecord>([&](Db& db) {
        auto s = db.prepare("SELECT id, message_id_header, subject, mail_from, created_at, size, "
                            "smtputf8 FROM messages WHERE id = ? OR message_id_header = ?");
        s.bind(1, id).bind(2, id);
        if (!s.step()) throw Error{kErrNotFound, "no message with id '" + id + "'", "message_id"};
        MessageRecord m;
        m.id = s.text(0);
        m.message_id_header = s.text(1);
        m.subject = s.text(2);
        m.mail_from = s.text(3);
        m.created_at = s.int64(4);
        m.size = s.int64(5);
        m.smtputf8 = s.int64(6) != 0;
        auto r = db.prepare("SELECT address, domain, status, attempts, last_code, last_enhanced_code, "
                            "last_response, mx_host, next_attempt_at, delivered_at, queued_at "
                            "FROM recipients WHERE message_id = ? ORDER BY rowid");
        r.bind(1, m.id);
        while (r.step()) {
            m.recipients.push_back(recipient_from_row(r));
            // Every recipient not suppressed at the start was queued then (schema version 3).
            if (m.recipients.back().status != kSuppressed)
                m.events.push_back(EventRecord{r.int64(10), m.recipients.back().address, kQueued, ""});
        }
        auto e = db.prepare("SELECT at, recipient, type, detail FROM events WHERE message_id = ? "
                            "AND type != 'submitted' ORDER BY seq");
        e.bind(1, m.id);
        while (e.step()) m.events.push_back(EventRecord{e.int64(0), e.text(1), e.text(2), e.text(3)});
        return m;
    });
}

Result<StoredMessage> AgentStore::stored_message(const std::string& id) {
    return writer_.read<StoredMessage>([&](Db& db) {
        auto s = db.prepare("SELECT id, mail_from, raw, smtputf8, message_id_header FROM messages "
                            "WHERE id = ?");
        s.bind(1, id);
        if (!s.step()) throw Error{kErrNotFound, "no message with id '" + id + "'", "message_id"};
        return StoredMessage{s.text(0), s.text(1), s.text(2), s.int64(3) != 0, s.text(4)};
    });
}

Result<std::vector<BounceRecord>> AgentStore::bounces(std::optional<int64_t> since_ms,
                                                      std::optional<int64_t> after_seq, int limit) {
    return writer_.read<std::vector<BounceRecord>>([&](Db& db) {
        auto s = db.prepare("SELECT seq, message_id, recipient, code, enhanced_code, diagnostic, "
                            "bounced_at, kind, remote_mta, reason, suppressed FROM bounces "
                            "WHERE bounced_at >= ? AND seq > ? "
                            "ORDER BY seq LIMIT ?");
        s.bind(1, since_ms.value_or(0)).bind(2, after_seq.value_or(0)).bind(3, limit);
        std::vector<BounceRecord> out;
        while (s.step()) {
            out.push_back(BounceRecord{s.int64(0), s.text(1), s.text(2), s.int64(3), s.text(4), s.text(5),
                                       s.int64(6), s.text(7), s.text(8), s.text(9), s.int64(10) != 0});
        }
        return out;
    });
}

Status AgentStore::insert_inbox(const InboxRecord& r) {
    return writer_.write([&](Db& db) {
        db.prepare("INSERT OR IGNORE INTO inbox(id, delivery_key, received_at, mail_from, rcpt_to, "
                   "from_header, to_header, cc_header, subject, date_header, message_id, in_reply_to, "
                   "thread_id, raw, unread, has_attachments, auto_submitted, snippet, authentication) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)")
            .bind(1, r.id)
            .bind(2, r.delivery_key)
            .bind(3, r.received_at)
            .bind(4, r.mail_from)
            .bind(5, r.rcpt_to)
            .bind(6, r.from_header)
            .bind(7, r.to_header)
            .bind(8, r.cc_header)
            .bind(9, r.subject)
            .bind(10, r.date_header)
            .bind(11, r.message_id)
            .bind(12, r.in_reply_to)
            .bind(13, r.thread_id)
            .bind_blob(14, r.raw)
            .bind(15, r.has_attachments ? 1 : 0)
            .bind(16, r.auto_submitted ? 1 : 0)
            .bind(17, r.snippet)
            .bind(18, r.authentication)
            .run();
        if (db.changes() == 0) return;  // stored before (the same delivery key)
        nlohmann::json data = {{"from", r.from_header}, {"subject", r.subject}, {"mail_from", r.mail_from}};
        auto auth = nlohmann::json::parse(r.authentication, nullptr, false);
        if (auth.is_object() && auth.contains("from_verified")) data["from_verified"] = auth["from_verified"];
        add_event(db, r.id, r.rcpt_to, r.received_at, kEventReceived, r.subject, data.dump());
    });
}

Result<std::vector<FeedEvent>> AgentStore::events_after(int64_t after_seq, const std::vector<std::string>& types,
                                                        int limit) {
    return writer_.read<std::vector<FeedEvent>>([&](Db& db) {
        std::string sql = "SELECT seq, at, type, message_id, recipient, detail, data FROM events WHERE seq > ?";
        if (!types.empty()) {
            sql += " AND type IN (";
            for (size_t i = 0; i < types.size(); ++i) sql += i ? ", ?" : "?";
            sql += ")";
        }
        sql += " ORDER BY seq LIMIT ?";
        auto s = db.prepare(sql);
        int n = 1;
        s.bind(n++, after_seq);
        for (const auto& t : types) s.bind(n++, t);
        s.bind(n, limit);
        std::vector<FeedEvent> out;
        while (s.step())
            out.push_back(FeedEvent{s.int64(0), s.int64(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)});
        return out;
    });
}

Result<std::vector<InboxRecord>> AgentStore::inbox(bool unread_only, std::optional<int64_t> after_seq,
                                                   int limit, std::optional<int64_t> since_ms) {
    return writer_.read<std::vector<InboxRecord>>([&](Db& db) {
        std::string sql = std::string("SELECT ") + kInboxCols +
                          " FROM inbox WHERE seq > ? AND received_at >= ?";
        if (unread_only) sql += " AND unread = 1";
        sql += " ORDER BY seq LIMIT ?";
        auto s = db.prepare(sql);
        s.bind(1, after_seq.value_or(0)).bind(2, since_ms.value_or(0)).bind(3, limit);
        std::vector<InboxRecord> out;
        while (s.step()) out.push_back(inbox_from_row(s));
        return out;
    });
}

Result<InboxRecord> AgentStore::inbox_message(const std::string& id, bool mark_read) {
    auto r = writer_.read<InboxRecord>([&](Db& db) {
        auto s = db.prepare(std::string("SELECT ") + kInboxCols + ", raw FROM inbox WHERE id = ?");
        s.bind(1, id);
        if (!s.step()) throw Error{kErrNotFound, "no inbox message with id '" + id + "'", "id"};
        InboxRecord rec = inbox_from_row(s);
        rec.raw = s.text(19);
        return rec;
    });
    if (r && mark_read && r->unread) {
        Status st = writer_.write([&](Db& db) {
            db.prepare("UPDATE inbox SET unread = 0 WHERE id = ?").bind(1, id).run();
        });
        if (!st) return st.error();
    }
    return r;
}

Result<std::vector<DueRecipient>> AgentStore::claim_due(const std::string& owner, int64_t now_ms,
                                                        int64_t lease_ms, int limit) {
    return writer_.write_value<std::vector<DueRecipient>>([&](Db& db) {
        std::vector<DueRecipient> out;
        auto take = [&](Stmt& s) {
            s.bind(1, owner).bind(2, now_ms + lease_ms).bind(3, now_ms).bind(4, limit - static_cast<int>(out.size()));
            while (s.step())
                out.push_back(DueRecipient{s.text(0), s.text(1), s.text(2), s.int64(3), s.int64(4)});
        };
        // Leases that ran out (their holder stalled or died) first, then the free due ones;
        // each query walks only its own partial index.
        auto expired = db.prepare(
            "UPDATE recipients SET lease_owner = ?1, lease_until = ?2 WHERE rowid IN ("
            "  SELECT rowid FROM recipients WHERE lease_until IS NOT NULL AND lease_until < ?3 "
            "  AND status IN ('queued', 'deferred') AND next_attempt_at <= ?3 LIMIT ?4) "
            "RETURNING message_id, address, domain, attempts, queued_at");
        take(expired);
        if (static_cast<int>(out.size()) >= limit) return out;
        auto free = db.prepare(
            "UPDATE recipients SET lease_owner = ?1, lease_until = ?2 WHERE rowid IN ("
            "  SELECT rowid FROM recipients WHERE status IN ('queued', 'deferred') AND lease_until IS NULL "
            "  AND next_attempt_at <= ?3 ORDER BY next_attempt_at LIMIT ?4) "
            "RETURNING message_id, address, domain, attempts, queued_at");
        take(free);
        return out;
    });
}

Status AgentStore::release(const std::string& owner, const std::vector<DueRecipient>& recipients) {
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE recipients SET lease_owner = NULL, lease_until = NULL "
                            "WHERE message_id = ? AND address = ? AND lease_owner = ?");
        for (const auto& r : recipients) {
            s.reset();
            s.bind(1, r.message_id).bind(2, r.address).bind(3, owner).run();
        }
    });
}

namespace {
// Records delivery outcomes: each recipient's new state, an event, and bounces and suppressions.
void apply_in(Db& db, const std::vector<RecipientUpdate>& updates) {
    auto up = db.prepare(
        "UPDATE recipients SET status = ?, attempts = attempts + ?, last_code = ?, "
        "last_enhanced_code = ?, last_response = ?, mx_host = ?, next_attempt_at = ?, "
        "delivered_at = ?, lease_owner = NULL, lease_until = NULL "
        "WHERE message_id = ? AND address = ?");
    for (const auto& u : updates) {
        up.reset();
        bool final = u.status != kQueued && u.status != kDeferred;
        up.bind(1, u.status)
            .bind(2, u.counts_as_attempt ? 1 : 0)
            .bind(3, u.code)
            .bind(4, u.enhanced_code)
            .bind(5, u.response)
            .bind(6, u.mx_host);
        if (final) up.bind(7, nullptr);
        else up.bind(7, u.next_attempt_at.value_or(u.at));
        if (u.status == kDelivered) up.bind(8, u.at);
        else up.bind(8, nullptr);
        up.bind(9, u.message_id).bind(10, u.address).run();
        nlohmann::json data = {{"status", u.status}};
        if (u.code) data["code"] = *u.code;
        if (!u.enhanced_code.empty()) data["enhanced_code"] = u.enhanced_code;
        if (!u.mx_host.empty()) data["mx_host"] = u.mx_host;
        if (u.bounce_kind) {
            data["bounce_kind"] = *u.bounce_kind;
            data["reason"] = u.bounce_reason;
            data["suppressed"] = u.suppress;
        }
        if (u.next_attempt_at && u.status == kDeferred) data["next_attempt_at"] = *u.next_attempt_at;
        add_event(db, u.message_id, u.address, u.at, u.event_type, u.event_detail, data.dump());
        if (u.bounce_kind) {
            db.prepare("INSERT INTO bounces(message_id, recipient, code, enhanced_code, diagnostic, "
                       "bounced_at, kind, remote_mta, reason, suppressed) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(1, u.message_id)
                .bind(2, u.address)
                .bind(3, u.code.value_or(0))
                .bind(4, u.enhanced_code)
                .bind(5, u.response)
                .bind(6, u.at)
                .bind(7, *u.bounce_kind)
                .bind(8, u.remote_mta)
                .bind(9, u.bounce_reason)
                .bind(10, u.suppress ? 1 : 0)
                .run();
        }
        if (u.suppress) {
            db.prepare("INSERT OR IGNORE INTO suppression(address, reason, created_at) "
                       "VALUES(?, ?, ?)")
                .bind(1, u.address)
                .bind(2, (u.enhanced_code.empty() ? std::to_string(u.code.value_or(0))
                                                  : u.enhanced_code) +
                             " " + u.response)
                .bind(3, u.at)
                .run();
        }
    }
}
}  // namespace

Status AgentStore::apply(const std::vector<RecipientUpdate>& updates) {
    return writer_.write([&](Db& db) { apply_in(db, updates); });
}

void AgentStore::apply_async(std::vector<RecipientUpdate> updates, std::function<void(Status)> done) {
    auto shared = std::make_shared<std::vector<RecipientUpdate>>(std::move(updates));
    writer_.write_async([shared](Db& db) { apply_in(db, *shared); }, std::move(done));
}

Status AgentStore::release_leases_if(const std::function<bool(const std::string&)>& dead) {
    auto owners = writer_.read<std::vector<std::string>>([&](Db& db) {
        auto s = db.prepare("SELECT DISTINCT lease_owner FROM recipients WHERE lease_until IS NOT NULL "
                            "AND lease_owner IS NOT NULL AND status IN ('queued', 'deferred')");
        std::vector<std::string> out;
        while (s.step()) out.push_back(s.text(0));
        return out;
    });
    if (!owners) return owners.error();
    std::vector<std::string> gone;
    for (const auto& o : *owners)
        if (dead(o)) gone.push_back(o);
    if (gone.empty()) return Ok{};
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE recipients SET lease_owner = NULL, lease_until = NULL "
                            "WHERE lease_owner = ?");
        for (const auto& o : gone) {
            s.reset();
            s.bind(1, o).run();
        }
    });
}

Result<PurgeCount> AgentStore::purge_before(int64_t before_ms, int limit) {
    return writer_.write_value<PurgeCount>([&](Db& db) {
        PurgeCount n;
        // The oldest messages first (messages_created), each only if no recipient is pending.
        auto old = db.prepare(
            "SELECT id FROM messages m WHERE created_at < ? AND NOT EXISTS ("
            "  SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status IN ('queued', 'deferred')) "
            "ORDER BY created_at LIMIT ?");
        old.bind(1, before_ms).bind(2, limit);
        std::vector<std::string> ids;
        while (old.step()) ids.push_back(old.text(0));
        for (const char* sql : {"DELETE FROM events WHERE message_id = ?", "DELETE FROM recipients WHERE message_id = ?",
                                "DELETE FROM messages WHERE id = ?"}) {
            auto del = db.prepare(sql);
            for (const auto& id : ids) {
                del.reset();
                del.bind(1, id).run();
            }
        }
        n.messages = static_cast<int64_t>(ids.size());
        // Idempotency keys: each is a row of its own, dated like its message.
        db.prepare("DELETE FROM idempotency WHERE rowid IN ("
                   "  SELECT rowid FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)")
            .bind(1, before_ms)
            .bind(2, limit)
            .run();
        bool more_keys = db.changes() >= limit;
        // Inbox and bounces grow in time order (seq), so the oldest are at the front. An inbox
        // message's 'received' event goes with it.
        db.prepare("DELETE FROM events WHERE type = 'received' AND message_id IN ("
                   "  SELECT id FROM (SELECT id, received_at FROM inbox ORDER BY seq LIMIT ?) "
                   "  WHERE received_at < ?)")
            .bind(1, limit)
            .bind(2, before_ms)
            .run();
        db.prepare("DELETE FROM inbox WHERE seq IN ("
                   "  SELECT seq FROM (SELECT seq, received_at FROM inbox ORDER BY seq LIMIT ?) "
                   "  WHERE received_at < ?)")
            .bind(1, limit)
            .bind(2, before_ms)
            .run();
        n.inbox = db.changes();
        db.prepare("DELETE FROM bounces WHERE seq IN ("
                   "  SELECT seq FROM bounces WHERE bounced_at < ? ORDER BY bounced_at LIMIT ?)")
            .bind(1, before_ms)
            .bind(2, limit)
            .run();
        n.bounces = db.changes();
        n.more = n.messages >= limit || n.inbox >= limit || n.bounces >= limit || more_keys;
        return n;
    });
}

Result<std::vector<PendingRecipient>> AgentStore::pending(int limit) {
    return writer_.read<std::vector<PendingRecipient>>([&](Db& db) {
        std::vector<PendingRecipient> out;
        // Each query walks its own partial index (recipients_leased, recipients_free).
        for (const char* where : {"lease_until IS NOT NULL AND status IN ('queued', 'deferred') ORDER BY lease_until",
                                  "status IN ('queued', 'deferred') AND lease_until IS NULL ORDER BY next_attempt_at"}) {
            auto s = db.prepare(std::string("SELECT message_id, address, status, attempts, queued_at, next_attempt_at, "
                                            "last_code, last_response, lease_until IS NOT NULL FROM recipients WHERE ") +
                                where + " LIMIT ?");
            s.bind(1, limit - static_cast<int>(out.size()));
            while (s.step())
                out.push_back(PendingRecipient{s.text(0), s.text(1), s.text(2), s.int64(3), s.int64(4),
                                               s.opt_int64(5), s.opt_int64(6), s.text(7), s.int64(8) != 0});
        }
        return out;
    });
}

Result<int64_t> AgentStore::retry_now(int64_t now_ms) {
    return writer_.write_value<int64_t>([&](Db& db) {
        db.prepare("UPDATE recipients SET next_attempt_at = ?1 WHERE status IN ('queued', 'deferred') "
                   "AND lease_until IS NULL AND next_attempt_at > ?1")
            .bind(1, now_ms)
            .run();
        return static_cast<int64_t>(db.changes());
    });
}

std::optional<int64_t> AgentStore::next_due_at() {
    auto r = writer_.read<std::optional<int64_t>>([&](Db& db) {
        // The earliest free due time, and the earliest end of a lease (a leased recipient is
        // due again only when its lease runs out); each a MIN over its partial index.
        auto free = db.prepare("SELECT MIN(next_attempt_at) FROM recipients "
                               "WHERE status IN ('queued', 'deferred') AND lease_until IS NULL");
        free.step();
        auto a = free.opt_int64(0);
        auto leased = db.prepare("SELECT MIN(lease_until) FROM recipients WHERE lease_until IS NOT NULL");
        leased.step();
        auto b = leased.opt_int64(0);
        if (a && b) return std::optional<int64_t>(std::min(*a, *b));
        return a ? a : b;
    });
    return r ? *r : std::nullopt;
}

Result<int64_t> AgentStore::count_by_status(const std::string& status) {
    return writer_.read<int64_t>([&](Db& db) {
        auto s = db.prepare("SELECT COUNT(*) FROM recipients WHERE status = ?");
        s.bind(1, status);
        s.step();
        return s.int64(0);
    });
}

bool AgentStore::is_suppressed(const std::string& address) {
    auto r = writer_.read<bool>([&](Db& db) {
        auto s = db.prepare("SELECT 1 FROM suppression WHERE address = ?");
        s.bind(1, address);
        return s.step();
    });
    return r && *r;
}

Result<std::vector<Suppression>> AgentStore::suppressions(int limit) {
    return writer_.read<std::vector<Suppression>>([&](Db& db) {
        auto s = db.prepare("SELECT address, reason, created_at FROM suppression "
                            "ORDER BY created_at DESC, address LIMIT ?");
        s.bind(1, static_cast<int64_t>(limit));
        std::vector<Suppression> out;
        while (s.step()) out.push_back(Suppression{s.text(0), s.text(1), s.int64(2)});
        return out;
    });
}

Result<bool> AgentStore::suppress(const std::string& address, const std::string& reason, int64_t now_ms) {
    return writer_.write_value<bool>([&](Db& db) {
        db.prepare("INSERT OR IGNORE INTO suppression(address, reason, created_at) VALUES(?, ?, ?)")
            .bind(1, address)
            .bind(2, reason)
            .bind(3, now_ms)
            .run();
        return db.changes() > 0;
    });
}

Result<bool> AgentStore::unsuppress(const std::string& address) {
    return writer_.write_value<bool>([&](Db& db) {
        db.prepare("DELETE FROM suppression WHERE address = ?").bind(1, address).run();
        return db.changes() > 0;
    });
}

}  // namespace ar::store
