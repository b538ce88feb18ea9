// server.h: the one SMTP server engine behind every agentrelay SMTP listener.
//
// A Server accepts connections on one endpoint and runs each conversation as one straight-line
// Asio coroutine, in the order RFC 5321 tells it: greeting, EHLO, STARTTLS (RFC 3207), AUTH
// PLAIN/LOGIN (RFC 4954), MAIL, RCPT, DATA. It serves three kinds of listener:
//   Submission   port 587 style: STARTTLS offered, required before AUTH; AUTH required for MAIL.
//   Submissions  port 465 style: implicit TLS from the first byte (RFC 8314); AUTH required.
//                (On both, a client the Handler calls trusted may send MAIL without TLS or AUTH.)
//   Inbound      the MX: STARTTLS offered when there is a certificate, AUTH never offered.
// The engine enforces the protocol: sequencing, syntax, line and message size limits, recipient
// limits, error limits, idle and total timeouts, and an authentication failure throttle per
// remote address. Policy (who may send what, where mail goes) belongs to the Handler the
// caller supplies.
//
// Promises:
// - The handler hears only well-formed commands in a valid order; on_message is called only
//   with a complete message (CRLF.CRLF seen, within the size limit, dot-unstuffed, every line
//   ending in CRLF) and never for a client that disconnected or timed out mid-DATA.
// - Only CRLF "." CRLF ends DATA; a message holding a bare LF is refused (SMTP smuggling).
// - Input pipelined after STARTTLS is discarded, never read as if it came under TLS.
// - Memory per connection is bounded by the limits (a line, one read chunk, one message), and
//   so is the whole: sessions (in all and per client address) and the DATA bytes they hold.
// - The io thread is never blocked, except inside the Handler calls documented below.
// - Each connection runs on its own strand, so the Server works on a multi-threaded
//   io_context; the Handler may then be called concurrently for different connections.
#pragma once

#include "smtp/command.h"

#include <any>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ar::smtp {

// A reply the server sends: "code enhanced text", one line per '\n' in text (RFC 5321 4.2,
// RFC 2034). An empty `enhanced` omits the enhanced status code (greeting, EHLO, 334, 354).
struct ServerReply {
    int code = 250;
    std::string enhanced;
    std::string text;
};

// The wire form with CRLFs: "250-first\r\n250 last\r\n". CR and LF inside the text never reach
// the wire; a code outside 200..599 becomes 451 4.3.0 (a handler bug must not break the dialogue).
std::string format_reply(const ServerReply& reply);

enum class ListenerKind {
    Submission,  // STARTTLS required before AUTH
    Submissions, // implicit TLS
    Inbound,     // MX: STARTTLS offered, AUTH not offered
};

struct ServerLimits {
    size_t max_line = 512; // a command line, CRLF included (RFC 5321 4.5.3.1.4)
    size_t max_message_bytes = 25u << 20;
    size_t max_recipients = 50;
    int max_errors = 10; // 5xx replies in one connection before 421 and close
    std::chrono::seconds idle_timeout{300};
    std::chrono::seconds total_timeout{1800};
    int auth_failures_before_delay = 3;
    std::chrono::seconds auth_lockout{300};
    int auth_failures_before_lockout = 10;
    // Added: the delay step (the n-th failure past auth_failures_before_delay waits n steps,
    // at most 30 s), the longest AUTH line (RFC 4954 4: 12288) and the connection cap.
    std::chrono::milliseconds auth_delay_step{1000};
    size_t max_auth_line = 12288;
    size_t max_sessions = 10000;
    // At most this many sessions from one client address at once (Postfix's
    // smtpd_client_connection_count_limit); past either cap a new session gets 421 4.7.0.
    size_t max_sessions_per_client = 50;
    // Message bytes all sessions together may hold while DATA is being read; a message that
    // would pass it is refused with 452 4.3.1 (the client tries again later), so many large
    // messages at once cannot exhaust memory.
    size_t max_buffered_bytes = size_t{1} << 30;
    // The executor's io_context is run by one thread only: sessions then need no strand of
    // their own (a strand costs a lock and a queue on every completion).
    bool single_thread = false;
};

