#include <catch2/catch.hpp>

#include "smtp/command.h"

using ar::smtp::Command;
using ar::smtp::parse_command;
using V = Command::Verb;

namespace {

Command parsed(std::string_view line) {
    auto r = parse_command(line);
    INFO(std::string(line) << " -> " << (r ? std::string("ok") : r.error().message));
    REQUIRE(r.ok());
    return r.value();
}

bool rejected(std::string_view line) {
    auto r = parse_command(line);
    if (r) return false;
    CHECK(r.error().code == ar::kErrInvalid);
    CHECK_FALSE(r.error().message.empty());
    return true;
}

} // namespace

TEST_CASE("verbs are recognised case-insensitively", "[smtp_command]") {
    CHECK(parsed("EHLO client.example").verb == V::Ehlo);
    CHECK(parsed("ehlo client.example").argument == "client.example");
    CHECK(parsed("HeLo client.example").verb == V::Helo);
    CHECK(parsed("data").verb == V::Data);
    CHECK(parsed("RSET").verb == V::Rset);
    CHECK(parsed("NOOP anything at all").verb == V::Noop);
    CHECK(parsed("QUIT").verb == V::Quit);
    CHECK(parsed("VRFY someone").verb == V::Vrfy);
    CHECK(parsed("EXPN list").verb == V::Expn);
    CHECK(parsed("HELP").verb == V::Help);
    CHECK(parsed("StartTLS").verb == V::StartTls);
    CHECK(parsed("BDAT 100 LAST").verb == V::Bdat);
    CHECK(parsed("EHLO client.example  ").argument == "client.example"); // trailing blanks
}

TEST_CASE("unknown verbs are not syntax errors", "[smtp_command]") {
    CHECK(parsed("XYZZY").verb == V::Unknown);
    CHECK(parsed("GET / HTTP/1.1").verb == V::Unknown);
    CHECK(parsed("").verb == V::Unknown);
    CHECK(parsed("MAILFROM:<a@b.example>").verb == V::Unknown);
}

TEST_CASE("commands that take no argument or need one", "[smtp_command]") {
    CHECK(rejected("EHLO"));
    CHECK(rejected("HELO "));
    CHECK(rejected("DATA now"));
    CHECK(rejected("STARTTLS please"));
    CHECK(rejected("QUIT now"));
    CHECK(rejected("RSET x"));
    CHECK(rejected("VRFY"));
    CHECK(rejected("BDAT"));
    CHECK(rejected("BDAT x"));
    CHECK(rejected("BDAT 10 FIRST"));
}

