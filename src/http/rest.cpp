#include "http/rest.h"

#include <strings.h>

#include "core/metrics.h"
#include "relay/events.h"
#include "tools/schema_validator.h"
#include "webhooks/registry.h"

namespace ar::http {

using nlohmann::json;

int status_for(const Error& e) {
    if (e.code == kErrInvalid) return 400;
    if (e.code == kErrUnauthorized) return 401;
    if (e.code == kErrForbidden) return 403;
    if (e.code == kErrNotFound) return 404;
    if (e.code == kErrConflict) return 409;
    if (e.code == kErrTooLarge) return 413;
    if (e.code == kErrRateLimited) return 429;
    if (e.code == kErrUnavailable) return 503;
    return 500;
}

namespace {

void send_error(Response& res, const Error& e) {
    res.status = status_for(e);
    json err{{"code", e.code}, {"message", e.message}};
    if (!e.field.empty()) err["field"] = e.field;
    if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
    if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"agentrelay\"");
    res.set_content(json{{"error", err}}.dump(), "application/json");
}

void send_json(Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

std::string bearer(const Request& req) {
    auto h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (h.size() <= prefix.size() || strncasecmp(h.c_str(), prefix.c_str(), prefix.size()) != 0) return "";
    return h.substr(prefix.size());
}

const json* input_schema(const tools::ToolRegistry& registry, const std::string& tool) {
    for (const auto& d : registry.definitions())
        if (d.value("name", "") == tool) return &d.at("inputSchema");
    return nullptr;
}

// The items of a comma-separated query value ("a,b"; empty items dropped).
std::vector<std::string> comma_list(const std::string& value) {
    std::vector<std::string> items;
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        if (comma > start) items.push_back(value.substr(start, comma - start));
        start = comma + 1;
    }
    return items;
}

// Query parameters as JSON arguments, typed by the tool's input schema.
Result<json> query_args(const Request& req, const json& schema) {
    json args = json::object();
    for (const auto& [key, value] : req.params) {
        const json* prop = nullptr;
        if (schema.contains("properties") && schema.at("properties").contains(key))
            prop = &schema.at("properties").at(key);
        std::string type = prop && prop->contains("type") && prop->at("type").is_string()
                               ? prop->at("type").get<std::string>()
                               : "string";
        if (type == "integer") {
            try {
                size_t used = 0;
                long long v = std::stoll(value, &used);
                if (used != value.size()) throw std::invalid_argument("trailing");
                args[key] = v;
            } catch (const std::exception&) {
                return invalid(key, key + " must be an integer, got '" + value + "'");
            }
        } else if (type == "array") {  // a comma-separated list: ?types=a,b
            args[key] = comma_list(value);
        } else if (type == "boolean") {
            if (value == "true" || value == "1") args[key] = true;
            else if (value == "false" || value == "0") args[key] = false;
            else return invalid(key, key + " must be true or false, got '" + value + "'");
        } else {
            args[key] = value;
        }
    }
    return args;
}

std::optional<store::AgentRecord> authenticated(Relay& relay, const Request& req, Response& res) {
    auto agent = relay.authenticate(bearer(req));
    if (!agent)
        send_error(res, Error{kErrUnauthorized, "missing or invalid API key: send Authorization: Bearer <api key>", ""});
    return agent;
}

// GET /v1/events/stream: the agent's events as Server-Sent Events (id: the event id, event: its
// type, data: the event as GET /v1/events shows it), first those after ?after= or Last-Event-ID
// (a reconnecting EventSource sends it), then each as it is stored, from any process: it
// wakes with the agent's database (inbox_waiters.h) and holds no thread in between.
void mount_event_stream(Door& server, Relay& relay, tools::ToolApi& api) {
    server.route("GET", "/v1/events/stream", Handler([&relay, &api](Request& req, Reply reply) {
        Metrics::instance().add("agentrelay_http_requests_total", "{api=\"rest\",tool=\"events_stream\"}");
        Response res;
        auto agent = authenticated(relay, req, res);
        if (!agent) return reply(std::move(res));
        std::optional<std::string> after;
        if (req.has_param("after"))
            after = req.get_param_value("after");
        else if (req.has_header("Last-Event-ID"))
            after = req.get_header_value("Last-Event-ID");
        std::vector<std::string> types = comma_list(req.get_param_value("types"));
        // Checks the cursor and the types before the stream starts: an error is a plain answer.
        if (auto first = relay.events(*agent, after, types, 1); !first) {
            send_error(res, first.error());
            return reply(std::move(res));
        }
        auto stream = std::make_shared<EventStream>();
        struct Feed {
            std::optional<std::string> after;
        };
        auto feed = std::make_shared<Feed>(Feed{after});
        std::weak_ptr<EventStream> weak = stream;
        // Sends what is new; true once the stream is gone (the waiter then ends).
        auto pump = [&relay, record = *agent, types, feed, weak]() {
            for (;;) {
                auto s = weak.lock();
                if (!s || s->closed()) return true;
                auto page = relay.events(record, feed->after, types, 100);
                if (!page) return false;
                for (const auto& e : page->events) {
                    std::string id = event_id(e.seq);
                    s->send(tools::event_json(e).dump(), e.type, id);
                    feed->after = id;
                }
                if (page->events.size() < 100) return false;
            }
        };
        pump();
        stream->on_close([watch = api.waiters().watch(agent->name, pump)]() mutable { watch.reset(); });
        res.status = 200;
        res.stream = stream;
        reply(std::move(res));
    }));
}

// An agent's own webhooks: POST /v1/webhooks {url}, GET /v1/webhooks, DELETE /v1/webhooks/{id}.
void mount_webhooks(Door& server, Relay& relay, RestOptions options) {
    server.route("POST", "/v1/webhooks", SyncHandler([&relay, options](const Request& req, Response& res) {
        auto agent = authenticated(relay, req, res);
        if (!agent) return;
        auto body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("url") || !body["url"].is_string())
            return send_error(res, Error{kErrInvalid, "the body must be {\"url\": \"https://...\"}", "url"});
        auto hook = webhooks::create(relay.data().control(), body["url"].get<std::string>(), agent->name,
                                     options.webhook_allow_private, relay.clock().now_ms());
        if (!hook) {
            Error e = hook.error();
            if (e.code != kErrInternal) e.code = kErrInvalid, e.field = "url";
            return send_error(res, e);
        }
        send_json(res, 201, webhooks::created(*hook));
    }));
    server.route("GET", "/v1/webhooks", SyncHandler([&relay](const Request& req, Response& res) {
        auto agent = authenticated(relay, req, res);
        if (!agent) return;
        auto& control = relay.data().control();
        json out = json::array();
        for (const auto& w : control.webhooks())
            if (w.agent == agent->name) out.push_back(webhooks::describe(control, w));
        send_json(res, 200, json{{"webhooks", out}});
    }));
    server.route("DELETE", R"(/v1/webhooks/([^/]+))", SyncHandler([&relay](const Request& req, Response& res) {
        auto agent = authenticated(relay, req, res);
        if (!agent) return;
        auto& control = relay.data().control();
        const std::string& id = req.matches.at(0);
        bool mine = false;
        for (const auto& w : control.webhooks())
            if (w.id == id && w.agent == agent->name) mine = true;
        // Another agent's webhook, or the operator's, reads as not found.
        if (!mine) return send_error(res, Error{kErrNotFound, "no webhook with id '" + id + "'", ""});
        auto removed = control.remove_webhook(id);
        if (!removed) return send_error(res, removed.error());
        send_json(res, 200, json{{"id", id}, {"removed", true}});
    }));
}

}  // namespace

