// Tests for MCP over Streamable HTTP: the real HTTP door (http/door.h) on 127.0.0.1 (any free
// port), driven with httplib::Client.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include <httplib.h>

#include "http/door.h"
#include "http/door_guard.h"
#include "mcp/http_transport.h"
#include "mcp/server.h"
#include "tools/registry.h"

using nlohmann::json;

namespace {

json init_body(json id = 1) {
    return {{"jsonrpc", "2.0"},
            {"id", id},
            {"method", "initialize"},
            {"params",
             {{"protocolVersion", "2025-11-25"},
              {"capabilities", json::object()},
              {"clientInfo", {{"name", "test"}, {"version", "1"}}}}}};
}

json request(const std::string& method, json params = json::object(), json id = 2) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json modern_params(json extra = json::object()) {
    extra["_meta"] = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                      {"io.modelcontextprotocol/clientCapabilities", json::object()}};
    return extra;
}

class HttpFixture {
  public:
    explicit HttpFixture(ar::mcp::HttpOptions options = {}) {
        registry_.set_handler("list_messages", [](const std::string& agent, const json&) {
            // The agent shows in the result, so tests see whose key was used.
            return ar::Result<json>(json{{"messages", json::array()}, {"next_cursor", agent}});
        });
        ar::mcp::mount_http(
            door_, server_,
            [](const std::string& key) -> std::optional<std::string> {
                if (key == "key-alice") return "alice";
                if (key == "key-bob") return "bob";
                return std::nullopt;
            },
            std::move(options));
        REQUIRE(door_.bind());
        port_ = door_.port();
        REQUIRE(port_ > 0);
        door_.start();
    }
    ~HttpFixture() { door_.stop(); }

    httplib::Result post(const json& body, httplib::Headers headers = {},
                         const std::string& key = "key-alice") {
        if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
        headers.emplace("Accept", "application/json, text/event-stream");
        auto res = client().Post("/mcp", headers, body.dump(), "application/json");
        REQUIRE(res);
        return res;
    }

    // initialize + notifications/initialized; returns the session id.
    std::string open_session(const std::string& key = "key-alice") {
        auto res = post(init_body(), {}, key);
        REQUIRE(res->status == 200);
        std::string sid = res->get_header_value("Mcp-Session-Id");
        REQUIRE(sid.size() >= 32);
        auto done = post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                         {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "2025-11-25"}}, key);
        REQUIRE(done->status == 202);
        return sid;
    }

    httplib::Client client() {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(10, 0);
        return c;
    }

  private:
    ar::tools::ToolRegistry registry_;
    ar::mcp::McpServer server_{registry_, {"agentrelay", "1.0.0", ""}};
    ar::http::Door door_{ar::http::DoorOptions{}};
    int port_ = 0;
};

json body_of(const httplib::Result& res) {
    return json::parse(res->body);
}

} // namespace

TEST_CASE("HTTP: a missing or wrong key gets 401 with WWW-Authenticate", "[mcp][http]") {
    HttpFixture f;
    auto res = f.post(init_body(), {}, "");
    CHECK(res->status == 401);
    CHECK(res->get_header_value("WWW-Authenticate") == "Bearer realm=\"agentrelay\"");

    res = f.post(init_body(), {}, "key-mallory");
    CHECK(res->status == 401);
    CHECK(res->get_header_value("WWW-Authenticate").rfind("Bearer realm=\"agentrelay\"", 0) == 0);

    auto get = f.client().Get("/mcp");
    REQUIRE(get);
    CHECK(get->status == 401);

    // The key is checked on every request, not only at initialize.
    std::string sid = f.open_session();
    res = f.post(request("ping"), {{"Mcp-Session-Id", sid}}, "key-wrong");
    CHECK(res->status == 401);
}

TEST_CASE("HTTP: Origin is validated", "[mcp][http]") {
    HttpFixture f;
    auto res = f.post(init_body(), {{"Origin", "https://evil.example"}});
    CHECK(res->status == 403);
    CHECK(body_of(res)["error"]["message"].get<std::string>().find("evil.example") !=
          std::string::npos);
    CHECK(f.post(init_body(), {{"Origin", "http://localhost:5173"}})->status == 200);
    CHECK(f.post(init_body(), {{"Origin", "http://127.0.0.1"}})->status == 200);

    ar::mcp::HttpOptions local;
    CHECK(ar::mcp::origin_allowed("http://[::1]:8080", local));
    CHECK(ar::mcp::origin_allowed("HTTPS://LOCALHOST", local));
    CHECK_FALSE(ar::mcp::origin_allowed("null", local));
    CHECK_FALSE(ar::mcp::origin_allowed("http://localhost.evil.example", local));
    CHECK_FALSE(ar::mcp::origin_allowed("http://127.0.0.1.nip.io:80", local));
    CHECK_FALSE(ar::mcp::origin_allowed("http://localhost:80x", local));
    CHECK_FALSE(ar::mcp::origin_allowed("file://localhost", local));

    ar::mcp::HttpOptions listed;
    listed.allowed_origins = {"https://app.example.com"};
    CHECK(ar::mcp::origin_allowed("https://app.example.com", listed));
    CHECK_FALSE(ar::mcp::origin_allowed("http://localhost", listed));
}

