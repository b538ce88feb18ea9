// Tests for the MCP protocol logic (both eras), the tool registry and the stdio transport, with a
// ToolRegistry whose handlers are test lambdas.
#include <catch2/catch.hpp>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mcp/jsonrpc.h"
#include "mcp/server.h"
#include "mcp/stdio_transport.h"
#include "tools/registry.h"
#include "tools/schema_validator.h"

using ar::mcp::McpServer;
using ar::mcp::Session;
using nlohmann::json;

namespace {

const char* kWhen = "2026-01-31T09:30:00.000Z";

json summary() {
    return {{"id", "in-1"},         {"from", "bob@agents.test"}, {"to", {"alice@agents.test"}},
            {"subject", "hello"},   {"received_at", kWhen},      {"unread", true},
            {"thread_id", "t-1"},   {"has_attachments", false},  {"auto_submitted", false},
            {"from_verified", true}, {"snippet", "hi there"}};
}

// One valid result per tool, as the real handlers would produce.
json sample_result(const std::string& tool) {
    if (tool == "send_email")
        return {{"message_id", "m-1"},
                {"status", "queued"},
                {"recipients", {{{"address", "bob@agents.test"}, {"status", "delivered"}}}}};
    if (tool == "check_status")
        return {{"message_id", "m-1"},
                {"status", "delivered"},
                {"subject", "hello"},
                {"created_at", kWhen},
                {"recipients",
                 {{{"address", "bob@agents.test"},
                   {"status", "delivered"},
                   {"attempts", 1},
                   {"last_code", 250},
                   {"last_enhanced_code", "2.0.0"},
                   {"last_response", "250 2.0.0 OK"},
                   {"delivered_at", kWhen},
                   {"mx_host", "mx.agents.test"}}}},
                {"events",
                 {{{"at", kWhen},
                   {"recipient", "bob@agents.test"},
                   {"type", "delivered"},
                   {"detail", "250 OK"}}}}};
    if (tool == "list_bounces")
        return {{"bounces",
                 {{{"message_id", "m-2"},
                   {"recipient", "nobody@example.com"},
                   {"code", 550},
                   {"enhanced_code", "5.1.1"},
                   {"diagnostic", "550 5.1.1 no such user"},
                   {"bounced_at", kWhen},
                   {"kind", "hard"},
                   {"reason", "user_unknown"},
                   {"suppressed", true},
                   {"remote_mta", "mx.example.com"}}}},
                {"next_cursor", "c2"}};
    if (tool == "list_messages") return {{"messages", {summary()}}};
    if (tool == "read_message")
        return {{"id", "in-1"},
                {"from", "bob@agents.test"},
                {"to", {"alice@agents.test"}},
                {"subject", "hello"},
                {"received_at", kWhen},
                {"message_id", "<abc@agents.test>"},
                {"thread_id", "t-1"},
                {"text", "hi there"},
                {"auto_submitted", false},
                {"authentication",
                 {{"from_verified", true},
                  {"summary", "From domain agents.test is verified: DKIM signature of agents.test verified"},
                  {"spf", {{"result", "pass"}, {"domain", "agents.test"}, {"detail", ""}}},
                  {"dkim",
                   {{{"result", "pass"},
                     {"domain", "agents.test"},
                     {"selector", "s1"},
                     {"algorithm", "ed25519-sha256"},
                     {"reason", "signed by agents.test"}}}},
                  {"dmarc", {{"result", "pass"}, {"domain", "agents.test"}, {"policy", "reject"}, {"detail", ""}}}}},
                {"attachments",
                 {{{"filename", "a.txt"}, {"content_type", "text/plain"}, {"size", 2}}}}};
    if (tool == "wait_for_message") return {{"message", summary()}, {"timed_out", false}};
    if (tool == "list_events")
        return {{"events",
                 {{{"id", "ev_7"},
                   {"type", "message.delivered"},
                   {"created_at", kWhen},
                   {"message_id", "m_1"},
                   {"recipient", "bob@example.com"},
                   {"detail", "250 2.0.0 ok (mx.example.com)"},
                   {"data", {{"status", "delivered"}, {"code", 250}, {"mx_host", "mx.example.com"}}}}}},
                {"next_cursor", "ev_7"}};
    throw std::logic_error("no sample for " + tool);
}

struct Fixture {
    ar::tools::ToolRegistry registry;
    std::vector<std::string> calls; // "agent:tool"
    McpServer server{registry, {"agentrelay", "1.2.3", "Mail for agents."}};
    Session session;

