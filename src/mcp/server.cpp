#include "mcp/server.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <variant>

#include "mcp/jsonrpc.h"

#ifndef AGENTRELAY_VERSION
#define AGENTRELAY_VERSION "0.0.0"
#endif

namespace ar::mcp {
namespace {

using json = nlohmann::json;
namespace rpc = jsonrpc;

// How long a 2026-07-28 client may cache tools/list and server/discover: the tool set only
// changes with the binary.
constexpr int kListTtlMs = 300000;

json invalid_params(const json& id, std::string message) {
    return rpc::make_error(id, rpc::kInvalidParams, std::move(message));
}

json tool_result(const ar::tools::ToolOutcome& outcome) {
    if (outcome.is_error)
        return json{{"content", json::array({{{"type", "text"}, {"text", outcome.error_text}}})},
                    {"isError", true}};
    // The same JSON as text, for clients that do not read structuredContent.
    return json{{"content",
                 json::array({{{"type", "text"}, {"text", rpc::serialize(outcome.structured)}}})},
                {"structuredContent", outcome.structured}};
}

} // namespace

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> all = {kModernVersion, "2025-11-25", "2025-06-18",
                                                 "2025-03-26", "2024-11-05"};
    return all;
}

bool is_handshake_version(std::string_view v) {
    const auto& all = supported_versions();
    return v != kModernVersion && std::find(all.begin(), all.end(), v) != all.end();
}

bool is_modern_version(std::string_view v) {
    return v == kModernVersion;
}

namespace {

std::optional<std::string> declared_in_params(const json& params) {
    if (!params.is_object()) return std::nullopt;
    auto meta = params.find("_meta");
    if (meta == params.end() || !meta->is_object()) return std::nullopt;
    auto v = meta->find(kMetaProtocolVersion);
    if (v == meta->end()) return std::nullopt;
    if (!v->is_string()) return std::string();
    if (is_handshake_version(v->get<std::string>())) return std::nullopt;
    return v->get<std::string>();
}

} // namespace

std::optional<std::string> declared_version(const json& message) {
    if (!message.is_object()) return std::nullopt;
    auto params = message.find("params");
    if (params == message.end()) return std::nullopt;
    return declared_in_params(*params);
}

McpServer::McpServer(const ar::tools::ToolRegistry& tools, ServerIdentity identity)
    : tools_(tools), identity_(std::move(identity)) {
    if (identity_.version.empty()) identity_.version = AGENTRELAY_VERSION;
}

std::optional<json> McpServer::handle(const std::string& agent, Session& session,
                                      const json& message) {
    std::optional<json> out;
    bool answered = false;
    std::mutex mu;
    std::condition_variable cv;
    handle_async(agent, session, message, [&](std::optional<json> response) {
        std::lock_guard lock(mu);
        out = std::move(response);
        answered = true;
        cv.notify_one();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return answered; });
    return out;
}

void McpServer::handle_async(const std::string& agent, Session& session, const json& message, Done done) {
    json id;
    try {
        auto classified = rpc::classify(message, &id);
        if (auto* m = std::get_if<rpc::Message>(&classified);
            m && m->kind == rpc::Kind::request && m->method == "tools/call") {
            bool modern = declared_in_params(m->params).has_value();
            if (modern) {
                if (auto refused = modern_precheck(m->id, m->params)) return done(std::move(*refused));
            }
            return call_tool(agent, m->id, m->params, [this, done, modern](json response) {
                if (modern) decorate_modern(response);
                done(std::move(response));
            });
        }
    } catch (const std::exception& e) {
        return done(rpc::make_error(id, rpc::kInternalError, std::string("Internal error: ") + e.what()));
    }
    done(handle_now(agent, session, message));
}

std::optional<json> McpServer::handle_now(const std::string& agent, Session& session, const json& message) {
    json id;
    try {
        auto classified = rpc::classify(message, &id);
        if (auto* err = std::get_if<rpc::RpcError>(&classified)) return rpc::make_error(id, *err);
        const auto& m = std::get<rpc::Message>(classified);
        if (m.kind == rpc::Kind::response) return std::nullopt;
        if (m.kind == rpc::Kind::notification) {
            // Never answered, whatever they say; only this one changes state.
            if (m.method == "notifications/initialized") session.initialized = true;
            return std::nullopt;
        }
        if (m.method == "initialize") return initialize(session, m.id, m.params);
        if (declared_in_params(m.params)) return dispatch_modern(agent, m.id, m.method, m.params);
        return dispatch_handshake(agent, session, m.id, m.method, m.params);
    } catch (const std::exception& e) {
        return rpc::make_error(id, rpc::kInternalError, std::string("Internal error: ") + e.what());
    }
}

bool McpServer::accepts_batches(std::string_view version) {
    return version == "2025-03-26";
}

