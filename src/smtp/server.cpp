#include "smtp/server.h"
#include "smtp/deadline.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <spdlog/spdlog.h>

namespace ar::smtp {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Replies

std::string format_reply(const ServerReply& reply) {
    ServerReply r = reply;
    if (r.code < 200 || r.code > 599) r = {451, "4.3.0", "Internal error; try again later"};
    std::string prefix = r.enhanced.empty() ? "" : r.enhanced + " ";
    for (char& c : prefix)
        if (c == '\r' || c == '\n') c = ' ';
    std::vector<std::string_view> lines;
    std::string_view text = r.text;
    while (true) {
        size_t nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        out += std::to_string(r.code);
        out += i + 1 < lines.size() ? '-' : ' ';
        out += prefix;
        for (char c : lines[i])
            if (c != '\r') out += c;
        out += "\r\n";
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// AuthThrottle

AuthThrottle::AuthThrottle(const ServerLimits& limits)
    : before_delay_(limits.auth_failures_before_delay),
      before_lockout_(limits.auth_failures_before_lockout), lockout_(limits.auth_lockout),
      step_(limits.auth_delay_step) {}

bool AuthThrottle::locked_out(const asio::ip::address& remote, Clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(remote.to_string());
    return it != entries_.end() && it->second.locked_until > now;
}

AuthThrottle::Verdict AuthThrottle::record_failure(const asio::ip::address& remote,
                                                   Clock::time_point now) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= 4096) forget_expired(now);
    Entry& e = entries_[remote.to_string()];
    if (e.failures > 0 && now - e.last_failure > lockout_ && e.locked_until <= now) e.failures = 0;
    e.failures += 1;
    e.last_failure = now;
    Verdict v;
    if (e.failures >= before_lockout_) {
        e.locked_until = now + lockout_;
        e.failures = 0; // the lockout is the punishment; afterwards the count starts again
        v.lockout = true;
        return v;
    }
    if (e.failures > before_delay_) {
        auto steps = std::min(e.failures - before_delay_, 1000);
        v.delay = std::min<std::chrono::milliseconds>(step_ * steps, std::chrono::seconds(30));
    }
    return v;
}

size_t AuthThrottle::tracked_addresses() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

void AuthThrottle::forget_expired(Clock::time_point now) {
    std::erase_if(entries_, [&](const auto& kv) {
        const Entry& e = kv.second;
        return e.locked_until <= now && now - e.last_failure > lockout_;
    });
}

// ---------------------------------------------------------------------------------------------
// Server state shared by the accept loop and the sessions

// One SMTP conversation (named apart from the client's smtp::Session: one name, one class).
class ServerSession;

struct Server::Impl {
    Impl(asio::any_io_executor executor, tcp::endpoint endpoint, ListenerKind k, std::string host,
         std::shared_ptr<asio::ssl::context> ctx, Handler& h, ServerLimits l)
        : ex(executor), strand(l.single_thread ? executor : asio::make_strand(executor)), acceptor(strand),
          listen(endpoint),
          kind(k), hostname(std::move(host)), tls(std::move(ctx)), handler(h), limits(l),
          throttle(l) {}

    asio::any_io_executor ex;
    asio::any_io_executor strand; // the acceptor's
    tcp::acceptor acceptor;
    tcp::endpoint listen;
    ListenerKind kind;
    std::string hostname;
    std::shared_ptr<asio::ssl::context> tls;
    Handler& handler;
    ServerLimits limits;
    AuthThrottle throttle;