    Fixture() {
        for (const auto& def : registry.definitions()) {
            std::string name = def["name"];
            registry.set_handler(name, [this, name](const std::string& agent, const json&) {
                calls.push_back(agent + ":" + name);
                return ar::Result<json>(sample_result(name));
            });
        }
    }

    json request(const std::string& method, json params = nullptr, json id = 1) {
        json m = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
        if (!params.is_null()) m["params"] = std::move(params);
        auto r = server.handle("alice", session, m);
        REQUIRE(r.has_value());
        CHECK((*r)["jsonrpc"] == "2.0");
        CHECK((*r)["id"] == id);
        return *r;
    }

    json initialize(const std::string& version = "2025-11-25") {
        return request("initialize", {{"protocolVersion", version},
                                      {"capabilities", json::object()},
                                      {"clientInfo", {{"name", "test"}, {"version", "1"}}}});
    }

    json text(std::string_view raw) {
        auto r = server.handle_text("alice", session, raw);
        REQUIRE(r.has_value());
        CHECK(r->find('\n') == std::string::npos);
        return json::parse(*r);
    }
};

json modern_meta(const std::string& version = "2026-07-28") {
    return {{"io.modelcontextprotocol/protocolVersion", version},
            {"io.modelcontextprotocol/clientCapabilities", json::object()},
            {"io.modelcontextprotocol/clientInfo", {{"name", "test"}, {"version", "1"}}}};
}

int error_code(const json& response) {
    REQUIRE(response.contains("error"));
    return response["error"]["code"].get<int>();
}

} // namespace

TEST_CASE("every tool schema loads, has object schemas and the documented annotations", "[mcp]") {
    ar::tools::ToolRegistry registry;
    std::vector<std::string> names;
    for (const auto& def : registry.definitions()) {
        names.push_back(def["name"]);
        CHECK(def["inputSchema"]["type"] == "object");
        CHECK(def["outputSchema"]["type"] == "object");
        CHECK(def["inputSchema"]["additionalProperties"] == false);
        CHECK(def["description"].get<std::string>().size() > 80);
        CHECK(def["title"].is_string());
        bool sends = def["name"] == "send_email";
        CHECK(def["annotations"]["readOnlyHint"] == !sends);
        if (sends) {
            CHECK(def["annotations"]["destructiveHint"] == false);
            CHECK(def["annotations"]["idempotentHint"] == false);
            CHECK(def["annotations"]["openWorldHint"] == true);
        }
        // The sample results (shaped like the interface promises) satisfy the output schemas.
        auto valid = ar::tools::validate(def["outputSchema"], sample_result(def["name"]));
        INFO(def["name"] << ": " << (valid ? "" : valid.error().message));
        CHECK(valid.ok());
    }
    CHECK(names == std::vector<std::string>{"check_status", "list_bounces", "list_events", "list_messages",
                                            "read_message", "send_email", "wait_for_message"});
    json no_message = {{"message", nullptr}, {"timed_out", true}};
    CHECK(
        ar::tools::validate((*registry.definition("wait_for_message"))["outputSchema"], no_message)
            .ok());
}

