// The SMTP server engine, driven by independent clients over loopback: swaks, Python's
// smtplib (/usr/bin/python3) and raw sockets for the edge cases. The server runs on an
// io_context in its own thread with a recording test Handler.
#include <catch2/catch.hpp>

#include "smtp/server.h"
#include "smtp/tls.h"
#include "wait_until.h"

#include <arpa/inet.h>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace ar::smtp;
using namespace std::chrono_literals;

namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}
bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

// --- clients --------------------------------------------------------------------------------

struct CommandResult {
    int status = -1;
    std::string output;
};

CommandResult run(const std::string& command) {
    CommandResult r;
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.output.append(buf, n);
    int raw = pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
}

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// One line of output per step: "<code> <text>" (a multi-line reply's lines joined by '|'), "SENT
// <refused>", or "DISCONNECTED".
constexpr const char* kPythonClient = R"PY(
import smtplib, socket, ssl, sys
port, mode, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = []
def emit(code, msg):
    text = msg.decode(errors="replace") if isinstance(msg, bytes) else msg
    out.append("%s %s" % (code, text.replace("\n", "|")))
try:
    if mode == "inject":
        # STARTTLS with a command pipelined behind it in the clear, then NOOP under TLS.
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO inject.example\r\n")
        while not f.readline()[3:4] == b" ":
            pass
        sock.sendall(b"STARTTLS\r\nHELP\r\n")
        emit("", f.readline().strip())
        tls = ctx.wrap_socket(sock)
        tls.sendall(b"NOOP\r\n")
        emit("", tls.makefile("rb").readline().strip())
        print("\n".join(out))
        sys.exit(0)
    if mode == "implicit":
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=20)
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    for step in steps:
        words = step.split(" ")
        try:
            if step == "!ehlo":
                emit(*s.ehlo("python.example"))
            elif step == "!starttls":
                emit(*s.starttls(context=ctx))
            elif words[0] in ("!auth", "!auth-noinit"):
                s.user, s.password = words[2], words[3]
                emit(*s.auth(words[1], getattr(s, "auth_" + words[1].lower()),
                             initial_response_ok=(words[0] == "!auth")))
            elif words[0] == "!sendmail":
                options = words[3:]
                msg = ("Subject: python test\r\n\r\nHello from smtplib\r\n.leading dot\r\n"
                       ).encode()
                refused = s.sendmail(words[1], words[2].split(","), msg, mail_options=options)
                emit("SENT", repr(refused))
            else:
                emit(*s.docmd(step))
        except smtplib.SMTPResponseException as e:
            emit(e.smtp_code, e.smtp_error)
        except smtplib.SMTPRecipientsRefused as e:
            emit("REFUSED", repr(e.recipients))
except smtplib.SMTPServerDisconnected:
    out.append("DISCONNECTED")
print("\n".join(out))
)PY";

// A blocking loopback client for exact byte sequences.
class RawClient {
  public:
    explicit RawClient(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~RawClient() { close(); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return; // the server may have closed; the next read says so
            bytes.remove_prefix(static_cast<size_t>(n));
        }
    }

    // One whole reply (all its lines, CRLFs kept); "" on EOF or after 10 s of silence.
    std::string reply() {
        std::string out;
        while (true) {
            std::string line = read_line();
            if (line.empty()) return out;
            out += line;
            if (line.size() < 4 || line[3] == ' ') return out;
        }
    }

    std::string cmd(std::string_view line) {
        send(std::string(line) + "\r\n");
        return reply();
    }

    // True when the server closes the connection (EOF or reset) within 10 s.
    bool closed_by_server() {
        buf_.clear();
        char c;
        while (true) {
            ssize_t n = ::recv(fd_, &c, 1, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
            if (n < 0) return false;
        }
    }

  private:
    std::string read_line() {
        while (true) {
            size_t nl = buf_.find('\n');
            if (nl != std::string::npos) {
                std::string line = buf_.substr(0, nl + 1);
                buf_.erase(0, nl + 1);
                return line;
            }
            char chunk[4096];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return "";
            buf_.append(chunk, static_cast<size_t>(n));
        }
    }

    int fd_ = -1;
    std::string buf_;
};

// --- the server under test ------------------------------------------------------------------

class TestHandler : public Handler {
  public:
    std::optional<std::string> authenticate(const ClientContext&, std::string_view user,
                                            std::string_view password) override {
        auth_calls += 1;
        if ((user == "u" || user == "u@example.com") && password == "p") return "agent-u";
        return std::nullopt;
    }
    ServerReply on_mail_from(ClientContext&, std::string_view reverse_path) override {
        if (reverse_path == "blocked@example.com") return {550, "5.7.1", "Sender not allowed"};
        return {250, "2.1.0", "Sender OK"};
    }
    ServerReply on_recipient(const ClientContext&, std::string_view forward_path) override {
        if (forward_path == "nobody@example.com") return {550, "5.1.1", "No such user"};
        return {250, "2.1.5", "Recipient OK"};
    }
    asio::awaitable<ServerReply> on_message(const ClientContext& ctx,
                                            AcceptedMessage message) override {
        std::lock_guard lock(mu_);
        contexts_.push_back(ctx);
        messages_.push_back(std::move(message));
        co_return ServerReply{250, "2.0.0", "Queued as " + std::to_string(messages_.size())};
    }

