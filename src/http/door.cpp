#include "http/door.h"

#include <atomic>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <unordered_map>

#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/metrics.h"
#include "core/text.h"
#include "core/threads.h"
#include "http/door_guard.h"

namespace ar::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

struct Route {
    std::string method;
    std::regex pattern;
    Handler handler;
};

Response error_response(const std::string& path, const std::string& mcp_path, int status, const std::string& code,
                        const std::string& message) {
    Response res;
    res.status = status;
    json body;
    if (path == mcp_path)
        body = {{"jsonrpc", "2.0"}, {"error", {{"code", -32600}, {"message", message}}}};
    else
        body = {{"error", {{"code", code}, {"message", message}}}};
    res.set_content(body.dump(), "application/json");
    return res;
}

} // namespace

struct Door::Impl : std::enable_shared_from_this<Door::Impl> {
    explicit Impl(DoorOptions o) : opt(std::move(o)), pool(std::max<std::size_t>(1, opt.workers)) {}

    DoorOptions opt;
    net::io_context io{1};
    tcp::acceptor acceptor{io};
    net::thread_pool pool;
    std::thread loop;
    std::vector<Route> routes;
    std::atomic<std::size_t> open{0};
    std::atomic<std::size_t> admitted{0}; // body bytes being read or handled
    std::set<tcp::socket*> sockets;       // the loop's own: every open connection
    net::steady_timer room{io};           // the accept loop waits on it at max_connections
    // Replies may come after stop(): they check this under the lock before touching the loop.
    std::mutex life_mu;
    bool alive = true;
    bool started = false;

    const Route* find_route(const Request& req, std::vector<std::string>& matches, bool& path_known) const {
        for (const auto& r : routes) {
            std::smatch m;
            if (!std::regex_match(req.path, m, r.pattern)) continue;
            path_known = true;
            if (r.method != req.method) continue;
            matches.clear();
            for (std::size_t i = 1; i < m.size(); ++i)
                matches.push_back(m[i].str());
            return &r;
        }
        return nullptr;
    }

    // A handler's answer awaited by a session: completed on the loop, or dropped with the door.
    struct Pending {
        virtual ~Pending() = default;
        virtual void complete(Response res) = 0;
    };
    template <class H>
    struct PendingHandler : Pending {
        explicit PendingHandler(H h) : handler(std::move(h)) {}
        void complete(Response res) override { std::move(handler)(std::move(res)); }
        H handler;
    };
    std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending; // the loop's own
    uint64_t next_pending = 0;

    void complete(uint64_t id, Response res) {
        auto it = pending.find(id);
        if (it == pending.end()) return;
        auto p = std::move(it->second);
        pending.erase(it);
        p->complete(std::move(res));
    }

    // The handler's answer, resumed on the loop whenever the worker (or a later event) replies.
    // GCC 12 destroys temporaries with non-trivial destructors twice when they appear in a
    // co_await expression: every argument here is a named local taken by reference.
    net::awaitable<Response> dispatch(const Route* route, Request& request) {
        auto initiate = [this, route, &request](auto handler) {
            Request req = std::move(request);
                using H = decltype(handler);
                uint64_t id = ++next_pending;
                pending.emplace(id, std::make_unique<PendingHandler<H>>(std::move(handler)));
                auto done = std::make_shared<std::atomic<bool>>(false);
                std::weak_ptr<Impl> weak = weak_from_this();
                Reply reply = [id, done, weak](Response res) {
                    if (done->exchange(true)) return;
                    auto impl = weak.lock();
                    if (!impl) return;
                    std::lock_guard lock(impl->life_mu);
                    if (!impl->alive) return;
                    // Holds no reference: an answer still queued when the door stops goes with it.
                    net::post(impl->io, [weak, id, res = std::move(res)]() mutable {
                        if (auto impl = weak.lock()) impl->complete(id, std::move(res));
                    });
                };
                net::post(pool, [route, req = std::move(req), reply, mcp = opt.mcp_path]() mutable {
                    name_this_thread("ar-http-work");
                    try {
                        route->handler(req, reply);
                    } catch (const std::exception& e) {
                        spdlog::error("HTTP {} {}: {}", req.method, req.path, e.what());
                        reply(error_response(req.path, mcp, 500, "internal", std::string("Internal error: ") + e.what()));
                    }
                });
        };
        co_return co_await net::async_initiate<decltype(net::use_awaitable), void(Response)>(initiate,
                                                                                         net::use_awaitable);
    }