    std::atomic<uint16_t> port{0};
    std::atomic<size_t> active{0};
    std::atomic<size_t> buffered{0};                   // DATA bytes held (max_buffered_bytes)
    std::unordered_map<std::string, size_t> per_client; // sessions served, by address; under mu
    std::atomic<bool> stopped{false};
    std::mutex mu; // guards sessions
    std::unordered_map<uint64_t, std::weak_ptr<ServerSession>> sessions;
    uint64_t next_id = 0;
};

namespace {

// Thrown by the I/O helpers when the connection is gone (closed, reset, timed out, stopped);
// caught once, at the top of the session.
struct ConnectionLost {};

constexpr auto kGrace = std::chrono::seconds(10); // to write a final 421 after a timeout
constexpr size_t kReadChunk = 4096;

bool is_positive(const ServerReply& r) {
    return r.code >= 200 && r.code < 300;
}

// A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; the handler (SPF, logs) and the
// throttle want the IPv4 address itself.
asio::ip::address plain_address(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a;
}

} // namespace

// One SMTP conversation. run() is the whole dialogue; everything else is a step of it. All of a
// session's work happens on its socket's strand.
class ServerSession : public std::enable_shared_from_this<ServerSession> {
  public:
    // remote: the client's address as accept() reported it.
    // busy: the reason it is over a session cap ("" if it is not); served sessions count in
    // per_client under client_key.
    ServerSession(std::shared_ptr<Server::Impl> server, tcp::socket socket, const tcp::endpoint& remote,
                  uint64_t id, std::string busy, std::string client_key)
        : server_(std::move(server)), limits_(server_->limits), socket_(std::move(socket)),
          deadline_(socket_.get_executor(), [this] { on_deadline(); }), delay_(socket_.get_executor()),
          id_(id), busy_(std::move(busy)), client_key_(std::move(client_key)) {
        ctx_.kind = server_->kind;
        ctx_.remote = plain_address(remote.address());
        total_deadline_ = SteadyClock::now() + limits_.total_timeout;
    }

    void start() { asio::co_spawn(socket_.get_executor(), run(), asio::detached); }

    // Safe from any thread: the close runs on the session's strand.
    void close_async() {
        asio::dispatch(delay_.get_executor(), [self = shared_from_this()] { self->close(); });
    }

  private:
    enum class Timeout { None, Idle, Total };
    enum class IoKind { Read, Other };
    enum class Next { Continue, Close };
    enum class LineStatus { Line, TooLong };
    enum class DataStatus { Complete, TooBig, BareLf, NoRoom };

    // --- the conversation ------------------------------------------------------------------

    awaitable<void> run() {
        auto self = shared_from_this();
        try {
            co_await converse();
        } catch (const ConnectionLost&) {
        } catch (const std::exception& e) {
            spdlog::warn("smtp: session from {} ended: {}", ctx_.remote.to_string(), e.what());
        }
        if (timeout_ != Timeout::None && !closed_) {
            try {
                out_.clear();
                reply(421, "4.4.2",
                      timeout_ == Timeout::Idle ? "Idle timeout exceeded, closing connection"
                                                : "Connection time limit exceeded, closing");
                co_await flush();
            } catch (const ConnectionLost&) {
            }
        }
        close();
        release_buffer();
        std::lock_guard lock(server_->mu);
        server_->sessions.erase(id_);
        server_->active -= 1;
        if (busy_.empty()) {
            auto it = server_->per_client.find(client_key_);
            if (it != server_->per_client.end() && --it->second == 0) server_->per_client.erase(it);
        }
    }

    awaitable<void> converse() {
        if (server_->kind == ListenerKind::Submissions) co_await handshake();
        if (!busy_.empty()) {
            reply(421, "4.7.0", server_->hostname + " " + busy_ + ", try again later");
            co_await flush();
            co_return;
        }
        reply(220, "", server_->hostname + " ESMTP agentrelay");
        while (true) {
            std::string line;
            if (co_await read_line(line, true) == LineStatus::TooLong) {
                reply(500, "5.5.6", "Line too long");
            } else if (auto cmd = parse_command(line); !cmd) {
                reply(501, "5.5.4", cmd.error().message);
            } else if (co_await execute(*cmd) == Next::Close) {
                co_return;
            }
            if (errors_ >= limits_.max_errors) {
                reply(421, "4.7.0", "Too many errors, closing connection");
                co_await flush();
                co_return;
            }
        }
    }