    size_t message_count() {
        std::lock_guard lock(mu_);
        return messages_.size();
    }
    AcceptedMessage message(size_t i) {
        std::lock_guard lock(mu_);
        return messages_.at(i);
    }
    ClientContext context(size_t i) {
        std::lock_guard lock(mu_);
        return contexts_.at(i);
    }

    std::atomic<int> auth_calls{0};

  private:
    std::mutex mu_;
    std::vector<AcceptedMessage> messages_;
    std::vector<ClientContext> contexts_;
};

// A self-signed certificate made once by generate_self_signed, and the Python client script.
struct Files {
    fs::path dir;
    std::shared_ptr<asio::ssl::context> tls;
    std::string python_client;

    Files() {
        char tmpl[] = "/tmp/ar_smtp_server_XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        auto st = generate_self_signed((dir / "cert.pem").string(), (dir / "key.pem").string(),
                                       "mx.test.example");
        REQUIRE(st.ok());
        auto ctx = make_server_tls_context((dir / "cert.pem").string(), (dir / "key.pem").string());
        REQUIRE(ctx.ok());
        tls = ctx.value();
        python_client = (dir / "client.py").string();
        std::ofstream(python_client) << kPythonClient;
    }
    ~Files() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

Files& files() {
    static Files f;
    return f;
}

struct Rig {
    explicit Rig(ListenerKind kind, ServerLimits limits = {}, bool with_tls = true) {
        server = std::make_unique<Server>(
            io.get_executor(), asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0), kind,
            "mx.test.example", with_tls ? files().tls : nullptr, handler, limits);
        server->start();
        thread = std::thread([this] { io.run(); });
    }
    ~Rig() {
        server->stop();
        wait_until([&] { return server->active_sessions() == 0; }, 5s);
        guard.reset();
        io.stop();
        thread.join();
    }

    uint16_t port() const { return server->port(); }

    CommandResult swaks(const std::string& args) {
        return run("timeout 60 swaks --server 127.0.0.1:" + std::to_string(port()) +
                   " --helo client.example --from sender@example.com --to rcpt@example.com "
                   "--header 'Subject: swaks test' --body 'hello from swaks' " +
                   args);
    }

    // Runs the Python client; returns its output lines.
    std::vector<std::string> python(const std::string& mode,
                                    const std::vector<std::string>& steps) {
        std::string command = "timeout 60 /usr/bin/python3 " + files().python_client + " " +
                              std::to_string(port()) + " " + mode;
        for (const auto& s : steps) {
            command += ' ';
            command += quote(s);
        }
        auto r = run(command);
        INFO(r.output);
        REQUIRE(r.status == 0);
        std::vector<std::string> lines;
        size_t start = 0;
        while (start < r.output.size()) {
            size_t nl = r.output.find('\n', start);
            if (nl == std::string::npos) nl = r.output.size();
            lines.push_back(r.output.substr(start, nl - start));
            start = nl + 1;
        }
        return lines;
    }

    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    TestHandler handler;
    std::unique_ptr<Server> server;
    std::thread thread;
};

// Reads the greeting and says EHLO; returns the EHLO reply.
std::string greet(RawClient& c) {
    REQUIRE(starts_with(c.reply(), "220 mx.test.example ESMTP agentrelay"));
    return c.cmd("EHLO client.example");
}

} // namespace

// --- the pieces -----------------------------------------------------------------------------

TEST_CASE("replies are serialized one line per text line", "[smtp_server]") {
    CHECK(format_reply({250, "2.1.0", "Sender OK"}) == "250 2.1.0 Sender OK\r\n");
    CHECK(format_reply({250, "", "mx.example\nPIPELINING\nSIZE 10"}) ==
          "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    CHECK(format_reply({550, "5.1.1", "No such user\nTry again"}) ==
          "550-5.1.1 No such user\r\n550 5.1.1 Try again\r\n");
    CHECK(format_reply({334, "", ""}) == "334 \r\n");
    CHECK(format_reply({250, "2.0.0", "evil\r\nRSET"}) == "250-2.0.0 evil\r\n250 2.0.0 RSET\r\n");
    CHECK(format_reply({99, "", "bogus"}) == "451 4.3.0 Internal error; try again later\r\n");
}

