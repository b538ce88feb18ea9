#include "http/rest.h"

#include <strings.h>

#include "core/metrics.h"
#include "tools/schema_validator.h"

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
            json items = json::array();
            size_t start = 0;
            while (start <= value.size()) {
                size_t comma = value.find(',', start);
                if (comma == std::string::npos) comma = value.size();
                if (comma > start) items.push_back(value.substr(start, comma - start));
                start = comma + 1;
            }
            args[key] = items;
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

}  // namespace

void mount_rest(Door& server, Relay& relay, tools::ToolApi& api,
                const tools::ToolRegistry& registry) {
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

    server.route("GET", "/healthz", SyncHandler([](const Request&, Response& res) {
        send_json(res, 200, json{{"status", "ok"}});
    }));
    server.route("GET", "/metrics", SyncHandler([](const Request&, Response& res) {
        res.set_content(Metrics::instance().render(), "text/plain; version=0.0.4");
    }));
}

}  // namespace ar::http
