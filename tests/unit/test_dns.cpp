// test_dns.cpp: the DNS answer parsers on hand-built replies, and the resolver against a real
// dnsmasq on 127.0.0.1 (started per test on a free port, never any other address).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <set>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/answer.h"
#include "dns/resolver.h"

using namespace ar::dns;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- hand-built replies

void put16(std::vector<unsigned char>& b, unsigned v) {
    b.push_back(static_cast<unsigned char>(v >> 8));
    b.push_back(static_cast<unsigned char>(v));
}
void put32(std::vector<unsigned char>& b, uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}
std::vector<unsigned char> wire_name(const std::string& name) {
    std::vector<unsigned char> out;
    std::size_t start = 0;
    while (start < name.size()) {
        auto dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        out.push_back(static_cast<unsigned char>(dot - start));
        out.insert(out.end(), name.begin() + static_cast<long>(start),
                   name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    out.push_back(0);
    return out;
}

// A DNS reply, built section by section (answers before authority records).
struct Reply {
    std::vector<unsigned char> bytes;
    Reply(int rcode, const std::string& qname, unsigned qtype) {
        bytes = {0x12, 0x34, 0x81, static_cast<unsigned char>(0x80 | rcode), 0, 1, 0, 0, 0,
                 0,    0,    0};
        auto n = wire_name(qname);
        bytes.insert(bytes.end(), n.begin(), n.end());
        put16(bytes, qtype);
        put16(bytes, 1);
    }
    Reply& record(int count_offset, const std::string& name, unsigned type, uint32_t ttl,
                  const std::vector<unsigned char>& rdata) {
        auto n = wire_name(name);
        bytes.insert(bytes.end(), n.begin(), n.end());
        put16(bytes, type);
        put16(bytes, 1);
        put32(bytes, ttl);
        put16(bytes, static_cast<unsigned>(rdata.size()));
        bytes.insert(bytes.end(), rdata.begin(), rdata.end());
        ++bytes[static_cast<std::size_t>(count_offset) + 1];
        return *this;
    }
    Reply& answer(const std::string& name, unsigned type, uint32_t ttl,
                  const std::vector<unsigned char>& rdata) {
        return record(6, name, type, ttl, rdata);
    }
    Reply& authority(const std::string& name, unsigned type, uint32_t ttl,
                     const std::vector<unsigned char>& rdata) {
        return record(8, name, type, ttl, rdata);
    }
};

std::vector<unsigned char> mx_rdata(unsigned preference, const std::string& host) {
    std::vector<unsigned char> out;
    put16(out, preference);
    auto n = host.empty() ? std::vector<unsigned char>{0} : wire_name(host);
    out.insert(out.end(), n.begin(), n.end());
    return out;
}
std::vector<unsigned char> soa_rdata(uint32_t minimum) {
    auto out = wire_name("ns.example");
    auto r = wire_name("hostmaster.example");
    out.insert(out.end(), r.begin(), r.end());
    for (uint32_t v : {1u, 1200u, 120u, 1000u, minimum})
        put32(out, v);
    return out;
}
std::vector<unsigned char> txt_rdata(const std::vector<std::string>& strings) {
    std::vector<unsigned char> out;
    for (const auto& s : strings) {
        out.push_back(static_cast<unsigned char>(s.size()));
        out.insert(out.end(), s.begin(), s.end());
    }
    return out;
}

constexpr unsigned kA = 1, kSoa = 6, kMx = 15, kTxt = 16, kAaaa = 28;

// ---------------------------------------------------------------- a real dnsmasq

uint16_t free_udp_port() {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

// True when something on 127.0.0.1:port answers a DNS query for ready.test.
bool answers(uint16_t port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    timeval tv{0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    Reply query(0, "ready.test", kA);
    query.bytes[2] = 0x01; // a query: QR clear, RD set
    query.bytes[3] = 0;
    sendto(fd, query.bytes.data(), query.bytes.size(), 0, reinterpret_cast<sockaddr*>(&addr),
           sizeof addr);
    unsigned char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    close(fd);
    return n >= 12 && buf[0] == 0x12 && buf[1] == 0x34;
}

class Dnsmasq {
  public:
    // `records`: dnsmasq options defining the test zone's records.
    // `port`: 0 for any free one.
    explicit Dnsmasq(std::vector<std::string> records, int ttl = 60, uint16_t port = 0) {
        for (int attempt = 0; attempt < (port ? 1 : 5) && pid_ < 0; ++attempt)
            start(records, ttl, port ? port : free_udp_port());
        REQUIRE(pid_ > 0);
    }
    ~Dnsmasq() { stop(); }

    uint16_t port() const { return port_; }
    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

    void stop() {
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    void start(const std::vector<std::string>& records, int ttl, uint16_t port) {
        port_ = port;
        std::vector<std::string> args = {
            access("/usr/sbin/dnsmasq", X_OK) == 0 ? "/usr/sbin/dnsmasq" : "/usr/bin/dnsmasq",
            "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + std::to_string(port_),
            "--pid-file=", "--local=/test/",
            // Authoritative for test., so negative answers carry an SOA (RFC 2308).
            "--auth-zone=test", "--auth-server=ns.test,127.0.0.1",
            "--auth-soa=1,hostmaster.test,1200,120,1000", "--auth-ttl=" + std::to_string(ttl),
            "--host-record=ready.test,127.0.0.1"};
        if (geteuid() == 0) args.push_back("--user=root");
        args.insert(args.end(), records.begin(), records.end());
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_RDWR);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execv(argv[0], argv.data());
            _exit(127);
        }
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (waitpid(pid, nullptr, WNOHANG) == pid) return; // died (port taken?): retry
            if (answers(port_)) {
                pid_ = pid;
                return;
            }
        }
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }

    pid_t pid_ = -1;
    uint16_t port_ = 0;
};

const std::string kLongString(300, 'a'); // longer than one character-string (255)

std::vector<std::string> zone() {
    return {
        "--mx-host=mx.test,mx2.test,20",
        "--mx-host=mx.test,mx1.test,10",
        "--mx-host=mx.test,mx3.test,30",
        "--mx-host=equal.test,first.test,5",
        "--mx-host=equal.test,a.test,10",
        "--mx-host=equal.test,b.test,10",
        "--mx-host=nullmx.test,.,0",
        "--host-record=implicit.test,127.0.0.5,::5",
        "--host-record=dual.test,127.0.0.7,::7",
        "--host-record=v6only.test,::1",
        "--txt-record=noaddr.test,just text",
        "--txt-record=txt.test,v=spf1 -all",
        "--txt-record=txt.test," + kLongString + ",tail",
        // Over 512 bytes: the reply is truncated over UDP and c-ares retries over TCP.
        "--txt-record=big.test," + std::string(250, 'x') + "," + std::string(250, 'y') + "," +
            std::string(250, 'z'),
    };
}

// ---------------------------------------------------------------- running coroutines

template <class Pred> void run_until(asio::io_context& io, Pred done) {
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(50ms);
}

template <class T> T run(asio::io_context& io, asio::awaitable<T> op) {
    std::optional<T> result;
    asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
        if (e) std::rethrow_exception(e);
        result = std::move(value);
    });
    run_until(io, [&] { return result.has_value(); });
    REQUIRE(result.has_value());
    return std::move(*result);
}

