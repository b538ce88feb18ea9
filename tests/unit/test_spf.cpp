// SPF (RFC 7208): the record parser, macro expansion (the examples of section 7.4), and
// check_host() against a table of DNS answers: results, limits, errors.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "auth/spf.h"
#include "auth/spf_record.h"
#include "table_lookup.h"

using namespace ar::auth;
using ar::test::TableLookup;

namespace {

SpfVerdict spf(TableLookup& dns, const std::string& ip, const std::string& mail_from,
               const std::string& helo = "mx.sender.example") {
    return ar::test::run_awaitable(check_spf(dns, asio::ip::make_address(ip), helo, mail_from));
}

// The context of RFC 7208 7.4: sender strong-bad@email.example.com from 192.0.2.3.
SpfMacroContext rfc_context() {
    SpfMacroContext ctx;
    ctx.sender = "strong-bad@email.example.com";
    ctx.local_part = "strong-bad";
    ctx.sender_domain = "email.example.com";
    ctx.domain = "email.example.com";
    ctx.helo = "mx.email.example.com";
    ctx.ip.bytes = {192, 0, 2, 3};
    return ctx;
}

std::string expand(const std::string& macro, const SpfMacroContext& ctx, bool exp = false) {
    auto r = expand_spf_macros(macro, ctx, exp);
    INFO(macro << (r ? "" : ": " + r.error().message));
    REQUIRE(r.ok());
    return r.value();
}

SpfRecord parse(const std::string& text) {
    auto r = parse_spf_record(text);
    INFO(text << (r ? "" : ": " + r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

} // namespace

// ---- Record text ---------------------------------------------------------------------------

TEST_CASE("SPF result names are the RFC 8601 words", "[spf]") {
    CHECK(spf_result_name(SpfResult::None) == "none");
    CHECK(spf_result_name(SpfResult::Neutral) == "neutral");
    CHECK(spf_result_name(SpfResult::Pass) == "pass");
    CHECK(spf_result_name(SpfResult::Fail) == "fail");
    CHECK(spf_result_name(SpfResult::SoftFail) == "softfail");
    CHECK(spf_result_name(SpfResult::TempError) == "temperror");
    CHECK(spf_result_name(SpfResult::PermError) == "permerror");
}

TEST_CASE("SPF parser reads every mechanism, qualifier and CIDR length", "[spf]") {
    SpfRecord r = parse("v=spf1 ip4:192.0.2.0/24 -ip6:2001:db8::/32 ~a ?a:mail.example.com/28 "
                        "mx/24//64 +mx:%{d} ptr ptr:example.net exists:%{i}._spf.%{d} "
                        "include:_spf.example.com  unknown-mod=%{d} exp=explain.example.com "
                        "redirect=_spf.example.org -all  ");
    REQUIRE(r.mechanisms.size() == 11);
    const auto& m = r.mechanisms;
    CHECK(m[0].kind == SpfMechanismKind::Ip4);
    CHECK(m[0].qualifier == SpfQualifier::Pass);
    CHECK(m[0].cidr4 == 24);
    CHECK(m[0].network.bytes[0] == 192);
    CHECK(m[0].text == "ip4:192.0.2.0/24");
    CHECK(m[1].kind == SpfMechanismKind::Ip6);
    CHECK(m[1].qualifier == SpfQualifier::Fail);
    CHECK(m[1].cidr6 == 32);
    CHECK(m[1].network.v6);
    CHECK(m[2].kind == SpfMechanismKind::A);
    CHECK(m[2].qualifier == SpfQualifier::SoftFail);
    CHECK(m[2].domain_spec.empty());
    CHECK(m[2].cidr4 == 32);
    CHECK(m[2].cidr6 == 128);
    CHECK(m[3].qualifier == SpfQualifier::Neutral);
    CHECK(m[3].domain_spec == "mail.example.com");
    CHECK(m[3].cidr4 == 28);
    CHECK(m[4].kind == SpfMechanismKind::Mx);
    CHECK(m[4].cidr4 == 24);
    CHECK(m[4].cidr6 == 64);
    CHECK(m[5].domain_spec == "%{d}");
    CHECK(m[6].kind == SpfMechanismKind::Ptr);
    CHECK(m[7].domain_spec == "example.net");
    CHECK(m[8].kind == SpfMechanismKind::Exists);
    CHECK(m[9].kind == SpfMechanismKind::Include);
    CHECK(m[9].text == "include:_spf.example.com");
    CHECK(m[10].kind == SpfMechanismKind::All);
    CHECK(m[10].text == "-all");
    CHECK(r.redirect == "_spf.example.org");
    CHECK(r.exp == "explain.example.com");
}

TEST_CASE("SPF version: v=spf1 in any case, then a space or the end", "[spf]") {
    CHECK(is_spf_record("v=spf1"));
    CHECK(is_spf_record("V=SPF1 -all"));
    CHECK_FALSE(is_spf_record("v=spf10 -all"));
    CHECK_FALSE(is_spf_record("v=spf2.0/pra -all"));
    CHECK_FALSE(is_spf_record(" v=spf1 -all"));
    CHECK(parse("v=spf1").mechanisms.empty());
    CHECK(parse("V=Spf1 IP4:192.0.2.1 -ALL").mechanisms.size() == 2);
    CHECK_FALSE(parse_spf_record("v=spf10 -all").ok());
}

TEST_CASE("SPF syntax errors are rejected", "[spf]") {
    const std::vector<std::string> bad = {
        "v=spf1 foo",                       // unknown mechanism
        "v=spf1 a:",                        // empty domain-spec
        "v=spf1 include",                   // include needs a domain
        "v=spf1 exists",                    // exists too
        "v=spf1 all:example.com",           // all takes nothing
        "v=spf1 ip4:192.0.2.0/33",          // prefix too long
        "v=spf1 ip4:192.0.2.0/024",         // leading zero
        "v=spf1 ip4:192.0.2.01",            // leading zero in an octet
        "v=spf1 ip4:192.0.2",               // three octets
        "v=spf1 ip4:192.0.2.256",           // octet out of range
        "v=spf1 ip6:2001:db8::/129",        // prefix too long
        "v=spf1 ip6:2001:db8::g",           // not hex
        "v=spf1 ip6:192.0.2.1",             // not IPv6
        "v=spf1 a/33",                      // IPv4 prefix too long
        "v=spf1 mx//129",                   // IPv6 prefix too long
        "v=spf1 a:example.com/",            // slash without a length
        "v=spf1 a:example",                 // no "." toplabel
        "v=spf1 a:example.123",             // numeric toplabel
        "v=spf1 a:example.com-",            // toplabel ending in a hyphen
        "v=spf1 include:%{x}.example.com",  // unknown macro letter
        "v=spf1 exists:%{d0}.example.com",  // zero digit transformer
        "v=spf1 exists:%{d2x}.example.com", // bad delimiter
        "v=spf1 exists:%{d.example.com",    // unclosed macro
        "v=spf1 a:foo%.example.com",        // lone percent
        "v=spf1 exists:%{c}.example.com",   // c only in explanations
        "v=spf1 exists:%{t}.example.com",   // t likewise
        "v=spf1 redirect=a.example.com redirect=b.example.com",
        "v=spf1 exp=a.example.com exp=b.example.com",
        "v=spf1 redirect=",                // empty domain
        "v=spf1 -redirect=a.example.com",  // modifiers take no qualifier
        "v=spf1 1abc=x",                   // modifier names start with a letter
        "v=spf1 foo=%{q}",                 // unknown modifier with a bad macro-string
        "v=spf1 \t-all",                   // tab is not a separator
        "v=spf1 -all\r\n",                 // nor is CRLF
        "v=spf1 a:ex\xc3\xa9.example.com", // non-ASCII
        "v=spf1 +-all",                    // two qualifiers
    };
    for (const std::string& text : bad) {
        auto r = parse_spf_record(text);
        INFO(text);
        CHECK_FALSE(r.ok());
        if (!r) CHECK(r.error().field == "spf");
    }
}

TEST_CASE("SPF parser accepts macros at the end and unknown modifiers", "[spf]") {
    CHECK(parse("v=spf1 exists:%{i}.%{d}").mechanisms.size() == 1);
    CHECK(parse("v=spf1 a:mail.example.com. -all").mechanisms[0].domain_spec ==
          "mail.example.com.");
    CHECK(parse("v=spf1 a:xn--bcher-kva.example -all").mechanisms.size() == 2);
    CHECK(parse("v=spf1 include:_spf.%{d2} foo.bar_baz=anything%%here -all").mechanisms.size() ==
          2);
    CHECK(parse("v=spf1 exp=explain.%{d} -all").exp == "explain.%{d}");
}

TEST_CASE("SPF record selection: one, none, more than one", "[spf]") {
    auto one = select_spf_record({"google-site-verification=x", "v=spf1 -all", "v=spf10 +all"});
    REQUIRE(one.ok());
    REQUIRE(one->has_value());
    CHECK(**one == "v=spf1 -all");

    auto none = select_spf_record({"hello", "v=spf2.0/mfrom -all"});
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());

    auto empty = select_spf_record({});
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->has_value());

    auto two = select_spf_record({"v=spf1 -all", "V=SPF1 +all"});
    REQUIRE_FALSE(two.ok());
    CHECK(two.error().message.find("2 SPF records") != std::string::npos);
}

// ---- Macros ------------------------------------------------------------------------------

TEST_CASE("SPF macros: the examples of RFC 7208 7.4", "[spf]") {
    SpfMacroContext ctx = rfc_context();
    CHECK(expand("%{s}", ctx) == "strong-bad@email.example.com");
    CHECK(expand("%{o}", ctx) == "email.example.com");
    CHECK(expand("%{d}", ctx) == "email.example.com");
    CHECK(expand("%{d4}", ctx) == "email.example.com");
    CHECK(expand("%{d3}", ctx) == "email.example.com");
    CHECK(expand("%{d2}", ctx) == "example.com");
    CHECK(expand("%{d1}", ctx) == "com");
    CHECK(expand("%{dr}", ctx) == "com.example.email");
    CHECK(expand("%{d2r}", ctx) == "example.email");
    CHECK(expand("%{l}", ctx) == "strong-bad");
    CHECK(expand("%{l-}", ctx) == "strong.bad");
    CHECK(expand("%{lr}", ctx) == "strong-bad");
    CHECK(expand("%{lr-}", ctx) == "bad.strong");
    CHECK(expand("%{l1r-}", ctx) == "strong");
    CHECK(expand("%{ir}.%{v}._spf.%{d2}", ctx) == "3.2.0.192.in-addr._spf.example.com");
    CHECK(expand("%{lr-}.lp._spf.%{d2}", ctx) == "bad.strong.lp._spf.example.com");
    CHECK(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", ctx) ==
          "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    CHECK(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", ctx) ==
          "3.2.0.192.in-addr.strong.lp._spf.example.com");
    CHECK(expand("%{d2}.trusted-domains.example.net", ctx) ==
          "example.com.trusted-domains.example.net");

