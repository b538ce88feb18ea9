// client.cpp: the SMTP client dialogue, written in the order RFC 5321 gives it.
#include "smtp/client.h"
#include "mime/encoding.h"

#include <openssl/evp.h>

#include <algorithm>

namespace ar::smtp {
namespace {

using std::chrono::milliseconds;

ar::Error unavailable(std::string message) {
    return ar::Error{ar::kErrUnavailable, std::move(message), ""};
}

// A negative reply during the introduction: 5xx is permanent, anything else transient.
ar::Error refused(std::string_view stage, const Reply& reply) {
    return ar::Error{reply.permanent() ? ar::kErrInvalid : ar::kErrUnavailable,
                     std::string(stage) + " " + reply.to_string(), ""};
}

std::string format_peer(const asio::ip::tcp::endpoint& endpoint) {
    const std::string address = endpoint.address().to_string();
    const std::string port = std::to_string(endpoint.port());
    return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

std::string base64(std::string_view data) { return mime::base64_encode(data); }

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A path that could break the command line it goes into: control characters (CR, LF), angle
// brackets, or more than a line's worth of octets.
bool unsafe_path(std::string_view path) {
    if (path.size() > 900) return true;
    return std::any_of(path.begin(), path.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b < 0x20 || b == 0x7F || c == '<' || c == '>';
    });
}

// A 421 to one RCPT ends the transaction for every recipient (RFC 5321 3.8).
Reply cut_short(const Reply& closing) {
    return make_reply(451, "4.4.2", "transaction cut short by " + closing.to_string());
}

// RFC 6531: the flag, or any address that is not ASCII.
bool needs_smtputf8(const Envelope& envelope) {
    return envelope.smtputf8 || !is_ascii(envelope.mail_from) ||
           std::any_of(envelope.recipients.begin(), envelope.recipients.end(),
                       [](const std::string& r) { return !is_ascii(r); });
}

bool valid_helo_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

} // namespace

Session::Session(asio::ip::tcp::socket socket, std::string server_name, ClientOptions options)
    : io_(std::move(socket)), options_(std::move(options)) {
    info_.server_name = std::move(server_name);
}

// ---- Opening: greeting, EHLO, STARTTLS, EHLO, AUTH -----------------------------------------

asio::awaitable<ar::Result<std::unique_ptr<Session>>>
Session::open(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint, std::string server_name,
              ClientOptions options, asio::ssl::context& tls_context) {
    if (!valid_helo_name(options.helo_name))
        co_return ar::invalid("helo_name", "helo_name must be a host name of 1-255 printable "
                                           "ASCII characters without spaces");
    const std::string peer = format_peer(endpoint);
    const std::string where = server_name + " (" + peer + ")";
    asio::ip::tcp::socket socket(ex);
    auto connected =
        co_await with_timeout(socket.async_connect(endpoint, use_tuple), options.timeouts.connect);
    if (!connected) co_return unavailable("timeout connecting to " + where);
    if (auto [ec] = *connected; ec)
        co_return unavailable("cannot connect to " + where + ": " + ec.message());

    std::unique_ptr<Session> session(
        new Session(std::move(socket), std::move(server_name), std::move(options)));
    session->info_.peer = peer;
    auto introduced = co_await session->introduce(tls_context);
    if (!introduced) {
        co_await session->quit();
        co_return introduced.error();
    }
    session->usable_ = true;
    co_return std::move(session);
}

asio::awaitable<ar::Status> Session::introduce(asio::ssl::context& tls_context) {
    const Timeouts& t = options_.timeouts;
    auto greeting = co_await read_reply("greeting", t.greeting);
    if (!greeting) co_return greeting.error();
    if (!greeting->positive()) co_return refused("greeting", *greeting);

    auto offered = co_await hello();
    if (!offered) co_return offered.error();

    bool want_tls = offered->starttls || options_.tls != TlsMode::Opportunistic;
    if (options_.tls != TlsMode::Plain && want_tls) {
        if (auto secured = co_await start_tls(tls_context, *offered); !secured) co_return secured;
        // RFC 3207 4.2: forget what was said in plain text and ask again.
        if (io_.tls()) offered = co_await hello();
        if (!offered) co_return offered.error();
    }

    info_.greeting = offered->greeting;
    info_.pipelining = offered->pipelining;
    info_.smtputf8 = offered->smtputf8;
    info_.eight_bit_mime = offered->eight_bit_mime;
    info_.enhanced_codes = offered->enhanced_codes;
    info_.size = offered->size;
    info_.size_limit = offered->size_limit;

    if (options_.auth) co_return co_await authenticate(*offered);
    co_return ar::Ok{};
}

// EHLO, or HELO if the server refuses EHLO with 5xx (RFC 5321 4.1.4, 3.2).
asio::awaitable<ar::Result<EhloExtensions>> Session::hello() {
    const milliseconds timeout = options_.timeouts.ehlo;
    auto ehlo = co_await command("EHLO " + options_.helo_name + "\r\n", "EHLO", timeout);
    if (!ehlo) co_return ehlo.error();
    if (ehlo->positive()) co_return parse_ehlo(*ehlo);
    if (!ehlo->permanent()) co_return refused("EHLO", *ehlo);

    auto helo = co_await command("HELO " + options_.helo_name + "\r\n", "HELO", timeout);
    if (!helo) co_return helo.error();
    if (!helo->positive()) co_return refused("HELO", *helo);
    EhloExtensions none;
    none.greeting = helo->lines.empty() ? "" : helo->lines.front();
    co_return none;
}

asio::awaitable<ar::Status> Session::start_tls(asio::ssl::context& tls_context,
                                               const EhloExtensions& offered) {
    const bool required = options_.tls != TlsMode::Opportunistic;
    const std::string& name = info_.server_name;
    if (!offered.starttls)
        co_return unavailable(name + " does not offer STARTTLS, and TLS is required");

    auto reply = co_await command("STARTTLS\r\n", "STARTTLS", options_.timeouts.ehlo);
    if (!reply) co_return reply.error();
    if (reply->code / 100 != 2) {
        if (required || reply->code == 421)
            co_return unavailable("STARTTLS " + reply->to_string() + " (TLS is required)");
        co_return ar::Ok{}; // opportunistic: carry on in plain text
    }

    auto secured = co_await io_.start_tls(tls_context, name, options_.tls == TlsMode::Verify,
                                          options_.timeouts.ehlo);
    if (!secured) {
        broken_ = true;
        const std::string cause = io_.timed_out() ? "timeout" : secured.error().message;
        ar::Error e = unavailable("STARTTLS with " + name + ": " + cause);
        e.field = "starttls";  // the handshake itself failed: see TlsMode::Plain
        co_return e;
    }
    info_.tls_version = io_.tls_version();
    info_.cipher = io_.tls_cipher();
    co_return ar::Ok{};
}

// AUTH PLAIN (RFC 4616) or LOGIN, only over TLS: the password never crosses in plain text.
asio::awaitable<ar::Status> Session::authenticate(const EhloExtensions& offered) {
    const std::string& name = info_.server_name;
    if (!io_.tls())
        co_return unavailable("AUTH with " + name + " needs TLS, and the session is not encrypted");
    const auto& [user, password] = *options_.auth;
    const milliseconds timeout = options_.timeouts.ehlo;

    ar::Result<Reply> reply = ar::Error{};
    if (offered.has_auth("PLAIN")) {
        const std::string token = base64(std::string(1, '\0') + user + '\0' + password);
        reply = co_await command("AUTH PLAIN " + token + "\r\n", "AUTH", timeout);
        if (reply && reply->code == 334) reply = co_await command(token + "\r\n", "AUTH", timeout);
    } else if (offered.has_auth("LOGIN")) {
        reply = co_await command("AUTH LOGIN\r\n", "AUTH", timeout);
        if (reply && reply->code == 334)
            reply = co_await command(base64(user) + "\r\n", "AUTH", timeout);
        if (reply && reply->code == 334)
            reply = co_await command(base64(password) + "\r\n", "AUTH", timeout);
    } else {
        co_return unavailable(name + " offers neither AUTH PLAIN nor AUTH LOGIN");
    }
    if (!reply) co_return reply.error();
    if (reply->code != 235) co_return unavailable("AUTH " + reply->to_string());
    info_.authenticated = true;
    co_return ar::Ok{};
}

// ---- One mail transaction: MAIL, RCPT..., DATA ---------------------------------------------

asio::awaitable<TransactionResult> Session::send(const Envelope& envelope,
                                                 std::string_view message) {
    TransactionResult result;
    result.recipient_replies.resize(envelope.recipients.size());
    try {
        co_await transact(envelope, message, result);
    } catch (const std::exception& e) {
        broken_ = true;
        result.local_failure = make_reply(451, "4.3.0", std::string("internal error: ") + e.what());
    }
    result.session_usable = usable();
    co_return result;
}

asio::awaitable<void> Session::transact(const Envelope& envelope, std::string_view message,
                                        TransactionResult& result) {
    const Timeouts& t = options_.timeouts;
    const std::string& name = info_.server_name;

    // Refusals we can decide before saying anything.
    if (!usable()) {
        result.local_failure =
            make_reply(451, "4.4.2", "the connection to " + name + " is no longer usable");
        co_return;
    }
    if (auto refusal = refuse_locally(envelope, message)) {
        result.local_failure = std::move(refusal);
        co_return;
    }
    const std::string mail = mail_command(envelope, message.size());
    auto rcpt = [](const std::string& path) { return "RCPT TO:<" + path + ">\r\n"; };
    size_t accepted = 0;
    std::optional<Reply> go_ahead; // the reply to DATA

    if (info_.pipelining) {
        // RFC 2920: the whole envelope and DATA in one write, the replies read in order.
        std::string batch = mail;
        for (const auto& recipient : envelope.recipients)
            batch += rcpt(recipient);
        batch += "DATA\r\n";
        if (auto sent = co_await write(batch, "MAIL", t.mail); !sent) {
            result.local_failure = lost(sent.error());
            co_return;
        }
        auto mail_reply = co_await read_reply("MAIL", t.mail);
        if (!mail_reply) {
            result.local_failure = lost(mail_reply.error());
            co_return;
        }
        result.mail_reply = std::move(*mail_reply);
        if (result.mail_reply->code == 421) co_return;
        const bool mail_ok = result.mail_reply->positive();
        for (size_t i = 0; i < envelope.recipients.size(); ++i) {
            auto reply = co_await read_reply("RCPT", t.rcpt);
            if (!reply) {
                result.local_failure = lost(reply.error());
                co_return;
            }
            // After a refused MAIL these replies are only "503 need MAIL": not recorded.
            if (!mail_ok && reply->code != 421) continue;
            if (reply->positive()) ++accepted;
            const bool closing = reply->code == 421;
            result.recipient_replies[i] = std::move(*reply);
            if (closing) {
                result.local_failure = cut_short(*result.recipient_replies[i]);
                co_return;
            }
        }
        auto data = co_await read_reply("DATA", t.data_init);
        if (!data) {
            result.local_failure = lost(data.error());
            co_return;
        }
        go_ahead = std::move(*data);
    } else {
        auto mail_reply = co_await command(mail, "MAIL", t.mail);
        if (!mail_reply) {
            result.local_failure = lost(mail_reply.error());
            co_return;
        }
        result.mail_reply = std::move(*mail_reply);
        if (!result.mail_reply->positive()) co_return;
        for (size_t i = 0; i < envelope.recipients.size(); ++i) {
            auto reply = co_await command(rcpt(envelope.recipients[i]), "RCPT", t.rcpt);
            if (!reply) {
                result.local_failure = lost(reply.error());
                co_return;
            }
            if (reply->positive()) ++accepted;
            const bool closing = reply->code == 421;
            result.recipient_replies[i] = std::move(*reply);
            if (closing) {
                result.local_failure = cut_short(*result.recipient_replies[i]);
                co_return;
            }
        }
        if (accepted == 0) {
            co_await reset();
            co_return;
        }
        auto data = co_await command("DATA\r\n", "DATA", t.data_init);
        if (!data) {
            result.local_failure = lost(data.error());
            co_return;
        }
        go_ahead = std::move(*data);
    }

    if (go_ahead->code != 354) {
        if (accepted > 0 || go_ahead->code == 421) result.data_reply = std::move(go_ahead);
        if (usable() && result.mail_reply->positive()) co_await reset();
        co_return;
    }
    if (accepted == 0) {
        // A pipelining server invited data for no recipient: end it with an empty body
        // (RFC 2920 3.1) rather than deliver the message to nobody.
        auto ended = co_await command(".\r\n", "end of DATA", t.data_end);
        if (!ended) result.local_failure = lost(ended.error());
        co_return;
    }
    co_await send_body(message, result);
}

asio::awaitable<void> Session::send_body(std::string_view message, TransactionResult& result) {
    const Timeouts& t = options_.timeouts;
    DotStuffer body(message);
    std::string piece;
    piece.reserve(std::min(message.size() + 8, kDataChunk + 8));
    while (body.next(piece)) {
        auto sent = co_await io_.write(piece, t.data_block);
        if (!sent) {
            broken_ = true;
            result.local_failure = make_reply(451, "4.4.2",
                                              io_.timed_out() ? "timeout sending message data"
                                                              : "connection lost during DATA: " +
                                                                    sent.error().message);
            co_return;
        }
    }
    auto reply = co_await read_reply("end of DATA", t.data_end);
    if (reply) {
        result.data_reply = std::move(*reply);
        co_return;
    }
    const bool malformed = reply.error().code == ar::kErrInvalid;
    result.local_failure =
        malformed || io_.timed_out()
            ? lost(reply.error())
            : make_reply(451, "4.4.2", "connection lost during DATA: " + reply.error().message);
}

// RSET after an unfinished transaction, so the next one starts clean (RFC 5321 4.1.1.5).
asio::awaitable<void> Session::reset() {
    auto reply = co_await command("RSET\r\n", "RSET", options_.timeouts.mail);
    if (reply && !reply->positive()) broken_ = true;
}

asio::awaitable<void> Session::quit() {
    if (!broken_ && io_.socket().is_open()) {
        const milliseconds timeout = options_.timeouts.quit;
        if (auto sent = co_await io_.write("QUIT\r\n", timeout); sent) {
            auto ignored = co_await read_reply("QUIT", timeout);
            (void)ignored;
        }
    }
    io_.close();
    broken_ = true;
    usable_ = false;
}

// ---- Lines and replies ---------------------------------------------------------------------

// What we can refuse before saying anything: the server's extensions tell us enough.
std::optional<Reply> Session::refuse_locally(const Envelope& envelope,
                                             std::string_view message) const {
    if (envelope.recipients.empty()) return make_reply(554, "5.5.1", "no recipients");
    if (unsafe_path(envelope.mail_from))
        return make_reply(553, "5.1.7", "invalid sender address syntax");
    for (const auto& recipient : envelope.recipients)
        if (recipient.empty() || unsafe_path(recipient))
            return make_reply(553, "5.1.3", "invalid recipient address syntax");
    if (needs_smtputf8(envelope) && !info_.smtputf8)
        return make_reply(554, "5.6.7", "SMTPUTF8 not supported by " + info_.server_name);
    if (info_.size_limit && message.size() > *info_.size_limit)
        return make_reply(552, "5.3.4",
                          "message size exceeds fixed maximum message size (" +
                              std::to_string(message.size()) + " > " +
                              std::to_string(*info_.size_limit) + " octets at " +
                              info_.server_name + ")");
    return std::nullopt;
}

std::string Session::mail_command(const Envelope& envelope, size_t message_size) const {
    const bool utf8 = needs_smtputf8(envelope);
    std::string line = "MAIL FROM:<" + envelope.mail_from + ">";
    if (info_.size) line += " SIZE=" + std::to_string(message_size);          // RFC 1870
    if (envelope.eight_bit && info_.eight_bit_mime) line += " BODY=8BITMIME"; // RFC 6152
    if (utf8) line += " SMTPUTF8";                                            // RFC 6531
    return line + "\r\n";
}

asio::awaitable<ar::Status> Session::write(std::string_view data, std::string_view what,
                                           milliseconds timeout) {
    auto sent = co_await io_.write(data, timeout);
    if (sent) co_return ar::Ok{};
    broken_ = true;
    if (io_.timed_out()) co_return unavailable("timeout sending " + std::string(what));
    co_return unavailable("connection lost sending " + std::string(what) + ": " +
                          sent.error().message);
}

asio::awaitable<ar::Result<Reply>> Session::command(std::string_view line, std::string_view what,
                                                    milliseconds timeout) {
    if (auto sent = co_await write(line, what, timeout); !sent) co_return sent.error();
    co_return co_await read_reply(what, timeout);
}

// One whole reply, however many lines, within the timeout. A 421 means the server is closing
// the connection (RFC 5321 3.8); any failure leaves the conversation out of step.
asio::awaitable<ar::Result<Reply>> Session::read_reply(std::string_view what,
                                                       milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    ReplyParser parser;
    for (;;) {
        const auto left =
            std::max(milliseconds(0),
                     std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now()));
        auto line = co_await io_.read_line(left);
        if (!line) {
            broken_ = true;
            if (io_.timed_out())
                co_return unavailable("timeout waiting for " + std::string(what) + " reply");
            co_return unavailable("connection lost waiting for " + std::string(what) +
                                  " reply: " + line.error().message);
        }
        auto fed = parser.feed(*line);
        if (!fed) {
            broken_ = true;
            co_return ar::Error{ar::kErrInvalid,
                                "malformed " + std::string(what) + " reply: " + fed.error().message,
                                ""};
        }
        if (!fed->has_value()) continue;
        Reply reply = std::move(**fed);
        if (reply.code == 421) broken_ = true;
        co_return reply;
    }
}

// A failure to get a reply, phrased as a local one: 4.5.0 for a protocol error, else 4.4.2.
Reply Session::lost(const ar::Error& error) {
    broken_ = true;
    return make_reply(451, error.code == ar::kErrInvalid ? "4.5.0" : "4.4.2", error.message);
}

} // namespace ar::smtp
