// Tests for JSON-RPC 2.0 framing: parsing, envelope checks, responses.
#include <catch2/catch.hpp>

#include <string>

#include "mcp/jsonrpc.h"

using nlohmann::json;
namespace rpc = ar::mcp::jsonrpc;

namespace {

rpc::RpcError parse_error(std::string_view text) {
    auto r = rpc::parse(text);
    REQUIRE(std::holds_alternative<rpc::RpcError>(r));
    return std::get<rpc::RpcError>(r);
}

rpc::RpcError classify_error(const json& m, json* id = nullptr) {
    auto r = rpc::classify(m, id);
    REQUIRE(std::holds_alternative<rpc::RpcError>(r));
    return std::get<rpc::RpcError>(r);
}

rpc::Message message(const json& m) {
    auto r = rpc::classify(m);
    REQUIRE(std::holds_alternative<rpc::Message>(r));
    return std::get<rpc::Message>(r);
}

} // namespace

TEST_CASE("parse: valid JSON, syntax errors, deep nesting, invalid UTF-8", "[jsonrpc]") {
    auto ok = rpc::parse(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
    REQUIRE(std::holds_alternative<json>(ok));
    CHECK(std::get<json>(ok)["method"] == "ping");

    CHECK(parse_error("{\"jsonrpc\":").code == rpc::kParseError);
    CHECK(parse_error("").code == rpc::kParseError);
    CHECK(parse_error("1e999").code == rpc::kParseError);
    CHECK(parse_error("\"\xff\"").code == rpc::kParseError);

    std::string deep(rpc::kMaxNesting + 1, '[');
    deep += std::string(rpc::kMaxNesting + 1, ']');
    CHECK(parse_error(deep).message.find("nested more than 64") != std::string::npos);
    // Brackets inside strings do not count.
    std::string quoted = "\"" + std::string(1000, '[') + "\"";
    CHECK(std::holds_alternative<json>(rpc::parse(quoted)));
}

TEST_CASE("classify: requests, notifications, responses", "[jsonrpc]") {
    auto r = message({{"jsonrpc", "2.0"}, {"id", "a"}, {"method", "tools/list"}});
    CHECK(r.kind == rpc::Kind::request);
    CHECK(r.id == "a");
    CHECK(r.params.is_null());

    auto n = message({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
    CHECK(n.kind == rpc::Kind::notification);

    auto resp = message({{"jsonrpc", "2.0"}, {"id", 3}, {"result", json::object()}});
    CHECK(resp.kind == rpc::Kind::response);

    CHECK(message({{"jsonrpc", "2.0"}, {"id", -7}, {"method", "ping"}}).id == -7);
}

TEST_CASE("classify: every malformed envelope is -32600", "[jsonrpc]") {
    json ping = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}};
    CHECK(classify_error(json::array({ping})).message.find("batches") != std::string::npos);
    CHECK(classify_error(json::array()).code == rpc::kInvalidRequest);
    CHECK(classify_error("ping").code == rpc::kInvalidRequest);

    json id;
    json no_version = {{"id", 9}, {"method", "ping"}};
    CHECK(classify_error(no_version, &id).code == rpc::kInvalidRequest);
    CHECK(id == 9); // the error response can still carry the id

    for (const json& bad_id :
         {json(nullptr), json(1.5), json::object(), json::array(), json(true)}) {
        json m = ping;
        m["id"] = bad_id;
        json out;
        CHECK(classify_error(m, &out).code == rpc::kInvalidRequest);
        CHECK(out.is_null());
    }
    CHECK(classify_error({{"jsonrpc", "2.0"}, {"id", 1}}).code == rpc::kInvalidRequest);
    CHECK(classify_error({{"jsonrpc", "2.0"}, {"id", 1}, {"method", 5}}).code ==
          rpc::kInvalidRequest);
    CHECK(
        classify_error({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "x"}, {"params", {1, 2}}}).code ==
        rpc::kInvalidRequest);
    CHECK(classify_error({{"jsonrpc", "1.0"}, {"id", 1}, {"method", "x"}}).code ==
          rpc::kInvalidRequest);
}

TEST_CASE("responses and serialization", "[jsonrpc]") {
    json ok = rpc::make_result(1, json::object());
    CHECK(ok == json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", json::object()}});

    json err = rpc::make_error(nullptr, rpc::kMethodNotFound, "Method not found: x");
    CHECK(err["id"].is_null());
    CHECK(err["error"]["code"] == -32601);
    CHECK_FALSE(err["error"].contains("data"));

    json with_data = rpc::make_error("a", rpc::kUnsupportedProtocolVersion, "nope",
                                     json{{"supported", {"2026-07-28"}}});
    CHECK(with_data["error"]["data"]["supported"][0] == "2026-07-28");

    // Invalid UTF-8 from a handler must not make serialization throw; newlines stay escaped.
    std::string line = rpc::serialize(json{{"text", std::string("a\nb\xff")}});
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find("\\n") != std::string::npos);
}
