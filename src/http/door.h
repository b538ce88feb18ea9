// door.h: the HTTP door, an asynchronous HTTP/1.1 server (Boost.Beast on its own event loop)
// that serves MCP and REST.
//
// One thread (ar-http) runs the event loop: it accepts, reads and writes every connection, so an
// idle keep-alive connection or a long-poll costs a socket and a few kilobytes, never a thread.
// Handlers run on a pool of worker threads (ar-http-work), since they may block on the stores
// (a send waits for its commit); a handler answers through its Reply, at once or later from any
// thread (wait_for_message answers when the mail arrives), and the loop writes the answer.
//
// Before any handler, each request meets the door's limits (see DoorOptions): a body must come
// with Content-Length (411 otherwise; chunked request bodies are not taken), at most
// max_body_bytes (413 from the headers alone: the body is never read), and all bodies being read
// and handled at once share body_budget_bytes (503 with Retry-After past it). A refusal whose
// body was left unread ends its connection, so those bytes are never taken for a request. A
// browser request (one with Origin) must name the door in Host by an IP literal, localhost or
// one of `hosts` (403 otherwise: DNS rebinding). Past max_connections the door stops
// accepting until one closes (the kernel's backlog holds the rest). Answers are never
// compressed: they are small JSON, and gzip costs more than it saves (see the README).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/message.h"

namespace ar::http {

// Answers a request; the first call counts, later ones are ignored. Callable from any thread.
using Reply = std::function<void(Response)>;
// A route's handler: runs on a worker thread; answers through reply, now or later.
using Handler = std::function<void(Request& request, Reply reply)>;
// A handler that answers before it returns.
using SyncHandler = std::function<void(const Request& request, Response& response)>;

struct DoorOptions {
    std::string address = "127.0.0.1";
    uint16_t port = 0; // 0: any free port (port() tells which)
    std::size_t max_body_bytes = 64u << 20;
    std::size_t body_budget_bytes = 256u << 20;
    std::vector<std::string> hosts; // names (beside localhost and IP literals) browsers may use
    std::string mcp_path = "/mcp";  // errors there are JSON-RPC shaped
    std::size_t workers = 64;
    std::size_t max_connections = 10000;
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)}; // a keep-alive connection
    std::chrono::milliseconds read_timeout{std::chrono::seconds(30)}; // headers, once they start
};

class Door {
  public:
    explicit Door(DoorOptions options);
    ~Door();
    Door(const Door&) = delete;
    Door& operator=(const Door&) = delete;

    // Routes are matched in order on the method and the whole path (an ECMAScript regex; its
    // groups become Request::matches). Add them before start().
    void route(const std::string& method, const std::string& pattern, Handler handler);
    void route(const std::string& method, const std::string& pattern, SyncHandler handler);

    // Binds and listens (SO_REUSEADDR, the system's backlog); an error names the address.
    Status bind();
    uint16_t port() const;
    void start();
    // Stops accepting, closes every connection, waits for the handlers running now. Replies
    // that come after are dropped.
    void stop();

    std::size_t open_connections() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace ar::http