    ctx.ip.v6 = true;
    ctx.ip.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcb, 0x01};
    CHECK(expand("%{ir}.%{v}._spf.%{d2}", ctx) ==
          "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
    CHECK(expand("%{i}", ctx) == "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
}

TEST_CASE("SPF macros: escapes, uppercase, p, h, v, explanation-only letters", "[spf]") {
    SpfMacroContext ctx = rfc_context();
    CHECK(expand("a%%b%_c%-d", ctx) == "a%b c%20d");
    CHECK(expand("%{S}", ctx) == "strong-bad%40email.example.com");
    CHECK(expand("%{L}", ctx) == "strong-bad");
    CHECK(expand("%{p}", ctx) == "unknown");
    CHECK(expand("%{h}", ctx) == "mx.email.example.com");
    CHECK(expand("%{v}", ctx) == "in-addr");
    CHECK(expand("%{l2r+-}", ctx) == "bad.strong");        // several delimiters
    CHECK(expand("%{d2r+-}", ctx) == "email.example.com"); // dots are not among them
    CHECK(expand("%{d9}", ctx) == "email.example.com");    // more parts asked than there are

    ctx.timestamp = 1700000000;
    ctx.receiver = "mx.agents.example";
    CHECK(expand("%{c} sent as %{s} at %{t} to %{r}", ctx, true) ==
          "192.0.2.3 sent as strong-bad@email.example.com at 1700000000 to mx.agents.example");
    ctx.ip.v6 = true;
    ctx.ip.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcb, 0x01};
    CHECK(expand("%{c}", ctx, true) == "2001:db8::cb01");
    CHECK(expand("%{v}", ctx) == "ip6");

    CHECK_FALSE(expand_spf_macros("%{c}", ctx).ok());
    CHECK_FALSE(expand_spf_macros("%{r}", ctx).ok());
    CHECK_FALSE(expand_spf_macros("a b", ctx).ok()); // spaces only in explanations
    CHECK_FALSE(expand_spf_macros("%", ctx).ok());
    CHECK_FALSE(expand_spf_macros("%{}", ctx).ok());
    CHECK_FALSE(expand_spf_macros("%x", ctx).ok());
}

