// registry.h: the MCP tools agentrelay offers, their schemas and the handlers that run them.
//
// The schemas come from tools-schema/*.json (embedded at build time): one file per tool, each
// {name, title, description, inputSchema, outputSchema, annotations}. The registry is the door
// for tool arguments: call() validates them against the tool's inputSchema before any handler
// sees them, so handlers receive only well-formed arguments. Handlers are registered by whoever
// implements the tools (the relay core's adapters); a tool without a handler answers with a tool
// error. The registry is immutable after set-up: call() is const and thread-safe as long as the
// handlers are.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "tools/schemas.h"

namespace ar::tools {

// What a tool call produced: either `structured` (the tool's result, matching its outputSchema)
// or an error for the caller (is_error, with a message an agent can act on).
struct ToolOutcome {
    nlohmann::json structured;
    bool is_error = false;
    std::string error_text;
    std::string error_code;  // one of ar::kErr* when is_error
    std::string error_field; // the argument at fault, if any ("to[2]")
};

// Runs a tool for `agent` with arguments already validated against the tool's inputSchema.
using ToolHandler =
    std::function<ar::Result<nlohmann::json>(const std::string& agent, const nlohmann::json& args)>;

// Answers an asynchronous tool call, once, from any thread.
using ToolReply = std::function<void(ar::Result<nlohmann::json>)>;
// Runs a tool that may answer later (wait_for_message answers when the mail arrives): it must
// return at once and call reply exactly once.
using AsyncToolHandler =
    std::function<void(const std::string& agent, const nlohmann::json& args, ToolReply reply)>;
using ToolDone = std::function<void(ToolOutcome)>;

class ToolRegistry {
  public:
    // Loads every embedded schema (tools-schema/). Throws std::logic_error if one is malformed:
    // that is a build defect, caught by the unit tests.
    ToolRegistry();
    explicit ToolRegistry(const std::vector<EmbeddedSchema>& schemas);

    void set_handler(const std::string& name, ToolHandler h);
    // A tool with an asynchronous handler is answered through it by call_async (call() waits).
    void set_async_handler(const std::string& name, AsyncToolHandler h);

    // Each {name, title, description, inputSchema, outputSchema, annotations}, sorted by name.
    const std::vector<nlohmann::json>& definitions() const { return definitions_; }
    bool has(const std::string& name) const { return tools_.count(name) != 0; }
    // The definition of `name`, or nullptr.
    const nlohmann::json* definition(const std::string& name) const;

    // Validates args against inputSchema (an error names the field, what was wrong and what is
    // allowed), calls the handler (an ar::Error becomes is_error with its message; an exception
    // becomes an internal error) and checks the result against outputSchema: a mismatch is a
    // defect of the handler, which asserts in debug builds and is an internal error otherwise.
    ToolOutcome call(const std::string& agent, const std::string& name,
                     const nlohmann::json& args) const;
    // As call(), answering through done: before it returns for a synchronous handler, whenever
    // the tool has its result for an asynchronous one (from whatever thread that is).
    void call_async(const std::string& agent, const std::string& name, const nlohmann::json& args,
                    ToolDone done) const;

  private:
    struct Tool {
        std::size_t index; // into definitions_
        ToolHandler handler;
        AsyncToolHandler async_handler;
    };
    ToolOutcome finish(const std::string& name, const nlohmann::json& def, ar::Result<nlohmann::json> result) const;
    std::vector<nlohmann::json> definitions_;
    std::map<std::string, Tool> tools_;
};

} // namespace ar::tools
