#include <catch2/catch.hpp>

#include <string>

#include "mime/address.h"

using ar::mime::Mailbox;
using ar::mime::parse_address;
using ar::mime::parse_mailbox;
using ar::mime::parse_mailbox_list;

namespace {

// The error message of a failed parse ("" when it did not fail, so a CHECK shows the input).
std::string address_error(std::string_view s) {
    auto r = parse_address(s);
    return r ? std::string() : r.error().message;
}

std::string mailbox_error(std::string_view s) {
    auto r = parse_mailbox(s);
    return r ? std::string() : r.error().message;
}

} // namespace

TEST_CASE("plain, quoted and literal addresses parse", "[address]") {
    struct Case {
        const char* input;
        const char* local;
        const char* domain;
        const char* address;
    };
    const Case cases[] = {
        {"bob@example.com", "bob", "example.com", "bob@example.com"},
        {"  bob@example.com  ", "bob", "example.com", "bob@example.com"},
        {"Bob.Smith+tag@Sub.Example.co.uk", "Bob.Smith+tag", "Sub.Example.co.uk",
         "Bob.Smith+tag@Sub.Example.co.uk"},
        {"!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~", "example.com",
         "!#$%&'*+-/=?^_`{|}~@example.com"},
        {"x@a-b.example.com", "x", "a-b.example.com", "x@a-b.example.com"},
        {"x@xn--bcher-kva.de", "x", "xn--bcher-kva.de", "x@xn--bcher-kva.de"},
        {"\"john doe\"@example.com", "john doe", "example.com", "\"john doe\"@example.com"},
        {"\"john.doe\"@example.com", "john.doe", "example.com", "john.doe@example.com"},
        {"\"a\\\"b\"@example.com", "a\"b", "example.com", "\"a\\\"b\"@example.com"},
        {"\"a\\\\b\"@example.com", "a\\b", "example.com", "\"a\\\\b\"@example.com"},
        {"\"a@b,c\"@example.com", "a@b,c", "example.com", "\"a@b,c\"@example.com"},
        {"\"a..b\"@example.com", "a..b", "example.com", "\"a..b\"@example.com"},
        {"user@[192.0.2.1]", "user", "[192.0.2.1]", "user@[192.0.2.1]"},
        {"user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]"},
        {"用户@例子.广告", "用户", "例子.广告", "用户@例子.广告"},
        {"josé@bücher.de", "josé", "bücher.de", "josé@bücher.de"},
        {"x@1.2.3.example", "x", "1.2.3.example", "x@1.2.3.example"},
    };
    for (const Case& c : cases) {
        INFO(c.input);
        auto m = parse_address(c.input);
        REQUIRE(m.ok());
        CHECK(m->local_part == c.local);
        CHECK(m->domain == c.domain);
        CHECK(m->display_name.empty());
        CHECK(m->address() == c.address);
        // address() always parses back to the same mailbox.
        auto again = parse_address(m->address());
        REQUIRE(again.ok());
        CHECK(again->local_part == m->local_part);
        CHECK(again->domain == m->domain);
    }
}

TEST_CASE("addresses that break RFC 5321/5322 are refused with a clear message", "[address]") {
    const char* bad[] = {
        "",
        "   ",
        "bob",
        "bob@",
        "@example.com",
        "bob@@example.com",
        "a@b@example.com",
        ".bob@example.com",
        "bob.@example.com",
        "bo..b@example.com",
        "bob smith@example.com",
        "bob(x)@example.com",
        "bob<x>@example.com",
        "bob,x@example.com",
        "bob@localhost",
        "bob@-example.com",
        "bob@example-.com",
        "bob@exa_mple.com",
        "bob@exa mple.com",
        "bob@example..com",
        "bob@.example.com",
        "bob@example.com.",
        "bob@1.2.3.4",
        "bob@[1.2.3]",
        "bob@[300.1.1.1]",
        "bob@[IPv6:zz::q]",
        "bob@[1.2.3.4",
        "bob@[example.com]",
        "\"unterminated@example.com",
        "\"\"@example.com",
        "\"a\"b@example.com",
        "\"a\"",
        "<bob@example.com>",
        "Bob <bob@example.com>",
    };
    for (const char* s : bad) {
        INFO(s);
        auto r = parse_address(s);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ar::kErrInvalid);
        CHECK(r.error().field.empty());
        CHECK_FALSE(r.error().message.empty());
    }
    CHECK(address_error("bob@") == "address \"bob@\" has no domain after '@'");
    CHECK(address_error("bob") ==
          "address \"bob\" has no '@'; expected local-part@domain, like bob@example.com");
    CHECK_THAT(address_error("bob@localhost"), Catch::Contains("has no dot"));
    CHECK_THAT(address_error("bo..b@example.com"), Catch::Contains("two dots in a row"));
    CHECK_THAT(address_error("bob smith@example.com"),
               Catch::Contains("a space") && Catch::Contains("double quotes"));
    CHECK_THAT(address_error("bob@1.2.3.4"), Catch::Contains("[192.0.2.1]"));
    CHECK_THAT(address_error("bob@-example.com"), Catch::Contains("hyphen"));
}

