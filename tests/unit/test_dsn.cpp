#include <catch2/catch.hpp>

#include "mime/dsn.h"
#include "mime/parse.h"

#include <string>

#include "sample_data.h"

using namespace ar::mime;

namespace {

std::string read_dsn_sample(const std::string& name) { return read_sample("dsn", name); }

// Each sample parses alike with LF (as stored) and CRLF (as on the wire) line ends.
Dsn parse_sample(const std::string& name, bool crlf) {
    std::string raw = read_dsn_sample(name);
    auto r = parse_dsn(crlf ? to_crlf(raw) : raw);
    INFO(name << (r ? "" : ": " + r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

} // namespace

TEST_CASE("Postfix: failed recipient, returned message", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("postfix_failed.eml", crlf);
        CHECK(d.reporting_mta == "mail.agents.example");
        CHECK(d.arrival_date == "Tue, 10 Mar 2026 14:02:09 +0000 (UTC)");
        CHECK(d.original_message_id == "<01HRZ8K3J5Q6W7E8R9T0Y1U2I3.scout@agents.example>");
        REQUIRE(d.recipients.size() == 1);
        const DsnRecipient& r = d.recipients[0];
        CHECK(r.final_recipient == "nosuchuser@example.net");
        CHECK(r.original_recipient == "nosuchuser@example.net");
        CHECK(r.action == "failed");
        CHECK(r.status == "5.1.1");
        CHECK(r.remote_mta == "mx1.example.net");
        CHECK(r.diagnostic_code == "550 5.1.1 <nosuchuser@example.net>: Recipient address "
                                   "rejected: User unknown in virtual mailbox table");
    }
}

TEST_CASE("Postfix: delayed recipient, returned headers only", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("postfix_delayed.eml", crlf);
        CHECK(d.original_message_id == "<nightly-2026-03-10.scout@agents.example>");
        REQUIRE(d.recipients.size() == 1);
        const DsnRecipient& r = d.recipients[0];
        CHECK(r.final_recipient == "ops@slow.example");
        CHECK(r.action == "delayed");
        CHECK(r.status == "4.4.1");
        CHECK(r.remote_mta.empty());
        CHECK(r.diagnostic_code ==
              "connect to mx.slow.example[203.0.113.9]:25: Connection timed out");
        CHECK(r.will_retry_until == "Sun, 15 Mar 2026 14:01:50 +0000 (UTC)");
    }
}

TEST_CASE("Exim: two recipient groups, Action before Final-Recipient", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("exim_two_recipients.eml", crlf);
        CHECK(d.reporting_mta == "mx.relay.example");
        CHECK(d.original_message_id == "<weekly-sync.77@agents.example>");
        REQUIRE(d.recipients.size() == 2);
        CHECK(d.recipients[0].final_recipient == "alice@example.org");
        CHECK(d.recipients[0].status == "5.0.0");
        CHECK(d.recipients[0].diagnostic_code ==
              "550 5.2.1 The email account that you tried to reach is disabled.");
        CHECK(d.recipients[1].final_recipient == "bob@example.org");
        CHECK(d.recipients[1].action == "failed");
        CHECK(d.recipients[1].diagnostic_code == "552 5.2.2 Mailbox full");
        CHECK(d.recipients[1].remote_mta == "mx.example.org");
    }
}

TEST_CASE("Gmail: nested human-readable part, folded diagnostic, commented Remote-MTA", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("gmail_failed.eml", crlf);
        CHECK(d.reporting_mta == "googlemail.com");
        CHECK(d.original_message_id == "<9f8e7d6c.scout@agents.example>");
        REQUIRE(d.recipients.size() == 1);
        const DsnRecipient& r = d.recipients[0];
        CHECK(r.final_recipient == "nobody.here@gmail.com");
        CHECK(r.original_recipient.empty());
        CHECK(r.status == "5.1.1");
        CHECK(r.remote_mta == "gmail-smtp-in.l.google.com");
        CHECK(r.diagnostic_code.rfind("550-5.1.1 The email account that you tried to reach "
                                      "does not exist. Please try 550-5.1.1 double-checking",
                                      0) == 0);
        CHECK(r.diagnostic_code.find('\n') == std::string::npos);
        CHECK(r.last_attempt_date == "Tue, 10 Mar 2026 07:05:33 -0700 (PDT)");
    }
}

