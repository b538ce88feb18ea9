// Tests for the JSON Schema subset validator and for the tool schemas it checks.
#include <catch2/catch.hpp>

#include <string>

#include "tools/registry.h"
#include "tools/schema_validator.h"

using ar::tools::validate;
using nlohmann::json;

namespace {

// The error of validating `value` against `schema`; fails the test when it validates.
ar::Error error_of(const json& schema, const json& value) {
    auto s = validate(schema, value, "arguments");
    REQUIRE_FALSE(s.ok());
    return s.error();
}

const json& input_schema(const std::string& tool) {
    static const ar::tools::ToolRegistry registry;
    const json* def = registry.definition(tool);
    REQUIRE(def != nullptr);
    return (*def)["inputSchema"];
}

} // namespace

TEST_CASE("type: a name or a list of names; integers may be written as 3.0", "[schema]") {
    CHECK(validate(json{{"type", "string"}}, "x").ok());
    CHECK(validate(json{{"type", json::array({"string", "null"})}}, nullptr).ok());
    CHECK(validate(json{{"type", "integer"}}, 3.0).ok());
    CHECK(validate(json{{"type", "number"}}, 3.5).ok());

    auto e = error_of(json{{"type", "integer"}}, 3.5);
    CHECK(e.code == ar::kErrInvalid);
    CHECK(e.field.empty());
    CHECK(e.message == "arguments must be an integer, not a number");

    e = error_of(json{{"type", json::array({"string", "array"})}}, 7);
    CHECK(e.message == "arguments must be a string or an array, not an integer");
}

TEST_CASE("objects: unknown fields, required fields and nested paths", "[schema]") {
    json schema = json::parse(R"({
        "type": "object",
        "properties": {
            "subject": {"type": "string"},
            "attachments": {"type": "array", "items": {
                "type": "object",
                "properties": {"filename": {"type": "string", "minLength": 1}},
                "required": ["filename"]}}
        },
        "required": ["subject"],
        "additionalProperties": false
    })");

    auto e = error_of(schema, json{{"subject", "hi"}, {"subjet", "typo"}});
    CHECK(e.field == "subjet");
    CHECK(e.message ==
          "unknown field \"subjet\" in arguments; allowed fields: attachments, subject");

    e = error_of(schema, json::object());
    CHECK(e.field == "subject");
    CHECK(e.message == "missing required field \"subject\"");

    e = error_of(schema,
                 json{{"subject", "hi"}, {"attachments", {json::object(), json::object()}}});
    CHECK(e.field == "attachments[0].filename");
    CHECK(e.message == "missing required field \"attachments[0].filename\"");

    e = error_of(schema, json{{"subject", "hi"}, {"attachments", {{{"filename", ""}}}}});
    CHECK(e.field == "attachments[0].filename");
    CHECK(e.message == "attachments[0].filename must not be empty");

    json open = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
    CHECK(validate(open, json{{"X-Ticket", "1"}}).ok());
    e = error_of(open, json{{"X-Ticket", 1}});
    CHECK(e.field == "X-Ticket");
    CHECK(e.message == "X-Ticket must be a string, not an integer");
}

TEST_CASE("strings: lengths count characters, pattern, date-time", "[schema]") {
    json schema = {{"type", "string"}, {"minLength", 2}, {"maxLength", 3}};
    CHECK(validate(schema, "\xc3\xa9\xc3\xa9\xc3\xa9").ok()); // three characters, six bytes
    CHECK(error_of(schema, "a").message == "arguments must be at least 2 characters long, not 1");
    CHECK(error_of(schema, "abcd").message == "arguments must be at most 3 characters long, not 4");

    json pattern = {{"type", "string"}, {"pattern", "^[0-9]\\.[0-9]\\.[0-9]+$"}};
    CHECK(validate(pattern, "5.1.1").ok());
    CHECK(error_of(pattern, "5.1").message.find("must match the pattern") != std::string::npos);
    auto e = error_of(pattern, std::string(ar::tools::kMaxPatternSubject + 1, '1'));
    CHECK(e.message.find("too long to check") != std::string::npos);

    json broken = {{"type", "string"}, {"pattern", "("}};
    CHECK(error_of(broken, "x").code == ar::kErrInternal);

    json when = {{"type", "string"}, {"format", "date-time"}};
    CHECK(validate(when, "2026-01-31T09:30:00Z").ok());
    CHECK(validate(when, "2026-01-31T09:30:00.123+02:00").ok());
    CHECK(error_of(when, "yesterday").message.find("RFC 3339") != std::string::npos);
}

