#include "mcp/stdio_transport.h"

#include <memory>
#include <mutex>
#include <streambuf>

#include "mcp/jsonrpc.h"

namespace ar::mcp {
namespace {

bool blank(const std::string& line) {
    return line.find_first_not_of(" \t\r") == std::string::npos;
}

// stdout, shared by the answers (this thread) and the notifications (the watches' threads);
// closed when the session ends, after which notifications are dropped.
struct Output {
    std::mutex mu;
    std::ostream* out;
    bool open = true;
    void line(const std::string& message) {
        std::lock_guard lock(mu);
        if (!open) return;
        *out << message << '\n';
        out->flush();
    }
    void close() {
        std::lock_guard lock(mu);
        open = false;
    }
};

} // namespace

void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out) {
    run_stdio(server, agent, in, out, kMaxStdioLine);
}

void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out,
               std::size_t max_line) {
    Session session; // the process is the handshake-era session
    session.channel = std::make_shared<SessionChannel>();
    auto output = std::make_shared<Output>();
    output->out = &out;
    struct Closer {
        std::shared_ptr<Output> output;
        std::shared_ptr<SessionChannel> channel;
        ~Closer() {
            channel->set_sink(nullptr);
            channel->drop_watch();
            output->close();
        }
    } closer{output, session.channel};
    bool notifying = false;
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
            output->line(jsonrpc::serialize(
                                jsonrpc::make_error(nullptr, jsonrpc::kInvalidRequest,
                                                    "Invalid Request: message longer than " +
                                                        std::to_string(max_line) + " bytes")));
        } else if (!blank(line)) {
            if (auto response = server.handle_text(agent, session, line)) output->line(*response);
            // Notifications (resources/updated, list_changed) once the client has said it is
            // ready for them.
            if (session.initialized && !notifying) {
                notifying = true;
                server.open_channel(session, [output](const nlohmann::json& notification) {
                    output->line(jsonrpc::serialize(notification));
                });
            }
        }
        line.clear();
        too_long = false;
        if (eof) return;
    }
}

} // namespace ar::mcp
