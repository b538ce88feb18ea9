#include "tools/mailbox_resources.h"


namespace ar::tools {
namespace {

using json = nlohmann::json;
constexpr const char* kMessagePrefix = "mailbox://inbox/";

std::optional<std::string> message_id_of(const std::string& uri) {
    std::string prefix = kMessagePrefix;
    if (uri.size() <= prefix.size() || uri.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::string id = uri.substr(prefix.size());
    if (id.find('/') != std::string::npos) return std::nullopt;
    return id;
}

json inbox_resource() {
    return {{"uri", mcp::kInboxUri},
            {"name", "inbox"},
            {"title", "Inbox"},
            {"description", "The newest messages in this agent's inbox (as list_messages returns them)"},
            {"mimeType", "application/json"}};
}

} // namespace

Result<json> MailboxResources::list(const std::string& agent, const std::optional<std::string>& cursor) {
    auto record = relay_.find_agent(agent);
    if (!record) return Error{kErrUnauthorized, "agent '" + agent + "' does not exist or was revoked", ""};
    json args{{"limit", 50}};
    if (cursor) args["cursor"] = *cursor;
    auto page = api_.list_messages(*record, args);
    if (!page) return page.error();
    json resources = json::array();
    if (!cursor) resources.push_back(inbox_resource());
    for (const auto& m : (*page)["messages"]) {
        std::string id = m.value("id", "");
        std::string from = m.value("from", "");
        resources.push_back({{"uri", kMessagePrefix + id},
                             {"name", id},
                             {"title", m.value("subject", "")},
                             {"description", "From " + from + ", received " + m.value("received_at", "")},
                             {"mimeType", "application/json"}});
    }
    json out{{"resources", resources}};
    if (page->contains("next_cursor") && (*page)["next_cursor"].is_string()) out["nextCursor"] = (*page)["next_cursor"];
    return out;
}

json MailboxResources::templates() const {
    return json::array({{{"uriTemplate", std::string(kMessagePrefix) + "{id}"},
                         {"name", "message"},
                         {"title", "A message in the inbox"},
                         {"description", "One message with its text, HTML, authentication and attachments "
                                         "(as read_message returns it); {id} is a list_messages id"},
                         {"mimeType", "application/json"}}});
}

Result<json> MailboxResources::read(const std::string& agent, const std::string& uri) {
    auto record = relay_.find_agent(agent);
    if (!record) return Error{kErrUnauthorized, "agent '" + agent + "' does not exist or was revoked", ""};
    Result<json> body = Error{kErrNotFound, "no such resource: " + uri, ""};
    if (uri == mcp::kInboxUri) {
        body = api_.list_messages(*record, json{{"limit", 50}});
    } else if (auto id = message_id_of(uri)) {
        body = api_.read_message(*record, json{{"id", *id}});
    }
    if (!body) return body.error();
    return json{{"contents", json::array({{{"uri", uri}, {"mimeType", "application/json"}, {"text", body->dump()}}})}};
}

std::shared_ptr<void> MailboxResources::watch(const std::string& agent, std::function<void()> changed) {
    auto store = relay_.data().agent_store(agent);
    if (!store) return nullptr;
    struct Cursor {
        store::AgentStore* store;
        int64_t since_ms;
        std::optional<int64_t> after;
    };
    auto cursor = std::make_shared<Cursor>(Cursor{*store, relay_.clock().now_ms(), std::nullopt});
    // Never done: a watch lasts until its handle is dropped.
    return waiters_.watch(agent, [cursor, changed] {
        bool arrived = false;
        for (;;) {
            auto rows = cursor->store->inbox(false, cursor->after, 200, cursor->since_ms);
            if (!rows || rows->empty()) break;
            cursor->after = rows->back().seq;
            arrived = true;
        }
        if (arrived) changed();
        return false;
    });
}

} // namespace ar::tools