std::vector<std::string> names(const MxResult& r) {
    std::vector<std::string> out;
    for (const auto& h : r.hosts)
        out.push_back(h.host + "/" + std::to_string(h.preference));
    return out;
}

std::vector<std::string> texts(const AddressResult& r) {
    std::vector<std::string> out;
    for (const auto& a : r.addresses)
        out.push_back(a.to_string());
    return out;
}

struct FakeClock {
    std::shared_ptr<std::chrono::steady_clock::time_point> t =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    SteadyNow fn() const {
        return [t = t] { return *t; };
    }
    void advance(std::chrono::seconds d) { *t += d; }
};

std::function<uint32_t()> seeded(uint32_t seed) {
    auto gen = std::make_shared<std::mt19937>(seed);
    return [gen] { return static_cast<uint32_t>((*gen)()); };
}

} // namespace

// ================================================================ parsers

TEST_CASE("MX answers: hosts, TTL, null MX", "[dns]") {
    SECTION("records and the smallest TTL") {
        Reply r(0, "example.org", kMx);
        r.answer("example.org", kMx, 300, mx_rdata(20, "b.example.org"))
            .answer("example.org", kMx, 100, mx_rdata(10, "a.example.org"));
        auto a = parse_mx_answer(r.bytes.data(), r.bytes.size());
        REQUIRE(a.status == Status::Ok);
        CHECK_FALSE(a.null_mx);
        CHECK(a.ttl == 100);
        REQUIRE(a.hosts.size() == 2);
        CHECK(a.hosts[0] == MxHost{"b.example.org", 20});
        CHECK(a.hosts[1] == MxHost{"a.example.org", 10});
    }
    SECTION("0 . is null MX") {
        Reply r(0, "example.org", kMx);
        r.answer("example.org", kMx, 300, mx_rdata(0, ""));
        auto a = parse_mx_answer(r.bytes.data(), r.bytes.size());
        REQUIRE(a.status == Status::Ok);
        CHECK(a.null_mx);
        CHECK(a.hosts.empty());
    }
    SECTION("a root exchange beside real hosts is dropped, not null MX") {
        Reply r(0, "example.org", kMx);
        r.answer("example.org", kMx, 300, mx_rdata(0, ""))
            .answer("example.org", kMx, 300, mx_rdata(10, "mx.example.org"));
        auto a = parse_mx_answer(r.bytes.data(), r.bytes.size());
        CHECK_FALSE(a.null_mx);
        REQUIRE(a.hosts.size() == 1);
        CHECK(a.hosts[0].host == "mx.example.org");
    }
    SECTION("a TTL with the top bit set counts as 0 (RFC 2181)") {
        Reply r(0, "example.org", kMx);
        r.answer("example.org", kMx, 0x80000001u, mx_rdata(10, "mx.example.org"));
        CHECK(parse_mx_answer(r.bytes.data(), r.bytes.size()).ttl == 0);
    }
}

