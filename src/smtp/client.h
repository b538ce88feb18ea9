// client.h: the outbound SMTP client conversation (RFC 5321), one coroutine per dialogue.
//
// Session::open connects and introduces itself: greeting, EHLO (HELO if EHLO is refused with
// 5xx), STARTTLS whenever the server offers it (RFC 3207) and EHLO again, then AUTH when
// configured (a smarthost; only ever over TLS). Session::send runs one mail transaction: MAIL,
// every RCPT, DATA with the dot-stuffed message (RFC 5321 4.5.2), pipelined when the server
// offers PIPELINING (RFC 2920). Every read and write is bounded by the RFC 5321 4.5.3.2
// timeouts of ClientOptions::timeouts (STARTTLS, the TLS handshake and AUTH use `ehlo`, RSET
// uses `mail`). Memory per session is small: a read buffer of at most 4 KB, and while in DATA
// one piece of the dot-stuffed body (64 KB); the message itself is never copied whole.
//
// Error mapping of Session::open (the Error's code):
//   kErrUnavailable (transient: try again later)
//     - connect refused, unreachable or timed out; connection lost or timeout at any step;
//     - a 4xx reply to the greeting, EHLO/HELO or AUTH; any malformed reply;
//     - TLS: handshake failure in any mode (in Opportunistic mode the caller may decide to try
//       again without TLS), certificate or host name verification failure in Verify mode,
//       a server without STARTTLS (or refusing it) in Required/Verify mode: never plain text;
//     - AUTH configured but the session is not encrypted, or no PLAIN/LOGIN offered, or the
//       credentials refused (5xx): a relay configuration problem, so mail waits rather than
//       bounces (Postfix's soft_bounce for SASL).
//   kErrInvalid (permanent: this server will not take mail from us)
//     - a 5xx reply to the greeting, or to both EHLO and HELO.
// The message includes the stage and the reply, e.g. "greeting 421 4.3.2 busy".
//
// Reading a TransactionResult: a recipient is delivered when its RCPT reply and data_reply
// are both positive. Otherwise its outcome is the first of: its own RCPT reply if negative;
// local_failure if set; data_reply; mail_reply (negative when nothing else is set).
//
// A Session is not thread-safe: run it on one thread or on a strand (pass a strand as `ex`).
// The envelope and message given to send() must outlive the co_await.
//
// Send never throws, and leaves the session ready for another transaction or marks it
// unusable (connection lost, timeout, malformed reply, 421 seen).
#pragma once

#include "core/result.h"
#include "smtp/line_io.h"
#include "smtp/reply.h"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ar::smtp {

// Opportunistic: STARTTLS when offered, certificates not checked (self-signed accepted).
// Required: STARTTLS must succeed, certificates not checked. Verify: STARTTLS must succeed and
// the certificate chain (the TLS context's trust store) and host name must check out.
// Plain: never STARTTLS. Only for trying a server again after its TLS handshake failed in
// Opportunistic mode (an open() error with field "starttls"), as Postfix does at level "may".
enum class TlsMode { Opportunistic, Required, Verify, Plain };

struct Timeouts { // RFC 5321 4.5.3.2 defaults; tests shorten them
    std::chrono::milliseconds connect{30000}, greeting{300000}, ehlo{300000}, mail{300000},
        rcpt{300000}, data_init{120000}, data_block{180000}, data_end{600000}, quit{5000};
};

struct ClientOptions {
    std::string helo_name; // our host name for EHLO
    TlsMode tls = TlsMode::Opportunistic;
    Timeouts timeouts;
    // user, password for a smarthost: AUTH PLAIN (or LOGIN) after TLS only
    std::optional<std::pair<std::string, std::string>> auth;
};

struct Envelope {
    std::string mail_from;               // reverse-path, may be empty ("<>")
    std::vector<std::string> recipients; // forward-paths
    bool smtputf8 = false;  // the message or the addresses need SMTPUTF8 (non-ASCII addresses
                            // imply it)
    bool eight_bit = false; // the body has 8-bit octets (BODY=8BITMIME when offered; sent as
                            // is otherwise, as Postfix does)
};

struct TransactionResult {
    std::optional<Reply> mail_reply;
    // One per envelope recipient, in order; nullopt = not reached (or MAIL was refused).
    std::vector<std::optional<Reply>> recipient_replies;
    // The reply after the final dot, or the refusal of the DATA command itself; it applies to
    // the recipients whose RCPT got 2xx.
    std::optional<Reply> data_reply;
    // A failure we decided ourselves, phrased as a reply: 554 5.6.7 SMTPUTF8 not supported,
    // 552 5.3.4 message size exceeds fixed maximum message size, 451 4.4.2 connection lost
    // during DATA, 451 4.4.2 timeout waiting for RCPT reply, 451 4.5.0 malformed reply, ...
    std::optional<Reply> local_failure;
    bool session_usable = false; // the connection may carry another transaction
};

struct SessionInfo {
    std::string peer;        // "ip:port" ("[v6]:port")
    std::string server_name; // the name we connected to (SNI, certificate check, messages)
    std::string greeting;    // the first line of the EHLO/HELO reply: the server's own name
    std::string tls_version; // "" or "TLSv1.3"
    std::string cipher;
    bool pipelining = false, smtputf8 = false, eight_bit_mime = false, enhanced_codes = false;
    bool size = false;                // SIZE advertised: MAIL carries SIZE=
    std::optional<size_t> size_limit; // SIZE's fixed maximum, if any
    bool authenticated = false;
};

class Session {
  public:
    static asio::awaitable<ar::Result<std::unique_ptr<Session>>>
    open(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint, std::string server_name,
         ClientOptions options, asio::ssl::context& tls_context);

    // One mail transaction; see the header comment for reading the result. Never throws.
    asio::awaitable<TransactionResult> send(const Envelope& envelope, std::string_view message);
    asio::awaitable<void> quit(); // QUIT and close, errors ignored
    const SessionInfo& info() const { return info_; }
    bool usable() const { return usable_ && !broken_; }

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

  private:
    Session(asio::ip::tcp::socket socket, std::string server_name, ClientOptions options);

    asio::awaitable<ar::Status> introduce(asio::ssl::context& tls_context);
    asio::awaitable<ar::Result<EhloExtensions>> hello();
    asio::awaitable<ar::Status> start_tls(asio::ssl::context& tls_context,
                                          const EhloExtensions& offered);
    asio::awaitable<ar::Status> authenticate(const EhloExtensions& offered);

    asio::awaitable<ar::Status> write(std::string_view data, std::string_view what,
                                      std::chrono::milliseconds timeout);
    asio::awaitable<ar::Result<Reply>> command(std::string_view line, std::string_view what,
                                               std::chrono::milliseconds timeout);
    asio::awaitable<ar::Result<Reply>> read_reply(std::string_view what,
                                                  std::chrono::milliseconds timeout);
    asio::awaitable<void> transact(const Envelope& envelope, std::string_view message,
                                   TransactionResult& result);
    asio::awaitable<void> send_body(std::string_view message, TransactionResult& result);
    asio::awaitable<void> reset();
    std::optional<Reply> refuse_locally(const Envelope& envelope, std::string_view message) const;
    std::string mail_command(const Envelope& envelope, size_t message_size) const;
    Reply lost(const ar::Error& error);

    LineIo io_;
    ClientOptions options_;
    SessionInfo info_;
    bool usable_ = false; // introduced: ready for transactions
    bool broken_ = false; // out of step, lost, closing (421) or closed: never used again
};

} // namespace ar::smtp
