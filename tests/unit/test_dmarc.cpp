// test_dmarc.cpp: DMARC records (parsing, choosing among TXT records), organizational domains
// and alignment through libpsl, and check_dmarc against a table of DNS answers.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "auth/dmarc.h"
#include "auth/dmarc_record.h"
#include "auth/org_domain.h"
#include "table_lookup.h"

using namespace ar::auth;
using ar::test::run_awaitable;
using ar::test::TableLookup;

namespace {

DmarcRecord parsed(std::string_view txt) {
    auto r = parse_dmarc_record(txt);
    INFO(txt);
    if (!r.ok()) FAIL(r.error().message);
    return r.value();
}

std::string parse_error(std::string_view txt) {
    auto r = parse_dmarc_record(txt);
    INFO(txt);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ar::kErrInvalid);
    CHECK(r.error().field == "dmarc");
    return r.error().message;
}

DmarcVerdict check(TableLookup& dns, std::string from, std::vector<std::string> dkim,
                   bool spf_pass = false, std::string spf_domain = "") {
    auto a = check_dmarc(dns, std::move(from), std::move(dkim), spf_pass, std::move(spf_domain));
    return run_awaitable(std::move(a));
}

} // namespace

// ---------------------------------------------------------------- records

TEST_CASE("DMARC record: every tag read", "[dmarc]") {
    auto r = parsed("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; pct=25; "
                    "rua=mailto:agg@example.com,mailto:big@example.net!10m; "
                    "ruf=mailto:fail@example.com; fo=1:d; rf=afrf; ri=3600");
    CHECK(r.policy == DmarcPolicy::Reject);
    CHECK(r.subdomain_policy == DmarcPolicy::Quarantine);
    CHECK_FALSE(r.policy_assumed);
    CHECK(r.strict_dkim);
    CHECK(r.strict_spf);
    CHECK(r.percent == 25);
    CHECK(r.rua ==
          std::vector<std::string>{"mailto:agg@example.com", "mailto:big@example.net!10m"});
    CHECK(r.ruf == std::vector<std::string>{"mailto:fail@example.com"});
    CHECK(r.failure_options == "1:d");
    CHECK(r.report_format == "afrf");
    CHECK(r.report_interval == 3600);
}

TEST_CASE("DMARC record: defaults of a minimal record", "[dmarc]") {
    auto r = parsed("v=DMARC1; p=quarantine");
    CHECK(r.policy == DmarcPolicy::Quarantine);
    CHECK(r.subdomain_policy == DmarcPolicy::Quarantine); // sp= defaults to p=
    CHECK_FALSE(r.strict_dkim);
    CHECK_FALSE(r.strict_spf);
    CHECK(r.percent == 100);
    CHECK(r.rua.empty());
    CHECK(r.failure_options == "0");
    CHECK(r.report_interval == 86400);
    CHECK(parsed("v=DMARC1;p=none;").policy == DmarcPolicy::None);
}

TEST_CASE("DMARC record: v=DMARC1 must be the first tag, exactly", "[dmarc]") {
    CHECK_THAT(parse_error("p=reject; v=DMARC1"), Catch::Contains("v=DMARC1"));
    parse_error("v=DMARC2; p=reject");
    parse_error("v=dmarc1; p=reject");
    parse_error("v=DMARC1 p=reject"); // no separator: the version is "DMARC1 p=reject"
    parse_error("v=DMARC10; p=reject");
    parse_error("; v=DMARC1; p=reject");
    parse_error("v=spf1 -all");
    parse_error("");
    CHECK_FALSE(is_dmarc_record("p=reject; v=DMARC1"));
    CHECK(is_dmarc_record("v=DMARC1"));
}

TEST_CASE("DMARC record: whitespace and case around tags and values", "[dmarc]") {
    auto r = parsed("  v = DMARC1 ;\tP = Reject ; sp=NONE ;ADKIM= S ;  aspf =r ;  ");
    CHECK(r.policy == DmarcPolicy::Reject);
    CHECK(r.subdomain_policy == DmarcPolicy::None);
    CHECK(r.strict_dkim);
    CHECK_FALSE(r.strict_spf);
    CHECK(parsed("v=DMARC1;\r\n p=quarantine").policy == DmarcPolicy::Quarantine);
}

TEST_CASE("DMARC record: p= need not come second; unknown tags are ignored", "[dmarc]") {
    auto r = parsed("v=DMARC1; rua=mailto:d@example.com; np=reject; psd=n; junk; p=reject");
    CHECK(r.policy == DmarcPolicy::Reject);
    CHECK(r.rua.size() == 1);
}