TEST_CASE("negative answers: RCODE and the SOA's negative TTL (RFC 2308)", "[dns]") {
    SECTION("NXDOMAIN: min of SOA TTL and MINIMUM") {
        Reply r(3, "nope.example.org", kMx);
        r.authority("example.org", kSoa, 600, soa_rdata(120));
        auto a = parse_mx_answer(r.bytes.data(), r.bytes.size());
        CHECK(a.status == Status::NoSuchDomain);
        CHECK(a.ttl == 120);
        Reply r2(3, "nope.example.org", kA);
        r2.authority("example.org", kSoa, 30, soa_rdata(120));
        CHECK(parse_a_answer(r2.bytes.data(), r2.bytes.size()).ttl == 30);
    }
    SECTION("NODATA with and without an SOA") {
        Reply r(0, "example.org", kTxt);
        r.authority("example.org", kSoa, 600, soa_rdata(90));
        auto a = parse_txt_answer(r.bytes.data(), r.bytes.size());
        CHECK(a.status == Status::NoData);
        CHECK(a.ttl == 90);
        Reply bare(0, "example.org", kAaaa);
        auto b = parse_aaaa_answer(bare.bytes.data(), bare.bytes.size());
        CHECK(b.status == Status::NoData);
        CHECK(b.ttl == 0); // no SOA: not to be cached
    }
    SECTION("SERVFAIL and REFUSED are temporary") {
        Reply s(2, "example.org", kMx);
        auto a = parse_mx_answer(s.bytes.data(), s.bytes.size());
        CHECK(a.status == Status::TempFail);
        CHECK(a.detail == "SERVFAIL");
        Reply f(5, "example.org", kA);
        CHECK(parse_a_answer(f.bytes.data(), f.bytes.size()).detail == "REFUSED");
    }
}

