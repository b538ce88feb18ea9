// handlers.h: the tools, as functions from JSON arguments to JSON results.
//
// One implementation serves both doors: the MCP server calls these through the
// ToolRegistry (tools/call), and the REST API calls them directly. Arguments have
// already been validated against the tool's inputSchema; results match its
// outputSchema (tools-schema/NAME.json).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "relay/relay.h"
#include "tools/inbox_waiters.h"
#include "tools/registry.h"

namespace ar::tools {

// One event as list_events, GET /v1/events and its stream show it.
nlohmann::json event_json(const store::FeedEvent& e);

class ToolApi {
  public:
    explicit ToolApi(Relay& relay);

    // Each tool, for an agent already authenticated (the REST API's caller, found by its key).
    Result<nlohmann::json> send_email(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> check_status(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> list_bounces(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> list_messages(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> read_message(const store::AgentRecord& agent, const nlohmann::json& args);
    // Answers through reply when matching mail is in the inbox or at the timeout; holds no
    // thread while it waits (inbox_waiters.h).
    void wait_for_message(const store::AgentRecord& agent, const nlohmann::json& args, ToolReply reply);
    Result<nlohmann::json> list_events(const store::AgentRecord& agent, const nlohmann::json& args);

    // Who waits for mail (wait_for_message, resource watches).
    InboxWaiters& waiters() { return waiters_; }

    // Registers every tool above with the registry.
    void register_all(ToolRegistry& registry);

  private:
    Result<store::AgentRecord> agent_record(const std::string& agent);
    Relay& relay_;
    InboxWaiters waiters_;
};

}  // namespace ar::tools