TEST_CASE("DMARC record: bad or missing p= without rua= is an error", "[dmarc]") {
    CHECK_THAT(parse_error("v=DMARC1; p=block"), Catch::Contains("p=") && Catch::Contains("block"));
    CHECK_THAT(parse_error("v=DMARC1"), Catch::Contains("p= is missing"));
    CHECK_THAT(parse_error("v=DMARC1; sp=reject"), Catch::Contains("p= is missing"));
    CHECK_THAT(parse_error("v=DMARC1; p=none; p=reject"), Catch::Contains("more than once"));
    // rua= present, but nothing in it is a URI: still an error.
    parse_error("v=DMARC1; p=block; rua=not a uri");
    parse_error("v=DMARC1; p=block; rua=");
}

TEST_CASE("DMARC record: bad or missing p= with a valid rua= is read as p=none", "[dmarc]") {
    auto r = parsed("v=DMARC1; p=block; rua=mailto:dmarc@example.com");
    CHECK(r.policy == DmarcPolicy::None);
    CHECK(r.subdomain_policy == DmarcPolicy::None);
    CHECK(r.policy_assumed);
    CHECK(parsed("v=DMARC1; rua=junk, mailto:d@example.com").policy_assumed);
    auto missing = parsed("v=DMARC1; sp=reject; rua=mailto:d@example.com");
    CHECK(missing.policy == DmarcPolicy::None);
    CHECK(missing.subdomain_policy == DmarcPolicy::None);
}

TEST_CASE("DMARC record: sp= read, bad sp= treated like a bad p=", "[dmarc]") {
    CHECK(parsed("v=DMARC1; p=none; sp=reject").subdomain_policy == DmarcPolicy::Reject);
    CHECK(parsed("v=DMARC1; p=reject; sp=none").subdomain_policy == DmarcPolicy::None);
    CHECK_THAT(parse_error("v=DMARC1; p=reject; sp=maybe"), Catch::Contains("sp="));
    auto r = parsed("v=DMARC1; p=reject; sp=maybe; rua=mailto:d@example.com");
    CHECK(r.policy == DmarcPolicy::None);
    CHECK(r.policy_assumed);
}

TEST_CASE("DMARC record: adkim= and aspf= are r or s", "[dmarc]") {
    CHECK(parsed("v=DMARC1; p=none; adkim=s").strict_dkim);
    CHECK_FALSE(parsed("v=DMARC1; p=none; adkim=r").strict_dkim);
    CHECK(parsed("v=DMARC1; p=none; aspf=s").strict_spf);
    CHECK_FALSE(parsed("v=DMARC1; p=none; aspf=r").strict_spf);
    CHECK_THAT(parse_error("v=DMARC1; p=none; adkim=x"), Catch::Contains("adkim="));
    CHECK_THAT(parse_error("v=DMARC1; p=none; aspf=strict"), Catch::Contains("aspf="));
    parse_error("v=DMARC1; p=none; aspf=");
    parse_error("v=DMARC1; p=none; adkim=s; adkim=r");
    // These are not rescued by rua=: only p= and sp= are (RFC 7489 6.6.3).
    parse_error("v=DMARC1; p=none; adkim=x; rua=mailto:d@example.com");
}

TEST_CASE("DMARC record: pct= is a whole number from 0 to 100", "[dmarc]") {
    CHECK(parsed("v=DMARC1; p=reject; pct=0").percent == 0);
    CHECK(parsed("v=DMARC1; p=reject; pct=100").percent == 100);
    CHECK(parsed("v=DMARC1; p=reject; pct=050").percent == 50);
    CHECK_THAT(parse_error("v=DMARC1; p=reject; pct=101"), Catch::Contains("pct="));
    parse_error("v=DMARC1; p=reject; pct=-1");
    parse_error("v=DMARC1; p=reject; pct=");
    parse_error("v=DMARC1; p=reject; pct=50%");
    parse_error("v=DMARC1; p=reject; pct=99999999999999999999999999");
}

TEST_CASE("DMARC record: lenient report tags never fail the record", "[dmarc]") {
    auto r = parsed("v=DMARC1; p=reject; rua=; ruf=bad uri,mailto:x@example.com; ri=soon; fo=");
    CHECK(r.policy == DmarcPolicy::Reject);
    CHECK(r.rua.empty());
    CHECK(r.ruf == std::vector<std::string>{"mailto:x@example.com"});
    CHECK(r.report_interval == 86400);
    CHECK(r.failure_options == "0");
}