TEST_CASE("RFC 5321 length limits are enforced", "[address]") {
    const std::string local64(64, 'a');
    const std::string label63(63, 'b');
    CHECK(parse_address(local64 + "@example.com").ok());
    CHECK_THAT(address_error(local64 + "a@example.com"),
               Catch::Contains("65 octets") && Catch::Contains("at most 64"));
    // A quoted local part counts with its quotes.
    CHECK_THAT(address_error("\"" + std::string(63, ' ') + "\"@example.com"),
               Catch::Contains("at most 64"));
    CHECK(parse_address("x@" + label63 + ".com").ok());
    CHECK_THAT(address_error("x@" + label63 + "b.com"), Catch::Contains("at most 63"));

    // 4 labels of 63 + ".com" = 259 octets of domain.
    std::string long_domain = label63 + "." + label63 + "." + label63 + "." + label63 + ".com";
    CHECK_THAT(address_error("x@" + long_domain), Catch::Contains("at most 255"));
    // A domain within 255 octets, but a path over 254.
    std::string domain200 = label63 + "." + label63 + "." + label63 + ".abcdefg"; // 199 octets
    REQUIRE(domain200.size() == 199);
    CHECK(parse_address("x@" + domain200).ok());
    CHECK_THAT(address_error(local64 + "@" + domain200), Catch::Contains("at most 254"));

    // A U-label counts in its xn-- form: 40 'ü' are 80 octets of UTF-8, and too long.
    std::string umlauts;
    for (int i = 0; i < 40; ++i)
        umlauts += "ü";
    CHECK_THAT(address_error("x@" + umlauts + ".de"), Catch::Contains("at most 63"));
}

TEST_CASE("control characters, bad UTF-8 and header injection never pass", "[address]") {
    const std::string bad[] = {
        "a@b.com\r\nBcc: x@y.z",
        "a@b.com\nBcc: x@y.z",
        "a@b.com\rBcc: x@y.z",
        std::string("a\0b@example.com", 15),
        std::string("a@example.com\0", 14),
        "a\t@example.com",
        "a@exam\x01ple.com",
        "a\x7f@example.com",
        "\"a\r\nb\"@example.com",
        "a\xc2\x85@example.com", // U+0085, a C1 control
        "\xff@example.com",
        "bob@exam\xc3\x28ple.com",
        "\xc0\xaf@example.com", // overlong '/'
    };
    for (const std::string& s : bad) {
        INFO(s);
        auto r = parse_address(s);
        REQUIRE_FALSE(r.ok());
        // The message shows the input escaped, never with a raw line break.
        CHECK(r.error().message.find_first_of("\r\n") == std::string::npos);
        CHECK(r.error().message.find('\0') == std::string::npos);
        CHECK_FALSE(parse_mailbox("Bob <" + s + ">").ok());
        CHECK_FALSE(parse_mailbox_list("ok@example.com, " + s).ok());
    }
    CHECK_THAT(address_error("a@b.com\r\nBcc: x@y.z"),
               Catch::Contains("control character") && Catch::Contains("\\r\\n"));
    CHECK_THAT(address_error("\xff@example.com"), Catch::Contains("not valid UTF-8"));
    CHECK_FALSE(parse_mailbox("Bob\r\n <bob@example.com>").ok());
    CHECK_FALSE(parse_mailbox("Bob <bob@example.com>\r\nBcc: x@y.z").ok());
}

