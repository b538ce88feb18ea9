// door_guard.h: what every request at the HTTP door meets before a handler runs, so that no
// client can make the door hold more than it means to.
//
//  - Bodies: a Content-Length over max_body_bytes is answered 413 from the headers alone (the
//    body is never read; the connection closes). A body must come with Content-Length (411
//    otherwise, chunked included: a body of unknown length cannot be held to a bound). All requests being read and handled at once
//    share body_budget_bytes; a request that would
//    go over it gets 503 with Retry-After, so memory for bodies is bounded whatever the
//    number of clients.
//  - Connections: `threads` workers serve connections; at most max_queued_connections more
//    wait for one; beyond that the door stops accepting and the kernel's backlog holds the
//    rest.
//  - Compression: none. The answers are small JSON (a send is ~130 bytes): gzip costs more CPU
//    and latency than the bytes it saves, halving the sends a second a client that asks for
//    it (nearly every HTTP library does) gets. Accept-Encoding is ignored.
//  - DNS rebinding: a browser request (one with Origin) must name the door in its Host header
//    by an IP literal, localhost, or one of `hosts`; otherwise 403. A rebinding attack needs a
//    name the attacker controls, and no such name is in the list.
// Error bodies are the REST shape, or JSON-RPC errors on the MCP endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
class Server;
}

namespace ar::http {

struct DoorGuardOptions {
    std::size_t max_body_bytes = 0;
    std::size_t body_budget_bytes = 0;
    std::size_t threads = 64;
    std::size_t max_queued_connections = 1024;
    std::vector<std::string> hosts; // names (besides localhost and IP literals) the door answers to
    std::string mcp_path = "/mcp";
    uint16_t listen_port = 0; // the door's port: which connection a refusal closes
};

// The largest request body for messages of up to max_message_bytes: base64 of attachments (4/3)
// and JSON escapes, with room for the rest of the request.
std::size_t body_limit_for(std::size_t max_message_bytes);

// Installs the guard (task queue, payload limit, pre- and post-routing handlers). Call before
// the server listens.
void install_door_guard(httplib::Server& server, DoorGuardOptions options);

// Whether a Host header value names the door: an IP literal ([v6] or v4), localhost, or one of
// `hosts` (case-insensitive), with any port.
bool host_allowed(std::string_view host_header, const std::vector<std::string>& hosts);

} // namespace ar::http