TEST_CASE("DMARC record: arbitrary bytes are an error or a record, never a crash", "[dmarc]") {
    const std::string odd[] = {std::string("v=DMARC1;\0p=reject", 18),
                               "v=DMARC1;;;;;",
                               ";;;",
                               "=",
                               "v=",
                               "v=DMARC1;=;p=",
                               "v=DMARC1; p=\xff\xfe",
                               std::string(10000, ';'),
                               "v=DMARC1; p=" + std::string(5000, 'x')};
    for (const auto& s : odd) {
        auto r = parse_dmarc_record(s);
        if (r.ok()) {
            CHECK(is_dmarc_record(s));
        } else {
            CHECK(r.error().message.size() < 300); // quotes are shortened
        }
    }
}

TEST_CASE("DMARC record selection among TXT values", "[dmarc]") {
    SECTION("none") {
        auto s = select_dmarc_record({"v=spf1 -all", "google-site-verification=abc", ""});
        CHECK(s.count == 0);
        CHECK(s.record.empty());
        CHECK(select_dmarc_record({}).count == 0);
    }
    SECTION("one among other TXT records, leading whitespace allowed") {
        auto s = select_dmarc_record({"v=spf1 -all", "  v=DMARC1; p=reject", "hello"});
        CHECK(s.count == 1);
        CHECK(s.record == "  v=DMARC1; p=reject");
    }
    SECTION("two: no policy") {
        auto s = select_dmarc_record({"v=DMARC1; p=reject", "v=DMARC1; p=none"});
        CHECK(s.count == 2);
        CHECK(s.record.empty());
    }
    SECTION("records not starting with v=DMARC1 are discarded") {
        auto s = select_dmarc_record({"p=reject; v=DMARC1", "v=DMARC1; p=none"});
        CHECK(s.count == 1);
        CHECK(s.record == "v=DMARC1; p=none");
    }
}

// ---------------------------------------------------------------- organizational domains

TEST_CASE("Organizational domain from the public suffix list", "[dmarc]") {
    CHECK(organizational_domain("example.com") == "example.com");
    CHECK(organizational_domain("mail.example.com") == "example.com");
    CHECK(organizational_domain("a.b.example.co.uk") == "example.co.uk");
    CHECK(organizational_domain("co.uk") == "co.uk"); // a public suffix is its own
    CHECK(organizational_domain("com") == "com");
    CHECK(organizational_domain("mail.example.com.") == "example.com");
    CHECK(organizational_domain("Mail.EXAMPLE.Com") == "example.com");
    CHECK(organizational_domain("") == "");
    // Odd input is returned rather than crashing anything.
    CHECK(organizational_domain(".") == "");
    CHECK_NOTHROW(organizational_domain(".."));
    CHECK_NOTHROW(organizational_domain("\xff\xfe.com"));
    CHECK(organizational_domain(std::string("a\0b.example.com", 15)).size() == 15);
}

TEST_CASE("Alignment: strict is equality, relaxed is the same organizational domain", "[dmarc]") {
    CHECK(aligned("example.com", "example.com", true));
    CHECK(aligned("Example.COM.", "example.com", true));
    CHECK_FALSE(aligned("mail.example.com", "example.com", true));
    CHECK(aligned("mail.example.com", "example.com", false));
    CHECK(aligned("example.com", "news.example.com", false));
    CHECK(aligned("a.example.co.uk", "b.example.co.uk", false));
    CHECK_FALSE(aligned("example.co.uk", "other.co.uk", false));
    CHECK_FALSE(aligned("co.uk", "example.co.uk", false));
    CHECK_FALSE(aligned("other.org", "example.com", false));
    CHECK_FALSE(aligned("", "example.com", false));
    CHECK_FALSE(aligned("example.com", "", false));
}

// ---------------------------------------------------------------- check_dmarc

TEST_CASE("check_dmarc: result words", "[dmarc]") {
    CHECK(dmarc_result_name(DmarcResult::None) == "none");
    CHECK(dmarc_result_name(DmarcResult::Pass) == "pass");
    CHECK(dmarc_result_name(DmarcResult::Fail) == "fail");
    CHECK(dmarc_result_name(DmarcResult::TempError) == "temperror");
    CHECK(dmarc_result_name(DmarcResult::PermError) == "permerror");
}