TEST_CASE("A, AAAA and TXT answers", "[dns]") {
    Reply a(0, "h.example", kA);
    a.answer("h.example", kA, 50, {192, 0, 2, 1}).answer("h.example", kA, 40, {192, 0, 2, 2});
    auto pa = parse_a_answer(a.bytes.data(), a.bytes.size());
    REQUIRE(pa.status == Status::Ok);
    REQUIRE(pa.addresses.size() == 2);
    CHECK(to_string(pa.addresses[0]) == "192.0.2.1");
    CHECK(to_string(pa.addresses[1]) == "192.0.2.2");
    CHECK(pa.ttl == 40);

    std::vector<unsigned char> v6(16, 0);
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 1;
    Reply aaaa(0, "h.example", kAaaa);
    aaaa.answer("h.example", kAaaa, 70, v6);
    auto p6 = parse_aaaa_answer(aaaa.bytes.data(), aaaa.bytes.size());
    REQUIRE(p6.status == Status::Ok);
    REQUIRE(p6.addresses.size() == 1);
    CHECK(to_string(p6.addresses[0]) == "2001:db8::1");
    CHECK(p6.ttl == 70);

    Reply t(0, "t.example", kTxt);
    t.answer("t.example", kTxt, 80, txt_rdata({"v=DKIM1; k=ed25519; ", "p=abc"}))
        .answer("t.example", kTxt, 60, txt_rdata({"second"}));
    auto pt = parse_txt_answer(t.bytes.data(), t.bytes.size());
    REQUIRE(pt.status == Status::Ok);
    CHECK(pt.records == std::vector<std::string>{"v=DKIM1; k=ed25519; p=abc", "second"});
    CHECK(pt.ttl == 60);
}

TEST_CASE("truncated and garbage replies are temporary failures, never crashes", "[dns]") {
    Reply r(0, "example.org", kMx);
    r.answer("example.org", kMx, 300, mx_rdata(10, "mx.example.org"))
        .authority("example.org", kSoa, 600, soa_rdata(120));
    for (std::size_t n = 0; n < r.bytes.size(); ++n) {
        auto a = parse_mx_answer(r.bytes.data(), n);
        (void)parse_a_answer(r.bytes.data(), n);
        (void)parse_txt_answer(r.bytes.data(), n);
        // Cutting into the authority section still leaves a usable answer.
        if (a.status == Status::Ok) CHECK(a.hosts.size() == 1);
        if (n < 12) CHECK(a.status == Status::TempFail);
    }
    CHECK(parse_mx_answer(nullptr, 0).status == Status::TempFail);
    std::vector<unsigned char> loop = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0, 12};
    CHECK(parse_mx_answer(loop.data(), loop.size()).status == Status::TempFail);
}

TEST_CASE("order_mx sorts by preference and shuffles ties", "[dns]") {
    std::vector<MxHost> hosts = {{"c", 30}, {"a1", 10}, {"b", 20}, {"a2", 10}, {"a3", 10}};
    std::set<std::string> firsts;
    auto rng = seeded(7);
    for (int i = 0; i < 50; ++i) {
        auto copy = hosts;
        order_mx(copy, rng);
        for (std::size_t j = 0; j < 3; ++j)
            CHECK(copy[j].preference == 10);
        CHECK(copy[3].host == "b");
        CHECK(copy[4].host == "c");
        firsts.insert(copy[0].host);
    }
    CHECK(firsts == std::set<std::string>{"a1", "a2", "a3"});
}

TEST_CASE("parse_server_list validates --dns", "[dns]") {
    auto ok = parse_server_list("127.0.0.1:5353, [::1]:53,10.0.0.1,::1");
    REQUIRE(ok);
    CHECK(*ok == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "10.0.0.1:53", "[::1]:53"});
    for (const char* bad :
         {"", " ", "localhost:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:5x",
          "[::1", "[::1]x", "[127.0.0.1]:53", "1.2.3.4:53,,", "300.1.1.1:53"}) {
        INFO(bad);
        auto r = parse_server_list(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ar::kErrInvalid);
        CHECK(r.error().field == "dns");
    }
}

// ================================================================ resolver against dnsmasq

