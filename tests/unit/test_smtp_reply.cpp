// Tests of SMTP reply parsing (RFC 5321 4.2, RFC 3463) and EHLO extension reading.
#include "smtp/reply.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using ar::smtp::parse_ehlo;
using ar::smtp::Reply;
using ar::smtp::ReplyParser;

namespace {

// Feeds lines; returns the completed reply, failing the test if it ends early or errs.
Reply parse(const std::vector<std::string>& lines) {
    ReplyParser parser;
    for (size_t i = 0; i < lines.size(); ++i) {
        auto fed = parser.feed(lines[i]);
        REQUIRE(fed.ok());
        if (i + 1 < lines.size()) {
            REQUIRE_FALSE(fed->has_value());
        } else {
            REQUIRE(fed->has_value());
            return **fed;
        }
    }
    FAIL("no lines");
    return {};
}

} // namespace

TEST_CASE("a single-line reply with an enhanced status code", "[smtp_client][smtp_reply]") {
    Reply r = parse({"550 5.1.1 user unknown"});
    CHECK(r.code == 550);
    CHECK(r.enhanced == "5.1.1");
    CHECK(r.lines == std::vector<std::string>{"5.1.1 user unknown"});
    CHECK(r.text() == "user unknown");
    CHECK(r.to_string() == "550 5.1.1 user unknown");
    CHECK(r.permanent());
    CHECK_FALSE(r.transient());
    CHECK_FALSE(r.positive());
}

TEST_CASE("a reply without enhanced status code", "[smtp_client][smtp_reply]") {
    Reply r = parse({"220 mx.example ESMTP ready"});
    CHECK(r.code == 220);
    CHECK(r.enhanced.empty());
    CHECK(r.text() == "mx.example ESMTP ready");
    CHECK(r.to_string() == "220 mx.example ESMTP ready");
    CHECK(r.positive());
    CHECK(parse({"354 go ahead"}).positive());
    CHECK(parse({"451 4.3.0 later"}).transient());
}

TEST_CASE("a bare reply code is a complete reply", "[smtp_client][smtp_reply]") {
    Reply r = parse({"250"});
    CHECK(r.code == 250);
    CHECK(r.text().empty());
    CHECK(r.to_string() == "250");
    CHECK(parse({"250 "}).to_string() == "250");
}

TEST_CASE("a multi-line reply", "[smtp_client][smtp_reply]") {
    Reply r = parse({"550-5.2.1 mailbox disabled", "550-5.2.1 second line", "550 5.2.1 third"});
    CHECK(r.code == 550);
    CHECK(r.enhanced == "5.2.1");
    CHECK(r.lines.size() == 3);
    CHECK(r.text() == "mailbox disabled second line third");
    CHECK(r.to_string() == "550 5.2.1 mailbox disabled second line third");
}

TEST_CASE("an enhanced code of another class is text", "[smtp_client][smtp_reply]") {
    // 4.x.x does not belong to a 5xx reply (RFC 3463 2: the classes must agree).
    Reply r = parse({"550 4.1.1 odd"});
    CHECK(r.enhanced.empty());
    CHECK(r.text() == "4.1.1 odd");
    CHECK(parse({"250 2.0.0"}).enhanced == "2.0.0");
    CHECK(parse({"250 2.0.0"}).to_string() == "250 2.0.0");
    CHECK(parse({"250 2.1234.0 x"}).enhanced.empty());
    CHECK(parse({"250 2.0.0x"}).enhanced.empty());
    CHECK(parse({"250 2.123.456 ok"}).enhanced == "2.123.456");
}

TEST_CASE("the parser is reusable after a complete reply", "[smtp_client][smtp_reply]") {
    ReplyParser parser;
    auto first = parser.feed("250 OK");
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    auto second = parser.feed("451-4.4.1 a");
    REQUIRE(second.ok());
    CHECK_FALSE(second->has_value());
    auto third = parser.feed("451 4.4.1 b");
    REQUIRE(third.ok());
    REQUIRE(third->has_value());
    CHECK((*third)->to_string() == "451 4.4.1 a b");
}

TEST_CASE("malformed reply lines are refused", "[smtp_client][smtp_reply]") {
    for (const char* line : {"", "25", "abc", "2x0 ok", "250x ok", "150 ok", "650 ok", "260 ok",
                             "250\tok", " 250 ok"}) {
        ReplyParser parser;
        auto fed = parser.feed(line);
        INFO("line: \"" << line << "\"");
        CHECK_FALSE(fed.ok());
        if (!fed.ok()) CHECK(fed.error().code == ar::kErrInvalid);
    }
}

