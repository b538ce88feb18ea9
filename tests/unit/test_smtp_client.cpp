// Tests of the SMTP client against a real receiver (tests/unit/smtp_receiver.py, aiosmtpd)
// on loopback, and of the DATA dot-stuffing.
#include "smtp/client.h"
#include "smtp/line_io.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "smtp_receiver.h"

using namespace ar::smtp;
using test_support::Receiver;
using std::chrono::milliseconds;

namespace {

ClientOptions quick_options(TlsMode tls = TlsMode::Opportunistic) {
    ClientOptions options;
    options.helo_name = "client.test";
    options.tls = tls;
    const milliseconds t(5000);
    options.timeouts = Timeouts{t, t, t, t, t, t, t, t, t};
    return options;
}

// Runs one coroutine on a fresh io_context to completion; exceptions (a failed REQUIRE
// inside) come back out.
template <class F> void run(F&& scenario) {
    asio::io_context io;
    auto done = asio::co_spawn(io, scenario(io.get_executor()), asio::use_future);
    io.run();
    done.get();
}

asio::awaitable<std::unique_ptr<Session>> open_ok(asio::any_io_executor ex,
                                                  const Receiver& receiver, asio::ssl::context& tls,
                                                  ClientOptions options = quick_options()) {
    auto session =
        co_await Session::open(ex, receiver.endpoint(), "localhost", std::move(options), tls);
    INFO((session.ok() ? std::string() : session.error().message));
    REQUIRE(session.ok());
    co_return std::move(*session);
}

const std::string kMessage = "From: a@sender.test\r\nTo: b@x.test\r\nSubject: hi\r\n\r\nHello.\r\n";

Envelope envelope(std::vector<std::string> recipients, std::string from = "a@sender.test") {
    Envelope e;
    e.mail_from = std::move(from);
    e.recipients = std::move(recipients);
    return e;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string reply_of(const std::optional<Reply>& r) {
    return r ? r->to_string() : "(none)";
}

// Dot-stuffing done the simple way, over the whole message: the reference for DotStuffer.
std::string stuffed_reference(std::string_view message) {
    std::string normal;
    for (size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
        if (message[i] == '\r' || message[i] == '\n') {
            normal += "\r\n";
            continue;
        }
        normal += message[i];
    }
    if (!normal.empty() && (normal.size() < 2 || normal.substr(normal.size() - 2) != "\r\n"))
        normal += "\r\n";
    std::string out;
    bool start = true;
    for (size_t i = 0; i < normal.size(); ++i) {
        if (start && normal[i] == '.') out += '.';
        out += normal[i];
        start = normal[i] == '\n';
    }
    return out + ".\r\n";
}

} // namespace

TEST_CASE("DotStuffer stuffs dots and normalizes line ends in any piece size",
          "[smtp_client][dot_stuffing]") {
    const std::vector<std::string> messages = {
        "",
        "x",
        ".",
        "a\r\n.\r\nb\r\n",
        ".start\r\n..two\r\nmid.dot\r\n.\r\n",
        "bare\nlf\n.dot after lf\n",
        "bare\rcr\r.dot after cr",
        "smuggle\n.\r\nMAIL FROM:<x>\r\n",
        "no final line end\r\n.last",
        "\r\n\r\n.\r\n",
        "trailing cr\r",
    };
    for (const auto& message : messages) {
        for (size_t max : {1, 2, 3, 5, 7, 64, 65536}) {
            DotStuffer stuffer(message);
            std::string piece, all;
            int pieces = 0;
            while (stuffer.next(piece, max)) {
                all += piece;
                REQUIRE(++pieces < 10000);
            }
            CHECK(piece.empty());
            INFO("message: " << message << " max " << max);
            CHECK(all == stuffed_reference(message));
        }
    }
}

TEST_CASE("DotStuffer writes a big message in bounded pieces", "[smtp_client][dot_stuffing]") {
    std::string message;
    for (int i = 0; i < 20000; ++i)
        message += (i % 3 == 0 ? ".line " : "line ") + std::to_string(i) + "\r\n";
    DotStuffer stuffer(message);
    std::string piece, all;
    size_t pieces = 0;
    while (stuffer.next(piece)) {
        CHECK(piece.size() <= kDataChunk + 5);
        all += piece;
        ++pieces;
    }
    CHECK(pieces > 2);
    CHECK(all == stuffed_reference(message));
}

TEST_CASE("SMTP client: a pipelined transaction is delivered", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        const SessionInfo& info = session->info();
        CHECK(info.pipelining);
        CHECK(info.smtputf8);
        CHECK(info.eight_bit_mime);
        CHECK(info.enhanced_codes);
        CHECK(info.size_limit == std::optional<size_t>(10 * 1024 * 1024));
        CHECK(info.peer == "127.0.0.1:" + std::to_string(receiver.endpoint().port()));
        CHECK(info.tls_version.empty());
        CHECK(contains(info.greeting, "mx.test"));

        auto e = envelope({"one@x.test", "two@x.test"});
        e.eight_bit = true;
        auto result = co_await session->send(e, kMessage);
        INFO(reply_of(result.local_failure));
        REQUIRE_FALSE(result.local_failure);
        CHECK(reply_of(result.mail_reply) == "250 2.1.0 OK");
        REQUIRE(result.recipient_replies.size() == 2);
        CHECK(reply_of(result.recipient_replies[0]) == "250 2.1.5 OK");
        CHECK(reply_of(result.recipient_replies[1]) == "250 2.1.5 OK");
        REQUIRE(result.data_reply);
        CHECK(result.data_reply->code == 250);
        CHECK(result.session_usable);
        co_await session->quit();
        CHECK_FALSE(session->usable());
    });
    auto messages = receiver.messages();
    REQUIRE(messages.size() == 1);
    const auto& env = messages[0].envelope;
    CHECK(env["pipelined"] == true);
    CHECK(env["mail_from"] == "a@sender.test");
    CHECK(env["rcpt_tos"] == nlohmann::json::array({"one@x.test", "two@x.test"}));
    CHECK(env["mail_options"] ==
          nlohmann::json::array({"SIZE=" + std::to_string(kMessage.size()), "BODY=8BITMIME"}));
    CHECK(messages[0].data == kMessage);
}