TEST_CASE("the authentication throttle delays, then locks out, per address", "[smtp_server]") {
    ServerLimits limits;
    limits.auth_failures_before_delay = 2;
    limits.auth_failures_before_lockout = 5;
    limits.auth_lockout = 60s;
    limits.auth_delay_step = 100ms;
    AuthThrottle throttle(limits);
    auto a = asio::ip::make_address("192.0.2.1");
    auto b = asio::ip::make_address("2001:db8::1");
    auto t0 = AuthThrottle::Clock::time_point{} + 1000h;

    CHECK(throttle.record_failure(a, t0).delay == 0ms);
    CHECK(throttle.record_failure(a, t0 + 1s).delay == 0ms);
    CHECK(throttle.record_failure(a, t0 + 2s).delay == 100ms);
    CHECK(throttle.record_failure(a, t0 + 3s).delay == 200ms);
    CHECK_FALSE(throttle.locked_out(a, t0 + 3s));
    CHECK(throttle.record_failure(b, t0 + 3s).delay == 0ms); // another address is unaffected
    auto fifth = throttle.record_failure(a, t0 + 4s);
    CHECK(fifth.lockout);
    CHECK(throttle.locked_out(a, t0 + 5s));
    CHECK(throttle.locked_out(a, t0 + 63s));
    CHECK_FALSE(throttle.locked_out(a, t0 + 65s));
    CHECK_FALSE(throttle.locked_out(b, t0 + 5s));
    // Failures are forgotten a lockout period after the last one.
    CHECK(throttle.record_failure(b, t0 + 4s).delay == 0ms);
    CHECK(throttle.record_failure(b, t0 + 5s).delay == 100ms);
    CHECK(throttle.record_failure(b, t0 + 100s).delay == 0ms);
    CHECK(throttle.tracked_addresses() == 2);
}

TEST_CASE("generate_self_signed writes a loadable certificate and a private key", "[smtp_server]") {
    auto dir = files().dir;
    auto st = generate_self_signed((dir / "c2.pem").string(), (dir / "k2.pem").string(),
                                   "relay.example.org");
    REQUIRE(st.ok());
    auto key_perms = fs::status(dir / "k2.pem").permissions() & fs::perms::all;
    CHECK(key_perms == (fs::perms::owner_read | fs::perms::owner_write));
    auto text = run("openssl x509 -in " + (dir / "c2.pem").string() + " -noout -text");
    CHECK(text.status == 0);
    CHECK(contains(text.output, "CN = relay.example.org"));
    CHECK(contains(text.output, "DNS:relay.example.org"));
    CHECK(contains(text.output, "prime256v1"));
    CHECK(make_server_tls_context((dir / "c2.pem").string(), (dir / "k2.pem").string()).ok());
    // A key that does not belong to the certificate is refused.
    CHECK_FALSE(
        make_server_tls_context((dir / "c2.pem").string(), (dir / "key.pem").string()).ok());
    CHECK_FALSE(
        make_server_tls_context((dir / "missing.pem").string(), (dir / "k2.pem").string()).ok());
    CHECK_FALSE(generate_self_signed((dir / "c3.pem").string(), (dir / "k3.pem").string(),
                                     "a.example,DNS:b.example")
                    .ok());
    CHECK(generate_self_signed((dir / "c4.pem").string(), (dir / "k4.pem").string(), "127.0.0.1")
              .ok());
}

// --- submission with swaks and smtplib ------------------------------------------------------

TEST_CASE("swaks: STARTTLS then AUTH PLAIN or LOGIN delivers to the handler", "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    auto mech = GENERATE(as<std::string>{}, "PLAIN", "LOGIN");
    auto r = rig.swaks("--tls --auth " + mech + " --auth-user u --auth-password p");
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(contains(r.output, "235 2.7.0 Authentication successful"));
    REQUIRE(rig.handler.message_count() == 1);
    auto m = rig.handler.message(0);
    CHECK(m.reverse_path == "sender@example.com");
    CHECK(m.recipients == std::vector<std::string>{"rcpt@example.com"});
    CHECK(contains(m.data, "Subject: swaks test\r\n"));
    CHECK(contains(m.data, "\r\n\r\nhello from swaks\r\n"));
    CHECK(m.data.substr(m.data.size() - 2) == "\r\n");
    auto ctx = rig.handler.context(0);
    CHECK(ctx.tls);
    CHECK(starts_with(ctx.tls_version, "TLSv1."));
    CHECK(ctx.authenticated == std::optional<std::string>("agent-u"));
    CHECK(ctx.helo == "client.example");
    CHECK(ctx.remote == asio::ip::make_address("127.0.0.1"));
    CHECK(ctx.kind == ListenerKind::Submission);
}

TEST_CASE("swaks: implicit TLS on the submissions port", "[smtp_server]") {
    Rig rig(ListenerKind::Submissions);
    auto r = rig.swaks("--tlsc --auth PLAIN --auth-user u@example.com --auth-password p");
    INFO(r.output);
    CHECK(r.status == 0);
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.context(0).tls);
    CHECK(rig.handler.context(0).kind == ListenerKind::Submissions);
}

