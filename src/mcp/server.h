// server.h: the MCP protocol (JSON-RPC 2.0 methods) over any transport.
//
// McpServer answers one already-framed message at a time for an authenticated agent:
// initialize / notifications/initialized / ping / tools/list / tools/call in the handshake era
// (protocol revisions 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05), and server/discover,
// tools/list, tools/call in the 2026-07-28 era, where each request names its revision in
// params._meta["io.modelcontextprotocol/protocolVersion"]. The era is chosen per message, from
// how the client speaks: `initialize` selects the handshake era for the Session; a request with
// that _meta is served statelessly. Handshake-era requests sent before `initialize` are answered
// too (as the latest handshake revision): strictness there only breaks lenient clients.
//
// Promise: handle() never throws; every request gets exactly one response, notifications and
// client responses get none. Tool failures are results with isError (the agent can read and
// correct them); protocol faults are JSON-RPC errors. The server holds no per-connection state
// itself (that lives in Session), so one McpServer serves many connections from many threads.
#pragma once

#include <functional>
#include <optional>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcp/resources.h"
#include "tools/registry.h"

namespace ar::mcp {

inline constexpr const char* kModernVersion = "2026-07-28";
inline constexpr const char* kLatestHandshakeVersion = "2025-11-25";
// What a Streamable HTTP request without MCP-Protocol-Version is taken to speak.
inline constexpr const char* kDefaultHttpVersion = "2025-03-26";
inline constexpr const char* kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr const char* kMetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr const char* kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
inline constexpr const char* kMetaSubscriptionId = "io.modelcontextprotocol/subscriptionId";

// Every revision this server speaks, newest first.
const std::vector<std::string>& supported_versions();
bool is_handshake_version(std::string_view version);
bool is_modern_version(std::string_view version);

// The revision a 2026-07-28-style request declares in params._meta, or nullopt when the message
// carries none (or names a handshake-era revision there, which changes nothing). A declared
// value that is not a string yields "" (an invalid declaration).
std::optional<std::string> declared_version(const nlohmann::json& message);

struct ServerIdentity {
    std::string name = "agentrelay";
    std::string version;      // empty: the build's version
    std::string instructions; // empty: none sent
};

// The handshake era's error for an unknown resource (-32602 in 2026-07-28).
inline constexpr int kResourceNotFound = -32002;

// Per-connection state of the handshake era: the stdio process, or one HTTP session.
struct Session {
    std::string protocol_version; // negotiated at initialize; empty before
    bool initialized = false;     // notifications/initialized received
    std::string id;               // the HTTP Mcp-Session-Id, if any
    // Subscriptions and the way notifications go back, shared by every copy of the session;
    // null for a session that cannot be told anything (HTTP without sessions).
    std::shared_ptr<SessionChannel> channel;
};

class McpServer {
  public:
    McpServer(const ar::tools::ToolRegistry& tools, ServerIdentity identity);
    // Serves resources (resources/list, read, templates/list, subscribe, unsubscribe) from
    // `provider`, which must outlive the server; without one, none are declared.
    void set_resources(ResourceProvider* provider) { resources_ = provider; }
    // Whether there is anything to notify a client of (a GET stream is worth opening).
    bool notifies() const { return resources_ != nullptr; }
    // Notifications for `session` go to `sink` from now on (stdout, an HTTP GET stream). The
    // agent's resources are watched for the session once it lists them (list_changed) or
    // subscribes to one (resources/updated), as long as the session lasts: a client that only
    // calls tools is never sent anything it did not ask for.
    void open_channel(Session& session, SessionChannel::Sink sink);
    // subscriptions/listen (2026-07-28), whose answer is a stream: checks the request (an error
    // response), else sends notifications/subscriptions/acknowledged through `sink` and returns
    // the watch that sends the chosen notifications there, each tagged with the subscription
    // id (the request's id), until it is dropped.
    std::variant<nlohmann::json, std::shared_ptr<void>> listen(const std::string& agent, const nlohmann::json& id,
                                                               const nlohmann::json& params, SessionChannel::Sink sink);
    // The result that ends a subscription gracefully (the last message of its stream).
    nlohmann::json listen_closed(const nlohmann::json& id) const;

    // Handles one JSON-RPC message (already parsed) for `agent`. Returns the response, or
    // nullopt for notifications and responses.
    std::optional<nlohmann::json> handle(const std::string& agent, Session& session,
                                         const nlohmann::json& message);
    // As handle(), answering through done, exactly once: at once, or for a tool that answers
    // later (wait_for_message, when the mail arrives) from the thread that finishes it. Only a
    // tools/call may answer later, and it leaves `session` alone, so the caller may let the
    // session go once this returns.
    using Done = std::function<void(std::optional<nlohmann::json>)>;
    void handle_async(const std::string& agent, Session& session, const nlohmann::json& message, Done done);
    // A JSON-RPC batch (an array of messages). Revision 2025-03-26 says implementations MUST
    // accept batches: each element is handled in order as by handle() (initialize may not be
    // one: an error for that element), and the answer is the array of the requests' responses,
    // or nullopt when the batch held only notifications and responses. Every other revision
    // (later ones removed batches, earlier ones never had them, and a session that has not
    // negotiated a revision yet is taken as the latest) gets one -32600 error; so does an
    // empty array, as JSON-RPC 2.0 says.
    std::optional<nlohmann::json> handle_batch(const std::string& agent, Session& session,
                                               const nlohmann::json& batch);
    // Whether `version` is a revision with JSON-RPC batches (2025-03-26).
    static bool accepts_batches(std::string_view version);
    // Parse + handle one raw line/body (a message or, per handle_batch, a batch); parse errors
    // → -32700 response with id null.
    std::optional<std::string> handle_text(const std::string& agent, Session& session,
                                           std::string_view text);

    const ServerIdentity& identity() const { return identity_; }

  private:
    nlohmann::json dispatch_handshake(const std::string& agent, Session& session, const nlohmann::json& id,
                                      const std::string& method, const nlohmann::json& params);
    nlohmann::json dispatch_modern(const std::string& agent, const nlohmann::json& id,
                                   const std::string& method, const nlohmann::json& params);
    nlohmann::json initialize(Session& session, const nlohmann::json& id,
                              const nlohmann::json& params);
    nlohmann::json list_tools(const nlohmann::json& id, const nlohmann::json& params, bool modern);
    void call_tool(const std::string& agent, const nlohmann::json& id, const nlohmann::json& params,
                   std::function<void(nlohmann::json)> done);
    std::optional<nlohmann::json> handle_now(const std::string& agent, Session& session,
                                             const nlohmann::json& message);
    nlohmann::json resource_method(const std::string& agent, Session* session, const nlohmann::json& id,
                                   const std::string& method, const nlohmann::json& params);
    void ensure_watch(const std::string& agent, SessionChannel& channel);
    // A 2026-07-28 request's version and capability checks: the error, or nullopt.
    std::optional<nlohmann::json> modern_precheck(const nlohmann::json& id, const nlohmann::json& params) const;
    // resultType and the server's identity in a 2026-07-28 result.
    void decorate_modern(nlohmann::json& response) const;
    nlohmann::json server_info() const;

    const ar::tools::ToolRegistry& tools_;
    ServerIdentity identity_;
    ResourceProvider* resources_ = nullptr;
};

} // namespace ar::mcp
