#include "mcp/jsonrpc.h"

#include <algorithm>

namespace ar::mcp::jsonrpc {
namespace {

using json = nlohmann::json;

// The deepest nesting of arrays and objects in `text`, stopping early past `limit`.
int nesting_depth(std::string_view text, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) return deepest;
        } else if (c == ']' || c == '}')
            --depth;
    }
    return deepest;
}

} // namespace

std::variant<json, RpcError> parse(std::string_view text) {
    if (nesting_depth(text, kMaxNesting) > kMaxNesting)
        return RpcError{kParseError,
                        "Parse error: JSON nested more than " + std::to_string(kMaxNesting) +
                            " levels deep",
                        nullptr};
    try {
        return json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        return RpcError{kParseError, std::string("Parse error: ") + e.what(), nullptr};
    }
}

bool valid_id(const json& id) {
    return id.is_string() || id.is_number_integer();
}

std::variant<Message, RpcError> classify(const json& m, json* id_out) {
    if (m.is_array())
        return RpcError{kInvalidRequest,
                        "Invalid Request: batches (arrays) are not supported; send one message "
                        "at a time",
                        nullptr};
    if (!m.is_object())
        return RpcError{kInvalidRequest, "Invalid Request: a message must be a JSON object",
                        nullptr};
    auto id = m.find("id");
    bool has_id = id != m.end();
    if (has_id && valid_id(*id) && id_out) *id_out = *id;
    if (m.value("jsonrpc", json()) != "2.0")
        return RpcError{kInvalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"", nullptr};
    if (has_id && !valid_id(*id))
        return RpcError{kInvalidRequest,
                        "Invalid Request: \"id\" must be a string or an integer (not null, a "
                        "fraction, an object or an array)",
                        nullptr};

    auto method = m.find("method");
    if (method == m.end()) {
        // A response from the client (to a request we never send): accepted and dropped.
        if (has_id && (m.contains("result") || m.contains("error")))
            return Message{Kind::response, *id, "", nullptr};
        return RpcError{kInvalidRequest, "Invalid Request: \"method\" is missing", nullptr};
    }
    if (!method->is_string())
        return RpcError{kInvalidRequest, "Invalid Request: \"method\" must be a string", nullptr};
    json params = m.value("params", json());
    if (!params.is_null() && !params.is_object())
        return RpcError{kInvalidRequest, "Invalid Request: \"params\" must be an object", nullptr};

    Message out;
    out.kind = has_id ? Kind::request : Kind::notification;
    out.id = has_id ? *id : json();
    out.method = method->get<std::string>();
    out.params = std::move(params);
    return out;
}

json make_result(const json& id, json result) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json make_error(const json& id, const RpcError& error) {
    json err{{"code", error.code}, {"message", error.message}};
    if (!error.data.is_null()) err["data"] = error.data;
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

json make_error(const json& id, int code, std::string message, json data) {
    return make_error(id, RpcError{code, std::move(message), std::move(data)});
}

std::string serialize(const json& message) {
    return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace ar::mcp::jsonrpc