TEST_CASE("mailboxes with display names parse", "[address]") {
    struct Case {
        const char* input;
        const char* name;
        const char* address;
    };
    const Case cases[] = {
        {"bob@example.com", "", "bob@example.com"},
        {"<bob@example.com>", "", "bob@example.com"},
        {"Bob Smith <bob@example.com>", "Bob Smith", "bob@example.com"},
        {"  Bob   Smith   < bob@example.com >  ", "Bob Smith", "bob@example.com"},
        {"\"Smith, Bob\" <bob@example.com>", "Smith, Bob", "bob@example.com"},
        {"\"Bob \\\"The Builder\\\"\" <bob@example.com>", "Bob \"The Builder\"", "bob@example.com"},
        {"\"  spaced  \" <bob@example.com>", "  spaced  ", "bob@example.com"},
        {"John Q. Public <jq@example.com>", "John Q. Public", "jq@example.com"},
        {"Jöhn Dœ <john@example.com>", "Jöhn Dœ", "john@example.com"},
        {"山田 太郎 <taro@例子.广告>", "山田 太郎", "taro@例子.广告"},
        {"\"Ann\" Lee <ann@example.com>", "Ann Lee", "ann@example.com"},
        {"\"<odd>\" <\"a>b\"@example.com>", "<odd>", "\"a>b\"@example.com"},
        {"Bob<bob@example.com>", "Bob", "bob@example.com"},
    };
    for (const Case& c : cases) {
        INFO(c.input);
        auto m = parse_mailbox(c.input);
        REQUIRE(m.ok());
        CHECK(m->display_name == c.name);
        CHECK(m->address() == c.address);
    }
}

TEST_CASE("malformed mailboxes are refused", "[address]") {
    const char* bad[] = {
        "",
        "Bob <bob@example.com",
        "Bob bob@example.com>",
        "Smith, Bob <bob@example.com>",
        "Bob <bob@example.com> extra",
        "Bob <>",
        "Bob (comment) <bob@example.com>",
        "Bob@home <bob@example.com>",
        "\"Bob <bob@example.com>",
        "Bob <bob@example.com>>",
        "Bob <<bob@example.com>>",
        "group: a@example.com;",
        "Bob <bob>",
    };
    for (const char* s : bad) {
        INFO(s);
        auto r = parse_mailbox(s);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ar::kErrInvalid);
        CHECK(r.error().field.empty());
    }
    CHECK_THAT(mailbox_error("Smith, Bob <bob@example.com>"), Catch::Contains("double quotes"));
    CHECK_THAT(mailbox_error("Bob <bob@example.com"), Catch::Contains("'>'"));
}

TEST_CASE("mailbox lists split on commas outside quotes", "[address]") {
    auto list = parse_mailbox_list(
        "a@example.com, \"Smith, Bob\" <bob@example.com>,Ann <ann@example.org> , "
        "\"x,y\"@example.net");
    REQUIRE(list.ok());
    REQUIRE(list->size() == 4);
    CHECK((*list)[0].address() == "a@example.com");
    CHECK((*list)[1].display_name == "Smith, Bob");
    CHECK((*list)[1].address() == "bob@example.com");
    CHECK((*list)[2].display_name == "Ann");
    CHECK((*list)[3].local_part == "x,y");

    auto trailing = parse_mailbox_list("a@example.com,");
    REQUIRE(trailing.ok());
    CHECK(trailing->size() == 1);

    CHECK_FALSE(parse_mailbox_list("").ok());
    CHECK_FALSE(parse_mailbox_list(" , ").ok());
    auto bad = parse_mailbox_list("a@example.com, bob@, c@example.com");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::StartsWith("entry 2: ") && Catch::Contains("bob@"));
    CHECK_FALSE(parse_mailbox_list("a@example.com\r\n, b@example.com").ok());
}