    awaitable<Next> execute(const Command& cmd) {
        using V = Command::Verb;
        switch (cmd.verb) {
        case V::Helo:
        case V::Ehlo:
            hello(cmd);
            co_return Next::Continue;
        case V::Mail:
            mail(cmd);
            co_return Next::Continue;
        case V::Rcpt:
            rcpt(cmd);
            co_return Next::Continue;
        case V::Data:
            co_return co_await data();
        case V::Rset:
            reset_transaction();
            reply(250, "2.0.0", "OK");
            co_return Next::Continue;
        case V::Noop:
            reply(250, "2.0.0", "OK");
            co_return Next::Continue;
        case V::Quit:
            reply(221, "2.0.0", server_->hostname + " closing connection");
            co_await flush();
            co_return Next::Close;
        case V::Vrfy:
            reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
            co_return Next::Continue;
        case V::Expn:
            reply(502, "5.5.1", "EXPN is not supported");
            co_return Next::Continue;
        case V::Help:
            reply(214, "2.0.0",
                  "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
            co_return Next::Continue;
        case V::Bdat:
            reply(502, "5.5.1", "BDAT is not supported; use DATA");
            co_return Next::Continue;
        case V::StartTls:
            co_return co_await starttls();
        case V::Auth:
            co_return co_await auth(cmd);
        case V::Unknown:
            break;
        }
        reply(500, "5.5.2", "Command not recognized");
        co_return Next::Continue;
    }

    void hello(const Command& cmd) {
        reset_transaction();
        greeted_ = true;
        esmtp_ = cmd.verb == Command::Verb::Ehlo;
        ctx_.helo = cmd.argument;
        if (!esmtp_) {
            reply(250, "", server_->hostname);
            return;
        }
        std::string text = server_->hostname + "\nPIPELINING\nSIZE " +
                           std::to_string(limits_.max_message_bytes) +
                           "\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES";
        if (server_->tls && !ctx_.tls) text += "\nSTARTTLS";
        if (auth_offered()) text += "\nAUTH PLAIN LOGIN";
        reply(250, "", text);
    }

    bool auth_offered() const { return server_->kind != ListenerKind::Inbound && ctx_.tls; }

    void mail(const Command& cmd) {
        if (!greeted_) return reply(503, "5.5.1", "Send EHLO or HELO first");
        bool trusted = server_->kind != ListenerKind::Inbound && !ctx_.authenticated &&
                       guarded_bool([&] { return server_->handler.trusted(ctx_); });
        if (server_->kind == ListenerKind::Submission && !ctx_.tls && !trusted)
            return reply(530, "5.7.0", "Must issue a STARTTLS command first");
        if (server_->kind != ListenerKind::Inbound && !ctx_.authenticated && !trusted)
            return reply(530, "5.7.0", "Authentication required");
        if (in_transaction_) return reply(503, "5.5.1", "Nested MAIL command");
        bool smtputf8 = false;
        for (const auto& [key, value] : cmd.params) {
            if (key == "SIZE") {
                if (value.empty() || value.size() > 19 ||
                    !std::all_of(value.begin(), value.end(),
                                 [](char c) { return c >= '0' && c <= '9'; }))
                    return reply(501, "5.5.4", "SIZE needs a number of octets");
                if (std::stoull(value) > limits_.max_message_bytes)
                    return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
            } else if (key == "BODY") {
                if (value != "7BIT" && value != "8BITMIME")
                    return reply(501, "5.5.4", "BODY must be 7BIT or 8BITMIME");
            } else if (key == "SMTPUTF8") {
                if (!value.empty()) return reply(501, "5.5.4", "SMTPUTF8 takes no value");
                smtputf8 = true;
            } else if (key == "AUTH") {
                // RFC 4954 5: the submitter's identity for relaying; the session's own AUTH is
                // what counts here, so the value is ignored.
            } else {
                return reply(555, "5.5.4", "MAIL parameter " + key + " is not supported");
            }
        }
        if (is_non_ascii(cmd.path) && !smtputf8)
            return reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
        ServerReply r = guarded([&] { return server_->handler.on_mail_from(ctx_, cmd.path); });
        if (is_positive(r)) {
            in_transaction_ = true;
            reverse_path_ = cmd.path;
            smtputf8_ = smtputf8;
        }
        reply(r);
    }

    void rcpt(const Command& cmd) {
        if (!in_transaction_) return reply(503, "5.5.1", "Need MAIL before RCPT");
        if (recipients_.size() >= limits_.max_recipients)
            return reply(452, "4.5.3", "Too many recipients");
        if (!cmd.params.empty())
            return reply(555, "5.5.4",
                         "RCPT parameter " + cmd.params.front().first + " is not supported");
        if (is_non_ascii(cmd.path) && !smtputf8_)
            return reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
        ServerReply r = guarded([&] { return server_->handler.on_recipient(ctx_, cmd.path); });
        if (is_positive(r)) recipients_.push_back(cmd.path);
        reply(r);
    }

    awaitable<Next> data() {
        if (!in_transaction_) {
            reply(503, "5.5.1", "Need MAIL command");
            co_return Next::Continue;
        }
        if (recipients_.empty()) {
            reply(554, "5.5.1", "No valid recipients");
            co_return Next::Continue;
        }
        reply(354, "", "End data with <CR><LF>.<CR><LF>");
        AcceptedMessage message{std::move(reverse_path_), std::move(recipients_), {}, smtputf8_,
                                std::move(ctx_.transaction)};
        reset_transaction();
        DataStatus status = co_await read_data(message.data); // throws if the client goes
        if (status == DataStatus::TooBig) {
            reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
            co_return Next::Continue;
        }
        if (status == DataStatus::BareLf) {
            reply(550, "5.6.0", "Message contains a bare LF; lines must end with CRLF");
            co_return Next::Continue;
        }
        if (status == DataStatus::NoRoom) {
            reply(452, "4.3.1", "Insufficient system storage for the message now; try again later");
            co_return Next::Continue;
        }
        ServerReply r;
        try {
            r = co_await server_->handler.on_message(ctx_, std::move(message));
        } catch (const std::exception& e) {
            spdlog::error("smtp: message handler failed: {}", e.what());
            r = {451, "4.3.0", "Internal error; try again later"};
        }
        release_buffer(); // the handler is done with the message
        reply(r);
        co_return Next::Continue;
    }

    awaitable<Next> starttls() {
        if (!server_->tls) {
            reply(502, "5.5.1", "STARTTLS is not available");
            co_return Next::Continue;
        }
        if (ctx_.tls) {
            reply(503, "5.5.1", "TLS already active");
            co_return Next::Continue;
        }
        reply(220, "2.0.0", "Ready to start TLS");
        co_await flush();
        // RFC 3207 6 (and CVE-2011-0411): anything the client sent after STARTTLS in the clear
        // must not be taken as if it came under TLS.
        in_.clear();
        rpos_ = 0;
        co_await handshake();
        // RFC 3207 4.2: forget everything learnt before TLS; the client must EHLO again.
        reset_transaction();
        greeted_ = false;
        esmtp_ = false;
        ctx_.helo.clear();
        ctx_.authenticated.reset();
        co_return Next::Continue;
    }

    awaitable<Next> auth(const Command& cmd) {
        if (server_->kind == ListenerKind::Inbound) {
            reply(502, "5.5.1", "AUTH is not available on this port");
            co_return Next::Continue;
        }
        if (!esmtp_) {
            reply(503, "5.5.1", "Send EHLO first");
            co_return Next::Continue;
        }
        if (!ctx_.tls) {
            reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
            co_return Next::Continue;
        }
        if (ctx_.authenticated) {
            reply(503, "5.5.1", "Already authenticated");
            co_return Next::Continue;
        }
        if (in_transaction_) {
            reply(503, "5.5.1", "AUTH is not permitted during a mail transaction");
            co_return Next::Continue;
        }
        if (server_->throttle.locked_out(ctx_.remote, SteadyClock::now())) {
            reply(421, "4.7.0", "Too many authentication failures, try again later");
            co_await flush();
            co_return Next::Close;
        }
        std::optional<Credentials> creds;
        if (cmd.mechanism == "PLAIN") {
            creds = co_await auth_plain(cmd.initial_response);
        } else if (cmd.mechanism == "LOGIN") {
            creds = co_await auth_login(cmd.initial_response);
        } else {
            reply(504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN or LOGIN");
            co_return Next::Continue;
        }
        if (!creds) co_return Next::Continue; // cancelled or malformed: already answered
        // Acting as another identity (a PLAIN authzid other than the user) is not offered.
        if (!creds->acceptable) co_return co_await auth_failed(creds->user);

        std::optional<std::string> identity;
        try {
            identity = server_->handler.authenticate(ctx_, creds->user, creds->password);
        } catch (const std::exception& e) {
            spdlog::error("smtp: authentication handler failed: {}", e.what());
            reply(454, "4.7.0", "Temporary authentication failure");
            co_return Next::Continue;
        }
        if (identity) {
            ctx_.authenticated = std::move(identity);
            reply(235, "2.7.0", "Authentication successful");
            co_return Next::Continue;
        }
        co_return co_await auth_failed(creds->user);
    }

    awaitable<Next> auth_failed(const std::string& user) {
        auto verdict = server_->throttle.record_failure(ctx_.remote, SteadyClock::now());
        spdlog::info("smtp: authentication failed for '{}' from {}", user, ctx_.remote.to_string());
        if (verdict.lockout) {
            spdlog::warn("smtp: {} locked out after repeated authentication failures",
                         ctx_.remote.to_string());
            reply(421, "4.7.0", "Too many authentication failures, try again later");
            co_await flush();
            co_return Next::Close;
        }
        if (verdict.delay.count() > 0) {
            delay_.expires_after(verdict.delay);
            asio::error_code ec;
            co_await delay_.async_wait(asio::redirect_error(use_awaitable, ec));
            if (closed_) throw ConnectionLost{};
        }
        reply(535, "5.7.8", "Authentication credentials invalid");
        co_return Next::Continue;
    }

    // Reads one SASL client response after a 334 challenge; nullopt when the client cancelled
    // ("*") or sent something that is not base64 (both already answered).
    awaitable<std::optional<std::string>> sasl_response(std::string challenge) {
        reply(334, "", std::move(challenge));
        std::string line;
        if (co_await read_line(line, false) == LineStatus::TooLong) {
            reply(500, "5.5.6", "Line too long");
            co_return std::nullopt;
        }
        if (line == "*") {
            reply(501, "5.0.0", "Authentication cancelled");
            co_return std::nullopt;
        }
        co_return line;
    }

    struct Credentials {
        std::string user;
        std::string password;
        bool acceptable = true;
    };

    awaitable<std::optional<Credentials>> auth_plain(std::optional<std::string> initial) {
        if (!initial) {
            initial = co_await sasl_response("");
            if (!initial) co_return std::nullopt;
        }
        auto creds = decode_auth_plain(*initial);
        if (!creds) {
            reply(501, "5.5.2", creds.error().message);
            co_return std::nullopt;
        }
        bool acceptable = creds->authzid.empty() || creds->authzid == creds->authcid;
        co_return Credentials{std::move(creds->authcid), std::move(creds->password), acceptable};
    }

    awaitable<std::optional<Credentials>> auth_login(std::optional<std::string> initial) {
        std::optional<std::string> user_b64 = std::move(initial);
        if (!user_b64) user_b64 = co_await sasl_response("VXNlcm5hbWU6"); // "Username:"
        if (!user_b64) co_return std::nullopt;
        auto user = decode_base64(*user_b64);
        if (!user || user->empty()) {
            reply(501, "5.5.2", "Cannot decode the user name (base64 expected)");
            co_return std::nullopt;
        }
        auto password_b64 = co_await sasl_response("UGFzc3dvcmQ6"); // "Password:"
        if (!password_b64) co_return std::nullopt;
        auto password = decode_base64(*password_b64);
        if (!password) {
            reply(501, "5.5.2", "Cannot decode the password (base64 expected)");
            co_return std::nullopt;
        }
        co_return Credentials{std::move(user.value()), std::move(password.value())};
    }

    // --- state -----------------------------------------------------------------------------

    void reset_transaction() {
        in_transaction_ = false;
        reverse_path_.clear();
        recipients_.clear();
        smtputf8_ = false;
        ctx_.transaction.reset();
    }

    template <class F> bool guarded_bool(F&& call) {
        try {
            return call();
        } catch (const std::exception& e) {
            spdlog::error("smtp: handler failed: {}", e.what());
            return false;
        }
    }

    template <class F> ServerReply guarded(F&& call) {
        try {
            return call();
        } catch (const std::exception& e) {
            spdlog::error("smtp: handler failed: {}", e.what());
            return {451, "4.3.0", "Internal error; try again later"};
        }
    }

    // Queues a reply; replies go out when the session next waits for input (RFC 2920: a
    // pipelined group is answered together) or explicitly flushes.
    void reply(int code, std::string enhanced, std::string text) {
        reply(ServerReply{code, std::move(enhanced), std::move(text)});
    }
    void reply(const ServerReply& r) {
        if (r.code >= 500) ++errors_;
        out_ += format_reply(r);
    }

    // --- I/O -------------------------------------------------------------------------------

    tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

    void close() {
        if (closed_) return;
        closed_ = true;
        asio::error_code ec;
        lowest().close(ec);  // cancels what is pending; the kernel sends what was written, then FIN
        deadline_.cancel();
        delay_.cancel();
    }

    // Every I/O operation runs under a deadline: the idle timeout (or what is left of the
    // total), or a short grace once a timeout has already happened.
    void arm(IoKind kind) {
        auto now = SteadyClock::now();
        io_kind_ = kind;
        deadline_.arm(timeout_ != Timeout::None
                          ? now + kGrace
                          : std::min<SteadyClock::time_point>(now + limits_.idle_timeout, total_deadline_));
    }

    void disarm() { deadline_.disarm(); }

    // The I/O operation in progress ran past its deadline.
    void on_deadline() {
        if (closed_) return;
        if (timeout_ != Timeout::None) {  // the grace is over too (or the final 421 is stuck)
            close();
            return;
        }
        auto now = SteadyClock::now();
        timeout_ = now >= total_deadline_ ? Timeout::Total : Timeout::Idle;
        if (io_kind_ == IoKind::Read) {  // the read is cancelled; run() answers 421
            asio::error_code ec;
            lowest().cancel(ec);
            return;
        }
        // A write or a TLS handshake in progress (often one about to complete, its completion
        // already queued behind this timer) gets the grace to finish, and then run() answers
        // 421; a client that does not read its replies is closed when the grace is over.
        deadline_.arm(now + kGrace);
    }

    awaitable<void> flush() {
        if (out_.empty()) co_return;
        if (closed_) throw ConnectionLost{};
        arm(IoKind::Other);
        asio::error_code ec;
        if (tls_)
            co_await asio::async_write(*tls_, asio::buffer(out_),
                                       asio::redirect_error(use_awaitable, ec));
        else
            co_await asio::async_write(socket_, asio::buffer(out_),
                                       asio::redirect_error(use_awaitable, ec));
        disarm();
        out_.clear();
        if (ec) throw ConnectionLost{};
    }

    // Reads more input into in_ (first sending any queued replies).
    awaitable<void> fill() {
        co_await flush();
        if (closed_ || timeout_ != Timeout::None) throw ConnectionLost{};
        if (rpos_ > 0) {
            in_.erase(0, rpos_);
            rpos_ = 0;
        }
        char chunk[kReadChunk];
        arm(IoKind::Read);
        asio::error_code ec;
        size_t n = 0;
        if (tls_)
            n = co_await tls_->async_read_some(asio::buffer(chunk),
                                               asio::redirect_error(use_awaitable, ec));
        else
            n = co_await socket_.async_read_some(asio::buffer(chunk),
                                                 asio::redirect_error(use_awaitable, ec));
        disarm();
        if (ec || timeout_ != Timeout::None) throw ConnectionLost{};
        in_.append(chunk, n);
    }

    awaitable<void> handshake() {
        tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), *server_->tls);
        arm(IoKind::Other);
        asio::error_code ec;
        co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                       asio::redirect_error(use_awaitable, ec));
        disarm();
        if (ec) {
            spdlog::debug("smtp: TLS handshake with {} failed: {}", ctx_.remote.to_string(),
                          ec.message());
            close();
            throw ConnectionLost{};
        }
        ctx_.tls = true;
        ctx_.tls_version = SSL_get_version(tls_->native_handle());
    }

