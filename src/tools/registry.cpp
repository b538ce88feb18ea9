#include "tools/registry.h"

#include <atomic>
#include <future>
#include <memory>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include "tools/schema_validator.h"

namespace ar::tools {
namespace {

using json = nlohmann::json;

json load_definition(const EmbeddedSchema& schema) {
    std::string where = std::string("tools-schema/") + schema.name + ".json";
    json def = json::parse(schema.json, nullptr, false);
    if (def.is_discarded() || !def.is_object())
        throw std::logic_error(where + " is not a JSON object");
    for (const char* key :
         {"name", "title", "description", "inputSchema", "outputSchema", "annotations"})
        if (!def.contains(key)) throw std::logic_error(where + " lacks \"" + key + "\"");
    if (def["name"] != schema.name)
        throw std::logic_error(where + ": \"name\" must be the file name, " + schema.name);
    for (const char* key : {"inputSchema", "outputSchema"})
        if (!def[key].is_object() || def[key].value("type", "") != "object")
            throw std::logic_error(where + ": " + key + " must have the root \"type\": \"object\"");
    return def;
}

ToolOutcome tool_error(const ar::Error& e) {
    ToolOutcome out;
    out.is_error = true;
    out.error_text = e.message;
    out.error_code = e.code;
    out.error_field = e.field;
    return out;
}

} // namespace

ToolRegistry::ToolRegistry() : ToolRegistry(embedded_schemas()) {}

ToolRegistry::ToolRegistry(const std::vector<EmbeddedSchema>& schemas) {
    for (const auto& s : schemas)
        definitions_.push_back(load_definition(s));
    std::sort(definitions_.begin(), definitions_.end(),
              [](const json& a, const json& b) { return a["name"] < b["name"]; });
    for (std::size_t i = 0; i < definitions_.size(); ++i)
        tools_[definitions_[i]["name"].get<std::string>()] = Tool{i, nullptr};
}

void ToolRegistry::set_handler(const std::string& name, ToolHandler h) {
    auto it = tools_.find(name);
    if (it == tools_.end()) throw std::logic_error("no schema for tool " + name);
    it->second.handler = std::move(h);
}

const nlohmann::json* ToolRegistry::definition(const std::string& name) const {
    auto it = tools_.find(name);
    return it == tools_.end() ? nullptr : &definitions_[it->second.index];
}

void ToolRegistry::set_async_handler(const std::string& name, AsyncToolHandler h) {
    auto it = tools_.find(name);
    if (it == tools_.end()) throw std::logic_error("no schema for tool " + name);
    it->second.async_handler = std::move(h);
}

ToolOutcome ToolRegistry::finish(const std::string& name, const json& def, ar::Result<json> result) const {
    if (!result) return tool_error(result.error());
    if (auto valid = validate(def["outputSchema"], *result, "result"); !valid) {
        std::fprintf(stderr,
                     "agentrelay: tool %s returned a result that does not match its "
                     "outputSchema: %s\n",
                     name.c_str(), valid.error().message.c_str());
        assert(!"tool result does not match its outputSchema");
        return tool_error({ar::kErrInternal,
                           name + " produced an invalid result (" + valid.error().message + ")",
                           ""});
    }
    ToolOutcome out;
    out.structured = std::move(*result);
    return out;
}

void ToolRegistry::call_async(const std::string& agent, const std::string& name, const nlohmann::json& args,
                              ToolDone done) const {
    auto it = tools_.find(name);
    if (it == tools_.end()) return done(tool_error(ar::invalid("name", "unknown tool \"" + name + "\"")));
    const json& def = definitions_[it->second.index];
    if (!it->second.handler && !it->second.async_handler)
        return done(tool_error({ar::kErrUnavailable, "the tool " + name + " is not available here", ""}));

    if (auto valid = validate(def["inputSchema"], args, "arguments"); !valid) {
        ar::Error e = valid.error();
        e.message = "Invalid arguments for " + name + ": " + e.message + ".";
        return done(tool_error(e));
    }
    if (it->second.async_handler) {
        auto once = std::make_shared<std::atomic<bool>>(false);
        auto reply = [this, name, &def, done, once](ar::Result<json> result) {
            if (once->exchange(true)) return;
            done(finish(name, def, std::move(result)));
        };
        try {
            it->second.async_handler(agent, args, reply);
        } catch (const std::exception& ex) {
            reply(ar::Error{ar::kErrInternal, name + " failed: " + ex.what(), ""});
        }
        return;
    }
    ar::Result<json> result = ar::Error{ar::kErrInternal, "no result", ""};
    try {
        result = it->second.handler(agent, args);
    } catch (const std::exception& ex) {
        return done(tool_error({ar::kErrInternal, name + " failed: " + ex.what(), ""}));
    }
    done(finish(name, def, std::move(result)));
}

ToolOutcome ToolRegistry::call(const std::string& agent, const std::string& name,
                               const nlohmann::json& args) const {
    // An asynchronous tool's answer, waited for here.
    std::promise<ToolOutcome> promise;
    auto future = promise.get_future();
    call_async(agent, name, args, [&promise](ToolOutcome o) { promise.set_value(std::move(o)); });
    return future.get();
}

} // namespace ar::tools