TEST_CASE("to_header quotes or encodes display names as needed", "[address]") {
    Mailbox m{"", "bob", "example.com"};
    CHECK(m.to_header() == "bob@example.com");
    m.display_name = "Bob Smith";
    CHECK(m.to_header() == "Bob Smith <bob@example.com>");
    m.display_name = "Smith, Bob";
    CHECK(m.to_header() == "\"Smith, Bob\" <bob@example.com>");
    m.display_name = "Bob \"B\" Smith";
    CHECK(m.to_header() == "\"Bob \\\"B\\\" Smith\" <bob@example.com>");
    m.display_name = "Jöhn";
    CHECK(m.to_header() == "=?UTF-8?B?SsO2aG4=?= <bob@example.com>");
    m.display_name = "=?UTF-8?Q?fake?=";
    CHECK_THAT(m.to_header(), Catch::StartsWith("=?UTF-8?") && !Catch::Contains("fake?= <"));
    m.display_name = "x";
    m.local_part = "john doe";
    CHECK(m.to_header() == "x <\"john doe\"@example.com>");

    // Plain and quoted names read back as written.
    for (const char* name : {"Bob Smith", "Smith, Bob", "  two  spaces ", "a\"b\\c", "J. Doe"}) {
        Mailbox n{name, "bob", "example.com"};
        auto back = parse_mailbox(n.to_header());
        REQUIRE(back.ok());
        CHECK(back->display_name == name);
        CHECK(back->address() == "bob@example.com");
    }
    // Long names become encoded words rather than one unfoldable quoted string.
    Mailbox long_name{std::string(100, 'n') + ", Jr.", "bob", "example.com"};
    for (const std::string& piece : ar::mime::header_pieces(long_name))
        CHECK(piece.size() <= 75);
}

TEST_CASE("domains compare case-insensitively, local parts exactly", "[address]") {
    auto a = parse_address("Bob@Example.COM");
    auto b = parse_address("Bob@example.com");
    auto c = parse_address("bob@example.com");
    auto q = parse_address("\"bob\"@EXAMPLE.com");
    auto u = parse_address("x@Bücher.de");
    auto x = parse_address("x@xn--bcher-kva.DE");
    REQUIRE((a && b && c && q && u && x));
    CHECK(ar::mime::same_address(*a, *b));
    CHECK_FALSE(ar::mime::same_address(*b, *c));
    CHECK(ar::mime::same_address(*c, *q));
    CHECK(ar::mime::same_address(*u, *x));
    CHECK(a->domain_lower() == "example.com");
    CHECK(u->domain_lower() == "bücher.de");
    CHECK(u->domain_ascii() == "xn--bcher-kva.de");
}

TEST_CASE("U-labels become A-labels and SMTPUTF8 is flagged", "[address]") {
    // RFC 3492 section 7.1 and well-known IDNs.
    auto m = parse_address("a@münchen.de");
    REQUIRE(m.ok());
    CHECK(m->domain_ascii() == "xn--mnchen-3ya.de");
    CHECK(m->needs_smtputf8());
    auto cn = parse_address("a@例子.广告");
    REQUIRE(cn.ok());
    CHECK(cn->domain_ascii() == "xn--fsqu00a.xn--4rr70v");
    auto jp = parse_address("a@ドメイン名例.jp");
    REQUIRE(jp.ok());
    CHECK(jp->domain_ascii() == "xn--eckwd4c7cu47r2wf.jp");
    auto lit = parse_address("a@[IPv6:2001:DB8::1]");
    REQUIRE(lit.ok());
    CHECK(lit->domain_ascii() == "[ipv6:2001:db8::1]");
    CHECK_FALSE(lit->needs_smtputf8());
    auto local = parse_address("jösé@example.com");
    REQUIRE(local.ok());
    CHECK(local->needs_smtputf8());
    CHECK(local->domain_ascii() == "example.com");
}

TEST_CASE("check_mailbox catches hand-built mailboxes that could inject", "[address]") {
    CHECK(ar::mime::check_mailbox(Mailbox{"Bob", "bob", "example.com"}).ok());
    CHECK(ar::mime::check_mailbox(Mailbox{"", "john doe", "example.com"}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"Evil\r\nBcc: x@y.z", "bob", "example.com"}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"", "bob\r\n", "example.com"}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"", "bob", "example.com\r\nBcc: x@y.z"}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"", "bob", "example.com "}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"", "", "example.com"}).ok());
    CHECK_FALSE(ar::mime::check_mailbox(Mailbox{"\xff", "bob", "example.com"}).ok());
}
