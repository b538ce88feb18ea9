// Webhook signatures (checked against HMAC-SHA256 computed by Python's hmac module), URL parsing
// and the private-address guard.
#include <catch2/catch.hpp>

#include "webhooks/signature.h"
#include "webhooks/target.h"

using namespace ar::webhooks;

TEST_CASE("webhook signature follows the Standard Webhooks v1 scheme") {
    // key = "0123456789abcdef0123456789abcdef"; the expected value came from
    // base64(hmac.new(key, b'msg_1.1700000000.{"a":1}', sha256).digest()) in Python.
    const std::string secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    auto sig = sign(secret, "msg_1", 1700000000, R"({"a":1})");
    REQUIRE(sig);
    CHECK(*sig == "v1,rkwp5YuvdrMkcu0ZhuMsXoTg44mHAr1Q0+FFgFpXsjY=");
    CHECK_FALSE(sign("not-a-secret", "msg_1", 1, "{}"));
    CHECK_FALSE(sign("whsec_@@@", "msg_1", 1, "{}"));

    auto fresh = new_secret();
    CHECK(fresh.rfind("whsec_", 0) == 0);
    CHECK(sign(fresh, "x", 1, "{}"));
    CHECK(new_secret() != fresh);
}

TEST_CASE("webhook URLs parse into scheme, host, port and path") {
    auto t = parse_url("https://hooks.example.com/in?x=1");
    REQUIRE(t);
    CHECK(t->tls);
    CHECK(t->host == "hooks.example.com");
    CHECK(t->port == 443);
    CHECK(t->path == "/in?x=1");

    auto v6 = parse_url("http://[2001:db8::1]:8080");
    REQUIRE(v6);
    CHECK_FALSE(v6->tls);
    CHECK(v6->host == "2001:db8::1");
    CHECK(v6->port == 8080);
    CHECK(v6->path == "/");

    CHECK_FALSE(parse_url("ftp://example.com/"));
    CHECK_FALSE(parse_url("http:///nohost"));
    CHECK_FALSE(parse_url("http://example.com:99999/"));
    CHECK_FALSE(parse_url("http://user@example.com/"));
}

TEST_CASE("the guard refuses private, loopback and reserved addresses") {
    for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                          "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fe80::1",
                          "::ffff:127.0.0.1", "::ffff:10.0.0.1"})
        CHECK(is_private_address(asio::ip::make_address(a)));
    for (const char* a : {"8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"})
        CHECK_FALSE(is_private_address(asio::ip::make_address(a)));

    auto loop = parse_url("http://127.0.0.1:9/hook");
    REQUIRE(loop);
    auto refused = check_target(*loop, false);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("127.0.0.1") != std::string::npos);
    auto allowed = check_target(*loop, true);
    REQUIRE(allowed);
    CHECK(allowed->size() == 1);
}