TEST_CASE("SMTP client: recipients refused and deferred, the others delivered", "[smtp_client]") {
    const bool pipelining = GENERATE(true, false);
    INFO("pipelining " << pipelining);
    Receiver receiver(pipelining ? std::vector<std::string>{}
                                 : std::vector<std::string>{"--no-pipelining"});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        CHECK(session->info().pipelining == pipelining);
        const Envelope result_envelope =
            envelope({"one@x.test", "unknown@x.test", "defer@x.test", "two@x.test"});
        auto result = co_await session->send(result_envelope, kMessage);
        REQUIRE(result.recipient_replies.size() == 4);
        CHECK(reply_of(result.recipient_replies[0]) == "250 2.1.5 OK");
        CHECK(reply_of(result.recipient_replies[1]) == "550 5.1.1 user unknown");
        CHECK(result.recipient_replies[1]->permanent());
        CHECK(reply_of(result.recipient_replies[2]) == "451 4.2.1 mailbox busy, try later");
        CHECK(result.recipient_replies[2]->transient());
        CHECK(reply_of(result.recipient_replies[3]) == "250 2.1.5 OK");
        REQUIRE(result.data_reply);
        CHECK(result.data_reply->positive());
        CHECK_FALSE(result.local_failure);
        CHECK(result.session_usable);

        // No recipient accepted: no message, RSET, and the session is still good.
        const Envelope none_envelope = envelope({"unknown@x.test", "defer@x.test"});
        auto none = co_await session->send(none_envelope, kMessage);
        CHECK(reply_of(none.recipient_replies[0]) == "550 5.1.1 user unknown");
        CHECK(reply_of(none.recipient_replies[1]) == "451 4.2.1 mailbox busy, try later");
        CHECK_FALSE(none.data_reply);
        CHECK_FALSE(none.local_failure);
        CHECK(none.session_usable);

        const Envelope after_envelope = envelope({"three@x.test"});
        auto after = co_await session->send(after_envelope, kMessage);
        CHECK(reply_of(after.data_reply).rfind("250 2.0.0", 0) == 0);
        co_await session->quit();
    });
    auto messages = receiver.messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[0].envelope["rcpt_tos"] == nlohmann::json::array({"one@x.test", "two@x.test"}));
    CHECK(messages[1].envelope["rcpt_tos"] == nlohmann::json::array({"three@x.test"}));
}