std::optional<json> McpServer::handle_batch(const std::string& agent, Session& session,
                                            const json& batch) {
    std::string version = session.protocol_version.empty() ? kLatestHandshakeVersion : session.protocol_version;
    if (!accepts_batches(version))
        return rpc::make_error(nullptr, rpc::kInvalidRequest,
                               "Invalid Request: JSON-RPC batches are not part of protocol revision " + version +
                                   " (only 2025-03-26 has them); send one message at a time");
    if (!batch.is_array() || batch.empty())
        return rpc::make_error(nullptr, rpc::kInvalidRequest, "Invalid Request: an empty batch");
    json responses = json::array();
    for (const json& message : batch) {
        std::optional<json> response;
        if (message.is_object() && message.value("method", json()) == "initialize") {
            json id = message.contains("id") && rpc::valid_id(message["id"]) ? message["id"] : json();
            response = rpc::make_error(id, rpc::kInvalidRequest,
                                       "Invalid Request: initialize must not be part of a batch");
        } else {
            response = handle(agent, session, message);
        }
        if (response) responses.push_back(std::move(*response));
    }
    if (responses.empty()) return std::nullopt;
    return responses;
}

std::optional<std::string> McpServer::handle_text(const std::string& agent, Session& session,
                                                  std::string_view text) {
    auto parsed = rpc::parse(text);
    if (auto* err = std::get_if<rpc::RpcError>(&parsed))
        return rpc::serialize(rpc::make_error(nullptr, *err));
    const json& message = std::get<json>(parsed);
    auto response = message.is_array() ? handle_batch(agent, session, message) : handle(agent, session, message);
    if (!response) return std::nullopt;
    return rpc::serialize(*response);
}

json McpServer::dispatch_handshake(const std::string& agent, Session& session, const json& id,
                                   const std::string& method, const json& params) {
    if (method == "ping") return rpc::make_result(id, json::object());
    if (method == "tools/list") return list_tools(id, params, false);
    if (resources_ && method.rfind("resources/", 0) == 0) return resource_method(agent, &session, id, method, params);
    if (method == "server/discover")
        return invalid_params(id, std::string("server/discover needs params._meta[\"") +
                                      kMetaProtocolVersion + "\"] and [\"" +
                                      kMetaClientCapabilities + "\"]");
    return rpc::make_error(id, rpc::kMethodNotFound, "Method not found: " + method);
}

std::optional<json> McpServer::modern_precheck(const json& id, const json& params) const {
    const json& meta = params["_meta"];
    std::string requested = declared_in_params(params).value_or("");
    if (!is_modern_version(requested)) {
        if (requested.empty())
            return invalid_params(id, std::string("params._meta[\"") + kMetaProtocolVersion +
                                          "\"] must be a protocol version string");
        return rpc::make_error(id, rpc::kUnsupportedProtocolVersion,
                               "Unsupported protocol version: " + requested,
                               json{{"supported", supported_versions()}, {"requested", requested}});
    }
    auto caps = meta.find(kMetaClientCapabilities);
    if (caps == meta.end() || !caps->is_object())
        return invalid_params(id, std::string("params._meta[\"") + kMetaClientCapabilities +
                                      "\"] is required (an object; {} declares none)");
    return std::nullopt;
}

void McpServer::decorate_modern(json& response) const {
    if (auto r = response.find("result"); r != response.end()) {
        (*r)["resultType"] = "complete";
        (*r)["_meta"] = {{kMetaServerInfo, server_info()}};
    }
}

json McpServer::dispatch_modern(const std::string& agent, const json& id, const std::string& method,
                                const json& params) {
    if (auto refused = modern_precheck(id, params)) return std::move(*refused);
    json response;
    if (method == "server/discover") {
        json result{{"supportedVersions", supported_versions()},
                    {"capabilities", resources_ ? json{{"tools", json::object()},
                                                       {"resources", {{"subscribe", true}, {"listChanged", true}}}}
                                                : json{{"tools", json::object()}}},
                    {"ttlMs", kListTtlMs},
                    {"cacheScope", "public"}};
        if (!identity_.instructions.empty()) result["instructions"] = identity_.instructions;
        response = rpc::make_result(id, std::move(result));
    } else if (method == "tools/list") {
        response = list_tools(id, params, true);
    } else if (resources_ && (method == "resources/list" || method == "resources/read" ||
                              method == "resources/templates/list")) {
        response = resource_method(agent, nullptr, id, method, params);
    } else {
        return rpc::make_error(id, rpc::kMethodNotFound, "Method not found: " + method);
    }
    decorate_modern(response);
    return response;
}