TEST_CASE("initialize negotiates the protocol revision", "[mcp]") {
    for (std::string v : {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}) {
        Fixture f;
        json r = f.initialize(v);
        CHECK(r["result"]["protocolVersion"] == v);
        CHECK(f.session.protocol_version == v);
    }
    for (std::string v : {"2099-01-01", "2026-07-28", "garbage"}) {
        Fixture f;
        CHECK(f.initialize(v)["result"]["protocolVersion"] == "2025-11-25");
    }
    Fixture f;
    json r = f.initialize();
    CHECK(r["result"]["capabilities"]["tools"].is_object());
    CHECK(r["result"]["serverInfo"] == json{{"name", "agentrelay"}, {"version", "1.2.3"}});
    CHECK(r["result"]["instructions"] == "Mail for agents.");
    CHECK_FALSE(r["result"].contains("resultType"));
    CHECK_FALSE(f.session.initialized);

    auto none = f.server.handle("alice", f.session,
                                {{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
    CHECK_FALSE(none.has_value());
    CHECK(f.session.initialized);

    CHECK(error_code(f.request("initialize", json::object())) == -32602);
    CHECK(error_code(f.request("initialize", {{"protocolVersion", 20251125}})) == -32602);
}

TEST_CASE("ping, unknown methods, notifications and client responses", "[mcp]") {
    Fixture f;
    f.initialize();
    CHECK(f.request("ping")["result"] == json::object());
    json r = f.request("resources/list");
    CHECK(error_code(r) == -32601);
    CHECK(r["error"]["message"] == "Method not found: resources/list");
    CHECK_FALSE(f.server.handle("alice", f.session,
                                {{"jsonrpc", "2.0"}, {"method", "notifications/whatever"}}));
    CHECK_FALSE(f.server.handle("alice", f.session,
                                {{"jsonrpc", "2.0"},
                                 {"method", "notifications/cancelled"},
                                 {"params", {{"requestId", 1}}}}));
    CHECK_FALSE(f.server.handle("alice", f.session,
                                {{"jsonrpc", "2.0"}, {"id", 5}, {"result", json::object()}}));
    CHECK_FALSE(f.server.handle(
        "alice", f.session,
        {{"jsonrpc", "2.0"}, {"id", 5}, {"error", {{"code", 1}, {"message", "x"}}}}));
}

TEST_CASE("requests before initialize are answered", "[mcp]") {
    Fixture f;
    CHECK(f.request("ping")["result"] == json::object());
    CHECK(f.request("tools/list")["result"]["tools"].size() == 7);
}

TEST_CASE("tools/list lists every tool with its schemas", "[mcp]") {
    Fixture f;
    f.initialize();
    json r = f.request("tools/list", json::object(), "list-1");
    const json& tools = r["result"]["tools"];
    REQUIRE(tools.size() == 7);
    for (const auto& t : tools) {
        CHECK(t["inputSchema"]["type"] == "object");
        CHECK(t["outputSchema"]["type"] == "object");
        CHECK(t.contains("annotations"));
    }
    CHECK_FALSE(r["result"].contains("nextCursor"));
    CHECK_FALSE(r["result"].contains("ttlMs")); // 2026-07-28 fields stay out of the old era
    CHECK(error_code(f.request("tools/list", {{"cursor", "abc"}})) == -32602);
}

TEST_CASE("tools/call returns structuredContent and the same JSON as text", "[mcp]") {
    Fixture f;
    f.initialize();
    json r = f.request(
        "tools/call",
        {{"name", "send_email"},
         {"arguments", {{"to", "bob@agents.test"}, {"subject", "hi"}, {"text", "hello"}}}});
    const json& result = r["result"];
    CHECK(result["structuredContent"] == sample_result("send_email"));
    REQUIRE(result["content"].size() == 1);
    CHECK(result["content"][0]["type"] == "text");
    CHECK(json::parse(result["content"][0]["text"].get<std::string>()) ==
          sample_result("send_email"));
    CHECK_FALSE(result.contains("isError"));
    CHECK(f.calls == std::vector<std::string>{"alice:send_email"});

    // Arguments may be left out when the tool has no required ones.
    json list = f.request("tools/call", {{"name", "list_messages"}});
    CHECK(list["result"]["structuredContent"]["messages"].size() == 1);
}

TEST_CASE("tools/call reports bad arguments as isError naming the field", "[mcp]") {
    Fixture f;
    f.initialize();
    json r = f.request("tools/call",
                       {{"name", "send_email"},
                        {"arguments", {{"to", {"bob@agents.test", 42}}, {"subject", "hi"}}}});
    const json& result = r["result"];
    CHECK(result["isError"] == true);
    CHECK_FALSE(result.contains("structuredContent"));
    CHECK(result["content"][0]["text"] ==
          "Invalid arguments for send_email: to[1] must be a string, not an integer.");
    CHECK(f.calls.empty()); // the handler never saw them

    r = f.request("tools/call", {{"name", "list_bounces"}, {"arguments", {{"limit", 0}}}});
    CHECK(r["result"]["content"][0]["text"] ==
          "Invalid arguments for list_bounces: limit must be at least 1, not 0.");

    r = f.request("tools/call", {{"name", "check_status"}, {"arguments", json::object()}});
    CHECK(r["result"]["content"][0]["text"] ==
          "Invalid arguments for check_status: missing required field \"message_id\".");
}

TEST_CASE("tools/call turns handler errors and exceptions into isError results", "[mcp]") {
    Fixture f;
    f.registry.set_handler("check_status", [](const std::string&, const json&) {
        return ar::Result<json>(
            ar::Error{ar::kErrNotFound, "No message m-9 in your outbox.", "message_id"});
    });
    f.registry.set_handler("list_bounces", [](const std::string&, const json&) -> ar::Result<json> {
        throw std::runtime_error("database is locked");
    });
    json r =
        f.request("tools/call", {{"name", "check_status"}, {"arguments", {{"message_id", "m-9"}}}});
    CHECK(r["result"]["isError"] == true);
    CHECK(r["result"]["content"][0]["text"] == "No message m-9 in your outbox.");

    r = f.request("tools/call", {{"name", "list_bounces"}, {"arguments", json::object()}});
    CHECK(r["result"]["isError"] == true);
    CHECK(r["result"]["content"][0]["text"] == "list_bounces failed: database is locked");

    auto outcome = f.registry.call("alice", "check_status", {{"message_id", "m-9"}});
    CHECK(outcome.is_error);
    CHECK(outcome.error_code == ar::kErrNotFound);
    CHECK(outcome.error_field == "message_id");
}

#ifdef NDEBUG
TEST_CASE("a result that breaks the output schema is an internal error (release)", "[mcp]") {
    Fixture f;
    f.registry.set_handler("check_status", [](const std::string&, const json&) {
        return ar::Result<json>(json{{"message_id", "m-1"}, {"status", "lost"}});
    });
    auto outcome = f.registry.call("alice", "check_status", {{"message_id", "m-1"}});
    CHECK(outcome.is_error);
    CHECK(outcome.error_code == ar::kErrInternal);
}
#endif

TEST_CASE("a tool without a handler answers with a tool error", "[mcp]") {
    ar::tools::ToolRegistry bare;
    McpServer server(bare, {});
    Session s;
    auto r =
        server.handle("alice", s,
                      {{"jsonrpc", "2.0"},
                       {"id", 1},
                       {"method", "tools/call"},
                       {"params", {{"name", "list_messages"}, {"arguments", json::object()}}}});
    REQUIRE(r);
    CHECK((*r)["result"]["isError"] == true);
    CHECK_FALSE((*r)["result"]["content"][0]["text"].get<std::string>().empty());
    // The build's version stands in for an empty one.
    auto init = server.handle("alice", s,
                              {{"jsonrpc", "2.0"},
                               {"id", 2},
                               {"method", "initialize"},
                               {"params", {{"protocolVersion", "2025-06-18"}}}});
    CHECK_FALSE((*init)["result"]["serverInfo"]["version"].get<std::string>().empty());
    CHECK_FALSE((*init)["result"].contains("instructions"));
}

TEST_CASE("tools/call protocol errors are JSON-RPC errors", "[mcp]") {
    Fixture f;
    f.initialize();
    json r = f.request("tools/call", {{"name", "launch_rockets"}, {"arguments", json::object()}});
    CHECK(error_code(r) == -32602);
    CHECK(r["error"]["message"] == "Unknown tool: launch_rockets");
    CHECK(error_code(f.request("tools/call", json::object())) == -32602);
    CHECK(error_code(f.request("tools/call", {{"name", 7}})) == -32602);
    CHECK(error_code(f.request("tools/call", {{"name", "list_messages"}, {"arguments", {1, 2}}})) ==
          -32602);
    CHECK(error_code(f.request("tools/call")) == -32602);
}

TEST_CASE("handle_text: parse errors and malformed envelopes", "[mcp]") {
    Fixture f;
    json r = f.text("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ");
    CHECK(error_code(r) == -32700);
    CHECK(r["id"].is_null());

    r = f.text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])"); // a batch, outside 2025-03-26
    CHECK(error_code(r) == -32600);
    CHECK(r["id"].is_null());

    for (const char* bad : {R"({"jsonrpc":"2.0","id":null,"method":"ping"})",
                            R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})",
                            R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})",
                            R"({"jsonrpc":"2.0","method":7})", R"("ping")", "42"}) {
        INFO(bad);
        json e = f.text(bad);
        CHECK(error_code(e) == -32600);
        CHECK(e["id"].is_null());
    }
    r = f.text(R"({"id":"x","method":"ping"})");
    CHECK(error_code(r) == -32600);
    CHECK(r["id"] == "x");

    CHECK(f.text(R"({"jsonrpc":"2.0","id":"p","method":"ping"})")["result"] == json::object());
    CHECK_FALSE(f.server.handle_text("alice", f.session,
                                     R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
}

TEST_CASE("JSON-RPC batches: answered in 2025-03-26, refused in every other revision", "[mcp]") {
    Fixture f;
    f.initialize("2025-03-26");
    json batch = json::array({{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                              {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}},
                              {{"jsonrpc", "2.0"}, {"id", "t"}, {"method", "tools/call"},
                               {"params", {{"name", "check_status"}, {"arguments", {{"message_id", "m-1"}}}}}},
                              {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "initialize"},
                               {"params", {{"protocolVersion", "2025-03-26"}}}},
                              {{"jsonrpc", "2.0"}, {"id", 4}, {"result", json::object()}},
                              42});
    auto r = f.server.handle_batch("alice", f.session, batch);
    REQUIRE(r);
    REQUIRE(r->is_array());
    REQUIRE(r->size() == 4); // no answer to the notification nor to the client's response
    CHECK((*r)[0]["id"] == 1);
    CHECK((*r)[0]["result"] == json::object());
    CHECK((*r)[1]["id"] == "t");
    CHECK((*r)[1]["result"]["structuredContent"]["status"] == "delivered");
    CHECK((*r)[2]["id"] == 3);
    CHECK(error_code((*r)[2]) == -32600);
    CHECK((*r)[3]["id"].is_null());
    CHECK(error_code((*r)[3]) == -32600);
    CHECK(f.session.initialized);
    CHECK(f.session.protocol_version == "2025-03-26"); // the initialize in the batch changed nothing
    CHECK(f.calls == std::vector<std::string>{"alice:check_status"});

    CHECK_FALSE(f.server.handle_batch("alice", f.session,
                                      json::array({{{"jsonrpc", "2.0"}, {"method", "notifications/x"}}})));
    CHECK(error_code(*f.server.handle_batch("alice", f.session, json::array())) == -32600);
    // Through handle_text, as stdio and HTTP bodies arrive.
    json t = f.text(R"([{"jsonrpc":"2.0","id":9,"method":"ping"}])");
    REQUIRE(t.is_array());
    CHECK(t[0]["id"] == 9);

    for (std::string v : {"2025-06-18", "2025-11-25", "2024-11-05"}) {
        INFO(v);
        Fixture g;
        g.initialize(v);
        auto refused = g.server.handle_batch("alice", g.session,
                                             json::array({{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"},
                                                           {"params", {{"name", "check_status"}}}}}));
        REQUIRE(refused);
        CHECK(refused->is_object());
        CHECK(error_code(*refused) == -32600);
        CHECK((*refused)["error"]["message"].get<std::string>().find(v) != std::string::npos);
        CHECK(g.calls.empty());
    }
    Fixture before_initialize; // taken as the latest revision
    CHECK(error_code(before_initialize.text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])")) == -32600);
}