TEST_CASE("numbers, arrays, enum and const", "[schema]") {
    json limit = {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}};
    CHECK(validate(limit, 100).ok());
    CHECK(error_of(limit, 0).message == "arguments must be at least 1, not 0");
    CHECK(error_of(limit, 101).message == "arguments must be at most 100, not 101");

    json list = {
        {"type", "array"}, {"minItems", 1}, {"maxItems", 2}, {"items", {{"type", "string"}}}};
    CHECK(error_of(list, json::array()).message == "arguments must have at least 1 item, not 0");
    CHECK(error_of(list, {"a", "b", "c"}).message == "arguments must have at most 2 items, not 3");
    auto e = error_of(list, {"a", 2});
    CHECK(e.field == "[1]");

    json kind = {{"enum", {"hard", "soft"}}};
    CHECK(validate(kind, "soft").ok());
    CHECK(error_of(kind, "medium").message ==
          "arguments must be one of \"hard\" or \"soft\", not \"medium\"");
    CHECK(error_of(json{{"const", "queued"}}, "sent").message ==
          "arguments must be \"queued\", not \"sent\"");
}

TEST_CASE("anyOf and oneOf blame the branch of the value's type", "[schema]") {
    json addresses = json::parse(R"({"anyOf": [
        {"type": "string", "minLength": 3},
        {"type": "array", "items": {"type": "string"}, "minItems": 1}]})");
    CHECK(validate(addresses, "a@b").ok());
    CHECK(validate(addresses, {"a@b", "c@d"}).ok());
    CHECK(error_of(addresses, 5).message ==
          "arguments must be a string or an array, not an integer");
    CHECK(error_of(addresses, json::array()).message ==
          "arguments must have at least 1 item, not 0");
    auto e = error_of(addresses, {"a@b", 7});
    CHECK(e.field == "[1]");

    json one = json::parse(R"({"oneOf": [{"type": "integer"}, {"type": "number"}]})");
    CHECK(validate(one, 1.5).ok());
    CHECK(error_of(one, 2).message == "arguments matches more than one of the allowed forms");
}

TEST_CASE("$ref to $defs, boolean schemas, depth bound", "[schema]") {
    json schema = json::parse(R"({
        "type": "object",
        "properties": {"message": {"anyOf": [{"$ref": "#/$defs/m"}, {"type": "null"}]}},
        "$defs": {"m": {"type": "object", "required": ["id"]}}
    })");
    CHECK(validate(schema, json{{"message", nullptr}}).ok());
    CHECK(validate(schema, json{{"message", {{"id", "1"}}}}).ok());
    auto e = error_of(schema, json{{"message", json::object()}});
    CHECK(e.field == "message.id");

    CHECK(error_of(json{{"$ref", "#/$defs/none"}}, 1).code == ar::kErrInternal);
    CHECK(validate(json(true), 1).ok());
    CHECK(error_of(json(false), 1).message == "arguments is not allowed here");

    json recursive = json::parse(R"({
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
    })");
    json deep = json::array();
    for (int i = 0; i < 200; ++i)
        deep = json::array({deep});
    CHECK(error_of(recursive, deep).message.find("nested too deeply") != std::string::npos);
}

TEST_CASE("send_email's input schema names the faulty argument", "[schema]") {
    const json& schema = input_schema("send_email");
    CHECK(validate(schema, json{{"to", "ada@example.com"}, {"subject", "hi"}}).ok());
    CHECK(validate(schema, json{{"to", {"ada@example.com", "bob@example.com"}},
                                {"subject", "hi"},
                                {"headers", {{"X-Ticket", "4711"}}},
                                {"attachments",
                                 {{{"filename", "a.txt"},
                                   {"content_type", "text/plain"},
                                   {"content_base64", "aGk="}}}}})
              .ok());

    auto e = error_of(schema, json{{"to", {"ada@example.com", 5}}, {"subject", "hi"}});
    CHECK(e.field == "to[1]");
    CHECK(e.message == "to[1] must be a string, not an integer");

    e = error_of(schema, json{{"to", "ada@example.com"}});
    CHECK(e.field == "subject");

    e = error_of(schema,
                 json{{"to", "ada@example.com"},
                      {"subject", "hi"},
                      {"attachments", {{{"filename", "a.txt"}, {"content_type", "text/plain"}}}}});
    CHECK(e.field == "attachments[0].content_base64");

    e = error_of(schema, json{{"to", "ada@example.com"}, {"subject", "hi"}, {"from", "x@y.z"}});
    CHECK(e.field == "from");
    CHECK(e.message.find("allowed fields: attachments, bcc, cc") != std::string::npos);

    const json& bounces = input_schema("list_bounces");
    e = error_of(bounces, json{{"limit", 500}});
    CHECK(e.message == "limit must be at most 100, not 500");
    e = error_of(bounces, json{{"since", "last week"}});
    CHECK(e.field == "since");
}
