// http_transport.h: MCP over Streamable HTTP, mounted at one endpoint (POST/GET/DELETE /mcp) of
// the HTTP door (http/door.h) that the caller owns, binds and runs. Requests are handled on the
// door's workers; a tools/call that waits (wait_for_message) holds no thread while it waits.
//
// Every request is checked, in this order: Origin (when present: one of allowed_origins, or any
// http(s) origin on localhost, 127.0.0.1 or [::1] when that list is empty; else 403), the bearer
// key (missing or wrong: 401 with WWW-Authenticate: Bearer realm="agentrelay"), Accept and
// Content-Type (tolerant: absent is fine; 406/415 only when they exclude JSON). Then:
//  - Handshake era (2025-11-25 and older): a request answers with one JSON object (200;
//    400 for a parse error or an invalid request), a notification or response with 202 and no
//    body. With sessions on, initialize issues an Mcp-Session-Id bound to the agent; later
//    requests must carry it (missing: 400; unknown, ended or another agent's: 404); DELETE ends
//    it. MCP-Protocol-Version, when sent, must be a supported handshake revision (else 400);
//    absent means 2025-03-26.
//  - 2026-07-28 (params._meta names the revision): stateless, any Mcp-Session-Id is ignored.
//    MCP-Protocol-Version must equal the body's revision, Mcp-Method the body's method and, for
//    tools/call, Mcp-Name the tool's name (plain or "=?base64?...?="); else 400 with -32020.
//    Unsupported revision: 400 with -32022; unknown method: 404 with -32601.
//    A JSON-RPC batch (an array) is answered in a 2025-03-26 session with the array of its
//    responses (202 when it held no request), and refused (400) in every other revision.
//  - GET: 405 (no server-initiated stream). DELETE without sessions, or with
//    MCP-Protocol-Version 2026-07-28 (an era without sessions): 405.
// Error bodies are JSON-RPC error responses. The McpServer must outlive the door.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mcp/server.h"

namespace ar::http {
class Door;
}

namespace ar::mcp {

struct HttpOptions {
    // Allowed Origin values ("https://app.example.com"); empty: only http(s)://localhost,
    // 127.0.0.1 or [::1], with any port.
    std::vector<std::string> allowed_origins;
    bool sessions = true;             // handshake era: issue Mcp-Session-Id at initialize
    std::string path = "/mcp";        // the MCP endpoint
    std::size_t max_sessions = 10000; // beyond this the least recently used session ends
};

// Maps a bearer token to the agent it belongs to, or nullopt when it is no valid key.
using Authenticator = std::function<std::optional<std::string>(const std::string& bearer_token)>;

void mount_http(http::Door& door, McpServer& server, Authenticator auth, HttpOptions options);

// Exposed for tests: whether `origin` (an Origin header value) passes `options`.
bool origin_allowed(const std::string& origin, const HttpOptions& options);

} // namespace ar::mcp