TEST_CASE("2026-07-28: server/discover and stateless requests", "[mcp]") {
    Fixture f; // no initialize: the era comes from the request
    json r = f.request("server/discover", {{"_meta", modern_meta()}});
    const json& d = r["result"];
    CHECK(d["resultType"] == "complete");
    CHECK(d["supportedVersions"] ==
          json{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"});
    CHECK(d["capabilities"]["tools"].is_object());
    CHECK(d["ttlMs"].is_number_integer());
    CHECK(d["cacheScope"] == "public");
    CHECK(d["instructions"] == "Mail for agents.");
    CHECK(d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "agentrelay");

    json list = f.request("tools/list", {{"_meta", modern_meta()}});
    CHECK(list["result"]["resultType"] == "complete");
    CHECK(list["result"]["tools"].size() == 7);
    CHECK(list["result"]["ttlMs"].get<int>() >= 0);
    CHECK(list["result"]["cacheScope"] == "public");

    json call = f.request("tools/call", {{"_meta", modern_meta()},
                                         {"name", "check_status"},
                                         {"arguments", {{"message_id", "m-1"}}}});
    CHECK(call["result"]["resultType"] == "complete");
    CHECK(call["result"]["structuredContent"] == sample_result("check_status"));
    CHECK(f.session.protocol_version.empty()); // stateless: nothing was negotiated

    json bad = f.request(
        "tools/call",
        {{"_meta", modern_meta()}, {"name", "check_status"}, {"arguments", json::object()}});
    CHECK(bad["result"]["isError"] == true);
    CHECK(bad["result"]["resultType"] == "complete");
}

TEST_CASE("2026-07-28: version, metadata and method errors", "[mcp]") {
    Fixture f;
    json r = f.request("tools/list", {{"_meta", modern_meta("2099-01-01")}});
    CHECK(error_code(r) == -32022);
    CHECK(r["error"]["data"]["requested"] == "2099-01-01");
    CHECK(r["error"]["data"]["supported"][0] == "2026-07-28");

    json meta = modern_meta();
    meta.erase("io.modelcontextprotocol/clientCapabilities");
    CHECK(error_code(f.request("tools/list", {{"_meta", meta}})) == -32602);
    meta = modern_meta();
    meta["io.modelcontextprotocol/protocolVersion"] = 20260728;
    CHECK(error_code(f.request("tools/list", {{"_meta", meta}})) == -32602);

    CHECK(error_code(f.request("ping", {{"_meta", modern_meta()}})) == -32601);
    CHECK(error_code(f.request("resources/list", {{"_meta", modern_meta()}})) == -32601);
    CHECK(error_code(f.request("server/discover")) == -32602);

    // A handshake-era revision in _meta is no 2026-07-28 request: served as before.
    json old = f.request("tools/list", {{"_meta", modern_meta("2025-06-18")}});
    CHECK_FALSE(old["result"].contains("resultType"));
}

TEST_CASE("run_stdio: one message per line in, one response per line out", "[mcp]") {
    Fixture f;
    std::istringstream in(
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
        "\n"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
        "\n\n   \r\n"
        "not json\n"
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"wait_for_message","arguments":{"timeout_seconds":1}}})"
        "\r\n"
        R"({"jsonrpc":"2.0","id":3,"method":"ping"})"); // no final newline
    std::ostringstream out;
    ar::mcp::run_stdio(f.server, "alice", in, out);

    std::vector<json> lines;
    std::istringstream written(out.str());
    for (std::string line; std::getline(written, line);)
        lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0]["result"]["protocolVersion"] == "2025-06-18");
    CHECK(lines[1]["error"]["code"] == -32700);
    CHECK(lines[2]["result"]["structuredContent"]["timed_out"] == false);
    CHECK(lines[3]["id"] == 3);
    CHECK(f.calls == std::vector<std::string>{"alice:wait_for_message"});
}

TEST_CASE("run_stdio: an over-long line is refused and skipped", "[mcp]") {
    Fixture f;
    std::string big = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")" +
                      std::string(5000, 'x') + "\"}}";
    std::istringstream in(big + "\n" + R"({"jsonrpc":"2.0","id":2,"method":"ping"})" + "\n");
    std::ostringstream out;
    ar::mcp::run_stdio(f.server, "alice", in, out, 1024);
    std::istringstream written(out.str());
    std::string first, second;
    REQUIRE(std::getline(written, first));
    REQUIRE(std::getline(written, second));
    CHECK(json::parse(first)["error"]["code"] == -32600);
    CHECK(json::parse(second)["id"] == 2);
}