TEST_CASE("resolver: MX by preference, implicit MX, null MX, NXDOMAIN", "[dns]") {
    Dnsmasq dns(zone());
    asio::io_context io;
    Resolver resolver(io.get_executor(), {dns.server()}, seeded(1));

    auto mx = run(io, resolver.resolve_mx("mx.test"));
    REQUIRE(mx.kind == MxResult::Hosts);
    CHECK(names(mx) == std::vector<std::string>{"mx1.test/10", "mx2.test/20", "mx3.test/30"});

    auto implicit = run(io, resolver.resolve_mx("implicit.test"));
    REQUIRE(implicit.kind == MxResult::Hosts);
    CHECK(names(implicit) == std::vector<std::string>{"implicit.test/0"});

    auto null_mx = run(io, resolver.resolve_mx("nullmx.test"));
    CHECK(null_mx.kind == MxResult::NullMx);
    CHECK(null_mx.hosts.empty());
    CHECK_THAT(null_mx.detail, Catch::Contains("RFC 7505"));

    auto unknown = run(io, resolver.resolve_mx("unknown.test"));
    CHECK(unknown.kind == MxResult::NoSuchDomain);
    CHECK_THAT(unknown.detail, Catch::Contains("NXDOMAIN"));

    // The name exists (it has a TXT record) but has neither MX nor address: nowhere to deliver.
    auto noaddr = run(io, resolver.resolve_mx("noaddr.test"));
    CHECK(noaddr.kind == MxResult::NoSuchDomain);

    // Names are case-insensitive and may end in the root dot.
    auto upper = run(io, resolver.resolve_mx("MX.Test."));
    CHECK(names(upper) == names(mx));
}

TEST_CASE("resolver: equal MX preferences are shuffled by the rng", "[dns]") {
    Dnsmasq dns(zone());
    asio::io_context io;
    auto orders_for = [&](uint32_t seed) {
        Resolver resolver(io.get_executor(), {dns.server()}, seeded(seed));
        std::vector<std::vector<std::string>> orders;
        for (int i = 0; i < 20; ++i) {
            auto r = run(io, resolver.resolve_mx("equal.test"));
            REQUIRE(r.kind == MxResult::Hosts);
            REQUIRE(r.hosts.size() == 3);
            CHECK(r.hosts[0].host == "first.test");
            orders.push_back(names(r));
        }
        return orders;
    };
    for (uint32_t seed : {1u, 2u}) {
        auto orders = orders_for(seed);
        std::set<std::vector<std::string>> distinct(orders.begin(), orders.end());
        CHECK(distinct ==
              std::set<std::vector<std::string>>{{"first.test/5", "a.test/10", "b.test/10"},
                                                 {"first.test/5", "b.test/10", "a.test/10"}});
        CHECK(orders_for(seed) == orders); // the same seed gives the same orders
    }
}

TEST_CASE("resolver: addresses and TXT", "[dns]") {
    Dnsmasq dns(zone());
    asio::io_context io;
    Resolver resolver(io.get_executor(), {dns.server()});

    auto dual = run(io, resolver.resolve_addresses("dual.test"));
    REQUIRE(dual.status == Status::Ok);
    CHECK(texts(dual) == std::vector<std::string>{"127.0.0.7", "::7"});

    auto v6 = run(io, resolver.resolve_addresses("v6only.test"));
    REQUIRE(v6.status == Status::Ok);
    CHECK(texts(v6) == std::vector<std::string>{"::1"});

    auto none = run(io, resolver.resolve_addresses("nowhere.test"));
    CHECK(none.status == Status::NoSuchDomain);
    auto no_address = run(io, resolver.resolve_addresses("noaddr.test"));
    CHECK(no_address.status == Status::NoData);

    auto txt = run(io, resolver.resolve_txt("txt.test"));
    REQUIRE(txt.status == Status::Ok);
    std::multiset<std::string> records(txt.records.begin(), txt.records.end());
    CHECK(records == std::multiset<std::string>{"v=spf1 -all", kLongString + "tail"});

    auto big = run(io, resolver.resolve_txt("big.test")); // over TCP
    REQUIRE(big.status == Status::Ok);
    REQUIRE(big.records.size() == 1);
    CHECK(big.records[0] == std::string(250, 'x') + std::string(250, 'y') + std::string(250, 'z'));

    auto no_txt = run(io, resolver.resolve_txt("mx.test"));
    CHECK(no_txt.status == Status::NoData);
    auto nx_txt = run(io, resolver.resolve_txt("nowhere.test"));
    CHECK(nx_txt.status == Status::NoSuchDomain);
}