void mount_rest(Door& server, Relay& relay, tools::ToolApi& api, const tools::ToolRegistry& registry,
                RestOptions options) {
    using Call = Result<json> (tools::ToolApi::*)(const store::AgentRecord&, const json&);
    // One handler shape for every authenticated route: authenticate, build and validate the
    // tool's arguments, call it, answer.
    auto route = [&relay, &api, &registry](std::string tool, Call call, int ok_status,
                                           std::function<Result<json>(const Request&, const json&)> args_of) {
        std::string labels = "{api=\"rest\",tool=\"" + tool + "\"}";
        return SyncHandler([&relay, &api, &registry, tool, labels, call, ok_status, args_of](const Request& req,
                                                                                            Response& res) {
            Metrics::instance().add("agentrelay_http_requests_total", labels);
            auto agent = relay.authenticate(bearer(req));
            if (!agent) return send_error(res, Error{kErrUnauthorized, "missing or invalid API key: send "
                                                                       "Authorization: Bearer <api key>", ""});
            const json* schema = input_schema(registry, tool);
            if (!schema) return send_error(res, Error{kErrInternal, "no schema for " + tool, ""});
            auto args = args_of(req, *schema);
            if (!args) return send_error(res, args.error());
            if (auto st = tools::validate(*schema, *args); !st) return send_error(res, st.error());
            auto out = (api.*call)(*agent, *args);
            if (!out) return send_error(res, out.error());
            send_json(res, ok_status, *out);
        });
    };
    auto from_body = [](const Request& req, const json&) -> Result<json> {
        auto body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            return invalid("body", "the request body must be a JSON object");
        return body;
    };
    auto from_query = [](const Request& req, const json& schema) { return query_args(req, schema); };
    auto with_path = [](const char* key) {
        return [key](const Request& req, const json& schema) -> Result<json> {
            auto args = query_args(req, schema);
            if (!args) return args;
            (*args)[key] = req.matches.at(0);
            return args;
        };
    };

    server.route("POST", "/v1/messages", route("send_email", &tools::ToolApi::send_email, 202, from_body));
    server.route("GET", R"(/v1/messages/([^/]+))",
               route("check_status", &tools::ToolApi::check_status, 200, with_path("message_id")));
    server.route("GET", "/v1/bounces", route("list_bounces", &tools::ToolApi::list_bounces, 200, from_query));
    server.route("GET", "/v1/inbox", route("list_messages", &tools::ToolApi::list_messages, 200, from_query));
    server.route("GET", "/v1/events", route("list_events", &tools::ToolApi::list_events, 200, from_query));
    server.route("GET", R"(/v1/inbox/([^/]+))", route("read_message", &tools::ToolApi::read_message, 200, with_path("id")));

    mount_event_stream(server, relay, api);
    mount_webhooks(server, relay, options);

    server.route("GET", "/healthz", SyncHandler([](const Request&, Response& res) {
        send_json(res, 200, json{{"status", "ok"}});
    }));
    server.route("GET", "/metrics", SyncHandler([](const Request&, Response& res) {
        res.set_content(Metrics::instance().render(), "text/plain; version=0.0.4");
    }));
}

}  // namespace ar::http
