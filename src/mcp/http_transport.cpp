#include "mcp/http_transport.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <openssl/rand.h>

#include "http/door.h"
#include "mcp/jsonrpc.h"

namespace ar::mcp {
namespace {

using json = nlohmann::json;
namespace rpc = jsonrpc;
using Clock = std::chrono::steady_clock;

constexpr const char* kRealm = "Bearer realm=\"agentrelay\"";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool starts_with_ci(const std::string& s, const std::string& prefix) {
    return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

// Writes a JSON-RPC error response. `id` null: the id is left out (transport-level errors).
void reply_error(http::Response& res, int status, int code, const std::string& message,
                 const json& id = nullptr, json data = nullptr) {
    json body = rpc::make_error(id, code, message, std::move(data));
    if (id.is_null()) body.erase("id");
    res.status = status;
    res.set_content(rpc::serialize(body), "application/json");
}

void reply(http::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(rpc::serialize(body), "application/json");
}

// A handler's answer: sent when it goes out of scope, unless defer() handed the sending to
// whoever finishes the request later.
struct Answer : http::Response {
    explicit Answer(http::Reply r) : reply_(std::move(r)) {}
    Answer(const Answer&) = delete;
    Answer& operator=(const Answer&) = delete;
    ~Answer() {
        if (reply_) reply_(std::move(static_cast<http::Response&>(*this)));
    }
    http::Reply defer() { return std::exchange(reply_, nullptr); }

  private:
    http::Reply reply_;
};

std::string new_session_id() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char b : bytes) {
        id.push_back(kHex[b >> 4]);
        id.push_back(kHex[b & 15]);
    }
    return id;
}

std::optional<std::string> base64_decode(const std::string& in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    unsigned int acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        int v = value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned int>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

// An Mcp-Name / Mcp-Param-* value: plain, or "=?base64?...?=" (2026-07-28, Value Encoding).
std::optional<std::string> header_value(const std::string& raw) {
    static const std::string kOpen = "=?base64?", kClose = "?=";
    if (raw.size() >= kOpen.size() + kClose.size() && raw.rfind(kOpen, 0) == 0 &&
        raw.compare(raw.size() - kClose.size(), kClose.size(), kClose) == 0)
        return base64_decode(raw.substr(kOpen.size(), raw.size() - kOpen.size() - kClose.size()));
    return raw;
}

// Accept absent, or naming text/event-stream or */*.
bool accepts_event_stream(const http::Request& req) {
    std::string accept = lower(req.get_header_value("Accept"));
    return accept.empty() || accept.find("text/event-stream") != std::string::npos ||
           accept.find("*/*") != std::string::npos;
}

bool accepts_json(const std::string& accept) {
    std::string a = lower(accept);
    return a.find("application/json") != std::string::npos ||
           a.find("application/*") != std::string::npos || a.find("*/*") != std::string::npos;
}

// The HTTP status for a JSON-RPC error on a 2026-07-28 request.
int modern_status(const json& response) {
    auto err = response.find("error");
    if (err == response.end()) return 200;
    int code = err->value("code", 0);
    if (code == rpc::kMethodNotFound) return 404;
    if (code == rpc::kInternalError) return 200;
    if (code == rpc::kInvalidParams) return 200; // e.g. an unknown tool: an answer, not a fault
    return 400;
}

int handshake_status(const json& response) {
    auto err = response.find("error");
    if (err == response.end()) return 200;
    int code = err->value("code", 0);
    return code == rpc::kParseError || code == rpc::kInvalidRequest ? 400 : 200;
}

struct SessionEntry {
    std::mutex mu; // guards session and stream
    Session session;
    std::string agent;
    Clock::time_point last_used;
    std::weak_ptr<http::EventStream> stream; // the GET stream notifications go to, if open
    ~SessionEntry() {
        if (auto s = stream.lock()) s->close();
    }
};

class HttpEndpoint {
  public:
    HttpEndpoint(McpServer& server, Authenticator auth, HttpOptions options)
        : server_(server), auth_(std::move(auth)), options_(std::move(options)) {}

    void post(const http::Request& req, Answer& res) {
        auto agent = admit(req, res);
        if (!agent) return;
        if (!req.get_header_value("Accept").empty() &&
            !accepts_json(req.get_header_value("Accept")))
            return reply_error(res, 406, rpc::kInvalidRequest,
                               "Not Acceptable: the client must accept application/json");
        std::string type = lower(req.get_header_value("Content-Type"));
        if (!type.empty() && type.find("application/json") == std::string::npos)
            return reply_error(res, 415, rpc::kInvalidRequest,
                               "Unsupported Media Type: the body must be application/json");

        auto parsed = rpc::parse(req.body);
        if (auto* err = std::get_if<rpc::RpcError>(&parsed))
            return reply(res, 400, rpc::make_error(nullptr, *err));
        const json& body = std::get<json>(parsed);
        if (body.is_array()) return post_batch(req, res, *agent, body);
        if (auto version = declared_version(body))
            return post_modern(req, res, *agent, body, *version);
        post_handshake(req, res, *agent, body);
    }

    // GET opens the session's notification stream (SSE): resources/updated and list_changed go
    // there while it is open (a newer GET takes over from an older one). Without sessions, or
    // in 2026-07-28 (subscriptions/listen instead), 405.
    void get(const http::Request& req, Answer& res) {
        auto agent = admit(req, res);
        if (!agent) return;
        if (!keeps_sessions_for(req) || !server_.notifies()) {
            res.set_header("Allow", keeps_sessions_for(req) ? "POST, DELETE" : "POST");
            return reply_error(res, 405, rpc::kInvalidRequest,
                               "Method Not Allowed: no server-initiated stream here; POST "
                               "messages to this endpoint");
        }
        if (!accepts_event_stream(req))
            return reply_error(res, 406, rpc::kInvalidRequest,
                               "Not Acceptable: the notification stream is text/event-stream");
        auto entry = session_for(req, res, *agent);
        if (!entry) return;
        auto stream = std::make_shared<http::EventStream>();
        std::shared_ptr<SessionChannel> channel;
        {
            std::lock_guard lock(entry->mu);
            if (auto old = entry->stream.lock()) old->close();
            entry->stream = stream;
            server_.open_channel(entry->session,
                                 [weak = std::weak_ptr<http::EventStream>(stream)](const json& notification) {
                                     if (auto s = weak.lock()) s->send(rpc::serialize(notification));
                                 });
            channel = entry->session.channel;
        }
        uint64_t token = channel->sink_token();
        stream->on_close([weak = std::weak_ptr<SessionChannel>(channel), token] {
            if (auto c = weak.lock()) c->clear_sink_if(token);
        });
        res.status = 200;
        res.stream = stream;
    }

    void del(const http::Request& req, Answer& res) {
        auto agent = admit(req, res);
        if (!agent) return;
        if (!keeps_sessions_for(req)) {
            res.set_header("Allow", "POST");
            return reply_error(res, 405, rpc::kInvalidRequest,
                               options_.sessions
                                   ? "Method Not Allowed: protocol revision " +
                                         req.get_header_value("MCP-Protocol-Version") +
                                         " has no sessions"
                                   : "Method Not Allowed: this server keeps no sessions");
        }
        std::string sid = req.get_header_value("Mcp-Session-Id");
        if (sid.empty())
            return reply_error(res, 400, rpc::kInvalidRequest,
                               "Bad Request: DELETE needs the Mcp-Session-Id header");
        std::lock_guard lock(mu_);
        auto it = sessions_.find(sid);
        if (it == sessions_.end() || it->second->agent != *agent)
            return reply_error(res, 404, rpc::kInvalidRequest, "Session not found");
        sessions_.erase(it);
        res.status = 200;
    }

  private:
    // Whether this request's era has sessions: 2026-07-28 (named by MCP-Protocol-Version, as it
    // is on a GET or DELETE without a body) has none, so DELETE is 405 there, not 400.
    bool keeps_sessions_for(const http::Request& req) const {
        return options_.sessions &&
               !is_modern_version(req.get_header_value("MCP-Protocol-Version"));
    }

    // Origin and bearer key; on failure writes the response and returns nullopt.
    std::optional<std::string> admit(const http::Request& req, Answer& res) {
        if (req.has_header("Origin") && !origin_allowed(req.get_header_value("Origin"), options_)) {
            reply_error(res, 403, rpc::kInvalidRequest,
                        "Forbidden: Origin " + req.get_header_value("Origin") + " is not allowed");
            return std::nullopt;
        }
        std::string authz = req.get_header_value("Authorization");
        std::string token;
        if (starts_with_ci(authz, "bearer ")) token = authz.substr(7);
        token.erase(0, token.find_first_not_of(' '));
        std::optional<std::string> agent;
        if (!token.empty()) agent = auth_(token);
        if (agent) return agent;
        res.set_header("WWW-Authenticate",
                       token.empty() ? kRealm : std::string(kRealm) + ", error=\"invalid_token\"");
        reply_error(res, 401, rpc::kInvalidRequest,
                    token.empty() ? "Unauthorized: send Authorization: Bearer <api key>"
                                  : "Unauthorized: the API key is not valid");
        return std::nullopt;
    }

    void post_modern(const http::Request& req, Answer& res, const std::string& agent,
                     const json& body, const std::string& version) {
        json id = body.is_object() && body.contains("id") && rpc::valid_id(body["id"]) ? body["id"]
                                                                                       : json();
        auto mismatch = [&](const std::string& message) {
            reply_error(res, 400, rpc::kHeaderMismatch, "Header mismatch: " + message, id);
        };
        std::string header_version = req.get_header_value("MCP-Protocol-Version");
        if (header_version.empty()) return mismatch("the MCP-Protocol-Version header is missing");
        if (header_version != version)
            return mismatch("MCP-Protocol-Version " + header_version +
                            " does not match the body's protocol version " + version);
        std::string method = body.value("method", "");
        if (req.get_header_value("Mcp-Method") != method)
            return mismatch(req.has_header("Mcp-Method")
                                ? "Mcp-Method " + req.get_header_value("Mcp-Method") +
                                      " does not match the body's method " + method
                                : "the Mcp-Method header is missing");
        if (method == "tools/call") {
            const json& params = body["params"];
            std::string name = params.contains("name") && params["name"].is_string()
                                   ? params["name"].get<std::string>()
                                   : "";
            if (!req.has_header("Mcp-Name")) return mismatch("the Mcp-Name header is missing");
            auto header_name = header_value(req.get_header_value("Mcp-Name"));
            if (!header_name || *header_name != name)
                return mismatch("Mcp-Name does not match the body's params.name");
        }
        if (is_modern_version(version)) {
            const json& meta = body["params"]["_meta"];
            auto caps = meta.find(kMetaClientCapabilities);
            if (caps == meta.end() || !caps->is_object())
                return reply_error(res, 400, rpc::kInvalidParams,
                                   std::string("Invalid params: params._meta[\"") +
                                       kMetaClientCapabilities + "\"] is required",
                                   id);
        }
        if (method == "subscriptions/listen") return listen(req, res, agent, body, id);
        Session stateless; // handle_async leaves it alone once it has returned
        server_.handle_async(agent, stateless, body, [done = res.defer()](std::optional<json> response) {
            http::Response out;
            if (!response)
                out.status = 202;
            else
                reply(out, modern_status(*response), *response);
            done(std::move(out));
        });
    }

    void post_handshake(const http::Request& req, Answer& res,
                        const std::string& agent, const json& body) {
        json bad_id;
        auto classified = rpc::classify(body, &bad_id);
        if (auto* err = std::get_if<rpc::RpcError>(&classified))
            return reply(res, 400, rpc::make_error(bad_id, *err));
        bool is_request = std::get<rpc::Message>(classified).kind == rpc::Kind::request;
        bool is_initialize = is_request && body["method"] == "initialize";
        std::string header_version = req.get_header_value("MCP-Protocol-Version");
        if (!is_initialize && !header_version.empty() && !is_handshake_version(header_version)) {
            if (is_modern_version(header_version) && is_request)
                return reply_error(res, 400, rpc::kHeaderMismatch,
                                   "Header mismatch: MCP-Protocol-Version is " + header_version +
                                       " but the body's params._meta names no protocol version");
            if (!is_modern_version(header_version))
                return reply_error(res, 400, rpc::kInvalidRequest,
                                   "Bad Request: unsupported MCP-Protocol-Version " +
                                       header_version);
        }
        if (!options_.sessions) {
            Session session;
            session.protocol_version =
                header_version.empty() ? kDefaultHttpVersion : header_version;
            return answer_later(res, agent, session, body);
        }
        if (is_initialize) return initialize(res, agent, body);

        auto entry = session_for(req, res, agent);
        if (!entry) return;
        if (!is_request) {
            // Notifications may change the session (notifications/initialized).
            std::lock_guard lock(entry->mu);
            return answer(res, server_.handle(agent, entry->session, body));
        }
        // Requests may run long (wait_for_message): work on a copy, hold no lock.
        Session copy = snapshot(*entry);
        answer_later(res, agent, copy, body);
    }

    // Handles a message whose answer may come later (a tool that waits): `session` may go once
    // this returns.
    void answer_later(Answer& res, const std::string& agent, Session& session, const json& body) {
        server_.handle_async(agent, session, body, [done = res.defer()](std::optional<json> response) {
            http::Response out;
            answer(out, response);
            done(std::move(out));
        });
    }

    // subscriptions/listen: the answer is an SSE stream that starts with the acknowledgement
    // and carries the notifications asked for until the client goes away.
    void listen(const http::Request& req, Answer& res, const std::string& agent, const json& body, const json& id) {
        if (!accepts_event_stream(req))
            return reply_error(res, 406, rpc::kInvalidRequest,
                               "Not Acceptable: subscriptions/listen answers with text/event-stream", id);
        auto stream = std::make_shared<http::EventStream>();
        std::weak_ptr<http::EventStream> weak = stream;
        auto outcome = server_.listen(agent, id, body["params"], [weak](const json& notification) {
            if (auto s = weak.lock()) s->send(rpc::serialize(notification));
        });
        if (auto* error = std::get_if<json>(&outcome)) return reply(res, modern_status(*error), *error);
        // The watch lives as long as the stream.
        stream->on_close([watch = std::get<std::shared_ptr<void>>(outcome)]() mutable { watch.reset(); });
        res.status = 200;
        res.stream = stream;
    }

    // A JSON-RPC batch: answered in a 2025-03-26 session (or, without sessions, when the
    // request speaks 2025-03-26, as one without MCP-Protocol-Version does); refused otherwise.
    void post_batch(const http::Request& req, Answer& res, const std::string& agent,
                    const json& body) {
        std::string header_version = req.get_header_value("MCP-Protocol-Version");
        if (!header_version.empty() && !is_handshake_version(header_version))
            return reply_error(res, 400, rpc::kInvalidRequest,
                               "Invalid Request: JSON-RPC batches are not part of protocol revision " +
                                   header_version);
        if (!options_.sessions) {
            Session session;
            session.protocol_version = header_version.empty() ? kDefaultHttpVersion : header_version;
            return answer(res, server_.handle_batch(agent, session, body));
        }
        auto entry = session_for(req, res, agent);
        if (!entry) return;
        Session copy = snapshot(*entry);
        auto response = server_.handle_batch(agent, copy, body);
        if (copy.initialized) {
            std::lock_guard lock(entry->mu);
            entry->session.initialized = true;
        }
        answer(res, response);
    }

    void initialize(Answer& res, const std::string& agent, const json& body) {
        auto entry = std::make_shared<SessionEntry>();
        entry->agent = agent;
        entry->last_used = Clock::now();
        auto response = server_.handle(agent, entry->session, body);
        if (response && response->contains("result")) {
            entry->session.id = new_session_id();
            entry->session.channel = std::make_shared<SessionChannel>(); // subscriptions, notifications
            res.set_header("Mcp-Session-Id", entry->session.id);
            store_session(entry);
        }
        answer(res, response);
    }

    static void answer(http::Response& res, const std::optional<json>& response) {
        if (!response) {
            res.status = 202;
            return;
        }
        reply(res, handshake_status(*response), *response);
    }

    // The request's session (Mcp-Session-Id, the agent's own); on failure writes the 400 or 404
    // and returns null.
    std::shared_ptr<SessionEntry> session_for(const http::Request& req, Answer& res, const std::string& agent) {
        std::string sid = req.get_header_value("Mcp-Session-Id");
        if (sid.empty()) {
            reply_error(res, 400, rpc::kInvalidRequest,
                        "Bad Request: the Mcp-Session-Id header is required; send initialize first");
            return nullptr;
        }
        auto entry = find_session(sid, agent);
        if (!entry) reply_error(res, 404, rpc::kInvalidRequest, "Session not found");
        return entry;
    }

    // A copy of the session to work on without holding its lock.
    static Session snapshot(SessionEntry& entry) {
        std::lock_guard lock(entry.mu);
        return entry.session;
    }

    std::shared_ptr<SessionEntry> find_session(const std::string& sid, const std::string& agent) {
        std::lock_guard lock(mu_);
        auto it = sessions_.find(sid);
        // Another agent's session id reads as unknown.
        if (it == sessions_.end() || it->second->agent != agent) return nullptr;
        it->second->last_used = Clock::now();
        return it->second;
    }

    void store_session(const std::shared_ptr<SessionEntry>& entry) {
        std::lock_guard lock(mu_);
        while (!sessions_.empty() && sessions_.size() >= options_.max_sessions) {
            auto oldest = std::min_element(sessions_.begin(), sessions_.end(),
                                           [](const auto& a, const auto& b) {
                                               return a.second->last_used < b.second->last_used;
                                           });
            sessions_.erase(oldest);
        }
        sessions_[entry->session.id] = entry;
    }

    McpServer& server_;
    Authenticator auth_;
    HttpOptions options_;
    std::mutex mu_; // guards sessions_ and each entry's last_used
    std::map<std::string, std::shared_ptr<SessionEntry>> sessions_;
};

} // namespace

bool origin_allowed(const std::string& origin, const HttpOptions& options) {
    std::string o = lower(origin);
    while (!o.empty() && o.back() == '/')
        o.pop_back();
    if (!options.allowed_origins.empty())
        return std::any_of(options.allowed_origins.begin(), options.allowed_origins.end(),
                           [&](std::string allowed) {
                               allowed = lower(allowed);
                               while (!allowed.empty() && allowed.back() == '/')
                                   allowed.pop_back();
                               return allowed == o;
                           });
    std::string rest;
    if (o.rfind("http://", 0) == 0)
        rest = o.substr(7);
    else if (o.rfind("https://", 0) == 0)
        rest = o.substr(8);
    else
        return false;
    std::string host, port;
    if (!rest.empty() && rest[0] == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos) return false;
        host = rest.substr(0, close + 1);
        port = rest.substr(close + 1);
    } else {
        auto colon = rest.find(':');
        host = rest.substr(0, colon);
        port = colon == std::string::npos ? "" : rest.substr(colon);
    }
    if (!port.empty()) {
        if (port.size() < 2 || port.size() > 6 || port[0] != ':') return false;
        if (!std::all_of(port.begin() + 1, port.end(),
                         [](unsigned char c) { return std::isdigit(c); }))
            return false;
    }
    return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

void mount_http(http::Door& door, McpServer& server, Authenticator auth, HttpOptions options) {
    std::string path = options.path;
    auto endpoint = std::make_shared<HttpEndpoint>(server, std::move(auth), std::move(options));
    door.route("POST", path, http::Handler([endpoint](http::Request& req, http::Reply reply) {
                   Answer res(std::move(reply));
                   endpoint->post(req, res);
               }));
    door.route("GET", path, http::Handler([endpoint](http::Request& req, http::Reply reply) {
                   Answer res(std::move(reply));
                   endpoint->get(req, res);
               }));
    door.route("DELETE", path, http::Handler([endpoint](http::Request& req, http::Reply reply) {
                   Answer res(std::move(reply));
                   endpoint->del(req, res);
               }));
}

} // namespace ar::mcp