TEST_CASE("swaks: wrong password gets 535 and nothing is sent", "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    auto r = rig.swaks("--tls --auth PLAIN --auth-user u --auth-password wrong");
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(contains(r.output, "535 5.7.8"));
    CHECK(rig.handler.message_count() == 0);
}

TEST_CASE("swaks: pipelined transaction after STARTTLS", "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    auto r = rig.swaks("--tls --pipeline --auth PLAIN --auth-user u --auth-password p "
                       "--to rcpt@example.com,second@example.org");
    INFO(r.output);
    CHECK(r.status == 0);
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.message(0).recipients ==
          std::vector<std::string>{"rcpt@example.com", "second@example.org"});
}

TEST_CASE("smtplib: STARTTLS, AUTH and two messages in one session", "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    auto out = rig.python(
        "starttls", {"!ehlo", "!starttls", "!ehlo", "!auth-noinit LOGIN u p",
                     "!sendmail sender@example.com a@example.com,b@example.com",
                     "!sendmail sender@example.com a@example.com,nobody@example.com", "QUIT"});
    INFO(Catch::Detail::stringify(out));
    REQUIRE(out.size() == 7);
    CHECK(starts_with(out[1], "220 2.0.0 Ready to start TLS"));
    CHECK(contains(out[2], "AUTH PLAIN LOGIN"));
    CHECK_FALSE(contains(out[2], "STARTTLS"));
    CHECK(starts_with(out[3], "235 2.7.0"));
    CHECK(out[4] == "SENT {}");
    CHECK(contains(out[5], "nobody@example.com"));
    CHECK(starts_with(out[6], "221 2.0.0"));
    REQUIRE(rig.handler.message_count() == 2);
    CHECK(rig.handler.message(0).recipients ==
          std::vector<std::string>{"a@example.com", "b@example.com"});
    CHECK(rig.handler.message(1).recipients == std::vector<std::string>{"a@example.com"});
    // Dot-stuffing by the client is undone.
    CHECK(contains(rig.handler.message(0).data, "\r\nHello from smtplib\r\n.leading dot\r\n"));
}

TEST_CASE("smtplib: implicit TLS with AUTH PLAIN, with and without initial response",
          "[smtp_server]") {
    Rig rig(ListenerKind::Submissions);
    auto out = rig.python("implicit", {"!ehlo", "!auth-noinit PLAIN u wrong", "!auth PLAIN u p",
                                       "!sendmail sender@example.com 用户@例子.广告 SMTPUTF8"});
    INFO(Catch::Detail::stringify(out));
    REQUIRE(out.size() == 4);
    CHECK(contains(out[0], "AUTH PLAIN LOGIN"));
    CHECK(starts_with(out[1], "535 5.7.8"));
    CHECK(starts_with(out[2], "235 2.7.0"));
    CHECK(out[3] == "SENT {}");
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.message(0).smtputf8);
    CHECK(rig.handler.message(0).recipients == std::vector<std::string>{"用户@例子.广告"});
}

TEST_CASE("after STARTTLS the session starts over and AUTH cannot be cancelled into success",
          "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    auto out = rig.python("starttls",
                          {"!starttls", "MAIL FROM:<sender@example.com>", "!ehlo", "AUTH PLAIN",
                           "*", "AUTH LOGIN", "*", "MAIL FROM:<sender@example.com>", "STARTTLS"});
    INFO(Catch::Detail::stringify(out));
    REQUIRE(out.size() == 9);
    CHECK(starts_with(out[1], "503 5.5.1")); // EHLO again first (RFC 3207)
    CHECK(out[3] == "334 ");
    CHECK(starts_with(out[4], "501"));
    CHECK(out[5] == "334 VXNlcm5hbWU6");
    CHECK(starts_with(out[6], "501"));
    CHECK(starts_with(out[7], "530 5.7.0 Authentication required"));
    CHECK(starts_with(out[8], "503 5.5.1")); // TLS already active
}

TEST_CASE("input pipelined after STARTTLS in the clear is discarded", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound);
    auto out = rig.python("inject", {});
    INFO(Catch::Detail::stringify(out));
    REQUIRE(out.size() == 2);
    CHECK(contains(out[0], "220 2.0.0"));
    CHECK(contains(out[1], "250 2.0.0 OK")); // NOOP's answer, not HELP's 214
}

