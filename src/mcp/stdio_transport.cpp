#include "mcp/stdio_transport.h"

#include <streambuf>

#include "mcp/jsonrpc.h"

namespace ar::mcp {
namespace {

bool blank(const std::string& line) {
    return line.find_first_not_of(" \t\r") == std::string::npos;
}

void write_line(std::ostream& out, const std::string& message) {
    out << message << '\n';
    out.flush();
}

} // namespace

void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out) {
    run_stdio(server, agent, in, out, kMaxStdioLine);
}

void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out,
               std::size_t max_line) {
    Session session; // the process is the handshake-era session
    std::streambuf* buf = in.rdbuf();
    if (!buf) return;
    std::string line;
    bool too_long = false;
    for (;;) {
        int c = buf->sbumpc();
        bool eof = c == std::char_traits<char>::eof();
        if (!eof && c != '\n') {
            if (line.size() < max_line)
                line.push_back(static_cast<char>(c));
            else
                too_long = true;
            continue;
        }
        if (too_long) {
            write_line(out, jsonrpc::serialize(
                                jsonrpc::make_error(nullptr, jsonrpc::kInvalidRequest,
                                                    "Invalid Request: message longer than " +
                                                        std::to_string(max_line) + " bytes")));
        } else if (!blank(line)) {
            if (auto response = server.handle_text(agent, session, line))
                write_line(out, *response);
        }
        line.clear();
        too_long = false;
        if (eof) return;
    }
}

} // namespace ar::mcp