TEST_CASE("Gmail's X-Original-Message-ID is used when nothing is returned", "[dsn]") {
    std::string raw = read_dsn_sample("gmail_failed.eml");
    size_t returned = raw.find("Content-Type: message/rfc822");
    REQUIRE(returned != std::string::npos);
    raw.replace(returned, 28, "Content-Type: text/plain");
    auto d = parse_dsn(raw);
    REQUIRE(d.ok());
    CHECK(d->original_message_id == "<9f8e7d6c.scout@agents.example>");
}

TEST_CASE("Microsoft: 5.1.10, text/rfc822-headers", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("microsoft_ndr.eml", crlf);
        CHECK(d.reporting_mta == "DM6PR11MB4657.namprd11.prod.outlook.com");
        CHECK(d.original_message_id == "<q1-numbers.scout@agents.example>");
        REQUIRE(d.recipients.size() == 1);
        const DsnRecipient& r = d.recipients[0];
        CHECK(r.final_recipient == "jdoe@contoso.com");
        CHECK(r.original_recipient == "jdoe@contoso.com");
        CHECK(r.action == "failed");
        CHECK(r.status == "5.1.10");
        CHECK(r.diagnostic_code == "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient "
                                   "jdoe@contoso.com not found by SMTP address lookup");
    }
}

TEST_CASE("RFC 3464 example: three recipients, comments after Status", "[dsn]") {
    for (bool crlf : {false, true}) {
        Dsn d = parse_sample("rfc3464_multi_recipient.eml", crlf);
        CHECK(d.reporting_mta == "cs.utk.edu");
        CHECK(d.original_message_id.empty()); // "[original message goes here]"
        REQUIRE(d.recipients.size() == 3);
        CHECK(d.recipients[0].final_recipient == "arathib@vnet.ibm.com");
        CHECK(d.recipients[0].status == "5.0.0");
        CHECK(d.recipients[0].diagnostic_code ==
              "550 'arathib@vnet.IBM.COM' is not a registered gateway user");
        CHECK(d.recipients[0].remote_mta == "vnet.ibm.com");
        CHECK(d.recipients[1].final_recipient == "johnh@hpnjld.njd.hp.com");
        CHECK(d.recipients[1].action == "delayed");
        CHECK(d.recipients[1].status == "4.0.0");
        CHECK(d.recipients[1].diagnostic_code.empty());
        CHECK(d.recipients[2].final_recipient == "wsnell@sdcc13.ucsd.edu");
        CHECK(d.recipients[2].diagnostic_code == "550 user unknown");
    }
}

TEST_CASE("RFC 6533 global DSN with UTF-8 addresses", "[dsn]") {
    Dsn d = parse_sample("global_dsn.eml", true);
    CHECK(d.reporting_mta == "mx.bücher.example");
    CHECK(d.original_message_id == "<order.77@agents.example>");
    REQUIRE(d.recipients.size() == 1);
    CHECK(d.recipients[0].final_recipient == "jörg@bücher.example");
    CHECK(d.recipients[0].original_recipient == "jörg@bücher.example");
    CHECK(d.recipients[0].status == "5.1.1");
}

TEST_CASE("a DSN is also an ordinary message for the inbox", "[dsn]") {
    auto m = parse_message(read_dsn_sample("postfix_failed.eml"));
    REQUIRE(m.ok());
    CHECK(m->auto_submitted);
    CHECK(m->content_type == "multipart/report");
    CHECK(m->text.rfind("This is the mail system at host mail.agents.example.", 0) == 0);
    REQUIRE(m->attachments.size() == 1); // the returned message
    CHECK(m->attachments[0].content_type == "message/rfc822");
}

