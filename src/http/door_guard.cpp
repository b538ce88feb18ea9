#include "http/door_guard.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <sys/socket.h>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "core/threads.h"

namespace ar::http {
namespace {

using json = nlohmann::json;

// httplib's ThreadPool with a bounded queue: enqueue (called by the accept loop) waits while the
// queue is full, so accepted-but-unserved connections stay few and the backlog holds the rest.
class BoundedPool : public httplib::TaskQueue {
  public:
    BoundedPool(std::size_t threads, std::size_t max_queued) : max_queued_(std::max<std::size_t>(1, max_queued)) {
        for (std::size_t i = 0; i < std::max<std::size_t>(1, threads); ++i)
            workers_.emplace_back([this] { work(); });
    }

    void enqueue(std::function<void()> fn) override {
        std::unique_lock lock(mu_);
        not_full_.wait(lock, [&] { return jobs_.size() < max_queued_ || shutdown_; });
        jobs_.push_back(std::move(fn));
        lock.unlock();
        not_empty_.notify_one();
    }

    void shutdown() override {
        {
            std::lock_guard lock(mu_);
            shutdown_ = true;
        }
        not_empty_.notify_all();
        not_full_.notify_all();
        for (auto& t : workers_)
            t.join();
    }

  private:
    void work() {
        name_this_thread("ar-http");
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock lock(mu_);
                not_empty_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
                if (jobs_.empty()) return; // shut down, and nothing left
                fn = std::move(jobs_.front());
                jobs_.pop_front();
            }
            not_full_.notify_one();
            fn();
        }
    }

    const std::size_t max_queued_;
    std::mutex mu_;
    std::condition_variable not_empty_, not_full_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> workers_;
    bool shutdown_ = false;
};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Body bytes admitted and not yet answered, across all connections. A connection is served by one
// worker thread from its first request to its last, so each thread's admission is its own.
std::atomic<std::size_t> g_admitted{0};
thread_local std::size_t t_admitted = 0;

void release_admission() {
    if (t_admitted) g_admitted.fetch_sub(t_admitted);
    t_admitted = 0;
}

// The connection a request came on, found by its addresses among the process's descriptors (only
// on a refusal that must close it, so rarely); -1 if none matches.
int connection_fd(const httplib::Request& req, uint16_t listen_port) {
    asio::error_code ec;
    auto peer = asio::ip::make_address(req.remote_addr, ec);
    if (ec) return -1;
    std::error_code fs_ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", fs_ec)) {
        int fd = -1;
        try {
            fd = std::stoi(entry.path().filename().string());
        } catch (const std::exception&) {
            continue;
        }
        asio::ip::tcp::endpoint remote, local;
        socklen_t len = static_cast<socklen_t>(remote.capacity());
        if (::getpeername(fd, remote.data(), &len) != 0) continue;
        remote.resize(len);
        socklen_t llen = static_cast<socklen_t>(local.capacity());
        if (::getsockname(fd, local.data(), &llen) != 0) continue;
        local.resize(llen);
        auto addr = remote.address();
        if (addr.is_v6() && addr.to_v6().is_v4_mapped())
            addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
        if (remote.port() == req.remote_port && addr == peer && (listen_port == 0 || local.port() == listen_port))
            return fd;
    }
    return -1;
}