TEST_CASE("check_dmarc: pass through an aligned DKIM signature", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    auto v = check(dns, "example.com", {"other.org", "example.com"});
    CHECK(v.result == DmarcResult::Pass);
    CHECK(v.domain == "example.com");
    CHECK(v.policy == "reject");
    CHECK(v.detail == "aligned DKIM signature of example.com");
    CHECK(dns.asked("TXT", "_dmarc.example.com") == 1);
    CHECK(dns.queries() == 1);
}

TEST_CASE("check_dmarc: pass through aligned SPF", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=quarantine");
    auto v = check(dns, "Example.COM", {}, true, "bounces.example.com");
    CHECK(v.result == DmarcResult::Pass);
    CHECK(v.domain == "example.com");
    CHECK(v.policy == "quarantine");
    CHECK_THAT(v.detail, Catch::Contains("SPF") && Catch::Contains("bounces.example.com"));
}

TEST_CASE("check_dmarc: relaxed alignment passes a subdomain d=", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    auto v = check(dns, "example.com", {"mail.example.com"});
    CHECK(v.result == DmarcResult::Pass);
    CHECK(v.detail == "aligned DKIM signature of mail.example.com");
}

TEST_CASE("check_dmarc: strict alignment fails a subdomain d= and SPF domain", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s; aspf=s");
    auto v = check(dns, "example.com", {"mail.example.com"}, true, "bounce.example.com");
    CHECK(v.result == DmarcResult::Fail);
    CHECK(v.policy == "reject");
    CHECK_THAT(v.detail, Catch::Contains("d=mail.example.com") && Catch::Contains("adkim=s"));
    // An exact match still passes under strict alignment.
    auto exact = check(dns, "example.com", {"EXAMPLE.com"});
    CHECK(exact.result == DmarcResult::Pass);
}

TEST_CASE("check_dmarc: fail when neither DKIM nor SPF aligns", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject; pct=10");
    auto v = check(dns, "example.com", {"other.org"}, true, "mail.other.org");
    CHECK(v.result == DmarcResult::Fail); // pct= does not change the word
    CHECK(v.policy == "reject");
    CHECK(v.detail ==
          "neither DKIM (d=other.org) nor SPF (mail.other.org) aligns with example.com");

    // An aligned SPF domain without an SPF pass does not count.
    auto no_spf = check(dns, "example.com", {}, false, "example.com");
    CHECK(no_spf.result == DmarcResult::Fail);
    CHECK(no_spf.detail ==
          "neither DKIM (no verified signature) nor SPF (no pass) aligns with example.com");
}

TEST_CASE("check_dmarc: a subdomain's record found at the org domain applies sp=", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");
    auto sub = check(dns, "news.example.com", {"example.com"});
    CHECK(sub.result == DmarcResult::Pass);
    CHECK(sub.domain == "news.example.com");
    CHECK(sub.policy == "quarantine");
    // The org domain itself gets p=.
    CHECK(check(dns, "example.com", {"other.org"}).policy == "reject");
}

TEST_CASE("check_dmarc: a subdomain with its own record gets its p=", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");
    dns.txt_record("_dmarc.news.example.com", "v=DMARC1; p=none");
    auto v = check(dns, "news.example.com", {"other.org"});
    CHECK(v.result == DmarcResult::Fail);
    CHECK(v.policy == "none");
    CHECK(dns.asked("TXT", "_dmarc.example.com") == 0); // no fallback needed
}

TEST_CASE("check_dmarc: falls back to the organizational domain's record", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.co.uk", "v=DMARC1; p=quarantine");
    dns.txt_record("_dmarc.a.b.example.co.uk", "v=spf1 -all"); // TXT, but not DMARC
    auto v = check(dns, "a.b.example.co.uk", {"example.co.uk"});
    CHECK(v.result == DmarcResult::Pass);
    CHECK(v.policy == "quarantine"); // sp= defaults to p=
    CHECK(dns.asked("TXT", "_dmarc.a.b.example.co.uk") == 1);
    CHECK(dns.asked("TXT", "_dmarc.example.co.uk") == 1);
    CHECK(dns.asked("TXT", "_dmarc.b.example.co.uk") == 0); // no tree walk in RFC 7489
    CHECK(dns.queries() == 2);
}