TEST_CASE("delivery-status fields: folding, case, repeats, missing blank lines", "[dsn]") {
    SECTION("case-insensitive names and folded values") {
        auto d = parse_delivery_status("reporting-mta: DNS; mta.example\n\n"
                                       "FINAL-RECIPIENT: RFC822; <A@Example.org>\n"
                                       "action: Failed\nstatus: 5.7.1\n"
                                       "diagnostic-code: smtp; 550 5.7.1\n\trelay\n  denied\n");
        REQUIRE(d.ok());
        CHECK(d->reporting_mta == "mta.example");
        REQUIRE(d->recipients.size() == 1);
        CHECK(d->recipients[0].final_recipient == "A@Example.org");
        CHECK(d->recipients[0].action == "failed");
        CHECK(d->recipients[0].diagnostic_code == "550 5.7.1 relay denied");
    }
    SECTION("a repeated Status: the specific code wins over a generic one") {
        auto d = parse_delivery_status("Reporting-MTA: dns; m\n\nFinal-Recipient: rfc822; a@b\n"
                                       "Action: failed\nStatus: 5.0.0\nStatus: 5.1.1\n"
                                       "Status: 5.2.2\n");
        REQUIRE(d.ok());
        CHECK(d->recipients[0].status == "5.1.1");
    }
    SECTION("recipients without blank lines between them, Postfix order") {
        auto d = parse_delivery_status(
            "Reporting-MTA: dns; m\nFinal-Recipient: rfc822; a@b\nOriginal-Recipient: rfc822;a@b\n"
            "Action: failed\nStatus: 5.1.1\nFinal-Recipient: rfc822; c@d\n"
            "Original-Recipient: rfc822;c@d\nAction: delivered\nStatus: 2.0.0\n");
        REQUIRE(d.ok());
        CHECK(d->reporting_mta == "m");
        REQUIRE(d->recipients.size() == 2);
        CHECK(d->recipients[0].final_recipient == "a@b");
        CHECK(d->recipients[1].final_recipient == "c@d");
        CHECK(d->recipients[1].action == "delivered");
        CHECK(d->recipients[1].status == "2.0.0");
    }
    SECTION("extra blank lines, junk lines and an Original-Recipient alone") {
        auto d = parse_delivery_status("\n\n\nReporting-MTA: dns; m\n\n\n\njunk without colon\n"
                                       "Original-Recipient: rfc822;x@y\nAction: failed\n"
                                       "Status: 5.0.0 (permanent)\n\n\n");
        REQUIRE(d.ok());
        REQUIRE(d->recipients.size() == 1);
        CHECK(d->recipients[0].final_recipient == "x@y");
        CHECK(d->recipients[0].status == "5.0.0");
    }
    SECTION("an envelope id") {
        auto d = parse_delivery_status("Original-Envelope-Id: QQ314159\nReporting-MTA: dns; m\n\n"
                                       "Final-Recipient: rfc822;a@b\nAction: failed\n");
        REQUIRE(d.ok());
        CHECK(d->original_envelope_id == "QQ314159");
    }
    SECTION("no recipient is an error") {
        CHECK_FALSE(parse_delivery_status("Reporting-MTA: dns; m\n").ok());
        CHECK_FALSE(parse_delivery_status("").ok());
    }
}

TEST_CASE("what is not a DSN is an error", "[dsn]") {
    auto mdn = parse_dsn(read_dsn_sample("not_dsn_mdn.eml"));
    REQUIRE_FALSE(mdn.ok());
    CHECK(mdn.error().code == ar::kErrInvalid);
    CHECK(mdn.error().message.find("disposition-notification") != std::string::npos);

    auto plain = parse_dsn(read_dsn_sample("not_dsn_plain_bounce.eml"));
    REQUIRE_FALSE(plain.ok());
    CHECK(plain.error().message.find("text/plain") != std::string::npos);

    CHECK_FALSE(parse_dsn("").ok());
    CHECK_FALSE(parse_dsn("garbage").ok());
    CHECK_FALSE(parse_dsn("Content-Type: multipart/report; report-type=delivery-status\n\nx").ok());
    auto no_status = parse_dsn("Content-Type: multipart/report; report-type=delivery-status; "
                               "boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n");
    REQUIRE_FALSE(no_status.ok());
    CHECK(no_status.error().message.find("message/delivery-status") != std::string::npos);
    auto empty_status =
        parse_dsn("Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
                  "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; m\n--b--\n");
    CHECK_FALSE(empty_status.ok());
}

TEST_CASE("a truncated DSN still yields its recipients", "[dsn]") {
    std::string raw = read_dsn_sample("postfix_failed.eml");
    raw.resize(raw.find("--4Xk2Lp0ZQyz9sWn.1773151331/mail.agents.example\nContent-Description: "
                        "Undelivered Message"));
    auto d = parse_dsn(raw);
    REQUIRE(d.ok());
    REQUIRE(d->recipients.size() == 1);
    CHECK(d->recipients[0].status == "5.1.1");
    CHECK(d->original_message_id.empty());
}