    net::awaitable<bool> write(beast::tcp_stream& stream, Response& res, bool keep_alive) {
        bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), 11};
        for (const auto& [name, value] : res.headers)
            out.insert(name, value);
        if (!res.content_type.empty()) out.set(bhttp::field::content_type, res.content_type);
        out.body() = std::move(res.body);
        out.keep_alive(keep_alive);
        out.prepare_payload();
        stream.expires_after(opt.read_timeout + std::chrono::seconds(out.body().size() >> 16));
        auto [ec, n] = co_await bhttp::async_write(stream, out, kTuple);
        co_return !ec;
    }

    // An answer that is an event stream: the head, then each event as it is sent, a comment
    // line every 15 s, until the stream is closed or the client goes away; the connection ends
    // with it (Connection: close, so no length is needed).
    net::awaitable<void> stream_events(beast::tcp_stream& stream, Response& res) {
        auto events = res.stream;
        auto timer = std::make_shared<net::steady_timer>(io);
        auto gone = std::make_shared<bool>(false);
        // A wake that comes while the writer is busy must not be lost to a timer not yet
        // waited on: it leaves a flag the writer checks before it waits (all on the loop).
        auto woken = std::make_shared<bool>(false);
        events->attach([this, timer, woken] {
            net::post(io, [timer, woken] {
                *woken = true;
                timer->cancel();
            });
        });
        std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + std::string(reason_phrase(res.status)) + "\r\n";
        for (const auto& [name, value] : res.headers)
            if (!iequals(name, "Connection") && !iequals(name, "Content-Length")) head += name + ": " + value + "\r\n";
        head += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
        std::string pending = std::move(head);
        // The client sends nothing more on this connection: a read ends only when it goes away.
        net::co_spawn(
            io,
            [&stream, timer, gone]() -> net::awaitable<void> {
                std::array<char, 512> sink;
                for (;;) {
                    auto [ec, n] = co_await stream.socket().async_read_some(net::buffer(sink), kTuple);
                    if (ec) break;
                }
                *gone = true;
                timer->cancel();
            },
            net::detached);
        for (;;) {
            pending += events->take();
            bool ending = events->closed() || *gone;
            if (!pending.empty() && !*gone) {
                stream.expires_after(opt.read_timeout);
                auto [ec, n] = co_await net::async_write(stream, net::buffer(pending), kTuple);
                if (ec) break;
                stream.expires_never();
                pending.clear();
            }
            if (ending) break;
            if (*woken) {
                *woken = false;
                continue;
            }
            timer->expires_after(std::chrono::seconds(15));
            auto [tec] = co_await timer->async_wait(kTuple);
            *woken = false;
            if (!tec) pending += ": keep-alive\n\n";
        }
        events->finish();
        // The session closes the socket next: the reader's read is cancelled with it (it
        // touches only its shared flags afterwards).
    }

    // After a refusal with the body unread: no more answers, and a lingering close (as nginx
    // does): what the client still sends is read and thrown away, for at most 10 s and 2 s of
    // silence, so that a client that sends its whole body before it reads (urllib, requests)
    // gets the answer rather than a broken pipe. Nothing of it is kept.
    net::awaitable<void> linger(beast::tcp_stream& stream) {
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        std::array<char, 16384> sink;
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            stream.expires_after(std::chrono::seconds(2));
            auto [rec, n] = co_await stream.async_read_some(net::buffer(sink), kTuple);
            if (rec) break;
        }
    }

    // Checks a request's headers against the door's limits; a refusal, or nullopt. `reserved`
    // is what it took of the body budget.
    std::optional<Response> admit(const bhttp::request_parser<bhttp::string_body>& parser, const std::string& path,
                                  std::size_t& reserved, bool& close) {
        const auto& h = parser.get();
        auto refuse = [&](int status, const char* code, const std::string& message, bool must_close) {
            Metrics::instance().add("agentrelay_http_refused_total", std::string("{reason=\"") + code + "\"}");
            close = must_close;
            return error_response(path, opt.mcp_path, status, code, message);
        };
        bool has_length = h.find(bhttp::field::content_length) != h.end();
        auto length = parser.content_length();
        bool body_follows = parser.chunked() || (length && *length > 0);
        if (h.find(bhttp::field::origin) != h.end() &&
            !host_allowed(std::string(h[bhttp::field::host]), opt.hosts))
            return refuse(403, "forbidden",
                          "Forbidden: a browser request must name this server in Host (an IP address, localhost or a "
                          "configured http_hosts name), not " + std::string(h[bhttp::field::host]),
                          body_follows);
        std::string method(h.method_string());
        bool takes_body = method == "POST" || method == "PUT" || method == "PATCH";
        if (parser.chunked() || (takes_body && !has_length))
            return refuse(411, "length_required",
                          "Length Required: send the body with Content-Length (chunked request bodies are not accepted)",
                          true);
        if (length && *length > opt.max_body_bytes)
            return refuse(413, "too_large",
                          "Payload Too Large: a request body may have at most " + std::to_string(opt.max_body_bytes) +
                              " bytes",
                          true);
        std::size_t want = length ? static_cast<std::size_t>(*length) : 0;
        if (want) {
            std::size_t before = admitted.fetch_add(want);
            if (before > 0 && before + want > opt.body_budget_bytes) {
                admitted.fetch_sub(want);
                auto res = refuse(503, "busy", "Service Unavailable: too many large requests at once; try again shortly",
                                  true);
                res.set_header("Retry-After", "1");
                return res;
            }
            reserved = want;
        }
        return std::nullopt;
    }

    net::awaitable<void> session(tcp::socket socket) {
        std::string remote;
        {
            beast::error_code ec;
            auto ep = socket.remote_endpoint(ec);
            if (!ec) {
                auto a = ep.address();
                if (a.is_v6() && a.to_v6().is_v4_mapped()) a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
                remote = a.to_string();
            }
        }
        beast::tcp_stream stream(std::move(socket));
        tcp::socket* key = &stream.socket();
        sockets.insert(key);
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(64 * 1024);
            parser.body_limit(boost::none); // checked by admit(), from the headers, then set below
            stream.expires_after(buffer.size() ? opt.read_timeout : opt.idle_timeout);
            auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
            if (ec) {
                bool quiet = ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
                             ec == net::error::operation_aborted || ec == net::error::connection_reset;
                if (!quiet) {
                    Response bad = ec == bhttp::error::header_limit
                                       ? error_response("", opt.mcp_path, 431, "too_large", "Request Header Fields Too Large")
                                       : error_response("", opt.mcp_path, 400, "invalid_argument", "Bad Request: " + ec.message());
                    co_await write(stream, bad, false);
                    co_await linger(stream);
                }
                break;
            }
            Request req;
            {
                const auto& h = parser.get();
                std::string target(h.target());
                auto q = target.find('?');
                req.path = target.substr(0, q);
                if (q != std::string::npos) req.query = target.substr(q + 1);
                req.method = std::string(h.method_string());
            }
            std::size_t reserved = 0;
            bool close = false;
            if (auto refusal = admit(parser, req.path, reserved, close)) {
                Response& answer = *refusal;
                bool ok = co_await write(stream, answer, !close);
                if (!ok) break;
                if (close) {
                    co_await linger(stream);
                    break;
                }
                continue;
            }
            parser.body_limit(opt.max_body_bytes);
            if (iequals(std::string(parser.get()[bhttp::field::expect]), "100-continue")) {
                bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
                auto [cec, cn] = co_await bhttp::async_write(stream, cont, kTuple);
                if (cec) {
                    admitted.fetch_sub(reserved);
                    break;
                }
            }
            if (!parser.is_done()) {
                stream.expires_after(opt.read_timeout + std::chrono::seconds(reserved >> 16));
                auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
                if (bec) {
                    admitted.fetch_sub(reserved);
                    break;
                }
            }
            auto message = parser.release();
            bool keep_alive = message.keep_alive();
            for (const auto& f : message)
                req.headers.emplace(std::string(f.name_string()), std::string(f.value()));
            req.body = std::move(message.body());
            req.remote_addr = remote;
            req.params = parse_query(req.query);

            Response res;
            bool path_known = false;
            std::vector<std::string> matches;
            if (const Route* route = find_route(req, matches, path_known)) {
                req.matches = std::move(matches);
                // Nothing is read from the connection while the handler works: a pipelined
                // request waits its turn in the socket.
                res = co_await dispatch(route, req);
            } else {
                res = error_response(req.path, opt.mcp_path, 404, "not_found", "Not Found: no such endpoint " + req.path);
            }
            admitted.fetch_sub(reserved);
            if (res.stream) {
                co_await stream_events(stream, res);
                break;
            }
            if (iequals(res.get_header_value("Connection"), "close")) keep_alive = false;
            res.headers.erase("Connection");
            bool written = co_await write(stream, res, keep_alive);
            if (!written || !keep_alive) break;
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        sockets.erase(key);
        stream.socket().close(ignored);
        if (open.fetch_sub(1) == opt.max_connections) room.cancel();
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            while (open.load() >= opt.max_connections) {
                room.expires_after(std::chrono::seconds(1));
                co_await room.async_wait(kTuple);
                if (!acceptor.is_open()) co_return;
            }
            auto [ec, socket] = co_await acceptor.async_accept(kTuple);
            if (!acceptor.is_open() || ec == net::error::operation_aborted) co_return;
            if (ec) {
                // Out of descriptors, say: wait a little rather than spin.
                spdlog::warn("HTTP accept: {}", ec.message());
                net::steady_timer pause(io, std::chrono::milliseconds(50));
                co_await pause.async_wait(kTuple);
                continue;
            }
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            open.fetch_add(1);
            net::co_spawn(io, session(std::move(socket)), net::detached);
        }
    }
};