TEST_CASE("a code change within a reply is refused", "[smtp_client][smtp_reply]") {
    ReplyParser parser;
    REQUIRE(parser.feed("250-first").ok());
    auto fed = parser.feed("251 second");
    REQUIRE_FALSE(fed.ok());
    CHECK(fed.error().message.find("changed from 250 to 251") != std::string::npos);
    // After an error the parser starts afresh.
    auto next = parser.feed("221 bye");
    REQUIRE(next.ok());
    CHECK((*next)->code == 221);
}

TEST_CASE("over-long lines and too many lines are refused", "[smtp_client][smtp_reply]") {
    ReplyParser parser;
    CHECK(parser.feed("250 " + std::string(ar::smtp::kMaxReplyLine - 4, 'a')).ok());
    CHECK_FALSE(parser.feed("250 " + std::string(ar::smtp::kMaxReplyLine - 3, 'a')).ok());

    ReplyParser many;
    for (size_t i = 0; i < ar::smtp::kMaxReplyLines; ++i)
        REQUIRE(many.feed("250-x").ok());
    CHECK_FALSE(many.feed("250 last").ok());
}

TEST_CASE("reply text is made safe UTF-8", "[smtp_client][smtp_reply]") {
    Reply r = parse(
        {std::string("550 bad\x01\x7f \xff\xc3(ok \xc3\xa9 \xed\xa0\x80 \xf0\x9f\x93\xa7\tx")});
    CHECK(r.text() == "bad?? ?"
                      "?(ok \xc3\xa9 ??? \xf0\x9f\x93\xa7 x");
    Reply nul = parse({std::string("250 a\0b", 7)});
    CHECK(nul.text() == "a?b");
}

TEST_CASE("make_reply phrases a local failure", "[smtp_client][smtp_reply]") {
    Reply r = ar::smtp::make_reply(554, "5.6.7", "SMTPUTF8 not supported by mx.example");
    CHECK(r.to_string() == "554 5.6.7 SMTPUTF8 not supported by mx.example");
    CHECK(r.text() == "SMTPUTF8 not supported by mx.example");
    CHECK(r.permanent());
    CHECK(ar::smtp::make_reply(451, "", "later").to_string() == "451 later");
}

TEST_CASE("EHLO extensions are read case-insensitively", "[smtp_client][smtp_reply]") {
    Reply r =
        parse({"250-mx.example greets you", "250-pipelining", "250-SIZE 35882577", "250-8BITMIME",
               "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-AUTH PLAIN login",
               "250-AUTH=CRAM-MD5", "250-X-UNKNOWN foo", "250 SMTPUTF8"});
    auto ext = parse_ehlo(r);
    CHECK(ext.greeting == "mx.example greets you");
    CHECK(ext.pipelining);
    CHECK(ext.size);
    REQUIRE(ext.size_limit.has_value());
    CHECK(*ext.size_limit == 35882577);
    CHECK(ext.eight_bit_mime);
    CHECK(ext.starttls);
    CHECK(ext.enhanced_codes);
    CHECK(ext.smtputf8);
    CHECK(ext.has_auth("PLAIN"));
    CHECK(ext.has_auth("login"));
    CHECK(ext.has_auth("CRAM-MD5"));
    CHECK_FALSE(ext.has_auth("XOAUTH2"));
}

TEST_CASE("EHLO SIZE without a limit, and a bare greeting", "[smtp_client][smtp_reply]") {
    auto zero = parse_ehlo(parse({"250-mx", "250 SIZE 0"}));
    CHECK(zero.size);
    CHECK_FALSE(zero.size_limit.has_value());
    auto none = parse_ehlo(parse({"250-mx", "250 SIZE"}));
    CHECK(none.size);
    CHECK_FALSE(none.size_limit.has_value());
    auto junk = parse_ehlo(parse({"250-mx", "250 SIZE 99999999999999999999999"}));
    CHECK_FALSE(junk.size_limit.has_value());
    auto bare = parse_ehlo(parse({"250 mx.example"}));
    CHECK(bare.greeting == "mx.example");
    CHECK_FALSE(bare.pipelining);
    CHECK_FALSE(bare.starttls);
}