TEST_CASE("repeated AUTH failures are delayed, then locked out across connections",
          "[smtp_server]") {
    ServerLimits limits;
    limits.auth_failures_before_delay = 1;
    limits.auth_failures_before_lockout = 3;
    limits.auth_delay_step = 50ms;
    Rig rig(ListenerKind::Submissions, limits);
    auto bad = "AUTH PLAIN " + encode_base64(std::string("\0u\0bad", 6));
    auto good = "AUTH PLAIN " + encode_base64(std::string("\0u\0p", 4));

    auto start = std::chrono::steady_clock::now();
    auto first = rig.python("implicit", {"!ehlo", bad, bad, bad, "NOOP"});
    auto elapsed = std::chrono::steady_clock::now() - start;
    INFO(Catch::Detail::stringify(first));
    REQUIRE(first.size() == 5);
    CHECK(starts_with(first[1], "535 5.7.8"));
    CHECK(starts_with(first[2], "535 5.7.8")); // answered after a 50 ms delay
    CHECK(starts_with(first[3], "421 4.7.0 Too many authentication failures"));
    CHECK(first[4] == "DISCONNECTED");
    CHECK(elapsed >= 50ms);
    CHECK(rig.handler.auth_calls == 3);

    // A new connection from the same address is refused even with the right password, which is
    // not even checked.
    auto second = rig.python("implicit", {"!ehlo", good});
    INFO(Catch::Detail::stringify(second));
    REQUIRE(second.size() == 2);
    CHECK(starts_with(second[1], "421 4.7.0"));
    CHECK(rig.handler.auth_calls == 3);
}

// --- edge cases on raw sockets --------------------------------------------------------------

TEST_CASE("submission before TLS: STARTTLS offered, AUTH refused with 538, MAIL with 530",
          "[smtp_server]") {
    Rig rig(ListenerKind::Submission);
    RawClient c(rig.port());
    auto ehlo = greet(c);
    CHECK(starts_with(ehlo, "250-mx.test.example\r\n"));
    for (auto ext :
         {"PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS"})
        CHECK(contains(ehlo, ext));
    CHECK_FALSE(contains(ehlo, "AUTH"));
    CHECK(starts_with(c.cmd("AUTH PLAIN " + encode_base64(std::string("\0u\0p", 4))),
                      "538 5.7.11 Encryption required for requested authentication mechanism"));
    CHECK(starts_with(c.cmd("MAIL FROM:<sender@example.com>"),
                      "530 5.7.0 Must issue a STARTTLS command first"));
    CHECK(starts_with(c.cmd("QUIT"), "221 2.0.0"));
    CHECK(c.closed_by_server());
    CHECK(rig.handler.auth_calls == 0);
}

TEST_CASE("inbound MX: no AUTH, mail accepted without it", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound, {}, /*with_tls=*/false);
    RawClient c(rig.port());
    auto ehlo = greet(c);
    CHECK_FALSE(contains(ehlo, "AUTH"));
    CHECK_FALSE(contains(ehlo, "STARTTLS"));
    CHECK(starts_with(c.cmd("STARTTLS"), "502 5.5.1"));
    CHECK(starts_with(c.cmd("AUTH PLAIN"), "502 5.5.1"));
    CHECK(starts_with(c.cmd("MAIL FROM:<>"), "250 2.1.0"));
    CHECK(starts_with(c.cmd("RCPT TO:<agent@example.com>"), "250 2.1.5"));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    c.send("Subject: bounce\r\n\r\n..stuffed\r\nbody\r\n.\r\n");
    CHECK(starts_with(c.reply(), "250 2.0.0 Queued as 1"));
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.message(0).reverse_path.empty());
    CHECK(rig.handler.message(0).data == "Subject: bounce\r\n\r\n.stuffed\r\nbody\r\n");
    CHECK_FALSE(rig.handler.context(0).tls);
}

TEST_CASE("pipelined commands are answered in order", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound);
    RawClient c(rig.port());
    REQUIRE(starts_with(c.reply(), "220 "));
    c.send("EHLO client.example\r\nMAIL FROM:<sender@example.com>\r\nRCPT TO:<a@example.com>\r\n"
           "RCPT TO:<nobody@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    CHECK(contains(c.reply(), "250 STARTTLS\r\n"));
    CHECK(starts_with(c.reply(), "250 2.1.0"));
    CHECK(starts_with(c.reply(), "250 2.1.5"));
    CHECK(starts_with(c.reply(), "550 5.1.1"));
    CHECK(starts_with(c.reply(), "250 2.1.5"));
    CHECK(starts_with(c.reply(), "354 "));
    // The message, its end and the next transaction in one packet.
    c.send("Subject: one\r\n\r\nfirst\r\n.\r\nRSET\r\nMAIL FROM:<s2@example.com>\r\n"
           "RCPT TO:<c@example.com>\r\nDATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n");
    CHECK(starts_with(c.reply(), "250 2.0.0 Queued as 1"));
    CHECK(starts_with(c.reply(), "250 2.0.0 OK"));
    CHECK(starts_with(c.reply(), "250 2.1.0"));
    CHECK(starts_with(c.reply(), "250 2.1.5"));
    CHECK(starts_with(c.reply(), "354 "));
    CHECK(starts_with(c.reply(), "250 2.0.0 Queued as 2"));
    CHECK(starts_with(c.reply(), "221 "));
    CHECK(c.closed_by_server());
    REQUIRE(rig.handler.message_count() == 2);
    CHECK(rig.handler.message(0).recipients ==
          std::vector<std::string>{"a@example.com", "b@example.com"});
    CHECK(rig.handler.message(1).data == "Subject: two\r\n\r\nsecond\r\n");
}

