// The SMTP doors' trusted networks: "CIDR=AGENT" parsed once at start, then matched against
// each client's address (IPv4, IPv6 and IPv4-mapped IPv6).
#include <catch2/catch.hpp>

#include "doors/smtp_doors.h"

using ar::doors::parse_trusted_network;

namespace {
asio::ip::address ip(const char* s) {
    return asio::ip::make_address(s);
}
} // namespace

TEST_CASE("trusted networks parse CIDR=AGENT", "[doors]") {
    auto t = parse_trusted_network("10.1.0.0/16=billing");
    REQUIRE(t);
    CHECK(t->agent == "billing");
    CHECK(t->prefix == 16);
    CHECK(t->contains(ip("10.1.200.3")));
    CHECK_FALSE(t->contains(ip("10.2.0.1")));
    CHECK(t->contains(ip("::ffff:10.1.0.9")));
    CHECK_FALSE(t->contains(ip("2001:db8::1")));

    auto host = parse_trusted_network("127.0.0.1=app");
    REQUIRE(host);
    CHECK(host->prefix == 32);
    CHECK(host->contains(ip("127.0.0.1")));
    CHECK_FALSE(host->contains(ip("127.0.0.2")));

    auto v6 = parse_trusted_network("2001:db8::/33=ops");
    REQUIRE(v6);
    CHECK(v6->contains(ip("2001:db8:7fff::1")));
    CHECK_FALSE(v6->contains(ip("2001:db8:8000::1")));

    auto all = parse_trusted_network("0.0.0.0/0=any");
    REQUIRE(all);
    CHECK(all->contains(ip("203.0.113.7")));
}

TEST_CASE("malformed trusted networks are refused with the expected form", "[doors]") {
    for (const char* bad : {"", "10.0.0.0/8", "10.0.0.0/8=", "=agent", "10.0.0/8=a",
                            "10.0.0.0/33=a", "10.0.0.0/-1=a", "::1/129=a", "10.0.0.0/x=a",
                            "10.0.0.0/8x=a", "10.0.0.0/=a", "10.0.0.0/ 8=a", "host.example/8=a"}) {
        INFO(bad);
        auto t = parse_trusted_network(bad);
        REQUIRE_FALSE(t);
        CHECK(t.error().message.find("CIDR=AGENT") != std::string::npos);
    }
}

TEST_CASE("submitted messages lose Bcc, Resent-Bcc and Return-Path, nothing else", "[doors]") {
    using ar::doors::strip_submission_headers;
    std::string raw = "Return-Path: <someone@else.example>\r\n"
                      "From: alice@agents.test\r\n"
                      "To: carol@remote.test\r\n"
                      "BCC: hidden@remote.test,\r\n"
                      "  other-hidden@remote.test\r\n"
                      "Subject: hello\r\n"
                      "\tfolded subject\r\n"
                      "Resent-Bcc : x@remote.test\r\n"
                      "X-Bcc-Note: kept\r\n"
                      "\r\n"
                      "Bcc: in the body stays\r\n"
                      "Return-Path: so does this\r\n";
    CHECK(strip_submission_headers(raw) == "From: alice@agents.test\r\n"
                                           "To: carol@remote.test\r\n"
                                           "Subject: hello\r\n"
                                           "\tfolded subject\r\n"
                                           "X-Bcc-Note: kept\r\n"
                                           "\r\n"
                                           "Bcc: in the body stays\r\n"
                                           "Return-Path: so does this\r\n");
    CHECK(strip_submission_headers("") == "");
    CHECK(strip_submission_headers("\r\nBcc: body only\r\n") == "\r\nBcc: body only\r\n");
    CHECK(strip_submission_headers("Subject: no body\r\n") == "Subject: no body\r\n");
    CHECK(strip_submission_headers("Bcc: x@y\r\n") == "");
}
