#include "mcp/stdio_transport.h"

#include <map>
#include <memory>
#include <variant>
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

// 2026-07-28's subscriptions/listen over stdio: the request stays open, its notifications are
// lines on stdout, until the client cancels it (notifications/cancelled with its id) or the
// session ends; a cancelled request gets no answer, as cancellation says.
class Listens {
  public:
    // Takes a message the server should not see: a listen request, or the cancellation of one
    // (passed on too, though it changes nothing there). True if it was a listen request.
    bool take(McpServer& server, const std::string& agent, const nlohmann::json& message,
              const std::shared_ptr<Output>& output) {
        if (!message.is_object()) return false;
        if (message.value("method", json()) == "notifications/cancelled" && message.contains("params") &&
            message["params"].is_object() && message["params"].contains("requestId")) {
            watches_.erase(message["params"]["requestId"].dump());
            return false;
        }
        if (message.value("method", json()) != "subscriptions/listen" || !message.contains("id") ||
            !jsonrpc::valid_id(message["id"]) || !declared_version(message))
            return false;
        json params = message.value("params", json::object());
        auto outcome = server.listen(agent, message["id"], params, [output](const json& notification) {
            output->line(jsonrpc::serialize(notification));
        });
        if (auto* error = std::get_if<json>(&outcome))
            output->line(jsonrpc::serialize(*error));
        else
            watches_[message["id"].dump()] = std::get<std::shared_ptr<void>>(outcome);
        return true;
    }

  private:
    using json = nlohmann::json;
    std::map<std::string, std::shared_ptr<void>> watches_; // by the request id, as JSON text
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
    Listens listens; // ends (its watches dropped) before the closer closes stdout
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
            auto parsed = jsonrpc::parse(line);
            if (auto* err = std::get_if<jsonrpc::RpcError>(&parsed)) {
                output->line(jsonrpc::serialize(jsonrpc::make_error(nullptr, *err)));
            } else if (const auto& message = std::get<nlohmann::json>(parsed);
                       !listens.take(server, agent, message, output)) {
                auto response = message.is_array() ? server.handle_batch(agent, session, message)
                                                   : server.handle(agent, session, message);
                if (response) output->line(jsonrpc::serialize(*response));
            }
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