TEST_CASE("SMTP client: MAIL refused", "[smtp_client]") {
    const bool pipelining = GENERATE(true, false);
    INFO("pipelining " << pipelining);
    Receiver receiver(pipelining ? std::vector<std::string>{}
                                 : std::vector<std::string>{"--no-pipelining"});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        const Envelope result_envelope = envelope({"one@x.test", "two@x.test"}, "reject@x.test");
        auto result = co_await session->send(result_envelope, kMessage);
        CHECK(reply_of(result.mail_reply) == "550 5.7.1 sender refused");
        REQUIRE(result.recipient_replies.size() == 2);
        CHECK_FALSE(result.recipient_replies[0]);
        CHECK_FALSE(result.recipient_replies[1]);
        CHECK_FALSE(result.data_reply);
        CHECK_FALSE(result.local_failure);
        CHECK(result.session_usable);
        // The conversation is still in step: the next transaction goes through.
        const Envelope next_envelope = envelope({"one@x.test"});
        auto next = co_await session->send(next_envelope, kMessage);
        REQUIRE(next.data_reply);
        CHECK(next.data_reply->code == 250);
    });
    CHECK(receiver.messages().size() == 1);
}

TEST_CASE("SMTP client: DATA refused after the final dot", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        const Envelope result_envelope = envelope({"one@x.test"});
        auto result = co_await session->send(result_envelope, "X-Test: reject-554\r\n\r\nspam\r\n");
        CHECK(reply_of(result.data_reply) == "554 5.7.1 rejected by content filter");
        CHECK(result.data_reply->permanent());
        CHECK_FALSE(result.local_failure);
        CHECK(result.session_usable);
    });
    CHECK(receiver.messages().empty());
}

TEST_CASE("SMTP client: connection dropped during DATA", "[smtp_client]") {
    Receiver receiver({"--mode", "drop-data"});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        std::string big = "Subject: big\r\n\r\n";
        while (big.size() < 2 * 1024 * 1024)
            big += std::string(76, 'x') + "\r\n";
        const Envelope result_envelope = envelope({"one@x.test"});
        auto result = co_await session->send(result_envelope, big);
        REQUIRE(result.local_failure);
        INFO(result.local_failure->to_string());
        CHECK(result.local_failure->code == 451);
        CHECK(result.local_failure->enhanced == "4.4.2");
        CHECK(contains(result.local_failure->text(), "connection lost during DATA"));
        CHECK_FALSE(result.data_reply);
        CHECK_FALSE(result.session_usable);
        CHECK_FALSE(session->usable());
        // A broken session refuses further transactions without touching the network.
        const Envelope again_envelope = envelope({"one@x.test"});
        auto again = co_await session->send(again_envelope, kMessage);
        REQUIRE(again.local_failure);
        CHECK(again.local_failure->code == 451);
    });
}

TEST_CASE("SMTP client: a 421 to RCPT ends the transaction and the session", "[smtp_client]") {
    const bool pipelining = GENERATE(true, false);
    INFO("pipelining " << pipelining);
    Receiver receiver(pipelining ? std::vector<std::string>{}
                                 : std::vector<std::string>{"--no-pipelining"});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        const Envelope e = envelope({"one@x.test", "close421@x.test", "two@x.test"});
        auto result = co_await session->send(e, kMessage);
        CHECK(reply_of(result.recipient_replies[0]) == "250 2.1.5 OK");
        CHECK(reply_of(result.recipient_replies[1]) == "421 4.3.2 shutting down");
        CHECK_FALSE(result.recipient_replies[2]);
        CHECK(reply_of(result.local_failure) ==
              "451 4.4.2 transaction cut short by 421 4.3.2 shutting down");
        CHECK_FALSE(result.data_reply);
        CHECK_FALSE(result.session_usable);
    });
    CHECK(receiver.messages().empty());
}

