#include "tools/handlers.h"

#include <thread>

#include <ctime>

#include "core/text.h"
#include "mime/address.h"
#include "mime/encoding.h"
#include "relay/events.h"

namespace ar::tools {

using nlohmann::json;

namespace {

std::vector<std::string> string_or_list(const json& args, const char* key) {
    std::vector<std::string> out;
    if (!args.contains(key)) return out;
    const json& v = args.at(key);
    if (v.is_string()) out.push_back(v.get<std::string>());
    else
        for (const auto& e : v) out.push_back(e.get<std::string>());
    return out;
}

std::optional<std::string> opt_string(const json& args, const char* key) {
    if (!args.contains(key) || args.at(key).is_null()) return std::nullopt;
    return args.at(key).get<std::string>();
}

std::string ts(int64_t ms) { return format_rfc3339(ms); }

Result<std::optional<int64_t>> opt_time(const json& args, const char* key) {
    auto s = opt_string(args, key);
    if (!s) return std::optional<int64_t>{};
    int64_t ms = 0;
    if (!parse_rfc3339(*s, ms))
        return invalid(key, std::string(key) + " must be an RFC 3339 time like 2026-11-27T21:30:00Z, got '" +
                                *s + "'");
    return std::optional<int64_t>(ms);
}

// The addresses of a header value ("Bob <bob@x>, carol@y" → ["bob@x", "carol@y"]); a value
// that does not parse is kept whole rather than dropped.
json addresses(const std::string& header) {
    json out = json::array();
    if (header.empty()) return out;
    auto list = mime::parse_mailbox_list(header);
    if (!list) {
        out.push_back(header);
        return out;
    }
    for (const auto& mb : *list) out.push_back(mb.address());
    return out;
}

std::string sender_address(const store::InboxRecord& r) {
    auto list = addresses(r.from_header);
    if (!list.empty()) return list.front().get<std::string>();
    return r.mail_from;
}

// An RFC 5322 Date as RFC 3339, if it can be read.
std::optional<std::string> rfc3339_date(const std::string& date) {
    std::string s = date;
    if (auto comma = s.find(','); comma != std::string::npos) s = s.substr(comma + 1);
    std::tm tm{};
    const char* end = strptime(s.c_str(), " %d %b %Y %H:%M:%S %z", &tm);
    if (!end) return std::nullopt;
    long offset = tm.tm_gmtoff;
    int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset;
    return format_rfc3339(secs * 1000);
}

// What is known of the sender (auth::AuthResults::to_json, or a local sender's); messages
// stored before senders were checked say so.
json authentication_of(const store::InboxRecord& r) {
    if (!r.authentication.empty()) {
        json j = json::parse(r.authentication, nullptr, false);
        if (j.is_object() && j.contains("from_verified")) return j;
    }
    return json{{"from_verified", false}, {"summary", "not checked: stored before senders were checked"}};
}

json message_summary(const store::InboxRecord& r) {
    return json{{"id", r.id},
                {"from", sender_address(r)},
                {"to", addresses(r.to_header)},
                {"subject", r.subject},
                {"received_at", ts(r.received_at)},
                {"unread", r.unread},
                {"thread_id", r.thread_id},
                {"has_attachments", r.has_attachments},
                {"auto_submitted", r.auto_submitted},
                {"from_verified", authentication_of(r)["from_verified"]},
                {"snippet", r.snippet}};
}

bool contains_ci(const std::string& hay, const std::string& needle) {
    return ascii_lower(hay).find(ascii_lower(needle)) != std::string::npos;
}

}  // namespace

ToolApi::ToolApi(Relay& relay) : relay_(relay), waiters_(relay.data().path() + "/agents") {
    relay_.on_inbox([this](const std::string& agent) { waiters_.notify(agent); });
}

Result<store::AgentRecord> ToolApi::agent_record(const std::string& agent) {
    auto a = relay_.find_agent(agent);
    if (!a) return Error{kErrUnauthorized, "agent '" + agent + "' does not exist or was revoked", ""};
    return *a;
}

Result<json> ToolApi::send_email(const store::AgentRecord& agent, const json& args) {
    SendRequest req;
    req.to = string_or_list(args, "to");
    req.cc = string_or_list(args, "cc");
    req.bcc = string_or_list(args, "bcc");
    req.subject = args.value("subject", "");
    req.text = opt_string(args, "text");
    req.html = opt_string(args, "html");
    req.reply_to = opt_string(args, "reply_to");
    req.in_reply_to = opt_string(args, "in_reply_to");
    req.idempotency_key = opt_string(args, "idempotency_key");
    if (args.contains("headers"))
        for (const auto& [k, v] : args.at("headers").items()) req.headers.emplace_back(k, v.get<std::string>());
    if (args.contains("attachments"))
        for (const auto& att : args.at("attachments"))
            req.attachments.push_back(AttachmentIn{att.value("filename", ""), att.value("content_type", ""),
                                                   att.value("content_base64", "")});
    auto r = relay_.send(agent, req);
    if (!r) return r.error();
    json recipients = json::array();
    for (const auto& rs : r->recipients) recipients.push_back({{"address", rs.address}, {"status", rs.status}});
    return json{{"message_id", r->message_id}, {"status", r->status}, {"recipients", recipients}};
}

Result<json> ToolApi::check_status(const store::AgentRecord& agent, const json& args) {
    auto m = relay_.status(agent, args.value("message_id", ""));
    if (!m) return m.error();
    json recipients = json::array();
    for (const auto& r : m->recipients) {
        json j{{"address", r.address}, {"status", r.status}, {"attempts", r.attempts}};
        if (r.last_code) j["last_code"] = *r.last_code;
        if (!r.last_enhanced_code.empty()) j["last_enhanced_code"] = r.last_enhanced_code;
        if (!r.last_response.empty()) j["last_response"] = r.last_response;
        if (r.next_attempt_at && (r.status == store::kQueued || r.status == store::kDeferred))
            j["next_attempt_at"] = ts(*r.next_attempt_at);
        if (r.delivered_at) j["delivered_at"] = ts(*r.delivered_at);
        if (!r.mx_host.empty()) j["mx_host"] = r.mx_host;
        recipients.push_back(std::move(j));
    }
    json events = json::array();
    for (const auto& e : m->events) {
        json j{{"at", ts(e.at)}, {"type", e.type}, {"detail", e.detail}};
        if (!e.recipient.empty()) j["recipient"] = e.recipient;
        events.push_back(std::move(j));
    }
    return json{{"message_id", m->id},
                {"status", store::message_status(m->recipients)},
                {"subject", m->subject},
                {"created_at", ts(m->created_at)},
                {"recipients", recipients},
                {"events", events}};
}

Result<json> ToolApi::list_bounces(const store::AgentRecord& agent, const json& args) {
    auto since = opt_time(args, "since");
    if (!since) return since.error();
    auto page = relay_.bounces(agent, *since, args.value("limit", 20), opt_string(args, "cursor"));
    if (!page) return page.error();
    json bounces = json::array();
    for (const auto& b : page->bounces) {
        json j{{"message_id", b.message_id}, {"recipient", b.recipient},     {"code", b.code},
               {"enhanced_code", b.enhanced_code}, {"diagnostic", b.diagnostic},
               {"bounced_at", ts(b.bounced_at)},   {"kind", b.kind}};
        if (!b.remote_mta.empty()) j["remote_mta"] = b.remote_mta;
        j["reason"] = b.reason;
        j["suppressed"] = b.suppressed || b.kind == "suppressed";
        bounces.push_back(std::move(j));
    }
    json out{{"bounces", bounces}};
    if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
    return out;
}

Result<json> ToolApi::list_messages(const store::AgentRecord& agent, const json& args) {
    auto page = relay_.inbox(agent, args.value("unread_only", false), args.value("limit", 20),
                             opt_string(args, "cursor"));
    if (!page) return page.error();
    json messages = json::array();
    for (const auto& m : page->messages) messages.push_back(message_summary(m));
    json out{{"messages", messages}};
    if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
    return out;
}

Result<json> ToolApi::read_message(const store::AgentRecord& agent, const json& args) {
    bool with_content = args.value("include_attachments", false);
    auto m = relay_.read(agent, args.value("id", ""), with_content);
    if (!m) return m.error();
    const auto& r = m->record;
    json attachments = json::array();
    for (const auto& att : m->attachments) {
        json j{{"filename", att.filename}, {"content_type", att.content_type}, {"size", att.size}};
        if (with_content) j["content_base64"] = mime::base64_encode(att.content);
        attachments.push_back(std::move(j));
    }
    json out{{"id", r.id},
             {"from", sender_address(r)},
             {"to", addresses(r.to_header)},
             {"subject", r.subject},
             {"received_at", ts(r.received_at)},
             {"thread_id", r.thread_id},
             {"text", m->text},
             {"auto_submitted", r.auto_submitted},
             {"authentication", authentication_of(r)},
             {"attachments", attachments}};
    if (!r.cc_header.empty()) out["cc"] = addresses(r.cc_header);
    if (auto date = rfc3339_date(r.date_header)) out["date"] = *date;
    if (!r.message_id.empty()) out["message_id"] = r.message_id;
    if (!r.in_reply_to.empty()) out["in_reply_to"] = r.in_reply_to;
    if (!m->html.empty()) out["html"] = m->html;
    return out;
}

void ToolApi::wait_for_message(const store::AgentRecord& agent, const json& args, ToolReply reply) {
    auto since = opt_time(args, "since");
    if (!since) return reply(since.error());
    auto store = relay_.data().agent_store(agent.name);
    if (!store) return reply(store.error());
    struct Search {
        store::AgentStore* store;
        std::string from, subject;
        int64_t since_ms;
        std::optional<int64_t> after; // the last inbox row looked at
    };
    auto search = std::make_shared<Search>(
        Search{*store, args.value("from", ""), args.value("subject_contains", ""),
               since->value_or(relay_.clock().now_ms()), std::nullopt});
    // One look through what is new since the last: the answer, or nullopt to go on waiting.
    auto look = [search]() -> std::optional<Result<json>> {
        for (;;) {
            auto rows = search->store->inbox(false, search->after, 200, search->since_ms);
            if (!rows) return Result<json>(rows.error());
            for (const auto& r : *rows) {
                search->after = r.seq;
                if (!search->from.empty() && !contains_ci(r.from_header, search->from) &&
                    !contains_ci(r.mail_from, search->from))
                    continue;
                if (!search->subject.empty() && !contains_ci(r.subject, search->subject)) continue;
                return Result<json>(json{{"message", message_summary(r)}, {"timed_out", false}});
            }
            if (rows->empty()) return std::nullopt; // a full page: read on
        }
    };
    if (auto found = look()) return reply(std::move(*found));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args.value("timeout_seconds", 30));
    waiters_.wait(agent.name, deadline, [look, reply](bool timed_out) {
        if (auto found = look()) {
            reply(std::move(*found));
            return true;
        }
        if (!timed_out) return false;
        reply(json{{"message", nullptr}, {"timed_out", true}});
        return true;
    });
}