TEST_CASE("SPF macros: expanded names over 253 octets lose labels from the left", "[spf]") {
    SpfMacroContext ctx = rfc_context();
    // 40 labels of "abcdef" (280 octets with dots) from the local part.
    std::string local;
    for (int i = 0; i < 40; ++i)
        local += (i ? "." : "") + std::string("abcde") + static_cast<char>('a' + i % 26);
    ctx.local_part = local;
    auto name = expand_spf_domain("%{l}._spf.example.com.", ctx);
    REQUIRE(name.ok());
    CHECK(name->size() <= 253);
    CHECK(name->size() > 253 - 7); // no more than one label too many went
    CHECK(name->find("._spf.example.com") == name->size() - 17);
    CHECK(name->front() != '.');
    CHECK(is_valid_query_name(*name));

    auto plain = expand_spf_domain("%{d}.", ctx);
    REQUIRE(plain.ok());
    CHECK(*plain == "email.example.com"); // trailing dot dropped
}

TEST_CASE("SPF domain checks", "[spf]") {
    CHECK(is_valid_spf_domain("example.com"));
    CHECK(is_valid_spf_domain("_spf.Example.COM."));
    CHECK(is_valid_spf_domain("xn--bcher-kva.example"));
    CHECK_FALSE(is_valid_spf_domain(""));
    CHECK_FALSE(is_valid_spf_domain("localhost"));
    CHECK_FALSE(is_valid_spf_domain("example..com"));
    CHECK_FALSE(is_valid_spf_domain(".example.com"));
    CHECK_FALSE(is_valid_spf_domain("[192.0.2.1]"));
    CHECK_FALSE(is_valid_spf_domain("192.0.2.1"));
    CHECK_FALSE(is_valid_spf_domain("b\xc3\xbc"
                                    "cher.example"));
    CHECK_FALSE(is_valid_spf_domain(std::string(64, 'a') + ".example.com"));
    CHECK(is_valid_query_name("a+b.lp._spf.example.com"));
    CHECK_FALSE(is_valid_query_name("a b.example.com"));
    CHECK_FALSE(is_valid_query_name(std::string(250, 'a') + ".com"));
}

