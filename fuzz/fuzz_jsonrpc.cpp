// fuzz_jsonrpc: arbitrary bytes into JSON-RPC parsing and McpServer::handle_text, one message per
// input and one per line of it (sharing a session), with the real tool schemas (read from
// tools-schema/ beside this file) and dummy handlers. Must never crash, leak or trip UBSan.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/server.h"
#include "tools/registry.h"
#include "tools/schemas.h"

namespace ar::tools {

// Stands in for the build-generated table of the main build.
const std::vector<EmbeddedSchema>& embedded_schemas() {
    static std::vector<std::string> names, texts;
    static const std::vector<EmbeddedSchema> all = [] {
        namespace fs = std::filesystem;
        fs::path dir = fs::path(__FILE__).parent_path().parent_path() / "tools-schema";
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().extension() == ".json") files.push_back(e.path());
        names.reserve(files.size());
        texts.reserve(files.size());
        std::vector<EmbeddedSchema> out;
        for (const auto& f : files) {
            std::ifstream in(f);
            std::stringstream text;
            text << in.rdbuf();
            names.push_back(f.stem().string());
            texts.push_back(text.str());
            out.push_back({names.back().c_str(), texts.back().c_str()});
        }
        return out;
    }();
    return all;
}

} // namespace ar::tools

namespace {

using nlohmann::json;

ar::mcp::McpServer& server() {
    static ar::tools::ToolRegistry registry = [] {
        ar::tools::ToolRegistry r;
        for (const auto& def : r.definitions()) {
            std::string name = def["name"];
            r.set_handler(name, [name](const std::string&, const json&) -> ar::Result<json> {
                if (name == "list_bounces") return json{{"bounces", json::array()}};
                if (name == "list_messages") return json{{"messages", json::array()}};
                if (name == "wait_for_message")
                    return json{{"message", nullptr}, {"timed_out", true}};
                return ar::Error{ar::kErrNotFound, "nothing here", ""};
            });
        }
        return r;
    }();
    static ar::mcp::McpServer s(registry, {"agentrelay", "fuzz", "instructions"});
    return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    ar::mcp::Session whole;
    (void)server().handle_text("fuzz", whole, input);

    ar::mcp::Session session;
    std::size_t start = 0;
    while (start <= input.size()) {
        std::size_t end = input.find('\n', start);
        if (end == std::string_view::npos) end = input.size();
        (void)server().handle_text("fuzz", session, input.substr(start, end - start));
        start = end + 1;
    }
    return 0;
}