json event_json(const store::FeedEvent& e) {
    json data = e.data.empty() ? json::object() : json::parse(e.data, nullptr, false);
    if (!data.is_object()) data = json::object();
    if (data.contains("next_attempt_at") && data["next_attempt_at"].is_number_integer())
        data["next_attempt_at"] = ts(data["next_attempt_at"].get<int64_t>());
    json j{{"id", event_id(e.seq)}, {"type", e.type},     {"created_at", ts(e.at)},
           {"message_id", e.message_id}, {"detail", e.detail}, {"data", std::move(data)}};
    if (!e.recipient.empty()) j["recipient"] = e.recipient;
    return j;
}

Result<json> ToolApi::list_events(const store::AgentRecord& agent, const json& args) {
    std::vector<std::string> types;
    if (args.contains("types"))
        for (const auto& t : args.at("types")) types.push_back(t.get<std::string>());
    auto page = relay_.events(agent, opt_string(args, "after"), types, args.value("limit", 20));
    if (!page) return page.error();
    json events = json::array();
    for (const auto& e : page->events)
        events.push_back(event_json(e));
    json out{{"events", events}};
    if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
    return out;
}

void ToolApi::register_all(ToolRegistry& registry) {
    // MCP calls name their agent; each call looks it up (a revoked agent's session stops working).
    using Tool = Result<json> (ToolApi::*)(const store::AgentRecord&, const json&);
    auto by_name = [this](Tool tool) {
        return [this, tool](const std::string& name, const json& args) -> Result<json> {
            auto agent = agent_record(name);
            if (!agent) return agent.error();
            return (this->*tool)(*agent, args);
        };
    };
    registry.set_handler("send_email", by_name(&ToolApi::send_email));
    registry.set_handler("check_status", by_name(&ToolApi::check_status));
    registry.set_handler("list_bounces", by_name(&ToolApi::list_bounces));
    registry.set_handler("list_messages", by_name(&ToolApi::list_messages));
    registry.set_handler("read_message", by_name(&ToolApi::read_message));
    registry.set_async_handler("wait_for_message", [this](const std::string& name, const json& args, ToolReply reply) {
        auto agent = agent_record(name);
        if (!agent) return reply(agent.error());
        wait_for_message(*agent, args, std::move(reply));
    });
    registry.set_handler("list_events", by_name(&ToolApi::list_events));
}

}  // namespace ar::tools