    // The longest line allowed at the read position: max_line, or max_auth_line for an AUTH
    // command (RFC 4954 4 lets its initial response make the line 12288 octets long).
    size_t line_limit(bool auth_command_allowed) const {
        std::string_view pending(in_.data() + rpos_, in_.size() - rpos_);
        if (auth_command_allowed && pending.size() >= 5) {
            std::string head(pending.substr(0, 5));
            for (char& c : head)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            if (head == "AUTH ") return std::max(limits_.max_line, limits_.max_auth_line);
        }
        return auth_command_allowed ? limits_.max_line : limits_.max_auth_line;
    }

    // Reads one line (LF or CRLF ended; the ending is removed). A line longer than the limit is
    // read to its end and dropped (TooLong), so the session can answer and go on.
    awaitable<LineStatus> read_line(std::string& line, bool command) {
        bool discarding = false;
        size_t scanned = 0;
        while (true) {
            size_t nl = in_.find('\n', rpos_ + scanned);
            if (nl != std::string::npos) {
                size_t len = nl - rpos_ + 1;
                bool too_long = discarding || len > line_limit(command);
                if (!too_long) {
                    line.assign(in_, rpos_, len - 1);
                    if (!line.empty() && line.back() == '\r') line.pop_back();
                }
                rpos_ = nl + 1;
                co_return too_long ? LineStatus::TooLong : LineStatus::Line;
            }
            scanned = in_.size() - rpos_;
            if (scanned > line_limit(command)) {
                discarding = true;
                in_.clear();
                rpos_ = 0;
                scanned = 0;
            }
            co_await fill();
        }
    }