json McpServer::initialize(Session& session, const json& id, const json& params) {
    if (!params.is_object() || !params.contains("protocolVersion") ||
        !params["protocolVersion"].is_string())
        return invalid_params(id, "initialize needs params.protocolVersion, a string such as \"" +
                                      std::string(kLatestHandshakeVersion) + "\"");
    // Echo a revision we speak; otherwise offer our latest and let the client decide.
    std::string asked = params["protocolVersion"].get<std::string>();
    session.protocol_version = is_handshake_version(asked) ? asked : kLatestHandshakeVersion;
    session.initialized = false;
    json caps{{"tools", {{"listChanged", false}}}};
    if (resources_) caps["resources"] = {{"subscribe", true}, {"listChanged", true}};
    json result{{"protocolVersion", session.protocol_version}, {"capabilities", caps}, {"serverInfo", server_info()}};
    if (!identity_.instructions.empty()) result["instructions"] = identity_.instructions;
    return rpc::make_result(id, std::move(result));
}

// resources/*: `session` is null in the 2026-07-28 era (no subscriptions there), whose results
// carry ttlMs and cacheScope and whose unknown resource is -32602 rather than -32002.
json McpServer::resource_method(const std::string& agent, Session* session, const json& id, const std::string& method,
                                const json& params) {
    bool modern = session == nullptr;
    auto not_found = [&](const std::string& uri) {
        return rpc::make_error(id, modern ? rpc::kInvalidParams : kResourceNotFound, "Resource not found: " + uri,
                               json{{"uri", uri}});
    };
    auto cached = [&](json result) {
        if (modern) {
            result["ttlMs"] = 0; // the mailbox changes with every arrival
            result["cacheScope"] = "private";
        }
        return rpc::make_result(id, std::move(result));
    };
    if (method == "resources/list") {
        std::optional<std::string> cursor;
        if (params.is_object() && params.contains("cursor") && !params["cursor"].is_null()) {
            if (!params["cursor"].is_string()) return invalid_params(id, "params.cursor must be a string");
            cursor = params["cursor"].get<std::string>();
        }
        auto page = resources_->list(agent, cursor);
        if (!page) return invalid_params(id, page.error().message);
        // A session that lists resources is told when the list changes (list_changed).
        if (session && session->channel) ensure_watch(agent, *session->channel);
        return cached(std::move(*page));
    }
    if (method == "resources/templates/list") return cached(json{{"resourceTemplates", resources_->templates()}});
    if (!params.is_object() || !params.contains("uri") || !params["uri"].is_string())
        return invalid_params(id, method + " needs params.uri, a string");
    std::string uri = params["uri"].get<std::string>();
    if (method == "resources/read") {
        auto contents = resources_->read(agent, uri);
        if (!contents) {
            if (contents.error().code == ar::kErrNotFound) return not_found(uri);
            return rpc::make_error(id, rpc::kInternalError, contents.error().message);
        }
        return cached(std::move(*contents));
    }
    if (!modern && (method == "resources/subscribe" || method == "resources/unsubscribe")) {
        if (!session->channel)
            return rpc::make_error(id, rpc::kInvalidRequest,
                                   "Invalid Request: this session cannot receive notifications (open an MCP session)");
        // Any uri may be subscribed to, as the conformance suite expects (one that is not the
        // mailbox's simply never changes); it must look like one.
        if (uri.find(':') == std::string::npos) return invalid_params(id, "params.uri must be a uri, got \"" + uri + "\"");
        if (method == "resources/subscribe") {
            session->channel->subscribe(uri);
            ensure_watch(agent, *session->channel);
        } else {
            session->channel->unsubscribe(uri);
        }
        return rpc::make_result(id, json::object());
    }
    return rpc::make_error(id, rpc::kMethodNotFound, "Method not found: " + method);
}

void McpServer::ensure_watch(const std::string& agent, SessionChannel& channel) {
    if (!resources_ || channel.watching()) return;
    // The watch holds the channel weakly: a session that ends takes its watch with it.
    std::weak_ptr<SessionChannel> weak = channel.weak_from_this();
    channel.keep_watch(resources_->watch(agent, [weak] {
        auto ch = weak.lock();
        if (!ch || !ch->has_sink()) return;
        for (const auto& uri : ch->subscriptions())
            if (uri == kInboxUri)
                ch->send(json{{"jsonrpc", "2.0"}, {"method", "notifications/resources/updated"}, {"params", {{"uri", uri}}}});
        ch->send(json{{"jsonrpc", "2.0"}, {"method", "notifications/resources/list_changed"}});
    }));
}

