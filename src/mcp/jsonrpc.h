// jsonrpc.h: JSON-RPC 2.0 framing for MCP: parsing a message's text, classifying it as a
// request, a notification or a response, and building responses.
//
// Promise: parse() accepts any bytes and never throws; it refuses nesting deeper than
// kMaxNesting (so no later step recurses without bound) and invalid UTF-8. classify() checks the
// envelope as MCP narrows JSON-RPC: an object (batches were removed in 2025-06-18),
// "jsonrpc": "2.0", a string method, an id that is a string or an integer (never null), params an
// object if present. Everything that serialises uses replacement characters for invalid UTF-8,
// so dumping a response cannot throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace ar::mcp::jsonrpc {

// Standard JSON-RPC error codes, and the ones MCP adds (2026-07-28).
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kHeaderMismatch = -32020;
inline constexpr int kMissingClientCapability = -32021;
inline constexpr int kUnsupportedProtocolVersion = -32022;

inline constexpr int kMaxNesting = 64;

struct RpcError {
    int code = kInternalError;
    std::string message;
    nlohmann::json data; // null: no data member
};

enum class Kind { request, notification, response };

// A message whose envelope is valid.
struct Message {
    Kind kind = Kind::request;
    nlohmann::json id; // string or integer for requests and responses; null for notifications
    std::string method;
    nlohmann::json params; // an object, or null when absent
};

// Parses one message's text. On failure returns a -32700 error saying what was wrong.
std::variant<nlohmann::json, RpcError> parse(std::string_view text);

// Checks the envelope. On failure returns a -32600 error; `id_out` (if given) receives the id
// when it was usable, so the error response can carry it.
std::variant<Message, RpcError> classify(const nlohmann::json& message,
                                         nlohmann::json* id_out = nullptr);

nlohmann::json make_result(const nlohmann::json& id, nlohmann::json result);
// An error response; `id` null gives "id": null (the request's id could not be read).
nlohmann::json make_error(const nlohmann::json& id, const RpcError& error);
nlohmann::json make_error(const nlohmann::json& id, int code, std::string message,
                          nlohmann::json data = nullptr);

// Serialises compactly on one line (JSON escapes every newline inside strings); never throws.
std::string serialize(const nlohmann::json& message);

// True for a usable request id: a string or an integer.
bool valid_id(const nlohmann::json& id);

} // namespace ar::mcp::jsonrpc