Door::Door(DoorOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
    Metrics::instance().describe("agentrelay_http_refused_total", "counter",
                                 "HTTP requests refused at the door before any handler, by reason");
    Metrics::instance().gauge("agentrelay_http_connections", "HTTP connections open now", [weak = std::weak_ptr<Impl>(impl_)] {
        std::map<std::string, int64_t> out;
        if (auto impl = weak.lock()) out[""] = static_cast<int64_t>(impl->open.load());
        return out;
    });
}

Door::~Door() {
    stop();
}

void Door::route(const std::string& method, const std::string& pattern, Handler handler) {
    impl_->routes.push_back(Route{method, std::regex(pattern), std::move(handler)});
}

void Door::route(const std::string& method, const std::string& pattern, SyncHandler handler) {
    route(method, pattern, Handler([handler = std::move(handler)](Request& req, Reply reply) {
              Response res;
              handler(req, res);
              reply(std::move(res));
          }));
}

Status Door::bind() {
    auto& impl = *impl_;
    beast::error_code ec;
    auto address = net::ip::make_address(impl.opt.address, ec);
    if (ec) return Error{kErrInvalid, "cannot listen on " + impl.opt.address + ": not an IP address", ""};
    tcp::endpoint ep(address, impl.opt.port);
    impl.acceptor.open(ep.protocol(), ec);
    if (!ec) impl.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) impl.acceptor.bind(ep, ec);
    if (!ec) impl.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
        return Error{kErrUnavailable,
                     "cannot listen on " + impl.opt.address + ":" + std::to_string(impl.opt.port) + ": " + ec.message(), ""};
    return Ok{};
}

uint16_t Door::port() const {
    beast::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void Door::start() {
    auto impl = impl_;
    impl->started = true;
    net::co_spawn(impl->io, impl->accept_loop(), net::detached);
    impl->loop = std::thread([impl] {
        name_this_thread("ar-http");
        impl->io.run();
    });
}

void Door::stop() {
    auto impl = impl_;
    {
        std::lock_guard lock(impl->life_mu);
        if (!impl->alive) return;
        impl->alive = false;
    }
    if (impl->started) {
        // On the loop: close everything, drop the answers still awaited (their sessions end
        // with them), and stop; handlers that reply later find the door gone.
        net::post(impl->io, [impl] {
            beast::error_code ignored;
            impl->acceptor.close(ignored);
            impl->room.cancel();
            for (auto* s : impl->sockets)
                s->shutdown(tcp::socket::shutdown_both, ignored);
            impl->pending.clear();
            impl->io.stop();
        });
        if (impl->loop.joinable()) impl->loop.join();
    } else {
        beast::error_code ignored;
        impl->acceptor.close(ignored);
    }
    impl->pool.join();
}

std::size_t Door::open_connections() const {
    return impl_->open.load();
}

} // namespace ar::http