// ---- check_host() ----------------------------------------------------------------------

TEST_CASE("SPF pass by ip4 and fail by -all", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    SpfVerdict v = spf(dns, "192.0.2.7", "alice@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.domain == "example.com");
    CHECK(v.mechanism == "ip4:192.0.2.0/24");
    CHECK(v.detail == "192.0.2.7 is permitted by example.com's SPF record (ip4:192.0.2.0/24)");

    SpfVerdict f = spf(dns, "198.51.100.1", "alice@example.com");
    CHECK(f.result == SpfResult::Fail);
    CHECK(f.mechanism == "-all");
    CHECK(f.detail == "198.51.100.1 is not permitted by example.com's SPF record (-all)");

    // An IPv6 client never matches an ip4 term.
    CHECK(spf(dns, "2001:db8::1", "alice@example.com").result == SpfResult::Fail);
}

TEST_CASE("SPF pass by ip6", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 ip6:2001:db8:1::/48 ip6:2001:db8:2::7 -all");
    CHECK(spf(dns, "2001:db8:1:ffff::9", "a@example.com").result == SpfResult::Pass);
    SpfVerdict v = spf(dns, "2001:db8:2::7", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.mechanism == "ip6:2001:db8:2::7");
    CHECK(spf(dns, "2001:db8:2::8", "a@example.com").result == SpfResult::Fail);
    CHECK(spf(dns, "192.0.2.1", "a@example.com").result == SpfResult::Fail);
}

TEST_CASE("SPF softfail, neutral and the neutral default", "[spf]") {
    TableLookup dns;
    dns.txt_record("soft.example", "v=spf1 ip4:192.0.2.1 ~all");
    dns.txt_record("neutral.example", "v=spf1 ?all");
    dns.txt_record("nothing.example", "v=spf1 ip4:192.0.2.1");
    dns.txt_record("empty.example", "v=spf1");

    SpfVerdict s = spf(dns, "198.51.100.1", "a@soft.example");
    CHECK(s.result == SpfResult::SoftFail);
    CHECK(s.mechanism == "~all");
    SpfVerdict n = spf(dns, "198.51.100.1", "a@neutral.example");
    CHECK(n.result == SpfResult::Neutral);
    CHECK(n.mechanism == "?all");
    SpfVerdict d = spf(dns, "198.51.100.1", "a@nothing.example");
    CHECK(d.result == SpfResult::Neutral);
    CHECK(d.mechanism.empty());
    CHECK(d.detail.find("matches nothing") != std::string::npos);
    CHECK(spf(dns, "198.51.100.1", "a@empty.example").result == SpfResult::Neutral);
}

TEST_CASE("SPF none: no record, NXDOMAIN, malformed sender domain", "[spf]") {
    TableLookup dns;
    dns.address("norecord.example", "192.0.2.1");
    dns.txt_record("othertxt.example", "google-site-verification=abc");
    dns.txt_record("othertxt.example", "v=spf10 +all");

    SpfVerdict a = spf(dns, "192.0.2.1", "a@norecord.example");
    CHECK(a.result == SpfResult::None);
    CHECK(a.mechanism.empty());
    CHECK(a.domain == "norecord.example");
    CHECK(spf(dns, "192.0.2.1", "a@othertxt.example").result == SpfResult::None);
    SpfVerdict nx = spf(dns, "192.0.2.1", "a@nowhere.example");
    CHECK(nx.result == SpfResult::None);
    CHECK(nx.detail.find("NXDOMAIN") != std::string::npos);

    int before = dns.queries();
    for (std::string from : {"a@example..com", "a@[192.0.2.1]", "a@localhost", "a@.example.com",
                             "a@b\xc3\xbc"
                             "cher.example",
                             "a@"}) {
        INFO(from);
        SpfVerdict v = spf(dns, "192.0.2.1", from);
        CHECK(v.result == SpfResult::None);
        CHECK_FALSE(v.detail.empty());
    }
    CHECK(dns.queries() == before); // a malformed domain is never asked about
}

TEST_CASE("SPF: two records and syntax errors are permerror", "[spf]") {
    TableLookup dns;
    dns.txt_record("two.example", "v=spf1 +all");
    dns.txt_record("two.example", "v=spf1 -all");
    dns.txt_record("bad.example", "v=spf1 +all foo:bar");
    dns.txt_record("badip.example", "v=spf1 ip4:192.0.2.0/40 +all");

    SpfVerdict two = spf(dns, "192.0.2.1", "a@two.example");
    CHECK(two.result == SpfResult::PermError);
    CHECK(two.mechanism.empty());
    CHECK(two.detail.find("2 SPF records") != std::string::npos);
    // A syntax error anywhere spoils the record, even after a term that matches (4.6).
    SpfVerdict bad = spf(dns, "192.0.2.1", "a@bad.example");
    CHECK(bad.result == SpfResult::PermError);
    CHECK(bad.detail.find("foo:bar") != std::string::npos);
    CHECK(spf(dns, "192.0.2.1", "a@badip.example").result == SpfResult::PermError);
}

TEST_CASE("SPF pass by a, with and without a domain, and CIDR lengths", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 a -all");
    dns.address("example.com", "192.0.2.10");
    dns.address("example.com", "2001:db8::10");
    dns.txt_record("net.example", "v=spf1 a:mail.net.example/24//64 -all");
    dns.address("mail.net.example", "198.51.100.20");
    dns.address("mail.net.example", "2001:db8:5:6::1");

    SpfVerdict v = spf(dns, "192.0.2.10", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.mechanism == "a");
    CHECK(spf(dns, "2001:db8::10", "a@example.com").result == SpfResult::Pass);
    CHECK(spf(dns, "192.0.2.11", "a@example.com").result == SpfResult::Fail); // default /32

    SpfVerdict c = spf(dns, "198.51.100.99", "a@net.example");
    CHECK(c.result == SpfResult::Pass);
    CHECK(c.mechanism == "a:mail.net.example/24//64");
    CHECK(spf(dns, "198.51.101.20", "a@net.example").result == SpfResult::Fail);
    CHECK(spf(dns, "2001:db8:5:6:ffff::1", "a@net.example").result == SpfResult::Pass);
    CHECK(spf(dns, "2001:db8:5:7::1", "a@net.example").result == SpfResult::Fail);
}

TEST_CASE("SPF pass by mx, with CIDR lengths; no implicit MX", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 mx -all");
    dns.mx_host("example.com", "mx1.example.com");
    dns.mx_host("example.com", "mx2.example.com");
    dns.address("mx1.example.com", "192.0.2.1");
    dns.address("mx2.example.com", "192.0.2.2");
    dns.txt_record("wide.example", "v=spf1 mx:example.com/28 -all");
    dns.txt_record("nomx.example", "v=spf1 mx -all");
    dns.address("nomx.example", "192.0.2.50");

    SpfVerdict v = spf(dns, "192.0.2.2", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.mechanism == "mx");
    CHECK(spf(dns, "192.0.2.3", "a@example.com").result == SpfResult::Fail);
    CHECK(spf(dns, "192.0.2.14", "a@wide.example").result == SpfResult::Pass);
    CHECK(spf(dns, "192.0.2.16", "a@wide.example").result == SpfResult::Fail);
    // The domain's own address is no MX for SPF.
    CHECK(spf(dns, "192.0.2.50", "a@nomx.example").result == SpfResult::Fail);
}

TEST_CASE("SPF mx naming more than 10 hosts is permerror", "[spf]") {
    TableLookup dns;
    dns.txt_record("many.example", "v=spf1 mx -all");
    for (int i = 1; i <= 11; ++i) {
        std::string host = "mx" + std::to_string(i) + ".many.example";
        dns.mx_host("many.example", host);
        dns.address(host, "192.0.2." + std::to_string(i));
    }
    SpfVerdict v = spf(dns, "192.0.2.1", "a@many.example");
    CHECK(v.result == SpfResult::PermError);
    CHECK(dns.asked("ADDR", "mx1.many.example") == 0);
}

TEST_CASE("SPF include: pass matches, fail does not, errors propagate, none is permerror",
          "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 include:_spf.example.com include:_deny.example.com "
                                  "ip4:198.51.100.0/24 -all");
    dns.txt_record("_spf.example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    dns.txt_record("_deny.example.com", "v=spf1 -ip4:198.51.100.0/24 ?all");
    dns.txt_record("broken.example", "v=spf1 include:_bad.broken.example -all");
    dns.txt_record("_bad.broken.example", "v=spf1 all:x");
    dns.txt_record("missing.example", "v=spf1 include:_none.missing.example -all");
    dns.address("_none.missing.example", "192.0.2.1");
    dns.txt_record("down.example", "v=spf1 include:_spf.down.example -all");
    dns.servfail("TXT", "_spf.down.example");

    SpfVerdict v = spf(dns, "192.0.2.7", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.mechanism == "include:_spf.example.com");
    CHECK(v.domain == "example.com");
    // The included record's fail and neutral are "no match": evaluation goes on.
    SpfVerdict next = spf(dns, "198.51.100.5", "a@example.com");
    CHECK(next.result == SpfResult::Pass);
    CHECK(next.mechanism == "ip4:198.51.100.0/24");
    CHECK(spf(dns, "203.0.113.1", "a@example.com").result == SpfResult::Fail);

    SpfVerdict broken = spf(dns, "192.0.2.7", "a@broken.example");
    CHECK(broken.result == SpfResult::PermError);
    CHECK(broken.mechanism.empty());
    CHECK(spf(dns, "192.0.2.7", "a@missing.example").result == SpfResult::PermError);
    SpfVerdict down = spf(dns, "192.0.2.7", "a@down.example");
    CHECK(down.result == SpfResult::TempError);
    CHECK(down.detail.find("include:_spf.down.example") != std::string::npos);
}

TEST_CASE("SPF redirect: used when nothing matched, not after all", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 ip4:203.0.113.1 redirect=_spf.example.net");
    dns.txt_record("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all");
    dns.txt_record("withall.example", "v=spf1 ?all redirect=_spf.example.net");
    dns.txt_record("dangling.example", "v=spf1 redirect=_none.example");

    SpfVerdict v = spf(dns, "192.0.2.7", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.domain == "example.com");
    CHECK(v.mechanism == "redirect=_spf.example.net");
    CHECK(v.detail.find("ip4:192.0.2.0/24") != std::string::npos);
    CHECK(spf(dns, "198.51.100.1", "a@example.com").result == SpfResult::Fail);
    CHECK(spf(dns, "203.0.113.1", "a@example.com").mechanism == "ip4:203.0.113.1");

    SpfVerdict w = spf(dns, "192.0.2.7", "a@withall.example");
    CHECK(w.result == SpfResult::Neutral);
    CHECK(dns.asked("TXT", "_spf.example.net") == 2); // only example.com's checks that fell through
    CHECK(spf(dns, "192.0.2.7", "a@dangling.example").result == SpfResult::PermError);
}

TEST_CASE("SPF pass by exists with macros, IPv4 and IPv6", "[spf]") {
    TableLookup dns;
    dns.txt_record("email.example.com", "v=spf1 exists:%{ir}.%{l1r-}.lp.%{v}._spf.%{d2} -all");
    dns.address("3.2.0.192.strong.lp.in-addr._spf.example.com", "127.0.0.2");
    dns.address("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.strong.lp.ip6."
                "_spf.example.com",
                "127.0.0.2");

    SpfVerdict v = spf(dns, "192.0.2.3", "strong-bad@email.example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.mechanism == "exists:%{ir}.%{l1r-}.lp.%{v}._spf.%{d2}");
    CHECK(spf(dns, "2001:db8::cb01", "strong-bad@email.example.com").result == SpfResult::Pass);
    CHECK(spf(dns, "192.0.2.4", "strong-bad@email.example.com").result == SpfResult::Fail);
    CHECK(spf(dns, "192.0.2.3", "weak-bad@email.example.com").result == SpfResult::Fail);
}

TEST_CASE("SPF null sender is checked as postmaster@helo", "[spf]") {
    TableLookup dns;
    dns.txt_record("mx.sender.example", "v=spf1 exists:%{l}.%{o}.allow.example -all");
    dns.address("postmaster.mx.sender.example.allow.example", "127.0.0.2");

    SpfVerdict v = spf(dns, "192.0.2.1", "", "mx.sender.example");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.domain == "mx.sender.example");
    CHECK(spf(dns, "192.0.2.1", "<>", "mx.sender.example").result == SpfResult::Pass);
    // A bare-IP HELO makes no SPF domain.
    CHECK(spf(dns, "192.0.2.1", "", "[192.0.2.1]").result == SpfResult::None);
}

TEST_CASE("SPF %{h} is the HELO name and the domain is case-insensitive", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 exists:%{h}.helo.example -all");
    dns.address("mail.example.com.helo.example", "127.0.0.2");
    SpfVerdict v = spf(dns, "192.0.2.1", "Alice@EXAMPLE.Com", "mail.example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.domain == "example.com");
    CHECK(spf(dns, "192.0.2.1", "alice@example.com", "other.example").result == SpfResult::Fail);
}

TEST_CASE("SPF IPv4-mapped IPv6 clients are checked as IPv4", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 ip4:192.0.2.0/24 a:mail.example.com -all");
    dns.address("mail.example.com", "198.51.100.1");
    SpfVerdict v = spf(dns, "::ffff:192.0.2.7", "a@example.com");
    CHECK(v.result == SpfResult::Pass);
    CHECK(v.detail == "192.0.2.7 is permitted by example.com's SPF record (ip4:192.0.2.0/24)");
    CHECK(spf(dns, "::ffff:198.51.100.1", "a@example.com").result == SpfResult::Pass);
    CHECK(spf(dns, "::ffff:203.0.113.1", "a@example.com").result == SpfResult::Fail);
}

TEST_CASE("SPF limit: the 11th DNS-querying term is permerror", "[spf]") {
    TableLookup dns;
    std::string ten = "v=spf1";
    for (int i = 1; i <= 10; ++i) {
        std::string host = "h" + std::to_string(i) + ".example.com";
        dns.address(host, "203.0.113." + std::to_string(i));
        ten += " a:" + host;
    }
    dns.address("h11.example.com", "192.0.2.1");
    dns.txt_record("ten.example", ten + " -all");
    dns.txt_record("eleven.example", ten + " a:h11.example.com -all");
    // Includes count, and share the count with the record that includes them.
    dns.txt_record("nested.example", "v=spf1 include:ten.example ip4:192.0.2.1 -all");
    dns.txt_record("loop.example", "v=spf1 include:loop.example -all");

    CHECK(spf(dns, "192.0.2.1", "a@ten.example").result == SpfResult::Fail);
    SpfVerdict v = spf(dns, "192.0.2.1", "a@eleven.example");
    CHECK(v.result == SpfResult::PermError);
    CHECK(v.detail.find("a:h11.example.com") != std::string::npos);
    CHECK(dns.asked("ADDR", "h11.example.com") == 0); // the 11th is never sent
    CHECK(spf(dns, "192.0.2.1", "a@nested.example").result == SpfResult::PermError);
    CHECK(spf(dns, "192.0.2.1", "a@loop.example").result == SpfResult::PermError);
    // ip4 and all are free.
    dns.txt_record("free.example", ten + " ip4:198.51.100.1 ip4:192.0.2.1 -all");
    CHECK(spf(dns, "192.0.2.1", "a@free.example").result == SpfResult::Pass);
}

TEST_CASE("SPF limit: ptr never matches but counts", "[spf]") {
    TableLookup dns;
    dns.txt_record("ptr.example", "v=spf1 ptr ptr:example.com -all");
    SpfVerdict v = spf(dns, "192.0.2.1", "a@ptr.example");
    CHECK(v.result == SpfResult::Fail);
    CHECK(dns.queries() == 1); // only the record itself

    std::string eleven = "v=spf1";
    for (int i = 0; i < 11; ++i)
        eleven += " ptr";
    dns.txt_record("ptrs.example", eleven + " -all");
    CHECK(spf(dns, "192.0.2.1", "a@ptrs.example").result == SpfResult::PermError);
}

TEST_CASE("SPF limit: the third void lookup is permerror", "[spf]") {
    TableLookup dns;
    dns.txt_record("two.example", "v=spf1 a:v1.example a:v2.example -all");
    dns.txt_record("three.example", "v=spf1 a:v1.example mx:v2.example exists:v3.example -all");
    dns.txt_record("v2.example", "not an address"); // exists, but no A: NODATA
    dns.address("v4.example", "2001:db8::4");       // no address of an IPv4 client's family
    dns.txt_record("family.example", "v=spf1 a:v1.example a:v2.example a:v4.example -all");

    CHECK(spf(dns, "192.0.2.1", "a@two.example").result == SpfResult::Fail);
    SpfVerdict v = spf(dns, "192.0.2.1", "a@three.example");
    CHECK(v.result == SpfResult::PermError);
    CHECK(v.detail.find("exists:v3.example") != std::string::npos);
    CHECK(spf(dns, "192.0.2.1", "a@family.example").result == SpfResult::PermError);
    CHECK(spf(dns, "2001:db8::4", "a@family.example").result == SpfResult::Pass);
}

TEST_CASE("SPF temperror: SERVFAIL for the record or a term's lookup", "[spf]") {
    TableLookup dns;
    dns.servfail("TXT", "down.example");
    dns.txt_record("a.example", "v=spf1 a:host.a.example -all");
    dns.servfail("ADDR", "host.a.example");
    dns.txt_record("mx.example", "v=spf1 mx +all");
    dns.servfail("MX", "mx.example");
    dns.txt_record("mxhost.example", "v=spf1 mx -all");
    dns.mx_host("mxhost.example", "mx.mxhost.example");
    dns.servfail("ADDR", "mx.mxhost.example");

    SpfVerdict v = spf(dns, "192.0.2.1", "a@down.example");
    CHECK(v.result == SpfResult::TempError);
    CHECK(v.mechanism.empty());
    CHECK(v.detail.find("SERVFAIL") != std::string::npos);
    CHECK(spf(dns, "192.0.2.1", "a@a.example").result == SpfResult::TempError);
    CHECK(spf(dns, "192.0.2.1", "a@mx.example").result == SpfResult::TempError);
    CHECK(spf(dns, "192.0.2.1", "a@mxhost.example").result == SpfResult::TempError);
}

TEST_CASE("SPF exp= is accepted and does not change the result", "[spf]") {
    TableLookup dns;
    dns.txt_record("example.com", "v=spf1 ip4:192.0.2.1 exp=explain.%{d} -all");
    CHECK(spf(dns, "192.0.2.1", "a@example.com").result == SpfResult::Pass);
    SpfVerdict f = spf(dns, "192.0.2.2", "a@example.com");
    CHECK(f.result == SpfResult::Fail);
    CHECK(dns.asked("TXT", "explain.example.com") == 0);
}

TEST_CASE("SPF: a macro that expands to no usable name matches nothing", "[spf]") {
    TableLookup dns;
    // A sender local part of dots only leaves empty labels.
    dns.txt_record("example.com", "v=spf1 exists:%{l}.x.example.com ip4:192.0.2.1 -all");
    CHECK(spf(dns, "192.0.2.1", "\"..\"@example.com").result == SpfResult::Pass);
    CHECK(dns.queries() == 1);
}
