// resources.h: what McpServer needs of whoever serves MCP resources (the agent's mailbox,
// tools/mailbox_resources.h), and where a session's notifications go.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace ar::mcp {

// The inbox as a resource; each message is mailbox://inbox/{id}.
inline constexpr const char* kInboxUri = "mailbox://inbox";

class ResourceProvider {
  public:
    virtual ~ResourceProvider() = default;
    // One page of {resources: [{uri, name, title?, description?, mimeType?}], nextCursor?}.
    virtual ar::Result<nlohmann::json> list(const std::string& agent, const std::optional<std::string>& cursor) = 0;
    // [{uriTemplate, name, title?, description?, mimeType?}]
    virtual nlohmann::json templates() const = 0;
    // {contents: [{uri, mimeType, text}]}; an unknown uri is an Error with kErrNotFound.
    virtual ar::Result<nlohmann::json> read(const std::string& agent, const std::string& uri) = 0;
    // Calls changed() each time the agent's resources change (mail arrived: the inbox and the
    // list), from any thread, until the returned handle is dropped.
    virtual std::shared_ptr<void> watch(const std::string& agent, std::function<void()> changed) = 0;
};

// A session's way back to its client, shared by every copy of the Session: the notifications
// it has asked for and where to send them (stdout for stdio; the GET stream over HTTP, while
// one is open). Thread-safe.
class SessionChannel : public std::enable_shared_from_this<SessionChannel> {
  public:
    using Sink = std::function<void(const nlohmann::json& notification)>;
    // Where notifications go from now on (empty: nowhere; they are dropped, as the client
    // re-reads what it cares about when it reconnects).
    void set_sink(Sink sink);
    // Replaces the sink only if it is still `expected` (by identity token), e.g. when a GET
    // stream ends after another one took over.
    void clear_sink_if(uint64_t token);
    uint64_t sink_token() const;
    bool has_sink() const;
    void send(const nlohmann::json& notification);

    // Subscribed resource uris.
    bool subscribe(const std::string& uri);   // false if it already was
    bool unsubscribe(const std::string& uri); // false if it was not
    std::vector<std::string> subscriptions() const;
    // The watch on the agent's resources, kept while the session wants notifications.
    void keep_watch(std::shared_ptr<void> watch);
    bool watching() const;
    void drop_watch();

  private:
    mutable std::mutex mu_;
    Sink sink_;
    uint64_t token_ = 0;
    std::map<std::string, bool> subscribed_;
    std::shared_ptr<void> watch_;
};

} // namespace ar::mcp