TEST_CASE("HTTP: session flow", "[mcp][http]") {
    HttpFixture f;
    auto init = f.post(init_body());
    REQUIRE(init->status == 200);
    CHECK(init->get_header_value("Content-Type") == "application/json");
    CHECK(body_of(init)["result"]["protocolVersion"] == "2025-11-25");
    std::string sid = init->get_header_value("Mcp-Session-Id");
    REQUIRE_FALSE(sid.empty());

    httplib::Headers session = {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "2025-11-25"}};
    auto note = f.post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, session);
    CHECK(note->status == 202);
    CHECK(note->body.empty());

    auto list = f.post(request("tools/list"), session);
    CHECK(list->status == 200);
    CHECK(body_of(list)["result"]["tools"].size() == 7);

    auto call = f.post(
        request("tools/call", {{"name", "list_messages"}, {"arguments", json::object()}}), session);
    CHECK(body_of(call)["result"]["structuredContent"]["next_cursor"] == "alice");

    // A JSON-RPC response from the client is accepted without a body.
    CHECK(f.post({{"jsonrpc", "2.0"}, {"id", 99}, {"result", json::object()}}, session)->status ==
          202);

    // Without the session id: 400; with an unknown one: 404; with another agent's key: 404.
    CHECK(f.post(request("tools/list"))->status == 400);
    CHECK(f.post(request("tools/list"), {{"Mcp-Session-Id", "no-such-session"}})->status == 404);
    CHECK(f.post(request("tools/list"), session, "key-bob")->status == 404);

    // Each initialize opens a new, separate session.
    std::string other = f.open_session("key-bob");
    CHECK(other != sid);

    // DELETE ends the session.
    auto del =
        f.client().Delete("/mcp", {{"Mcp-Session-Id", sid}, {"Authorization", "Bearer key-alice"}});
    REQUIRE(del);
    CHECK(del->status == 200);
    CHECK(f.post(request("tools/list"), session)->status == 404);
    auto again =
        f.client().Delete("/mcp", {{"Mcp-Session-Id", sid}, {"Authorization", "Bearer key-alice"}});
    CHECK(again->status == 404);
}

TEST_CASE("HTTP: protocol version header, GET, Accept, parse errors", "[mcp][http]") {
    HttpFixture f;
    std::string sid = f.open_session();
    auto bad = f.post(request("tools/list"),
                      {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "1999-01-01"}});
    CHECK(bad->status == 400);
    // Missing: taken as 2025-03-26, which is supported.
    CHECK(f.post(request("ping"), {{"Mcp-Session-Id", sid}})->status == 200);
    CHECK(f.post(request("ping"), {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "2025-03-26"}})
              ->status == 200);

    auto get = f.client().Get(
        "/mcp", {{"Authorization", "Bearer key-alice"}, {"Accept", "text/event-stream"}});
    REQUIRE(get);
    CHECK(get->status == 405);

    httplib::Headers html = {{"Authorization", "Bearer key-alice"}, {"Accept", "text/html"}};
    auto refused = f.client().Post("/mcp", html, init_body().dump(), "application/json");
    CHECK(refused->status == 406);

    auto garbage = f.client().Post("/mcp", {{"Authorization", "Bearer key-alice"}}, "{nope",
                                   "application/json");
    CHECK(garbage->status == 400);
    CHECK(json::parse(garbage->body)["error"]["code"] == -32700);

    auto batch = f.post(json::array({request("ping")}), {{"Mcp-Session-Id", sid}});
    CHECK(batch->status == 400);
    CHECK(body_of(batch)["error"]["code"] == -32600);

    auto unknown = f.post(request("resources/list"), {{"Mcp-Session-Id", sid}});
    CHECK(unknown->status == 200);
    CHECK(body_of(unknown)["error"]["code"] == -32601);
}