TEST_CASE("check_dmarc: no record is none", "[dmarc]") {
    TableLookup dns;
    dns.no_data("TXT", "_dmarc.example.com");
    auto v = check(dns, "mail.example.com", {"mail.example.com"}, true, "mail.example.com");
    CHECK(v.result == DmarcResult::None);
    CHECK(v.domain == "mail.example.com");
    CHECK(v.policy.empty());
    CHECK(v.detail == "no DMARC record for mail.example.com or example.com");
    CHECK(dns.queries() == 2);

    TableLookup empty;
    auto org = check(empty, "example.com", {});
    CHECK(org.result == DmarcResult::None);
    CHECK(org.detail == "no DMARC record for example.com");
    CHECK(empty.queries() == 1); // the org domain is not asked twice
}

TEST_CASE("check_dmarc: several records or an unusable record is none", "[dmarc]") {
    TableLookup two;
    two.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    two.txt_record("_dmarc.example.com", "v=DMARC1; p=none");
    auto v = check(two, "example.com", {"example.com"});
    CHECK(v.result == DmarcResult::None);
    CHECK(v.policy.empty());
    CHECK_THAT(v.detail, Catch::Contains("2 DMARC records"));

    // Several at the From domain: no fallback to the org domain (6.6.3 step 5).
    TableLookup sub;
    sub.txt_record("_dmarc.news.example.com", "v=DMARC1; p=reject");
    sub.txt_record("_dmarc.news.example.com", "v=DMARC1; p=reject");
    sub.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    CHECK(check(sub, "news.example.com", {}).result == DmarcResult::None);
    CHECK(sub.asked("TXT", "_dmarc.example.com") == 0);

    TableLookup bad;
    bad.txt_record("_dmarc.example.com", "v=DMARC1; p=block");
    auto b = check(bad, "example.com", {"other.org"});
    CHECK(b.result == DmarcResult::None);
    CHECK(b.policy.empty());
    CHECK_THAT(b.detail, Catch::Contains("invalid") && Catch::Contains("p="));
}

TEST_CASE("check_dmarc: a bad p= with a valid rua= is evaluated as p=none", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=block; rua=mailto:d@example.com");
    auto v = check(dns, "example.com", {"other.org"});
    CHECK(v.result == DmarcResult::Fail);
    CHECK(v.policy == "none");
}

TEST_CASE("check_dmarc: SERVFAIL is temperror", "[dmarc]") {
    TableLookup dns;
    dns.servfail("TXT", "_dmarc.example.com");
    auto v = check(dns, "example.com", {"example.com"});
    CHECK(v.result == DmarcResult::TempError);
    CHECK(v.policy.empty());
    CHECK_THAT(v.detail, Catch::Contains("_dmarc.example.com") && Catch::Contains("SERVFAIL"));

    // At the org domain, after the From domain had no record, too.
    TableLookup org;
    org.servfail("TXT", "_dmarc.example.com");
    auto sub = check(org, "news.example.com", {"example.com"});
    CHECK(sub.result == DmarcResult::TempError);
    CHECK(org.queries() == 2);

    // A SERVFAIL at the From domain never falls back to the org domain's record.
    TableLookup first;
    first.servfail("TXT", "_dmarc.news.example.com");
    first.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    CHECK(check(first, "news.example.com", {"example.com"}).result == DmarcResult::TempError);
    CHECK(first.queries() == 1);
}

TEST_CASE("check_dmarc: no usable From domain is permerror", "[dmarc]") {
    TableLookup dns;
    auto empty = check(dns, "", {"example.com"}, true, "example.com");
    CHECK(empty.result == DmarcResult::PermError);
    CHECK(empty.domain.empty());
    CHECK(empty.policy.empty());
    CHECK_FALSE(empty.detail.empty());
    const std::vector<std::string> bad_domains = {
        "exa mple.com",       "example..com",       ".", "[192.0.2.1]", "a@example.com",
        "x\r\nInjected: yes", std::string(300, 'a')};
    for (const auto& bad : bad_domains) {
        INFO(bad);
        auto v = check(dns, bad, {});
        CHECK(v.result == DmarcResult::PermError);
        CHECK(v.detail.find('\n') == std::string::npos);
    }
    CHECK(dns.queries() == 0);
}

TEST_CASE("check_dmarc: a trailing dot and upper case in the From domain", "[dmarc]") {
    TableLookup dns;
    dns.txt_record("_dmarc.example.com", "v=DMARC1; p=reject");
    auto v = check(dns, "EXAMPLE.com.", {"example.com."});
    CHECK(v.result == DmarcResult::Pass);
    CHECK(v.domain == "example.com");
}