TEST_CASE("SMTP client: a stalled server times out", "[smtp_client]") {
    const bool pipelining = GENERATE(true, false);
    INFO("pipelining " << pipelining);
    Receiver receiver(pipelining ? std::vector<std::string>{}
                                 : std::vector<std::string>{"--no-pipelining"});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto options = quick_options();
        options.timeouts.rcpt = milliseconds(300);
        auto session = co_await open_ok(ex, receiver, tls, options);
        const auto start = std::chrono::steady_clock::now();
        const Envelope result_envelope = envelope({"one@x.test", "stall@x.test"});
        auto result = co_await session->send(result_envelope, kMessage);
        const auto took = std::chrono::steady_clock::now() - start;
        REQUIRE(result.local_failure);
        CHECK(result.local_failure->to_string() == "451 4.4.2 timeout waiting for RCPT reply");
        CHECK(reply_of(result.recipient_replies[0]) == "250 2.1.5 OK");
        CHECK_FALSE(result.recipient_replies[1]);
        CHECK_FALSE(result.session_usable);
        CHECK(took >= milliseconds(300));
        CHECK(took < milliseconds(4000));
        co_await session->quit();
    });
}

TEST_CASE("SMTP client: STARTTLS", "[smtp_client]") {
    Receiver receiver({"--tls"});
    const std::string cert = receiver.dir() + "/cert.pem";

    SECTION("Opportunistic accepts a self-signed certificate") {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        tls.set_default_verify_paths();
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await open_ok(ex, receiver, tls);
            CHECK(session->info().tls_version.rfind("TLSv1.", 0) == 0);
            CHECK_FALSE(session->info().cipher.empty());
            const Envelope result_envelope = envelope({"one@x.test"});
            auto result = co_await session->send(result_envelope, kMessage);
            REQUIRE(result.data_reply);
            CHECK(result.data_reply->code == 250);
            co_await session->quit();
        });
        auto messages = receiver.messages();
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].envelope["tls"] == true);
        CHECK(messages[0].data == kMessage);
    }
    SECTION("Required accepts a self-signed certificate") {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await open_ok(ex, receiver, tls, quick_options(TlsMode::Required));
            CHECK_FALSE(session->info().tls_version.empty());
        });
    }
    SECTION("a failed handshake is an error in Opportunistic mode too") {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        // Nothing the server can agree to: TLS 1.2 at most, with null ciphers only.
        SSL_CTX_set_max_proto_version(tls.native_handle(), TLS1_2_VERSION);
        SSL_CTX_set_cipher_list(tls.native_handle(), "eNULL");
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session =
                co_await Session::open(ex, receiver.endpoint(), "localhost", quick_options(), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrUnavailable);
            INFO(session.error().message);
            CHECK(contains(session.error().message, "STARTTLS with localhost: TLS handshake"));
        });
    }
    SECTION("Verify refuses an untrusted certificate") {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        tls.set_default_verify_paths();
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await Session::open(ex, receiver.endpoint(), "localhost",
                                                  quick_options(TlsMode::Verify), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrUnavailable);
            INFO(session.error().message);
            CHECK(contains(session.error().message, "STARTTLS with localhost"));
            CHECK(contains(session.error().message, "certificate"));
        });
        CHECK(receiver.messages().empty());
    }
    SECTION("Verify accepts a trusted certificate for the right name only") {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        tls.load_verify_file(cert);
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto good = co_await Session::open(ex, receiver.endpoint(), "localhost",
                                               quick_options(TlsMode::Verify), tls);
            INFO((good.ok() ? std::string() : good.error().message));
            REQUIRE(good.ok());
            CHECK_FALSE((*good)->info().tls_version.empty());
            co_await (*good)->quit();

            auto wrong = co_await Session::open(ex, receiver.endpoint(), "wrong.example",
                                                quick_options(TlsMode::Verify), tls);
            REQUIRE_FALSE(wrong.ok());
            CHECK(wrong.error().code == ar::kErrUnavailable);
        });
    }
}

TEST_CASE("SMTP client: Required TLS against a server without STARTTLS", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    for (TlsMode mode : {TlsMode::Required, TlsMode::Verify}) {
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await Session::open(ex, receiver.endpoint(), "localhost",
                                                  quick_options(mode), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrUnavailable);
            CHECK(session.error().message ==
                  "localhost does not offer STARTTLS, and TLS is required");
        });
    }
}

