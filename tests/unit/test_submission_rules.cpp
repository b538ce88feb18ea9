// check_submission: the rules a whole submitted message meets before the relay signs it.
#include <catch2/catch.hpp>

#include <string>

#include "core/result.h"
#include "mime/parse.h"
#include "relay/submission.h"

using ar::check_submission;

namespace {

ar::mime::Mailbox alice() {
    ar::mime::Mailbox m;
    m.local_part = "alice";
    m.domain = "agents.test";
    return m;
}

std::string message(const std::string& headers, const std::string& body = "Hello.\r\n") {
    return headers + "\r\n" + body;
}

const std::string kOk = "From: Alice <alice@agents.test>\r\nTo: bob@example.com\r\nSubject: hi\r\n";

} // namespace

TEST_CASE("a well-formed submission passes unchanged", "[submission]") {
    std::string raw = message("Date: Mon, 07 Dec 2026 20:00:00 +0000\r\nMessage-ID: <a.1@agents.test>\r\n" + kOk);
    auto r = check_submission(raw, alice());
    REQUIRE(r);
    CHECK(r->raw == raw);
    CHECK(r->message_id == "<a.1@agents.test>");
    CHECK_FALSE(r->needs_date);
    CHECK(r->subject == "hi");
}

TEST_CASE("missing Date and Message-ID are for the relay to add", "[submission]") {
    auto r = check_submission(message(kOk), alice());
    REQUIRE(r);
    CHECK(r->needs_date);
    CHECK(r->message_id.empty());
}

TEST_CASE("From must be exactly one field with the sender's own address", "[submission]") {
    struct Case {
        const char* headers;
        const char* says;
    };
    for (Case c : {Case{"From: <alice@agents.test>\r\nFrom: <bob@agents.test>\r\n", "2 From fields"},
                   Case{"To: x@example.com\r\n", "0 From fields"},
                   Case{"From: bob@agents.test\r\n", "From field must be your own"},
                   Case{"From: alice@agents.test, bob@agents.test\r\n", "From field must be your own"},
                   Case{"From: alice@agents.test, alice@agents.test\r\n", "must hold one address"},
                   Case{"From: alice@agents.test\r\nSender: bob@agents.test\r\n", "Sender field"},
                   Case{"From: alice@agents.test\r\nResent-From: ceo@bank.test\r\n", "Resent-From field"},
                   Case{"From: alice@agents.test\r\nResent-Sender: x@y.test\r\n", "Resent-Sender field"},
                   Case{"From : bob@agents.test\r\nFrom: alice@agents.test\r\n", "2 From fields"},
                   Case{"FROM: alice@agents.test\r\nfrom: bob@agents.test\r\n", "2 From fields"}}) {
        INFO(c.headers);
        auto r = check_submission(message(std::string(c.headers) + "Subject: s\r\n"), alice());
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ar::kErrForbidden);
        CHECK(r.error().message.find(c.says) != std::string::npos);
    }
    // Case does not matter in the domain; the sender's own Sender is fine.
    CHECK(check_submission(message("From: alice@AGENTS.test\r\nSender: alice@agents.test\r\n"), alice()));
}

TEST_CASE("fields allowed once are refused twice", "[submission]") {
    for (const char* name : {"Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
                             "In-Reply-To", "References"}) {
        INFO(name);
        std::string value = std::string(name) == "Date"         ? "Mon, 07 Dec 2026 20:00:00 +0000"
                            : std::string(name) == "Sender"     ? "alice@agents.test"
                            : std::string(name).find("I") != std::string::npos || std::string(name) == "References"
                                ? "<x@y.test>"
                                : "alice@agents.test";
        std::string field = std::string(name) + ": " + value + "\r\n";
        auto once = check_submission(message("From: alice@agents.test\r\n" + field), alice());
        CHECK(once);
        auto r = check_submission(message("From: alice@agents.test\r\n" + field + field), alice());
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ar::kErrInvalid);
        CHECK(r.error().message.find("2 " + std::string(name) + " fields") != std::string::npos);
    }
    // Fields RFC 5322 allows many of stay allowed.
    CHECK(check_submission(message(kOk + "Comments: a\r\nComments: b\r\nKeywords: x\r\nKeywords: y\r\n"), alice()));
}

TEST_CASE("an unusable Date or Message-ID is dropped for the relay to replace", "[submission]") {
    auto r = check_submission(
        message(kOk + "Date: yesterday\r\nMessage-ID: not an id\r\n\tfolded on\r\nX-Keep: yes\r\n"), alice());
    REQUIRE(r);
    CHECK(r->needs_date);
    CHECK(r->message_id.empty());
    CHECK(r->raw.find("yesterday") == std::string::npos);
    CHECK(r->raw.find("not an id") == std::string::npos);
    CHECK(r->raw.find("folded on") == std::string::npos);
    CHECK(r->raw.find("X-Keep: yes\r\n") != std::string::npos);
    CHECK(r->raw.find("\r\n\r\nHello.\r\n") != std::string::npos);
    // Two ids in one field are not one Message-ID either.
    auto two = check_submission(message(kOk + "Message-ID: <a@b.test> <c@d.test>\r\n"), alice());
    REQUIRE(two);
    CHECK(two->message_id.empty());
}

TEST_CASE("lines end in CRLF and hold at most 998 octets", "[submission]") {
    auto bare_cr = check_submission(message(kOk, "one\rtwo\r\n"), alice());
    REQUIRE_FALSE(bare_cr);
    CHECK(bare_cr.error().code == ar::kErrInvalid);
    CHECK(bare_cr.error().message.find("line 5 holds a bare CR") != std::string::npos);
    auto bare_lf = check_submission(message(kOk, "one\ntwo\r\n"), alice());
    REQUIRE_FALSE(bare_lf);
    CHECK(bare_lf.error().message.find("bare LF") != std::string::npos);
    CHECK(check_submission(message(kOk, std::string(998, 'x') + "\r\n"), alice()));
    auto long_line = check_submission(message(kOk, std::string(999, 'x') + "\r\n"), alice());
    REQUIRE_FALSE(long_line);
    CHECK(long_line.error().message.find("999 octets long") != std::string::npos);
    auto long_last = check_submission(message(kOk, std::string(1200, 'x')), alice());
    REQUIRE_FALSE(long_last);
    CHECK(long_last.error().message.find("1200 octets") != std::string::npos);
    auto long_header = check_submission("X-Long: " + std::string(1000, 'x') + "\r\n" + message(kOk), alice());
    REQUIRE_FALSE(long_header);
}

TEST_CASE("the header section holds header fields only", "[submission]") {
    auto r = check_submission("From: alice@agents.test\r\nnot a field\r\nFrom: bob@agents.test\r\n\r\nbody\r\n",
                              alice());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ar::kErrInvalid);
    CHECK(r.error().message.find("'not a field'") != std::string::npos);
    // A message of header fields only (no body) is fine.
    CHECK(check_submission("From: alice@agents.test\r\nSubject: s\r\n", alice()));
}

TEST_CASE("remove_header_fields drops whole fields, folded lines included", "[mime]") {
    std::string raw = "A: 1\r\nB: 2\r\n\tmore\r\nC : 3\r\n\r\nB: body\r\n";
    auto out = ar::mime::remove_header_fields(raw, [](std::string_view n) { return n == "B" || n == "C"; });
    CHECK(out == "A: 1\r\n\r\nB: body\r\n");
}