TEST_CASE("MAIL and RCPT paths", "[smtp_command]") {
    SECTION("with angle brackets") {
        auto c = parsed("MAIL FROM:<alice@example.com>");
        CHECK(c.verb == V::Mail);
        CHECK(c.path == "alice@example.com");
        CHECK(c.params.empty());
        CHECK(parsed("rcpt to:<Bob@Example.COM>").path == "Bob@Example.COM");
    }
    SECTION("without angle brackets, and with a space after the colon") {
        CHECK(parsed("MAIL FROM:alice@example.com").path == "alice@example.com");
        CHECK(parsed("MAIL FROM: <alice@example.com>").path == "alice@example.com");
        CHECK(parsed("RCPT TO: bob@example.com").path == "bob@example.com");
    }
    SECTION("the null reverse-path") {
        auto c = parsed("MAIL FROM:<>");
        CHECK(c.path.empty());
        CHECK(parsed("MAIL FROM:<> SIZE=10").params.size() == 1);
        CHECK(rejected("RCPT TO:<>"));
    }
    SECTION("source routes are dropped") {
        CHECK(parsed("RCPT TO:<@relay1.example,@relay2.example:carol@example.org>").path ==
              "carol@example.org");
        CHECK(rejected("RCPT TO:<@relay1.example carol@example.org>"));
    }
    SECTION("postmaster without a domain is a valid recipient only") {
        CHECK(parsed("RCPT TO:<Postmaster>").path == "Postmaster");
        CHECK(rejected("MAIL FROM:<postmaster>"));
    }
    SECTION("quoted local parts and address literals") {
        CHECK(parsed(R"(MAIL FROM:<"john doe"@example.com>)").path == R"("john doe"@example.com)");
        CHECK(parsed(R"(RCPT TO:<"a>b@c"@example.com>)").path == R"("a>b@c"@example.com)");
        CHECK(parsed(R"(RCPT TO:<"esc\"aped"@example.com>)").path == R"("esc\"aped"@example.com)");
        CHECK(parsed("RCPT TO:<user@[192.0.2.1]>").path == "user@[192.0.2.1]");
        CHECK(parsed("RCPT TO:<user@[IPv6:2001:db8::1]>").path == "user@[IPv6:2001:db8::1]");
        CHECK(parsed("RCPT TO:<first.last+tag@sub.example.co.uk>").path ==
              "first.last+tag@sub.example.co.uk");
    }
    SECTION("SMTPUTF8 addresses") {
        auto c = parsed("MAIL FROM:<用户@例子.广告> SMTPUTF8");
        CHECK(c.path == "用户@例子.广告");
        CHECK(ar::smtp::is_non_ascii(c.path));
        CHECK(parsed("RCPT TO:<josé@exämple.de>").path == "josé@exämple.de");
        CHECK_FALSE(ar::smtp::is_non_ascii("plain@example.com"));
        CHECK(rejected("RCPT TO:<bad\xff@example.com>"));         // not UTF-8
        CHECK(rejected("RCPT TO:<bad\xc0\xaf@example.com>"));     // overlong
        CHECK(rejected("RCPT TO:<bad\xed\xa0\x80@example.com>")); // surrogate
    }
    SECTION("bad paths") {
        CHECK(rejected("MAIL FROM"));
        CHECK(rejected("MAIL TO:<a@b.example>"));
        CHECK(rejected("RCPT FROM:<a@b.example>"));
        CHECK(rejected("MAIL FROM:"));
        CHECK(rejected("MAIL FROM:<alice@example.com"));
        CHECK(rejected("MAIL FROM:<alice>"));
        CHECK(rejected("MAIL FROM:<@example.com>"));
        CHECK(rejected("MAIL FROM:<alice@>"));
        CHECK(rejected("RCPT TO:<a b@example.com>"));
        CHECK(rejected("RCPT TO:<a@exa mple.com>"));
        CHECK(rejected("RCPT TO:<a@-example.com>"));
        CHECK(rejected("RCPT TO:<a@example..com>"));
        CHECK(rejected("RCPT TO:<a@example.com.>"));
        CHECK(rejected("RCPT TO:<a,b@example.com>"));
        CHECK(rejected("RCPT TO:<a@ex_ample.com>"));
        CHECK(rejected("RCPT TO:<a@[1.2.3.4>"));
        CHECK(rejected("RCPT TO:<a@[1.2.<3]>"));
        CHECK(rejected(R"(RCPT TO:<a@[1."2]>)"));
        CHECK(rejected(R"(RCPT TO:<"unterminated@example.com>)"));
        CHECK(rejected("RCPT TO:a@b.example>"));
        CHECK(rejected("RCPT TO:<a@b.example>SIZE=1"));
        CHECK(rejected("RCPT TO:<" + std::string(65, 'x') + "@example.com>"));
        CHECK(rejected("RCPT TO:<x@" + std::string(250, 'a') + ".com>"));
        CHECK(rejected(std::string("RCPT TO:<a\0b@example.com>", 25)));
        CHECK(rejected("RCPT TO:<a\x01@example.com>"));
    }
}

TEST_CASE("ESMTP parameters", "[smtp_command]") {
    auto c = parsed("MAIL FROM:<a@example.com> size=1000 BODY=8BITMIME SmtpUtf8 AUTH=<>");
    REQUIRE(c.params.size() == 4);
    CHECK(c.params[0] == std::pair<std::string, std::string>{"SIZE", "1000"});
    CHECK(c.params[1] == std::pair<std::string, std::string>{"BODY", "8BITMIME"});
    CHECK(c.params[2] == std::pair<std::string, std::string>{"SMTPUTF8", ""});
    CHECK(c.params[3] == std::pair<std::string, std::string>{"AUTH", "<>"});
    CHECK(parsed("RCPT TO:<b@example.com>  NOTIFY=SUCCESS,FAILURE").params.size() == 1);
    CHECK(rejected("MAIL FROM:<a@example.com> SIZE="));
    CHECK(rejected("MAIL FROM:<a@example.com> =1"));
    CHECK(rejected("MAIL FROM:<a@example.com> -X=1"));
    CHECK(rejected("MAIL FROM:<a@example.com> K_Y=1"));
    CHECK(rejected("MAIL FROM:<a@example.com> K=a=b"));
}

TEST_CASE("AUTH mechanism and initial response", "[smtp_command]") {
    auto c = parsed("auth plain AGFsaWNlAHNlY3JldA==");
    CHECK(c.verb == V::Auth);
    CHECK(c.mechanism == "PLAIN");
    REQUIRE(c.initial_response);
    CHECK(*c.initial_response == "AGFsaWNlAHNlY3JldA==");
    auto login = parsed("AUTH LOGIN");
    CHECK(login.mechanism == "LOGIN");
    CHECK_FALSE(login.initial_response);
    CHECK(*parsed("AUTH PLAIN =").initial_response == "=");
    CHECK(parsed("AUTH SCRAM-SHA-256").mechanism == "SCRAM-SHA-256");
    CHECK(rejected("AUTH"));
    CHECK(rejected("AUTH PL@IN"));
    CHECK(rejected("AUTH PLAIN abc def"));
    CHECK(rejected("AUTH THIS-MECHANISM-NAME-IS-TOO-LONG"));
}

TEST_CASE("garbage never parses as a known command", "[smtp_command]") {
    CHECK(parsed("\x80\x81\x82").verb == V::Unknown);
    CHECK(rejected("\x1b[2J"));
    CHECK(rejected("MAIL FROM:<a@b.example>\r")); // a stray CR is a control character
    CHECK(rejected("MAIL FROM:<<a@b.example>>"));
    CHECK(rejected(std::string("HELO \0", 6)));
}

TEST_CASE("base64 as SASL uses it", "[smtp_command]") {
    using ar::smtp::decode_base64;
    using ar::smtp::encode_base64;
    CHECK(encode_base64("") == "");
    CHECK(encode_base64("f") == "Zg==");
    CHECK(encode_base64("fo") == "Zm8=");
    CHECK(encode_base64("foo") == "Zm9v");
    CHECK(encode_base64("Username:") == "VXNlcm5hbWU6");
    CHECK(decode_base64("UGFzc3dvcmQ6").value() == "Password:");
    CHECK(decode_base64("Zg==").value() == "f");
    CHECK(decode_base64("Zm8=").value() == "fo");
    CHECK(decode_base64("").value().empty());
    CHECK_FALSE(decode_base64("Zg="));
    CHECK_FALSE(decode_base64("Z==="));
    CHECK_FALSE(decode_base64("Zg==Zg=="));
    CHECK_FALSE(decode_base64("Zm9v!A=="));
    CHECK_FALSE(decode_base64("Zm 9"));
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(i));
    CHECK(decode_base64(encode_base64(all)).value() == all);
}

TEST_CASE("AUTH PLAIN responses", "[smtp_command]") {
    using ar::smtp::decode_auth_plain;
    using ar::smtp::encode_base64;
    using namespace std::string_literals;
    auto creds = decode_auth_plain(encode_base64("\0alice\0s3cret"s));
    REQUIRE(creds);
    CHECK(creds->authzid.empty());
    CHECK(creds->authcid == "alice");
    CHECK(creds->password == "s3cret");
    auto with_authz = decode_auth_plain(encode_base64("admin\0alice\0pw"s));
    REQUIRE(with_authz);
    CHECK(with_authz->authzid == "admin");
    CHECK_FALSE(decode_auth_plain("="));
    CHECK_FALSE(decode_auth_plain(encode_base64("alice\0pw"s)));
    CHECK_FALSE(decode_auth_plain(encode_base64("\0alice\0pw\0extra"s)));
    CHECK_FALSE(decode_auth_plain(encode_base64("\0\0pw"s)));
    CHECK_FALSE(decode_auth_plain(encode_base64("\0alice\0"s)));
    CHECK_FALSE(decode_auth_plain(encode_base64("\0alice\0"s + std::string(256, 'p'))));
    CHECK_FALSE(decode_auth_plain("not base64!"));
}