TEST_CASE("SMTP client: dot-stuffing and line ends arrive intact", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    std::string big = "Subject: dots\r\n\r\n";
    for (int i = 0; big.size() < 300000; ++i)
        big += (i % 2 ? "." : "..") + std::string(static_cast<size_t>(i % 90), 'd') + "\r\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle.\r\n.\r\n",
         "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle.\r\n.\r\n"},
        {"Subject: lf\n\nbare\n.\nend", "Subject: lf\r\n\r\nbare\r\n.\r\nend\r\n"},
        {big, big},
    };
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        for (const auto& [sent, expected] : cases) {
            const Envelope result_envelope = envelope({"one@x.test"});
            auto result = co_await session->send(result_envelope, sent);
            REQUIRE(result.data_reply);
            CHECK(result.data_reply->code == 250);
        }
    });
    auto messages = receiver.messages();
    REQUIRE(messages.size() == cases.size());
    for (size_t i = 0; i < cases.size(); ++i)
        CHECK(messages[i].data == cases[i].second);
}

TEST_CASE("SMTP client: greetings", "[smtp_client]") {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    SECTION("a 4xx greeting is transient") {
        Receiver receiver({"--mode", "greet421"});
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session =
                co_await Session::open(ex, receiver.endpoint(), "localhost", quick_options(), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrUnavailable);
            CHECK(session.error().message == "greeting 421 4.3.2 busy, try later");
        });
    }
    SECTION("a 5xx greeting is permanent") {
        Receiver receiver({"--mode", "greet554"});
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session =
                co_await Session::open(ex, receiver.endpoint(), "localhost", quick_options(), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrInvalid);
            CHECK(session.error().message == "greeting 554 5.3.2 no service");
        });
    }
    SECTION("EHLO refused: HELO, and a transaction without extensions") {
        Receiver receiver({"--mode", "no-ehlo"});
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await open_ok(ex, receiver, tls);
            CHECK_FALSE(session->info().pipelining);
            CHECK_FALSE(session->info().size);
            const Envelope result_envelope = envelope({"one@x.test"});
            auto result = co_await session->send(result_envelope, kMessage);
            REQUIRE(result.data_reply);
            CHECK(result.data_reply->code == 250);
        });
        auto messages = receiver.messages();
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].envelope["mail_options"].empty());
    }
    SECTION("nobody listening") {
        asio::io_context probe;
        asio::ip::tcp::acceptor acceptor(probe, {asio::ip::make_address("127.0.0.1"), 0});
        const asio::ip::tcp::endpoint closed = acceptor.local_endpoint();
        acceptor.close();
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await Session::open(ex, closed, "localhost", quick_options(), tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().code == ar::kErrUnavailable);
            CHECK(contains(session.error().message, "cannot connect to localhost"));
        });
    }
    SECTION("a bad helo_name is refused before connecting") {
        auto options = quick_options();
        options.helo_name = "bad name\r\nRSET";
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await Session::open(ex, {asio::ip::make_address("127.0.0.1"), 9},
                                                  "localhost", options, tls);
            REQUIRE_FALSE(session.ok());
            CHECK(session.error().field == "helo_name");
        });
    }
}

TEST_CASE("SMTP client: a multi-line reply", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto session = co_await open_ok(ex, receiver, tls);
        const Envelope result_envelope = envelope({"multiline@x.test"});
        auto result = co_await session->send(result_envelope, kMessage);
        REQUIRE(result.recipient_replies[0]);
        const Reply& r = *result.recipient_replies[0];
        CHECK(r.code == 550);
        CHECK(r.enhanced == "5.2.1");
        CHECK(r.lines.size() == 3);
        CHECK(r.to_string() == "550 5.2.1 mailbox disabled second line third line");
        CHECK(result.session_usable);
    });
}

