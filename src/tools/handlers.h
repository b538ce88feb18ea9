// handlers.h: the tools, as functions from JSON arguments to JSON results.
//
// One implementation serves both doors: the MCP server calls these through the
// ToolRegistry (tools/call), and the REST API calls them directly. Arguments have
// already been validated against the tool's inputSchema; results match its
// outputSchema (tools-schema/NAME.json).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "relay/relay.h"
#include "tools/registry.h"

namespace ar::tools {

// Wakes wait_for_message when mail lands in an agent's inbox in this process; mail
// stored by another process on the same data dir is found by polling.
class InboxWaiter {
  public:
    void notify(const std::string& agent);
    // Waits until notify(agent) is called after `seen`, or until the deadline.
    uint64_t generation(const std::string& agent);
    void wait(const std::string& agent, uint64_t seen, std::chrono::steady_clock::time_point until);

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, uint64_t> generations_;
};

class ToolApi {
  public:
    explicit ToolApi(Relay& relay);

    // Each tool, for an agent already authenticated (the REST API's caller, found by its key).
    Result<nlohmann::json> send_email(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> check_status(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> list_bounces(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> list_messages(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> read_message(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> wait_for_message(const store::AgentRecord& agent, const nlohmann::json& args);
    Result<nlohmann::json> list_events(const store::AgentRecord& agent, const nlohmann::json& args);

    // Registers every tool above with the registry.
    void register_all(ToolRegistry& registry);

  private:
    Result<store::AgentRecord> agent_record(const std::string& agent);
    Relay& relay_;
    InboxWaiter waiter_;
};

}  // namespace ar::tools