    // Reads DATA content up to CRLF "." CRLF, undoing dot-stuffing (RFC 5321 4.5.2). Past the
    // size limit the content is read and dropped. Only CRLF "." CRLF ends the data: after a bare
    // LF a "." line is content, so a message cannot hide a second one (SMTP smuggling).
    // The bytes a message holds count against the server's max_buffered_bytes from the first
    // one read until the handler is done with it (release_buffer); past the budget the rest is
    // read and dropped, and the message is refused (NoRoom).
    awaitable<DataStatus> read_data(std::string& data) {
        bool line_start = true; // the DATA command's CRLF starts the first line
        char last = '\n';       // the last byte of content taken
        bool too_big = false;
        bool no_room = false;
        bool bare_lf = false;
        while (true) {
            while (rpos_ < in_.size()) {
                if (line_start && in_[rpos_] == '.') {
                    if (in_.size() - rpos_ < 3) break; // need ".\r\n" or not to decide
                    if (in_.compare(rpos_, 3, ".\r\n") == 0) {
                        rpos_ += 3;
                        if (too_big) co_return DataStatus::TooBig;
                        if (no_room) co_return DataStatus::NoRoom;
                        co_return bare_lf ? DataStatus::BareLf : DataStatus::Complete;
                    }
                    ++rpos_; // a stuffed dot
                    if (rpos_ == in_.size()) break;
                }
                line_start = false;
                size_t nl = in_.find('\n', rpos_);
                size_t end = nl == std::string::npos ? in_.size() : nl + 1;
                if (nl != std::string::npos) {
                    char before = nl > rpos_ ? in_[nl - 1] : last;
                    line_start = before == '\r';
                    bare_lf = bare_lf || !line_start;
                }
                size_t n = end - rpos_;
                if (!too_big && data.size() + n > limits_.max_message_bytes) {
                    too_big = true;
                    std::string().swap(data);
                    release_buffer();
                }
                if (!too_big && !no_room && server_->buffered + n > limits_.max_buffered_bytes) {
                    no_room = true;
                    std::string().swap(data);
                    release_buffer();
                }
                if (!too_big && !no_room) {
                    data.append(in_, rpos_, n);
                    server_->buffered += n;
                    held_ += n;
                }
                last = in_[end - 1];
                rpos_ = end;
            }
            co_await fill();
        }
    }