TEST_CASE("SMTP client: SMTPUTF8, SIZE and unsafe addresses decided locally", "[smtp_client]") {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    SECTION("a server without SMTPUTF8") {
        Receiver receiver({"--no-smtputf8", "--size", "1000"});
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await open_ok(ex, receiver, tls);
            CHECK_FALSE(session->info().smtputf8);
            auto e = envelope({"one@x.test"});
            e.smtputf8 = true;
            auto flagged = co_await session->send(e, kMessage);
            CHECK(reply_of(flagged.local_failure) ==
                  "554 5.6.7 SMTPUTF8 not supported by localhost");
            CHECK_FALSE(flagged.mail_reply);
            CHECK(flagged.session_usable);
            // A non-ASCII address needs SMTPUTF8 even when the flag is not set.
            const Envelope utf8_envelope = envelope({"jos\xc3\xa9@x.test"});
            auto utf8 = co_await session->send(utf8_envelope, kMessage);
            CHECK(reply_of(utf8.local_failure) == "554 5.6.7 SMTPUTF8 not supported by localhost");

            const Envelope big_envelope = envelope({"one@x.test"});
            auto big = co_await session->send(big_envelope, std::string(2000, 'x'));
            REQUIRE(big.local_failure);
            CHECK(big.local_failure->code == 552);
            CHECK(big.local_failure->enhanced == "5.3.4");
            CHECK(contains(big.local_failure->text(),
                           "message size exceeds fixed maximum message size"));
            CHECK(big.session_usable);

            const Envelope injected_envelope = envelope({"one@x.test>\r\nRSET"});
            auto injected = co_await session->send(injected_envelope, kMessage);
            CHECK(reply_of(injected.local_failure) == "553 5.1.3 invalid recipient address syntax");
            const Envelope empty_envelope = envelope({});
            auto empty = co_await session->send(empty_envelope, kMessage);
            CHECK(reply_of(empty.local_failure) == "554 5.5.1 no recipients");

            const Envelope fine_envelope = envelope({"one@x.test"});
            auto fine = co_await session->send(fine_envelope, kMessage);
            REQUIRE(fine.data_reply);
            CHECK(fine.data_reply->code == 250);
        });
        CHECK(receiver.messages().size() == 1);
    }
    SECTION("a server with SMTPUTF8") {
        Receiver receiver({});
        run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
            auto session = co_await open_ok(ex, receiver, tls);
            const Envelope result_envelope = envelope({"jos\xc3\xa9@x.test"});
            auto result = co_await session->send(result_envelope, kMessage);
            REQUIRE(result.data_reply);
            CHECK(result.data_reply->code == 250);
        });
        auto messages = receiver.messages();
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].envelope["rcpt_tos"][0] == "jos\xc3\xa9@x.test");
        CHECK(contains(messages[0].envelope["mail_options"].dump(), "SMTPUTF8"));
    }
}

TEST_CASE("SMTP client: AUTH to a smarthost", "[smtp_client]") {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    const std::string mechanisms = GENERATE(std::string("LOGIN,PLAIN"), std::string("LOGIN"));
    INFO("mechanisms " << mechanisms);
    Receiver receiver({"--tls", "--auth", "agent:s3cret", "--auth-mechanisms", mechanisms});
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto options = quick_options(TlsMode::Required);
        options.auth = std::make_pair(std::string("agent"), std::string("s3cret"));
        auto session = co_await open_ok(ex, receiver, tls, options);
        CHECK(session->info().authenticated);
        const Envelope result_envelope = envelope({"one@x.test"});
        auto result = co_await session->send(result_envelope, kMessage);
        REQUIRE(result.data_reply);
        CHECK(result.data_reply->code == 250);
        co_await session->quit();

        options.auth = std::make_pair(std::string("agent"), std::string("wrong"));
        auto refused = co_await Session::open(ex, receiver.endpoint(), "localhost", options, tls);
        REQUIRE_FALSE(refused.ok());
        INFO(refused.error().message);
        CHECK(refused.error().code == ar::kErrUnavailable);
        CHECK(contains(refused.error().message, "AUTH 535"));
    });
    auto messages = receiver.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].envelope["login"] == "agent");
}

TEST_CASE("SMTP client: AUTH is never sent in plain text", "[smtp_client]") {
    Receiver receiver({});
    asio::ssl::context tls(asio::ssl::context::tls_client);
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto options = quick_options();
        options.auth = std::make_pair(std::string("agent"), std::string("s3cret"));
        auto session = co_await Session::open(ex, receiver.endpoint(), "localhost", options, tls);
        REQUIRE_FALSE(session.ok());
        CHECK(session.error().message ==
              "AUTH with localhost needs TLS, and the session is not encrypted");
    });
}