TEST_CASE("resolver: failures to get an answer are TempFail", "[dns]") {
    asio::io_context io;
    SECTION("nothing listening on the port") {
        Resolver resolver(io.get_executor(), {"127.0.0.1:" + std::to_string(free_udp_port())});
        resolver.set_timeout(200ms, 1);
        auto r = run(io, resolver.resolve_mx("mx.test"));
        CHECK(r.kind == MxResult::TempFail);
        auto a = run(io, resolver.resolve_addresses("dual.test"));
        CHECK(a.status == Status::TempFail);
    }
    SECTION("a server that never answers: timeout") {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        Resolver resolver(io.get_executor(), {"127.0.0.1:" + std::to_string(ntohs(addr.sin_port))});
        resolver.set_timeout(150ms, 2);
        auto start = std::chrono::steady_clock::now();
        auto r = run(io, resolver.resolve_mx("mx.test"));
        CHECK(r.kind == MxResult::TempFail);
        CHECK_THAT(r.detail, Catch::Contains("timed out"));
        CHECK(std::chrono::steady_clock::now() - start >= 250ms);
        auto t = run(io, resolver.resolve_txt("txt.test"));
        CHECK(t.status == Status::TempFail);
        close(fd);
    }
    SECTION("REFUSED from dnsmasq for a name outside its zones") {
        Dnsmasq dns(zone());
        Resolver resolver(io.get_executor(), {dns.server()});
        resolver.set_timeout(500ms, 1);
        auto r = run(io, resolver.resolve_mx("example.com"));
        CHECK(r.kind == MxResult::TempFail);
        CHECK_THAT(r.detail, Catch::Contains("REFUSED") && Catch::Contains(dns.server()));
    }
    SECTION("an unusable server list") {
        Resolver resolver(io.get_executor(), {"resolver.example:53"});
        auto r = run(io, resolver.resolve_mx("mx.test"));
        CHECK(r.kind == MxResult::TempFail);
        CHECK_THAT(r.detail, Catch::Contains("resolver.example"));
    }
}