TEST_CASE("a fast client's many reads and writes in a row are all answered, in order", "[smtp_server]") {
    // 200 commands, each in a send of its own, none waiting for its reply; then a 1 MB
    // message in 4 KB sends.
    Rig rig(ListenerKind::Inbound);
    RawClient c(rig.port());
    REQUIRE(starts_with(c.reply(), "220 "));
    for (int i = 0; i < 200; ++i) c.send("NOOP\r\n");
    for (int i = 0; i < 200; ++i) REQUIRE(starts_with(c.reply(), "250 2.0.0"));
    CHECK(starts_with(c.cmd("EHLO client.example"), "250-"));
    CHECK(starts_with(c.cmd("MAIL FROM:<sender@example.com>"), "250 2.1.0"));
    CHECK(starts_with(c.cmd("RCPT TO:<a@example.com>"), "250 2.1.5"));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    std::string body = "Subject: big\r\n\r\n";
    while (body.size() < 1'000'000) body += std::string(78, 'x') + "\r\n";
    for (size_t at = 0; at < body.size(); at += 4096) c.send(std::string_view(body).substr(at, 4096));
    c.send(".\r\n");
    CHECK(starts_with(c.reply(), "250 2.0.0 Queued as 1"));
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.message(0).data == body);
}

TEST_CASE("command sequencing and syntax errors", "[smtp_server]") {
    ServerLimits limits;
    limits.max_errors = 100;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    REQUIRE(starts_with(c.reply(), "220 "));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "503 5.5.1")); // no EHLO yet
    CHECK(starts_with(c.cmd("HELO client.example"), "250 mx.test.example"));
    CHECK(starts_with(c.cmd("AUTH PLAIN"), "502 5.5.1"));
    CHECK(starts_with(c.cmd("RCPT TO:<a@example.com>"), "503 5.5.1"));
    CHECK(starts_with(c.cmd("DATA"), "503 5.5.1"));
    CHECK(starts_with(c.cmd("FROB"), "500 5.5.2"));
    CHECK(starts_with(c.cmd("MAIL FROM:<not an address>"), "501 5.5.4"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com> RET=HDRS"), "555 5.5.4"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com> BODY=BINARYMIME"), "501 5.5.4"));
    CHECK(starts_with(c.cmd("MAIL FROM:<josé@example.com>"), "553 5.6.7"));
    CHECK(starts_with(c.cmd("MAIL FROM:<blocked@example.com>"), "550 5.7.1"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com> BODY=8BITMIME"), "250 2.1.0"));
    CHECK(starts_with(c.cmd("MAIL FROM:<b@example.com>"), "503 5.5.1")); // nested
    CHECK(starts_with(c.cmd("RCPT TO:<josé@example.com>"), "553 5.6.7"));
    CHECK(starts_with(c.cmd("RCPT TO:<a@example.com> NOTIFY=NEVER"), "555 5.5.4"));
    CHECK(starts_with(c.cmd("RCPT TO:<nobody@example.com>"), "550 5.1.1"));
    CHECK(starts_with(c.cmd("DATA"), "554 5.5.1")); // no valid recipients
    CHECK(starts_with(c.cmd("RSET"), "250 2.0.0"));
    CHECK(starts_with(c.cmd("VRFY someone"), "252 "));
    CHECK(starts_with(c.cmd("HELP"), "214 "));
    CHECK(starts_with(c.cmd("NOOP"), "250 2.0.0"));
    CHECK(rig.handler.message_count() == 0);
}

TEST_CASE("too many errors end the session with 421", "[smtp_server]") {
    ServerLimits limits;
    limits.max_errors = 3;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    REQUIRE(starts_with(c.reply(), "220 "));
    CHECK(starts_with(c.cmd("BOGUS"), "500 5.5.2"));
    CHECK(starts_with(c.cmd("BOGUS"), "500 5.5.2"));
    auto last = c.cmd("BOGUS");
    CHECK(contains(last, "500 5.5.2"));
    CHECK(contains(last + c.reply(), "421 4.7.0"));
    CHECK(c.closed_by_server());
}

TEST_CASE("an over-long line is refused and the session goes on", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound);
    RawClient c(rig.port());
    greet(c);
    CHECK(starts_with(c.cmd("NOOP " + std::string(505, 'x')), "250 2.0.0")); // 512 with CRLF
    CHECK(starts_with(c.cmd("NOOP " + std::string(506, 'x')), "500 5.5.6 Line too long"));
    // Far longer than any buffer: sent in pieces, then the line ends.
    c.send("MAIL FROM:<" + std::string(100000, 'a'));
    c.send(std::string(100000, 'b'));
    CHECK(starts_with(c.cmd("@example.com>"), "500 5.5.6"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "250 2.1.0"));
}

