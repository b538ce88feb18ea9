#include "relay/relay.h"

#include "relay/bounce_reason.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "core/text.h"
#include "mime/address.h"
#include "mime/compose.h"
#include "mime/encoding.h"
#include "mime/parse.h"
#include "relay/events.h"
#include "relay/submission.h"

namespace ar {

namespace {

bool has_line_break(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Parses a list of addresses given as field[i]; appends to out.
Status parse_list(const std::vector<std::string>& in, const char* field,
                  std::vector<mime::Mailbox>& out) {
    for (size_t i = 0; i < in.size(); ++i) {
        auto mb = mime::parse_mailbox(in[i]);
        std::string where = std::string(field) + "[" + std::to_string(i) + "]";
        if (!mb) return invalid(where, where + ": " + mb.error().message);
        out.push_back(std::move(*mb));
    }
    return Ok{};
}

std::string normalize_msg_id(std::string id) {
    if (!id.empty() && id.front() != '<') id = "<" + id + ">";
    return id;
}

std::string collapse_whitespace(std::string_view s, size_t max) {
    std::string out;
    bool space = false;
    for (unsigned char c : s) {
        if (out.size() >= max) break;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += static_cast<char>(c);
    }
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
    return out;
}

// What the recipient learns of a sender on this relay: the agent authenticated to send, and
// its From is checked (prepare_submission), so no DNS check is needed to trust it.
std::string local_sender_authentication(const std::string& sender) {
    return nlohmann::json{{"from_verified", true},
                          {"local", true},
                          {"summary", "sent by agent " + sender + " of this relay"}}
        .dump();
}

}  // namespace

std::string make_cursor(int64_t seq) { return "c" + std::to_string(seq); }

Result<int64_t> parse_cursor(const std::string& cursor) {
    if (cursor.size() < 2 || cursor.size() > 20 || cursor[0] != 'c' ||
        !std::all_of(cursor.begin() + 1, cursor.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return invalid("cursor", "cursor '" + cursor + "' is not one this server returned");
    return std::stoll(cursor.substr(1));
}

Relay::Relay(store::DataDir& data, const Clock& clock, RelayConfig config)
    : data_(data), clock_(clock), config_(std::move(config)) {}

std::optional<store::AgentRecord> Relay::authenticate(const std::string& api_key) {
    if (api_key.empty()) return std::nullopt;
    return data_.control().find_agent_by_key_hash(store::hash_api_key(api_key));
}

std::optional<store::AgentRecord> Relay::find_agent(const std::string& name) {
    auto a = data_.control().find_agent(name);
    if (a && a->revoked_at) return std::nullopt;
    return a;
}

std::optional<std::string> Relay::local_agent_of(const std::string& address) const {
    auto at = address.rfind('@');
    if (at == std::string::npos) return std::nullopt;
    if (ascii_lower(address.substr(at + 1)) != ascii_lower(data_.domain())) return std::nullopt;
    // Subaddressing (RFC 5233): agent+tag@domain is agent's.
    std::string local = address.substr(0, at);
    if (auto plus = local.find('+'); plus != std::string::npos && plus > 0) local.resize(plus);
    return ascii_lower(local);
}

std::optional<store::AgentRecord> Relay::mailbox_owner(const std::string& address) {
    auto local = local_agent_of(address);
    if (!local) return std::nullopt;
    if (auto agent = find_agent(*local)) return agent;
    if (*local != "postmaster") return std::nullopt;
    std::optional<store::AgentRecord> oldest;
    for (auto& a : data_.control().list_agents())
        if (!oldest || a.created_at < oldest->created_at) oldest = a;
    return oldest;
}

Result<SendResult> Relay::send(const store::AgentRecord& agent, const SendRequest& req) {
    std::vector<mime::Mailbox> to, cc, bcc;
    if (auto st = parse_list(req.to, "to", to); !st) return st.error();
    if (auto st = parse_list(req.cc, "cc", cc); !st) return st.error();
    if (auto st = parse_list(req.bcc, "bcc", bcc); !st) return st.error();
    if (to.empty() && cc.empty() && bcc.empty())
        return invalid("to", "no recipient: give at least one address in to, cc or bcc");
    size_t total = to.size() + cc.size() + bcc.size();
    if (total > config_.max_recipients)
        return invalid("to", "too many recipients: " + std::to_string(total) + " given, at most " +
                                 std::to_string(config_.max_recipients) + " per message");
    if (has_line_break(req.subject))
        return invalid("subject", "subject must be one line: it contains a CR, LF or NUL character");
    if (!req.text && !req.html && req.attachments.empty())
        return invalid("text", "the message has no content: give text, html or attachments");

    mime::Draft d;
    d.from.local_part = agent.name;
    d.from.domain = data_.domain();
    d.to = to;
    d.cc = cc;
    d.subject = req.subject;
    d.text = req.text;
    d.html = req.html;
    if (req.reply_to) {
        auto rt = mime::parse_mailbox(*req.reply_to);
        if (!rt) return invalid("reply_to", "reply_to: " + rt.error().message);
        d.reply_to = *rt;
    }
    if (req.in_reply_to) {
        d.in_reply_to = normalize_msg_id(*req.in_reply_to);
        if (!mime::is_msg_id(d.in_reply_to))
            return invalid("in_reply_to", "in_reply_to must be a Message-ID like <id@host>, got '" +
                                              *req.in_reply_to + "'");
    }
    for (const auto& [name, value] : req.headers) {
        if (auto st = mime::check_extra_header(name, value); !st)
            return invalid("headers." + name, st.error().message);
        // A field given twice (names differ only in case) is ambiguous to every reader.
        for (const auto& [earlier, _] : d.extra_headers)
            if (iequals(earlier, name))
                return invalid("headers." + name, "header " + name + " is given twice (as '" + earlier +
                                                      "' and '" + name + "'); give each header once");
        d.extra_headers.emplace_back(name, value);
    }
    for (size_t i = 0; i < req.attachments.size(); ++i) {
        const auto& a = req.attachments[i];
        std::string where = "attachments[" + std::to_string(i) + "]";
        if (a.filename.empty() || has_line_break(a.filename))
            return invalid(where + ".filename", where + ".filename must be a non-empty single line");
        if (has_line_break(a.content_type) || a.content_type.find('/') == std::string::npos)
            return invalid(where + ".content_type",
                           where + ".content_type must be a MIME type like application/pdf");
        auto bytes = mime::base64_decode(a.content_base64);
        if (!bytes)
            return invalid(where + ".content_base64",
                           where + ".content_base64 is not valid base64: " + bytes.error().message);
        d.attachments.push_back(mime::Attachment{a.filename, a.content_type, std::move(*bytes)});
    }

    store::NewMessage m;
    m.created_at = clock_.now_ms();
    m.id = ordered_id("m_", m.created_at);
    m.message_id_header = "<" + m.id + "@" + data_.domain() + ">";
    d.message_id = m.message_id_header;
    d.date_ms = m.created_at;
    auto raw = mime::compose(d);
    if (!raw) return raw.error();
    if (raw->size() > config_.max_message_bytes)
        return Error{kErrTooLarge,
                     "message is " + std::to_string(raw->size()) + " bytes after encoding; the limit is " +
                         std::to_string(config_.max_message_bytes) + " bytes",
                     "attachments"};
    m.raw = std::move(*raw);
    m.subject = req.subject;
    m.mail_from = agent.address;
    m.idempotency_key = req.idempotency_key;
    for (const auto* list : {&to, &cc, &bcc}) {
        for (const auto& mb : *list) {
            m.smtputf8 = m.smtputf8 || mb.needs_smtputf8();
            m.recipients.emplace_back(mb.address(), mb.domain_lower());
        }
    }
    return enqueue(agent, std::move(m));
}

store::RateLimit Relay::rate_limit_of(const store::AgentRecord& agent) const {
    return {agent.rate_per_minute ? agent.rate_per_minute : config_.default_rate_per_minute,
            agent.rate_per_day ? agent.rate_per_day : config_.default_rate_per_day};
}

SendResult Relay::result_of(const store::InsertOutcome& inserted) {
    SendResult result;
    result.message_id = inserted.id;
    result.status = store::kQueued;
    result.duplicate = inserted.duplicate;
    for (const auto& [address, status] : inserted.recipients) result.recipients.push_back({address, status});
    return result;
}

Result<SendResult> Relay::enqueue(const store::AgentRecord& agent, store::NewMessage m) {
    IntakeMeter::Scope at_the_door(intake_);
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    auto inserted = (*store)->insert_message(m, rate_limit_of(agent), config_.idempotency_window_ms);
    if (!inserted) return inserted.error();
    SendResult result = result_of(*inserted);
    if (result.duplicate) return result;

    deliver_local(agent.name, m.id, m.mail_from, m.raw, result.recipients);
    notify_queued(agent.name, result);
    return result;
}

void Relay::notify_queued(const std::string& agent, const SendResult& result) {
    bool queued = std::any_of(result.recipients.begin(), result.recipients.end(),
                              [](const RecipientStatus& r) { return r.status == store::kQueued; });
    if (queued && queued_listener_) queued_listener_(agent);
}

void Relay::deliver_local(const std::string& sender, const std::string& message_id,
                          const std::string& mail_from, const std::string& raw,
                          std::vector<RecipientStatus>& recipients) {
    std::vector<store::RecipientUpdate> updates;
    for (auto& r : recipients) {
        if (r.status != store::kQueued) continue;
        if (!local_agent_of(r.address)) continue;
        store::RecipientUpdate u;
        u.message_id = message_id;
        u.address = r.address;
        u.at = clock_.now_ms();
        u.mx_host = "local";
        auto target = mailbox_owner(r.address);
        if (!target) {
            u.status = store::kBounced;
            u.code = 550;
            u.enhanced_code = "5.1.1";
            u.response = "550 5.1.1 <" + r.address + ">: no such agent at " + data_.domain();
            u.event_type = "bounced";
            u.event_detail = u.response;
            u.bounce_kind = "hard";
            u.remote_mta = data_.domain();
            u.suppress = true;
        } else {
            auto stored = deliver_to_inbox(target->name, mail_from, r.address, raw,
                                           sender + "/" + message_id + "/" + r.address,
                                           local_sender_authentication(sender));
            if (!stored) {
                // Leave it queued: the delivery engine's local transport retries it.
                spdlog::warn("local delivery of {} to {} failed: {}", message_id, r.address,
                             stored.error().message);
                continue;
            }
            u.status = store::kDelivered;
            u.code = 250;
            u.enhanced_code = "2.0.0";
            u.response = "250 2.0.0 delivered to the inbox of " + target->address;
            u.event_type = "delivered";
            u.event_detail = u.response;
        }
        r.status = u.status;
        updates.push_back(std::move(u));
    }
    if (updates.empty()) return;
    auto store = data_.agent_store(sender);
    if (!store) return;
    if (auto st = (*store)->apply(updates); !st)
        spdlog::error("recording local delivery of {} failed: {}", message_id, st.error().message);
}

Result<store::InboxRecord> Relay::deliver_to_inbox(const std::string& rcpt_agent,
                                                   const std::string& mail_from,
                                                   const std::string& rcpt_to, const std::string& raw,
                                                   const std::string& delivery_key,
                                                   const std::string& authentication) {
    auto store = data_.agent_store(rcpt_agent);
    if (!store) return store.error();
    auto parsed = mime::parse_message(raw);
    if (!parsed) return parsed.error();
    store::InboxRecord r;
    r.received_at = clock_.now_ms();
    r.id = ordered_id("i_", r.received_at);
    r.mail_from = mail_from;
    r.rcpt_to = rcpt_to;
    r.from_header = parsed->from;
    r.to_header = parsed->to;
    r.cc_header = parsed->cc;
    r.subject = parsed->subject;
    r.date_header = parsed->date;
    r.message_id = parsed->message_id;
    r.in_reply_to = parsed->in_reply_to;
    std::string root = !parsed->references.empty() ? parsed->references.front()
                       : !parsed->in_reply_to.empty() ? parsed->in_reply_to
                       : !parsed->message_id.empty()  ? parsed->message_id
                                                      : r.id;
    r.thread_id = "t_" + sha256_hex(root).substr(0, 16);
    r.raw = raw;
    r.has_attachments = !parsed->attachments.empty();
    r.auto_submitted = parsed->auto_submitted;
    r.snippet = collapse_whitespace(parsed->text, 160);
    r.delivery_key = delivery_key;
    r.authentication = authentication;
    if (auto st = (*store)->insert_inbox(r); !st) return st.error();
    if (inbox_listener_) inbox_listener_(rcpt_agent);
    return r;
}

Result<SendResult> Relay::submit(const store::AgentRecord& agent, const std::string& reverse_path,
                                 const std::vector<std::string>& recipients, std::string raw,
                                 const std::string& client, const std::string& protocol) {
    auto m = prepare_submission(agent, reverse_path, recipients, std::move(raw), client, protocol);
    if (!m) return m.error();
    return enqueue(agent, std::move(*m));
}

bool Relay::has_local_recipient(const std::vector<std::string>& recipients) const {
    return std::any_of(recipients.begin(), recipients.end(),
                       [this](const std::string& r) { return local_agent_of(r).has_value(); });
}

void Relay::submit_async(const store::AgentRecord& agent, const std::string& reverse_path,
                         const std::vector<std::string>& recipients, std::string raw, const std::string& client,
                         const std::string& protocol, std::function<void(Result<SendResult>)> done) {
    auto m = prepare_submission(agent, reverse_path, recipients, std::move(raw), client, protocol);
    if (!m) return done(m.error());
    auto store = data_.agent_store(agent.name);
    if (!store) return done(store.error());
    std::string agent_name = agent.name;
    intake_.begin(IntakeMeter::steady_now_us());  // until the commit: the message is at the door
    (*store)->insert_message_async(
        std::move(*m), rate_limit_of(agent), config_.idempotency_window_ms,
        [this, agent_name, done = std::move(done)](Result<store::InsertOutcome> inserted) {
            intake_.end(IntakeMeter::steady_now_us());
            if (!inserted) return done(inserted.error());
            SendResult result = result_of(*inserted);
            if (!result.duplicate) notify_queued(agent_name, result);
            done(std::move(result));
        });
}

Result<store::NewMessage> Relay::prepare_submission(const store::AgentRecord& agent, const std::string& reverse_path,
                                                    const std::vector<std::string>& recipients, std::string raw,
                                                    const std::string& client, const std::string& protocol) {
    mime::Mailbox self;
    self.local_part = agent.name;
    self.domain = data_.domain();
    auto checked = check_submission(std::move(raw), self);
    if (!checked) return checked.error();
    if (recipients.empty()) return invalid("to", "no recipients");
    if (recipients.size() > config_.max_recipients)
        return invalid("to", "too many recipients: at most " + std::to_string(config_.max_recipients));
    if (checked->raw.size() > config_.max_message_bytes)
        return Error{kErrTooLarge, "message exceeds the size limit", "message"};

    store::NewMessage m;
    m.created_at = clock_.now_ms();
    m.id = ordered_id("m_", m.created_at);
    std::string added;
    added += "Received: from " + client + "\r\n\tby " + data_.domain() + " (agentrelay) with " + protocol + " id " +
             m.id + ";\r\n\t" + mime::format_date(m.created_at) + "\r\n";
    if (checked->message_id.empty()) {
        m.message_id_header = "<" + m.id + "@" + data_.domain() + ">";
        added += "Message-ID: " + m.message_id_header + "\r\n";
    } else {
        m.message_id_header = checked->message_id;
    }
    if (checked->needs_date) added += "Date: " + mime::format_date(m.created_at) + "\r\n";
    m.raw = added + checked->raw;
    m.subject = checked->subject;
    m.mail_from = reverse_path.empty() ? agent.address : reverse_path;
    for (size_t i = 0; i < recipients.size(); ++i) {
        auto mb = mime::parse_address(recipients[i]);
        if (!mb) return invalid("to[" + std::to_string(i) + "]", mb.error().message);
        m.smtputf8 = m.smtputf8 || mb->needs_smtputf8();
        m.recipients.emplace_back(mb->address(), mb->domain_lower());
    }
    return m;
}

Status Relay::record_async_report(const std::string& agent, const std::string& message_id,
                                  const std::vector<AsyncReport>& reports) {
    auto store = data_.agent_store(agent);
    if (!store) return store.error();
    auto message = (*store)->message(message_id);
    if (!message) return message.error();
    std::vector<store::RecipientUpdate> updates;
    for (const auto& r : reports) {
        if (r.action != "failed") continue;  // delayed/delivered/relayed reports change nothing
        auto find = [&](const std::string& address) -> const store::RecipientRecord* {
            for (const auto& rec : message->recipients)
                if (!address.empty() && ascii_lower(rec.address) == ascii_lower(address)) return &rec;
            return nullptr;
        };
        const store::RecipientRecord* rec = find(r.recipient);
        if (!rec) rec = find(r.original_recipient);
        if (!rec && message->recipients.size() == 1) rec = &message->recipients.front();
        if (!rec) {
            spdlog::info("DSN for {} of {} reports on {}, not one of its recipients: ignored", message_id,
                         agent, r.recipient);
            continue;
        }
        // Already known (a report delivered twice), or never sent (suppressed): nothing to record.
        if (rec->status == store::kBounced || rec->status == store::kSuppressed) continue;
        if (std::any_of(updates.begin(), updates.end(),
                        [&](const store::RecipientUpdate& u) { return u.address == rec->address; }))
            continue;
        std::string recipient = rec->address;
        store::RecipientUpdate u;
        u.message_id = message->id;
        u.address = recipient;
        u.status = store::kBounced;
        u.counts_as_attempt = false;
        u.at = clock_.now_ms();
        u.enhanced_code = r.status;
        int code = 550;
        if (r.diagnostic.size() >= 3 && std::isdigit(static_cast<unsigned char>(r.diagnostic[0])) &&
            std::isdigit(static_cast<unsigned char>(r.diagnostic[1])) &&
            std::isdigit(static_cast<unsigned char>(r.diagnostic[2])))
            code = std::stoi(r.diagnostic.substr(0, 3));
        else if (!r.status.empty() && r.status[0] == '4')
            code = 450;
        u.code = code;
        u.response = r.diagnostic.empty() ? r.status : r.diagnostic;
        u.remote_mta = r.remote_mta;
        u.event_type = "bounced";
        u.event_detail = "delivery status notification from " +
                         (r.remote_mta.empty() ? std::string("the remote side") : r.remote_mta) + ": " + u.response;
        u.bounce_kind = "async";
        auto why = classify_bounce(code, r.status, r.diagnostic);
        u.bounce_reason = why.reason;
        u.suppress = why.suppress;
        updates.push_back(std::move(u));
    }
    if (updates.empty()) return Ok{};
    return (*store)->apply(updates);
}

Result<store::MessageRecord> Relay::status(const store::AgentRecord& agent, const std::string& id) {
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    std::string key = id;
    if (key.empty()) return invalid("message_id", "message_id is empty");
    return (*store)->message(key);
}

namespace {

// One page of rows after the cursor: asks the store for one row more than the limit, so a
// full page knows whether there is a next one.
template <class Row, class Fetch>
Result<std::pair<std::vector<Row>, std::optional<std::string>>> page(const std::optional<std::string>& cursor,
                                                                    int limit, Fetch fetch) {
    std::optional<int64_t> after;
    if (cursor) {
        auto c = parse_cursor(*cursor);
        if (!c) return c.error();
        after = *c;
    }
    Result<std::vector<Row>> rows = fetch(after, limit + 1);
    if (!rows) return rows.error();
    std::optional<std::string> next;
    if (rows->size() > static_cast<size_t>(limit)) {
        rows->resize(static_cast<size_t>(limit));
        next = make_cursor(rows->back().seq);
    }
    return std::make_pair(std::move(*rows), next);
}

}  // namespace

Result<BouncePage> Relay::bounces(const store::AgentRecord& agent, std::optional<int64_t> since_ms,
                                  int limit, const std::optional<std::string>& cursor) {
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    auto p = page<store::BounceRecord>(cursor, limit, [&](std::optional<int64_t> after, int n) {
        return (*store)->bounces(since_ms, after, n);
    });
    if (!p) return p.error();
    return BouncePage{std::move(p->first), std::move(p->second)};
}

Result<InboxPage> Relay::inbox(const store::AgentRecord& agent, bool unread_only, int limit,
                               const std::optional<std::string>& cursor) {
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    auto p = page<store::InboxRecord>(cursor, limit, [&](std::optional<int64_t> after, int n) {
        return (*store)->inbox(unread_only, after, n);
    });
    if (!p) return p.error();
    return InboxPage{std::move(p->first), std::move(p->second)};
}

Result<EventPage> Relay::events(const store::AgentRecord& agent, const std::optional<std::string>& after,
                                const std::vector<std::string>& types, int limit) {
    int64_t after_seq = 0;
    if (after) {
        auto seq = parse_event_id(*after, "after");
        if (!seq) return seq.error();
        after_seq = *seq;
    }
    auto stored_types = store_event_types(types);
    if (!stored_types) return stored_types.error();
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    auto rows = (*store)->events_after(after_seq, *stored_types, limit);
    if (!rows) return rows.error();
    EventPage page;
    for (auto& e : *rows) {
        e.type = public_event_type(e.type);
        page.events.push_back(std::move(e));
    }
    if (static_cast<int>(page.events.size()) == limit && !page.events.empty())
        page.next_cursor = event_id(page.events.back().seq);
    return page;
}

Result<InboxMessage> Relay::read(const store::AgentRecord& agent, const std::string& id,
                                 bool include_attachments) {
    auto store = data_.agent_store(agent.name);
    if (!store) return store.error();
    auto rec = (*store)->inbox_message(id, true);
    if (!rec) return rec.error();
    InboxMessage out;
    out.record = std::move(*rec);
    auto parsed = mime::parse_message(out.record.raw);
    if (parsed) {
        out.text = parsed->text;
        out.html = parsed->html;
        for (auto& a : parsed->attachments) {
            InboxAttachment att{a.filename, a.content_type, a.content.size(), ""};
            if (include_attachments) att.content = std::move(a.content);
            out.attachments.push_back(std::move(att));
        }
    }
    out.record.raw.clear();
    return out;
}

}  // namespace ar