TEST_CASE("HTTP: 2026-07-28 requests are stateless and header-checked", "[mcp][http]") {
    HttpFixture f;
    httplib::Headers modern = {{"MCP-Protocol-Version", "2026-07-28"},
                               {"Mcp-Method", "tools/list"}};
    auto list = f.post(request("tools/list", modern_params()), modern);
    REQUIRE(list->status == 200);
    CHECK(body_of(list)["result"]["resultType"] == "complete");
    CHECK(body_of(list)["result"].contains("ttlMs"));
    CHECK(list->get_header_value("Mcp-Session-Id").empty());

    // A stray session id is ignored.
    modern.emplace("Mcp-Session-Id", "whatever");
    CHECK(f.post(request("tools/list", modern_params()), modern)->status == 200);

    auto discover =
        f.post(request("server/discover", modern_params()),
               {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "server/discover"}});
    CHECK(discover->status == 200);
    CHECK(body_of(discover)["result"]["supportedVersions"][0] == "2026-07-28");

    json call = request("tools/call",
                        modern_params({{"name", "list_messages"}, {"arguments", json::object()}}));
    httplib::Headers call_headers = {{"MCP-Protocol-Version", "2026-07-28"},
                                     {"Mcp-Method", "tools/call"},
                                     {"Mcp-Name", "list_messages"}};
    auto ok = f.post(call, call_headers);
    CHECK(ok->status == 200);
    CHECK(body_of(ok)["result"]["structuredContent"]["next_cursor"] == "alice");
    // The same name, base64-encoded ("list_messages").
    CHECK(f.post(call, {{"MCP-Protocol-Version", "2026-07-28"},
                        {"Mcp-Method", "tools/call"},
                        {"Mcp-Name", "=?base64?bGlzdF9tZXNzYWdlcw==?="}})
              ->status == 200);

    auto expect_mismatch = [&](const httplib::Headers& headers) {
        auto res = f.post(call, headers);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"]["code"] == -32020);
        CHECK(body_of(res)["id"] == 2);
    };
    expect_mismatch({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}});
    expect_mismatch({{"MCP-Protocol-Version", "2026-07-28"},
                     {"Mcp-Method", "tools/call"},
                     {"Mcp-Name", "send_email"}});
    expect_mismatch({{"MCP-Protocol-Version", "2026-07-28"},
                     {"Mcp-Method", "tools/list"},
                     {"Mcp-Name", "list_messages"}});
    expect_mismatch({{"Mcp-Method", "tools/call"}, {"Mcp-Name", "list_messages"}});
    expect_mismatch({{"MCP-Protocol-Version", "2025-11-25"},
                     {"Mcp-Method", "tools/call"},
                     {"Mcp-Name", "list_messages"}});

    json future = request("tools/list", modern_params());
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01";
    auto unsupported =
        f.post(future, {{"MCP-Protocol-Version", "2099-01-01"}, {"Mcp-Method", "tools/list"}});
    CHECK(unsupported->status == 400);
    CHECK(body_of(unsupported)["error"]["code"] == -32022);
    CHECK(body_of(unsupported)["error"]["data"]["requested"] == "2099-01-01");

    auto unknown =
        f.post(request("resources/list", modern_params()),
               {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "resources/list"}});
    CHECK(unknown->status == 404);
    CHECK(body_of(unknown)["error"]["code"] == -32601);

    json no_caps = request("tools/list", modern_params());
    no_caps["params"]["_meta"].erase("io.modelcontextprotocol/clientCapabilities");
    auto missing =
        f.post(no_caps, {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}});
    CHECK(missing->status == 400);
    CHECK(body_of(missing)["error"]["code"] == -32602);

    // The modern header on a body without _meta is a mismatch too.
    auto stray = f.post(request("tools/list"),
                        {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}});
    CHECK(stray->status == 400);
    CHECK(body_of(stray)["error"]["code"] == -32020);

    // No GET stream and no sessions to DELETE in this era, even on a server that keeps them for
    // handshake-era clients.
    httplib::Headers bare = {{"MCP-Protocol-Version", "2026-07-28"},
                             {"Authorization", "Bearer key-alice"}};
    auto get = f.client().Get("/mcp", bare);
    CHECK(get->status == 405);
    CHECK(get->get_header_value("Allow") == "POST");
    auto del = f.client().Delete("/mcp", bare);
    CHECK(del->status == 405);
    CHECK(del->get_header_value("Allow") == "POST");

    // The key still decides the agent.
    auto bob = f.post(call, call_headers, "key-bob");
    CHECK(body_of(bob)["result"]["structuredContent"]["next_cursor"] == "bob");
}

TEST_CASE("HTTP: without sessions every request stands alone", "[mcp][http]") {
    ar::mcp::HttpOptions options;
    options.sessions = false;
    HttpFixture f(options);
    auto init = f.post(init_body());
    CHECK(init->status == 200);
    CHECK(init->get_header_value("Mcp-Session-Id").empty());
    auto call = f.post(request("tools/call", {{"name", "list_messages"}}));
    CHECK(call->status == 200);
    CHECK(body_of(call)["result"]["structuredContent"]["next_cursor"] == "alice");
    auto del = f.client().Delete("/mcp", {{"Authorization", "Bearer key-alice"}});
    CHECK(del->status == 405);
}

TEST_CASE("the door guard's Host check and body limit", "[http]") {
    using ar::http::host_allowed;
    std::vector<std::string> hosts = {"relay.example.net"};
    for (const char* ok : {"127.0.0.1", "127.0.0.1:8025", "10.0.0.5:80", "[::1]:8025", "[2001:db8::1]", "localhost",
                           "LOCALHOST:8025", "localhost.", "relay.example.net", "Relay.Example.Net:443"})
        CHECK(host_allowed(ok, hosts));
    for (const char* bad : {"", "evil.example", "evil.example:8025", "relay.example.net.evil.test", "[nonsense]:1",
                            "[::1", "localhost.evil.test", "127.0.0.1.evil.test"})
        CHECK_FALSE(host_allowed(bad, hosts));
    CHECK_FALSE(host_allowed("relay.example.net", {}));

    auto limit = ar::http::body_limit_for(25u << 20);
    CHECK(limit > (25u << 20) / 3 * 4); // a message's attachments travel base64-encoded in JSON
    CHECK(limit < (25u << 20) * 2);
}