TEST_CASE("an oversized message is read to its end, then refused with 552", "[smtp_server]") {
    ServerLimits limits;
    limits.max_message_bytes = 1000;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    CHECK(contains(greet(c), "SIZE 1000"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com> SIZE=5000"), "552 5.3.4"));
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com> SIZE=500"), "250 2.1.0"));
    CHECK(starts_with(c.cmd("RCPT TO:<b@example.com>"), "250 2.1.5"));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    std::string body;
    for (int i = 0; i < 200; ++i)
        body += "line " + std::to_string(i) + " of a message too big\r\n";
    c.send(body + ".\r\n");
    CHECK(starts_with(c.reply(), "552 5.3.4"));
    CHECK(rig.handler.message_count() == 0);
    // The session is still in step: a small message goes through.
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "250 2.1.0"));
    CHECK(starts_with(c.cmd("RCPT TO:<b@example.com>"), "250 2.1.5"));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    CHECK(starts_with(c.cmd("Subject: small\r\n\r\nok\r\n."), "250 2.0.0"));
    CHECK(rig.handler.message_count() == 1);
}

TEST_CASE("too many recipients get 452", "[smtp_server]") {
    ServerLimits limits;
    limits.max_recipients = 3;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    greet(c);
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "250 "));
    for (int i = 0; i < 3; ++i)
        CHECK(starts_with(c.cmd("RCPT TO:<r" + std::to_string(i) + "@example.com>"), "250 "));
    CHECK(starts_with(c.cmd("RCPT TO:<r3@example.com>"), "452 4.5.3 Too many recipients"));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    CHECK(starts_with(c.cmd("Subject: x\r\n\r\nx\r\n."), "250 "));
    REQUIRE(rig.handler.message_count() == 1);
    CHECK(rig.handler.message(0).recipients.size() == 3);
}

TEST_CASE("a client that disconnects mid-DATA delivers nothing", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound);
    {
        RawClient c(rig.port());
        greet(c);
        CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "250 "));
        CHECK(starts_with(c.cmd("RCPT TO:<b@example.com>"), "250 "));
        CHECK(starts_with(c.cmd("DATA"), "354 "));
        c.send("Subject: cut short\r\n\r\nthe end never comes\r\n");
        REQUIRE(wait_until([&] { return rig.server->active_sessions() == 1; }));
    }
    CHECK(wait_until([&] { return rig.server->active_sessions() == 0; }));
    CHECK(rig.handler.message_count() == 0);
}

TEST_CASE("only CRLF.CRLF ends DATA: a bare LF cannot smuggle a second message", "[smtp_server]") {
    Rig rig(ListenerKind::Inbound);
    RawClient c(rig.port());
    greet(c);
    CHECK(starts_with(c.cmd("MAIL FROM:<a@example.com>"), "250 "));
    CHECK(starts_with(c.cmd("RCPT TO:<b@example.com>"), "250 "));
    CHECK(starts_with(c.cmd("DATA"), "354 "));
    c.send("Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<b@example.com>"
           "\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n");
    CHECK(starts_with(c.reply(), "550 5.6.0"));
    CHECK(starts_with(c.cmd("NOOP"), "250 2.0.0")); // the smuggled commands were data
    CHECK(rig.handler.message_count() == 0);
}

TEST_CASE("an idle client is told 421 4.4.2 and disconnected", "[smtp_server]") {
    ServerLimits limits;
    limits.idle_timeout = 1s;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    greet(c);
    auto start = std::chrono::steady_clock::now();
    CHECK(starts_with(c.reply(), "421 4.4.2"));
    CHECK(std::chrono::steady_clock::now() - start >= 900ms);
    CHECK(c.closed_by_server());
    CHECK(wait_until([&] { return rig.server->active_sessions() == 0; }));
}

TEST_CASE("the idle timeout counts from the last command, not from the session's start", "[smtp_server]") {
    ServerLimits limits;
    limits.idle_timeout = 1s;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    greet(c);
    // A client that speaks every 300 ms for 2.5 s outlives the session's first deadline twice.
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 2500ms) {
        std::this_thread::sleep_for(300ms);  // the client's pace, not a wait for the server
        REQUIRE(starts_with(c.cmd("NOOP"), "250 2.0.0"));
    }
    // Once it falls silent, it gets the 421 one idle timeout after its last command.
    auto last = std::chrono::steady_clock::now();
    CHECK(starts_with(c.reply(), "421 4.4.2"));
    auto silent = std::chrono::steady_clock::now() - last;
    CHECK(silent >= 900ms);
    CHECK(silent < 3s);
    CHECK(c.closed_by_server());
}