TEST_CASE("resolver: answers are cached within their TTL", "[dns]") {
    asio::io_context io;
    FakeClock clock;
    SECTION("positive and negative answers, until the TTL runs out") {
        Dnsmasq dns(zone(), 60);
        Resolver resolver(io.get_executor(), {dns.server()}, seeded(3), clock.fn());
        // Answers while dnsmasq runs get time even on a loaded machine (CI runs tests side by
        // side); once it is stopped, a short timeout keeps the TempFail checks quick.
        resolver.set_timeout(2000ms, 1);
        REQUIRE(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::Hosts);
        REQUIRE(run(io, resolver.resolve_mx("unknown.test")).kind == MxResult::NoSuchDomain);
        REQUIRE(run(io, resolver.resolve_txt("txt.test")).status == Status::Ok);
        REQUIRE(run(io, resolver.resolve_addresses("dual.test")).status == Status::Ok);
        dns.stop();
        resolver.set_timeout(200ms, 1);

        clock.advance(59s);
        auto mx = run(io, resolver.resolve_mx("mx.test"));
        REQUIRE(mx.kind == MxResult::Hosts);
        CHECK(names(mx) == std::vector<std::string>{"mx1.test/10", "mx2.test/20", "mx3.test/30"});
        CHECK(run(io, resolver.resolve_mx("UNKNOWN.test")).kind == MxResult::NoSuchDomain);
        CHECK(run(io, resolver.resolve_txt("txt.test")).records.size() == 2);
        CHECK(texts(run(io, resolver.resolve_addresses("dual.test"))).size() == 2);

        clock.advance(2s);
        CHECK(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::TempFail);
        CHECK(run(io, resolver.resolve_mx("unknown.test")).kind == MxResult::TempFail);
        CHECK(run(io, resolver.resolve_txt("txt.test")).status == Status::TempFail);
    }
    SECTION("a long TTL is capped at one hour, a negative one at five minutes") {
        Dnsmasq dns(zone(), 86400);
        Resolver resolver(io.get_executor(), {dns.server()}, seeded(3), clock.fn());
        // Answers while dnsmasq runs get time even on a loaded machine (CI runs tests side by
        // side); once it is stopped, a short timeout keeps the TempFail checks quick.
        resolver.set_timeout(2000ms, 1);
        REQUIRE(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::Hosts);
        REQUIRE(run(io, resolver.resolve_mx("unknown.test")).kind == MxResult::NoSuchDomain);
        dns.stop();
        resolver.set_timeout(200ms, 1);
        clock.advance(299s);
        CHECK(run(io, resolver.resolve_mx("unknown.test")).kind == MxResult::NoSuchDomain);
        clock.advance(2s);
        CHECK(run(io, resolver.resolve_mx("unknown.test")).kind == MxResult::TempFail);
        clock.advance(3298s); // 3599 s in all
        CHECK(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::Hosts);
        clock.advance(2s);
        CHECK(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::TempFail);
    }
    SECTION("temporary failures are not cached; clear_cache forgets answers") {
        uint16_t port = free_udp_port();
        Resolver resolver(io.get_executor(), {"127.0.0.1:" + std::to_string(port)}, seeded(3),
                          clock.fn());
        resolver.set_timeout(200ms, 1);
        REQUIRE(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::TempFail);
        Dnsmasq dns(zone(), 60, port);
        REQUIRE(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::Hosts);
        resolver.clear_cache();
        dns.stop();
        CHECK(run(io, resolver.resolve_mx("mx.test")).kind == MxResult::TempFail);
    }
}

TEST_CASE("resolver: 200 concurrent MX lookups all complete", "[dns]") {
    Dnsmasq dns(zone());
    asio::io_context io;
    Resolver resolver(io.get_executor(), {dns.server()}, seeded(5));
    const std::vector<std::pair<std::string, MxResult::Kind>> cases = {
        {"mx.test", MxResult::Hosts},
        {"implicit.test", MxResult::Hosts},
        {"nullmx.test", MxResult::NullMx},
        {"unknown.test", MxResult::NoSuchDomain}};
    int done = 0, right = 0;
    for (int i = 0; i < 200; ++i) {
        const auto& [name, kind] = cases[static_cast<std::size_t>(i) % cases.size()];
        asio::co_spawn(io, resolver.resolve_mx(name),
                       [&, want = kind](std::exception_ptr e, MxResult r) {
                           if (e) std::rethrow_exception(e);
                           ++done;
                           if (r.kind == want) ++right;
                       });
    }
    run_until(io, [&] { return done == 200; });
    CHECK(done == 200);
    CHECK(right == 200);
}

TEST_CASE("resolver: destroying it ends the lookups in flight", "[dns]") {
    int fd = socket(AF_INET, SOCK_DGRAM, 0); // a server that never answers
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

    asio::io_context io;
    std::optional<MxResult> result;
    auto resolver = std::make_unique<Resolver>(
        io.get_executor(),
        std::vector<std::string>{"127.0.0.1:" + std::to_string(ntohs(addr.sin_port))});
    asio::co_spawn(io, resolver->resolve_mx("mx.test"),
                   [&](std::exception_ptr, MxResult r) { result = std::move(r); });
    io.poll(); // the query is now in flight
    CHECK_FALSE(result);
    resolver.reset();
    run_until(io, [&] { return result.has_value(); });
    REQUIRE(result);
    CHECK(result->kind == MxResult::TempFail);
    CHECK_THAT(result->detail, Catch::Contains("shut down"));
    close(fd);
}