    std::shared_ptr<Server::Impl> server_;
    const ServerLimits& limits_;
    tcp::socket socket_; // until TLS starts; then owned by tls_
    std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
    Deadline deadline_;        // of the I/O operation in progress (see arm())
    asio::steady_timer delay_; // the pause before answering a failed AUTH
    uint64_t id_;
    void release_buffer() {
        server_->buffered -= held_;
        held_ = 0;
    }

    std::string busy_;       // over a session cap: why; then answer 421 and close
    std::string client_key_; // the client's address, its key in per_client

    std::string in_; // received, not yet consumed from rpos_
    size_t rpos_ = 0;
    std::string out_; // replies not yet sent
    size_t held_ = 0; // DATA bytes this session counts in server_->buffered

    ClientContext ctx_;
    bool greeted_ = false;
    bool esmtp_ = false;
    int errors_ = 0;
    bool in_transaction_ = false;
    std::string reverse_path_;
    std::vector<std::string> recipients_;
    bool smtputf8_ = false;

    SteadyClock::time_point total_deadline_;
    IoKind io_kind_ = IoKind::Other;
    Timeout timeout_ = Timeout::None;
    bool closed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Server

namespace {

awaitable<void> accept_loop(std::shared_ptr<Server::Impl> impl) {
    while (!impl->stopped) {
        asio::error_code ec;
        // A named local, not a temporary in the co_await expression (GCC 12 may destroy those twice).
        asio::any_io_executor session_ex = impl->limits.single_thread ? impl->ex : asio::make_strand(impl->ex);
        tcp::endpoint remote;  // filled by accept() itself: no getpeername later
        tcp::socket socket =
            co_await impl->acceptor.async_accept(session_ex, remote, asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (impl->stopped || !impl->acceptor.is_open()) co_return;
            // Out of descriptors or memory: back off instead of spinning on the error.
            spdlog::warn("smtp: accept on port {} failed: {}", impl->port.load(), ec.message());
            asio::steady_timer pause(impl->strand, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
            continue;
        }
        std::shared_ptr<ServerSession> session;
        {
            std::string client = plain_address(remote.address()).to_string();
            std::lock_guard lock(impl->mu);
            std::string busy;
            if (impl->active >= impl->limits.max_sessions) busy = "Too many connections";
            else if (impl->per_client[client] >= impl->limits.max_sessions_per_client)
                busy = "Too many connections from your address";
            if (busy.empty()) impl->per_client[client] += 1;
            else if (impl->per_client[client] == 0) impl->per_client.erase(client);
            uint64_t id = impl->next_id++;
            session = std::make_shared<ServerSession>(impl, std::move(socket), remote, id, std::move(busy),
                                                      std::move(client));
            impl->sessions.emplace(id, session);
            impl->active += 1;
        }
        session->start();
    }
}

} // namespace

Server::Server(asio::any_io_executor ex, asio::ip::tcp::endpoint listen, ListenerKind kind,
               std::string hostname, std::shared_ptr<asio::ssl::context> tls, Handler& handler,
               ServerLimits limits)
    : impl_(std::make_shared<Impl>(std::move(ex), listen, kind, std::move(hostname), std::move(tls),
                                   handler, limits)) {
    if (!impl_->tls && kind != ListenerKind::Inbound)
        throw std::invalid_argument("smtp: submission listeners need a TLS context");
}

Server::~Server() {
    stop();
}

void Server::start() {
    auto& acceptor = impl_->acceptor;
    acceptor.open(impl_->listen.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(impl_->listen);
    acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = acceptor.local_endpoint().port();
    asio::co_spawn(impl_->strand, accept_loop(impl_), asio::detached);
}

void Server::stop() {
    asio::dispatch(impl_->strand, [impl = impl_] {
        impl->stopped = true;
        asio::error_code ec;
        impl->acceptor.close(ec);
        std::vector<std::shared_ptr<ServerSession>> live;
        {
            std::lock_guard lock(impl->mu);
            for (auto& [id, weak] : impl->sessions)
                if (auto s = weak.lock()) live.push_back(std::move(s));
        }
        for (auto& s : live)
            s->close_async();
    });
}

uint16_t Server::port() const {
    return impl_->port;
}

size_t Server::active_sessions() const {
    return impl_->active;
}

size_t Server::buffered_bytes() const {
    return impl_->buffered;
}

} // namespace ar::smtp