TEST_CASE("the total session time is limited, even for a busy client", "[smtp_server]") {
    ServerLimits limits;
    limits.total_timeout = 1s;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient c(rig.port());
    greet(c);
    std::string reply;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        reply = c.cmd("NOOP");
        if (!starts_with(reply, "250 ")) break;
    }
    CHECK(starts_with(reply, "421 4.4.2"));
    CHECK(c.closed_by_server());
}

TEST_CASE("stop() closes live sessions; max_sessions turns the surplus away", "[smtp_server]") {
    ServerLimits limits;
    limits.max_sessions = 1;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient first(rig.port());
    REQUIRE(starts_with(first.reply(), "220 "));
    RawClient second(rig.port());
    CHECK(starts_with(second.reply(), "421 4.7.0"));
    CHECK(second.closed_by_server());
    rig.server->stop();
    CHECK(first.closed_by_server());
    CHECK(wait_until([&] { return rig.server->active_sessions() == 0; }));
}

TEST_CASE("one client address holds at most max_sessions_per_client sessions", "[smtp_server]") {
    ServerLimits limits;
    limits.max_sessions_per_client = 2;
    Rig rig(ListenerKind::Inbound, limits);
    auto first = std::make_unique<RawClient>(rig.port());
    REQUIRE(starts_with(first->reply(), "220 "));
    RawClient second(rig.port());
    REQUIRE(starts_with(second.reply(), "220 "));
    {
        RawClient third(rig.port());
        CHECK(starts_with(third.reply(), "421 4.7.0 mx.test.example Too many connections from your address"));
        CHECK(third.closed_by_server());
    }
    CHECK(starts_with(second.cmd("NOOP"), "250 "));
    first.reset(); // one ends: the address may open another
    REQUIRE(wait_until([&] { return rig.server->active_sessions() == 1; }));
    RawClient again(rig.port());
    CHECK(starts_with(again.reply(), "220 "));
}

TEST_CASE("the DATA bytes of all sessions are bounded: past the budget, 452 4.3.1", "[smtp_server]") {
    ServerLimits limits;
    limits.max_buffered_bytes = 1000;
    Rig rig(ListenerKind::Inbound, limits);
    RawClient a(rig.port()), b(rig.port());
    greet(a);
    greet(b);
    for (RawClient* c : {&a, &b}) {
        CHECK(starts_with(c->cmd("MAIL FROM:<a@example.com>"), "250 "));
        CHECK(starts_with(c->cmd("RCPT TO:<b@example.com>"), "250 "));
        CHECK(starts_with(c->cmd("DATA"), "354 "));
    }
    std::string part = "Subject: big\r\n\r\n" + std::string(780, 'a') + "\r\n";
    a.send(part); // a holds ~800 bytes and has not finished
    REQUIRE(wait_until([&] { return rig.server->buffered_bytes() >= part.size(); }));
    b.send("Subject: b\r\n\r\n" + std::string(300, 'b') + "\r\n.\r\n");
    CHECK(starts_with(b.reply(), "452 4.3.1"));
    CHECK(starts_with(a.cmd("."), "250 "));
    CHECK(rig.handler.message_count() == 1);
    CHECK(wait_until([&] { return rig.server->buffered_bytes() == 0; }));
    // With a's message handed over, b's fits.
    CHECK(starts_with(b.cmd("MAIL FROM:<a@example.com>"), "250 "));
    CHECK(starts_with(b.cmd("RCPT TO:<b@example.com>"), "250 "));
    CHECK(starts_with(b.cmd("DATA"), "354 "));
    CHECK(starts_with(b.cmd("Subject: b\r\n\r\n" + std::string(300, 'b') + "\r\n."), "250 "));
    CHECK(rig.handler.message_count() == 2);
}

TEST_CASE("hundreds of concurrent sessions are served at once", "[smtp_server]") {
    constexpr int kClients = 300; // two descriptors each in this process
    ServerLimits limits;
    limits.max_sessions_per_client = kClients; // all come from 127.0.0.1
    Rig rig(ListenerKind::Inbound, limits);
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kClients; ++i)
        clients.push_back(std::make_unique<RawClient>(rig.port()));
    for (auto& c : clients)
        REQUIRE(starts_with(c->reply(), "220 "));
    CHECK(rig.server->active_sessions() == kClients);
    for (auto& c : clients)
        c->send("EHLO many.example\r\nNOOP\r\n");
    for (auto& c : clients) {
        CHECK(starts_with(c->reply(), "250-mx.test.example"));
        CHECK(starts_with(c->reply(), "250 2.0.0"));
    }
    clients.clear();
    CHECK(wait_until([&] { return rig.server->active_sessions() == 0; }));
}
