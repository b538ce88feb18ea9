// mailbox_resources.h: an agent's mailbox as MCP resources.
//
//   mailbox://inbox        the newest messages (list_messages' result, JSON)
//   mailbox://inbox/{id}   one message (read_message's result, JSON; reading marks it read)
//
// resources/list gives the inbox and one resource per message, newest first, 50 a page. A
// watch wakes on the agent's new mail as wait_for_message does (inbox_waiters.h): in this
// process at once, from another one through inotify; it holds no thread.
#pragma once

#include "mcp/resources.h"
#include "tools/handlers.h"

namespace ar::tools {

class MailboxResources : public mcp::ResourceProvider {
  public:
    MailboxResources(ToolApi& api, Relay& relay, InboxWaiters& waiters) : api_(api), relay_(relay), waiters_(waiters) {}

    Result<nlohmann::json> list(const std::string& agent, const std::optional<std::string>& cursor) override;
    nlohmann::json templates() const override;
    Result<nlohmann::json> read(const std::string& agent, const std::string& uri) override;
    std::shared_ptr<void> watch(const std::string& agent, std::function<void()> changed) override;

  private:
    ToolApi& api_;
    Relay& relay_;
    InboxWaiters& waiters_;
};

} // namespace ar::tools