std::variant<json, std::shared_ptr<void>> McpServer::listen(const std::string& agent, const json& id,
                                                            const json& params, SessionChannel::Sink sink) {
    if (auto refused = modern_precheck(id, params)) return std::move(*refused);
    if (!resources_) return rpc::make_error(id, rpc::kMethodNotFound, "Method not found: subscriptions/listen");
    if (!params.contains("notifications") || !params["notifications"].is_object())
        return invalid_params(id, "subscriptions/listen needs params.notifications, an object (the filter)");
    const json& want = params["notifications"];
    json accepted = json::object();
    bool list_changed = false;
    std::vector<std::string> uris;
    for (const auto& [key, value] : want.items()) {
        if (key == "resourcesListChanged") {
            if (!value.is_boolean()) return invalid_params(id, "notifications.resourcesListChanged must be a boolean");
            list_changed = value.get<bool>();
            if (list_changed) accepted[key] = true;
        } else if (key == "resourceSubscriptions") {
            if (!value.is_array()) return invalid_params(id, "notifications.resourceSubscriptions must be an array of uris");
            for (const auto& u : value) {
                if (!u.is_string() || u.get<std::string>().find(':') == std::string::npos)
                    return invalid_params(id, "notifications.resourceSubscriptions must be an array of uris");
                uris.push_back(u.get<std::string>());
            }
            accepted[key] = uris;
        } else if (key == "toolsListChanged" || key == "promptsListChanged") {
            // The tools change only with the binary, and there are no prompts: nothing to send.
            if (!value.is_boolean()) return invalid_params(id, "notifications." + key + " must be a boolean");
        } else {
            return invalid_params(id, "notifications." + key + " is not a notification filter");
        }
    }
    json meta{{kMetaSubscriptionId, id}};
    // The watch starts before the acknowledgement goes out, so that no mail can fall between
    // them; what it sees before the acknowledgement is sent waits for it, in order.
    struct Gate {
        std::mutex mu;
        bool acknowledged = false;
        bool pending = false;
    };
    auto gate = std::make_shared<Gate>();
    auto notify = [sink, meta, list_changed, uris] {
        for (const auto& uri : uris)
            if (uri == kInboxUri)
                sink(json{{"jsonrpc", "2.0"},
                          {"method", "notifications/resources/updated"},
                          {"params", {{"uri", uri}, {"_meta", meta}}}});
        if (list_changed)
            sink(json{{"jsonrpc", "2.0"}, {"method", "notifications/resources/list_changed"}, {"params", {{"_meta", meta}}}});
    };
    auto watch = resources_->watch(agent, [gate, notify] {
        {
            std::lock_guard lock(gate->mu);
            if (!gate->acknowledged) {
                gate->pending = true;
                return;
            }
        }
        notify();
    });
    sink(json{{"jsonrpc", "2.0"},
              {"method", "notifications/subscriptions/acknowledged"},
              {"params", {{"_meta", meta}, {"notifications", accepted}}}});
    bool pending = false;
    {
        std::lock_guard lock(gate->mu);
        gate->acknowledged = true;
        pending = gate->pending;
    }
    if (pending) notify();
    return watch;
}

json McpServer::listen_closed(const json& id) const {
    json result{{"resultType", "complete"}, {"_meta", {{kMetaSubscriptionId, id}, {kMetaServerInfo, server_info()}}}};
    return rpc::make_result(id, std::move(result));
}

void McpServer::open_channel(Session& session, SessionChannel::Sink sink) {
    if (!session.channel) session.channel = std::make_shared<SessionChannel>();
    session.channel->set_sink(std::move(sink));
}

json McpServer::list_tools(const json& id, const json& params, bool modern) {
    // Every tool fits on one page, so no cursor we could be given is valid.
    if (params.is_object() && params.contains("cursor") && !params["cursor"].is_null())
        return invalid_params(id, "Invalid cursor: tools/list has a single page");
    json result{{"tools", tools_.definitions()}};
    if (modern) {
        result["ttlMs"] = kListTtlMs;
        result["cacheScope"] = "public";
    }
    return rpc::make_result(id, std::move(result));
}

void McpServer::call_tool(const std::string& agent, const json& id, const json& params,
                          std::function<void(json)> done) {
    if (!params.is_object() || !params.contains("name") || !params["name"].is_string())
        return done(invalid_params(id, "tools/call needs params.name, the tool's name (a string)"));
    std::string name = params["name"].get<std::string>();
    if (!tools_.has(name))
        return done(rpc::make_error(id, rpc::kInvalidParams, "Unknown tool: " + name, json{{"name", name}}));
    json args = params.value("arguments", json::object());
    if (args.is_null()) args = json::object();
    if (!args.is_object())
        return done(invalid_params(id, "params.arguments must be an object of the tool's arguments"));
    tools_.call_async(agent, name, args,
                      [id, done](ar::tools::ToolOutcome outcome) { done(rpc::make_result(id, tool_result(outcome))); });
}

json McpServer::server_info() const {
    return json{{"name", identity_.name}, {"version", identity_.version}};
}

} // namespace ar::mcp