struct ClientContext { // what the handler knows about the connection
    asio::ip::address remote;
    ListenerKind kind = ListenerKind::Inbound;
    bool tls = false;
    std::string tls_version;                  // "TLSv1.3" once TLS is up
    std::string helo;                         // the EHLO/HELO argument
    std::optional<std::string> authenticated; // agent name after AUTH
    // The handler's own note on the mail transaction its on_mail_from accepted (e.g. the sender
    // it looked up), handed on to on_message in AcceptedMessage::transaction; cleared when the
    // transaction ends.
    std::any transaction;
};

struct AcceptedMessage {
    std::string reverse_path;            // "" for the null reverse-path
    std::vector<std::string> recipients; // in RCPT order, as accepted by on_recipient
    std::string data;                    // as received, dot-unstuffed, CRLF line ends
    bool smtputf8 = false;               // MAIL FROM carried SMTPUTF8
    std::any transaction;                // what on_mail_from noted in ClientContext::transaction
};

class Handler {
  public:
    virtual ~Handler() = default;
    // AUTH: returns the identity (agent name) or nullopt. May block briefly (hash check) - runs
    // on the io thread.
    virtual std::optional<std::string> authenticate(const ClientContext&, std::string_view user,
                                                    std::string_view password) = 0;
    // Submission listeners: whether this client may send MAIL without TLS and AUTH (a trusted
    // network; the handler then decides in on_mail_from whom it sends as). Runs on the io thread.
    virtual bool trusted(const ClientContext&) { return false; }
    virtual ServerReply on_mail_from(ClientContext&, std::string_view reverse_path) = 0;
    virtual ServerReply on_recipient(const ClientContext&, std::string_view forward_path) = 0;
    // The whole message has arrived; store it durably before answering 250. Awaitable so the
    // handler can hand blocking storage work to another thread and co_await it.
    virtual asio::awaitable<ServerReply> on_message(const ClientContext&,
                                                    AcceptedMessage message) = 0;
};

// Counts AUTH failures per remote address across connections: past
// auth_failures_before_delay each failure is answered after a growing delay; at
// auth_failures_before_lockout the address is locked out for auth_lockout. Failures are
// forgotten auth_lockout after the last one (a success does not reset them: an attacker with
// one valid account must not be able to clear its count). Thread-safe; time is passed in.
class AuthThrottle {
  public:
    using Clock = std::chrono::steady_clock;
    struct Verdict {
        std::chrono::milliseconds delay{0}; // wait this long before answering 535
        bool lockout = false;               // answer 421 and close instead
    };
    explicit AuthThrottle(const ServerLimits& limits);
    bool locked_out(const asio::ip::address& remote, Clock::time_point now);
    Verdict record_failure(const asio::ip::address& remote, Clock::time_point now);
    size_t tracked_addresses() const;

  private:
    struct Entry {
        int failures = 0;
        Clock::time_point last_failure;
        Clock::time_point locked_until;
    };
    void forget_expired(Clock::time_point now);

    int before_delay_;
    int before_lockout_;
    std::chrono::seconds lockout_;
    std::chrono::milliseconds step_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_; // by address text
};

class Server {
  public:
    // tls may be null only for Inbound (then STARTTLS is not offered). The handler must
    // outlive every session (stop() the server and let the io_context drain first).
    Server(asio::any_io_executor ex, asio::ip::tcp::endpoint listen, ListenerKind kind,
           std::string hostname, std::shared_ptr<asio::ssl::context> tls, Handler& handler,
           ServerLimits limits = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start(); // binds (throws std::system_error on failure) and accepts in a coroutine
    // Stops accepting and closes live sessions. Thread-safe: the work runs on the executor, so
    // it has happened once the io_context has run the handlers queued before this call returns.
    void stop();
    uint16_t port() const; // the bound port (listen port 0 picks one)
    size_t active_sessions() const;
    size_t buffered_bytes() const; // DATA bytes held by sessions right now

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

} // namespace ar::smtp