const char* reason_phrase(int status) {
    switch (status) {
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

// Answers a request whose body is left unread and ends its connection. httplib 0.11 offers a
// handler no way to close a connection, and an unread body must never be parsed as the next
// request (behind a proxy, that is request smuggling). So the answer is written here, and the
// socket shut down both ways: httplib's own write of it then fails, and it closes the
// connection. Returns false when the connection was not found (httplib then answers).
bool answer_and_close(const httplib::Request& req, uint16_t listen_port, int status, const std::string& extra_headers,
                      const std::string& body) {
    int fd = connection_fd(req, listen_port);
    if (fd < 0) return false;
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
    std::size_t sent = 0;
    while (sent < out.size()) {
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_RDWR);
    return true;
}

void refuse(const httplib::Request& req, httplib::Response& res, const DoorGuardOptions& opt, int status,
            const std::string& code, const std::string& message, bool close) {
    res.status = status;
    json body;
    if (req.path == opt.mcp_path)
        body = {{"jsonrpc", "2.0"}, {"error", {{"code", -32600}, {"message", message}}}};
    else
        body = {{"error", {{"code", code}, {"message", message}}}};
    res.set_content(body.dump(), "application/json");
    // The body was not read: what follows on this connection is not a request.
    if (close) {
        res.set_header("Connection", "close");
        std::string extra;
        if (res.has_header("Retry-After")) extra = "Retry-After: " + res.get_header_value("Retry-After") + "\r\n";
        answer_and_close(req, opt.listen_port, status, extra, res.body);
    }
    Metrics::instance().add("agentrelay_http_refused_total", "{reason=\"" + code + "\"}");
}

} // namespace

std::size_t body_limit_for(std::size_t max_message_bytes) {
    return max_message_bytes / 3 * 4 + max_message_bytes / 16 + (1u << 20);
}

bool host_allowed(std::string_view host_header, const std::vector<std::string>& hosts) {
    std::string h = lower(host_header);
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.pop_back();
    if (h.empty()) return false;
    std::string name;
    if (h[0] == '[') {
        auto close = h.find(']');
        if (close == std::string::npos) return false;
        name = h.substr(1, close - 1);
        std::string rest = h.substr(close + 1);
        if (!rest.empty() && rest[0] != ':') return false;
        asio::error_code ec;
        asio::ip::make_address_v6(name, ec);
        return !ec;
    }
    name = h.substr(0, h.find(':'));
    if (name.empty()) return false;
    asio::error_code ec;
    asio::ip::make_address_v4(name, ec);
    if (!ec) return true;
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name == "localhost") return true;
    return std::any_of(hosts.begin(), hosts.end(), [&](const std::string& allowed) { return lower(allowed) == name; });
}

void install_door_guard(httplib::Server& server, DoorGuardOptions options) {
    Metrics::instance().describe("agentrelay_http_refused_total", "counter",
                                 "HTTP requests refused at the door before any handler, by reason");
    std::size_t threads = options.threads, queued = options.max_queued_connections;
    server.new_task_queue = [threads, queued] { return new BoundedPool(threads, queued); };
    server.set_payload_max_length(options.max_body_bytes);
    auto opt = std::make_shared<DoorGuardOptions>(std::move(options));

    server.set_pre_routing_handler([opt](const httplib::Request& req, httplib::Response& res) {
        using R = httplib::Server::HandlerResponse;
        release_admission(); // a request whose answer never reached the post-routing hook
        // The Request object is httplib's own, not const; dropping the header here is what
        // keeps httplib 0.11 (built with zlib and brotli) from compressing any answer.
        const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");

        if (req.has_header("Origin") && !host_allowed(req.get_header_value("Host"), opt->hosts)) {
            refuse(req, res, *opt, 403, "forbidden",
                   "Forbidden: a browser request must name this server in Host (an IP address, localhost or a "
                   "configured http_hosts name), not " + req.get_header_value("Host"),
                   false);
            return R::Handled;
        }
        std::size_t want = 0;
        bool has_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
        if (req.has_header("Transfer-Encoding") || (has_body && !req.has_header("Content-Length"))) {
            refuse(req, res, *opt, 411, "length_required",
                   "Length Required: send the body with Content-Length (chunked request bodies are not accepted)",
                   true);
            return R::Handled;
        }
        if (req.has_header("Content-Length")) {
            const std::string& v = req.get_header_value("Content-Length");
            errno = 0;
            char* end = nullptr;
            unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || errno == ERANGE || n > opt->max_body_bytes) {
                refuse(req, res, *opt, 413, "too_large",
                       "Payload Too Large: a request body may have at most " + std::to_string(opt->max_body_bytes) +
                           " bytes",
                       true);
                return R::Handled;
            }
            want = static_cast<std::size_t>(n);
        }
        if (want) {
            std::size_t before = g_admitted.fetch_add(want);
            if (before + want > opt->body_budget_bytes && before > 0) {
                g_admitted.fetch_sub(want);
                res.set_header("Retry-After", "1");
                refuse(req, res, *opt, 503, "busy",
                       "Service Unavailable: too many large requests at once; try again shortly", true);
                return R::Handled;
            }
            t_admitted = want;
        }
        return R::Unhandled;
    });
    server.set_post_routing_handler([](const httplib::Request&, httplib::Response&) { release_admission(); });
}

} // namespace ar::http
