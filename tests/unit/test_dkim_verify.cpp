// DKIM verification (dkim/verify.h, auth::check_dkim): against the RFC 8463 example signatures,
// against signatures made by dkimpy (an independent signer) with simple canonicalization and
// l=, and against every way a signature or its key record can be broken.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/dkim_check.h"
#include "dkim/keys.h"
#include "dkim/sign.h"
#include "dkim/verify.h"
#include "mime/encoding.h"
#include "sample_data.h"
#include "table_lookup.h"
#include "temp_dir.h"

using ar::dkim::Verdict;
using ar::dkim::Verifier;

namespace {

constexpr int64_t kRfcTime = 1528637909; // t= of the RFC 8463 signatures

// The RFC's key records, from tests/data/dkim/rfc8463.dns ("name value" a line).
ar::test::TableLookup rfc_keys() {
    ar::test::TableLookup dns;
    std::istringstream in(read_sample("dkim", "rfc8463.dns"));
    for (std::string line; std::getline(in, line);) {
        auto space = line.find(' ');
        if (space != std::string::npos) dns.txt_record(line.substr(0, space), line.substr(space + 1));
    }
    return dns;
}

std::vector<Verdict> check(ar::test::TableLookup& dns, const std::string& message,
                           int64_t now_s = kRfcTime) {
    return ar::test::run_awaitable(ar::auth::check_dkim(dns, message, now_s * 1000));
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

// A message signed by dkimpy (python3-dkim) with the given options, and the key record to
// publish for it at sel._domainkey.example.org.
struct DkimpySigned {
    std::string message;
    std::string record;
};

DkimpySigned dkimpy_sign(const std::string& message, const std::string& options) {
    TempDir tmp;
    std::filesystem::path dir(tmp.path);
    // dkimpy reads PKCS #1 keys: the RFC's RSA key (tests/data/dkim/rfc8463-rsa.key), whose
    // record rfc8463.dns publishes for test._domainkey.football.example.com.
    std::string record;
    std::istringstream dns(read_sample("dkim", "rfc8463.dns"));
    for (std::string line; std::getline(dns, line);)
        if (line.rfind("test._domainkey.", 0) == 0) record = line.substr(line.find(' ') + 1);
    REQUIRE(!record.empty());
    {
        std::ofstream(dir / "key.pem") << read_sample("dkim", "rfc8463-rsa.key");
        std::ofstream(dir / "in.eml", std::ios::binary) << message;
    }
    // dkim.sign(message, selector, domain, privkey, ..., canonicalize, include_headers, length)
    std::string script =
        "import dkim,sys\n"
        "d=sys.argv[1]\n"
        "msg=open(d+'/in.eml','rb').read()\n"
        "key=open(d+'/key.pem','rb').read()\n"
        "sig=dkim.sign(msg,b'sel',b'example.org',key," + options + ")\n"
        "open(d+'/out.eml','wb').write(sig+msg)\n";
    {
        std::ofstream(dir / "sign.py") << script;
    }
    std::string cmd = "/usr/bin/python3 " + (dir / "sign.py").string() + " " + tmp.path + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    std::array<char, 4096> buf;
    for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;)
        output.append(buf.data(), n);
    INFO("dkimpy: " << output);
    REQUIRE(pclose(pipe) == 0);
    std::ifstream in(dir / "out.eml", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return {ss.str(), record};
}

const std::string kPlain = "From: Ann <ann@example.org>\r\n"
                           "To: bot@agents.test\r\n"
                           "Subject:   spaced    subject  \r\n"
                           "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
                           "Message-ID: <m1@example.org>\r\n"
                           "\r\n"
                           "Your code is  123456.  \r\n"
                           "\r\n"
                           "\r\n";

} // namespace

TEST_CASE("dkim verify: the RFC 8463 example's ed25519 and RSA signatures pass", "[dkim_verify]") {
    auto dns = rfc_keys();
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    auto v = check(dns, message);
    REQUIRE(v.size() == 2);
    CHECK(v[0].result == "pass");
    CHECK(v[0].algorithm == "ed25519-sha256");
    CHECK(v[0].domain == "football.example.com");
    CHECK(v[0].selector == "brisbane");
    CHECK(v[0].b_prefix == "/gCrinpc");
    CHECK(v[1].result == "pass");
    CHECK(v[1].algorithm == "rsa-sha256");
    CHECK(dns.asked("TXT", "brisbane._domainkey.football.example.com") == 1);
    CHECK(dns.asked("TXT", "test._domainkey.football.example.com") == 1);
}

TEST_CASE("dkim verify: a changed body or signed field fails, an unsigned field does not",
          "[dkim_verify]") {
    auto dns = rfc_keys();
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));

    auto body = check(dns, replace_once(message, "hungry", "thirsty"));
    REQUIRE(body.size() == 2);
    CHECK(body[0].result == "fail");
    CHECK(body[0].reason == "the body hash did not verify");
    CHECK(body[1].result == "fail");

    auto subject = check(dns, replace_once(message, "Is dinner ready?", "Is lunch ready?"));
    CHECK(subject[0].result == "fail");
    CHECK(subject[0].reason == "the signature did not verify");

    // A second Subject above the signed one: over-signing (h= lists subject twice) catches it.
    auto added = check(dns, replace_once(message, "From: Joe", "Subject: urgent\r\nFrom: Joe"));
    CHECK(added[0].result == "fail");

    // A field h= does not name may be added on the way (a Received, say): still a pass.
    auto received = check(dns, replace_once(message, "From: Joe", "Received: by relay.test\r\nFrom: Joe"));
    CHECK(received[0].result == "pass");
    CHECK(received[1].result == "pass");

    // Relaxed canonicalization forgives whitespace changes in signed fields.
    auto spaced = check(dns, replace_once(message, "Subject: Is dinner ready?", "Subject:  Is  dinner ready? "));
    CHECK(spaced[0].result == "pass");
}

TEST_CASE("dkim verify: signatures made by dkimpy, simple and relaxed, with l=", "[dkim_verify]") {
    for (const char* canon : {"b'simple',b'simple'", "b'relaxed',b'simple'", "b'simple',b'relaxed'"}) {
        INFO(canon);
        auto s = dkimpy_sign(kPlain, std::string("canonicalize=(") + canon + ")");
        ar::test::TableLookup dns;
        dns.txt_record("sel._domainkey.example.org", s.record);
        auto v = check(dns, s.message, 2'000'000'000);
        REQUIRE(v.size() == 1);
        CHECK(v[0].result == "pass");
        CHECK(v[0].domain == "example.org");
        // Simple header canonicalization keeps every space: one more breaks it.
        bool simple_header = std::string(canon).rfind("b'simple'", 0) == 0;
        auto changed = check(dns, replace_once(s.message, "Subject:   spaced", "Subject:    spaced"), 2'000'000'000);
        CHECK(changed[0].result == (simple_header ? "fail" : "pass"));
    }
    // l=: the signer vouches for the first l octets; text added after them passes, but the
    // verdict says how much of the body is unsigned (RFC 6376 8.2).
    auto s = dkimpy_sign(kPlain, "length=True");
    ar::test::TableLookup dns;
    dns.txt_record("sel._domainkey.example.org", s.record);
    auto whole = check(dns, s.message, 2'000'000'000);
    CHECK(whole[0].result == "pass");
    CHECK(whole[0].covers_whole_body());
    CHECK(whole[0].unsigned_body_octets == 0);
    std::string tail = "appended by a list\r\n";
    auto appended = check(dns, s.message + tail, 2'000'000'000);
    CHECK(appended[0].result == "pass");
    CHECK_FALSE(appended[0].covers_whole_body());
    // Canonicalized octets: the tail, and any empty lines the signed body ended with.
    CHECK(appended[0].unsigned_body_octets >= tail.size());
    CHECK(appended[0].reason.find("the rest is unsigned") != std::string::npos);
    CHECK(check(dns, replace_once(s.message, "123456", "654321"), 2'000'000'000)[0].result == "fail");
}

TEST_CASE("dkim verify: our own signer's signatures pass, and alter nothing", "[dkim_verify]") {
    for (auto a : {ar::dkim::Algorithm::Ed25519Sha256, ar::dkim::Algorithm::RsaSha256}) {
        auto key = ar::dkim::generate_key(a);
        REQUIRE(key.ok());
        auto signer = ar::dkim::Signer::create("example.org", "s1", a, key->private_pem);
        REQUIRE(signer.ok());
        auto signed_msg = ar::dkim::sign_message({*signer}, kPlain, 1'800'000'000'000);
        REQUIRE(signed_msg.ok());
        ar::test::TableLookup dns;
        dns.txt_record("s1._domainkey.example.org", ar::dkim::dns_txt_value(a, key->public_key_b64));
        auto v = check(dns, *signed_msg, 1'800'000'000);
        REQUIRE(v.size() == 1);
        CHECK(v[0].result == "pass");
        CHECK(v[0].algorithm == ar::dkim::algorithm_tag(a));
    }
}

TEST_CASE("dkim verify: key records that cannot vouch for a signature", "[dkim_verify]") {
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    const std::string ed_name = "brisbane._domainkey.football.example.com";
    const std::string rsa_name = "test._domainkey.football.example.com";
    auto rfc = rfc_keys();
    std::string ed_record = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    SECTION("no key record") {
        ar::test::TableLookup dns;
        auto v = check(dns, message);
        CHECK(v[0].result == "permerror");
        CHECK(v[0].reason == "no key record at " + ed_name);
    }
    SECTION("the lookup fails: temperror, not a verdict on the mail") {
        ar::test::TableLookup dns;
        dns.servfail("TXT", ed_name).servfail("TXT", rsa_name);
        auto v = check(dns, message);
        CHECK(v[0].result == "temperror");
        CHECK(v[1].result == "temperror");
    }
    SECTION("a revoked key (empty p=)") {
        ar::test::TableLookup dns;
        dns.txt_record(ed_name, "v=DKIM1; k=ed25519; p=");
        CHECK(check(dns, message)[0].reason == "the key at " + ed_name + " is revoked");
    }
    SECTION("the key's type is not the signature's algorithm") {
        ar::test::TableLookup dns;
        dns.txt_record(ed_name, "v=DKIM1; k=rsa; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        auto v = check(dns, message);
        CHECK(v[0].result == "permerror");
        CHECK(v[0].reason.find("k=rsa") != std::string::npos);
    }
    SECTION("h= of the key excludes sha256; s= excludes email; v= not DKIM1") {
        for (std::string record : {ed_record + "; h=sha1", ed_record + "; s=other", std::string("v=DKIM2; k=ed25519; p=x")}) {
            INFO(record);
            ar::test::TableLookup dns;
            dns.txt_record(ed_name, record);
            CHECK(check(dns, message)[0].result == "permerror");
        }
    }
    SECTION("garbage p= and a key of another algorithm's length") {
        ar::test::TableLookup dns;
        dns.txt_record(ed_name, "v=DKIM1; k=ed25519; p=AAAA");
        CHECK(check(dns, message)[0].reason == "the key at " + ed_name + " cannot be read");
    }
    SECTION("a second record that is not a key record is skipped") {
        ar::test::TableLookup dns;
        dns.txt_record(ed_name, "some other text").txt_record(ed_name, ed_record);
        CHECK(check(dns, message)[0].result == "pass");
    }
    SECTION("a key with fewer than 1024 bits is not accepted (RFC 8301)") {
        auto pkey = EVP_RSA_gen(512);
        REQUIRE(pkey != nullptr);
        unsigned char* der = nullptr;
        int len = i2d_PUBKEY(pkey, &der);
        REQUIRE(len > 0);
        std::string p = ar::mime::base64_encode(std::string_view(reinterpret_cast<char*>(der), len));
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        ar::test::TableLookup dns;
        dns.txt_record(rsa_name, "v=DKIM1; k=rsa; p=" + p);
        auto v = check(dns, message);
        CHECK(v[1].result == "permerror");
        CHECK(v[1].reason.find("1024") != std::string::npos);
    }
}

TEST_CASE("dkim verify: broken or unacceptable signature fields", "[dkim_verify]") {
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    auto dns = rfc_keys();
    auto first = [&](const std::string& m, int64_t now = kRfcTime) { return check(dns, m, now)[0]; };

    CHECK(first(replace_once(message, "a=ed25519-sha256", "a=rsa-sha1")).reason ==
          "rsa-sha1 signatures are not accepted (RFC 8301)");
    CHECK(first(replace_once(message, "a=ed25519-sha256", "a=md5-rot13")).result == "permerror");
    CHECK(first(replace_once(message, "v=1; a=ed25519", "v=2; a=ed25519")).result == "permerror");
    CHECK(first(replace_once(message, "h=from : to :\r\n subject : date : message-id : from : subject : date;",
                             "h=to :\r\n subject : date : message-id : subject : date;"))
              .reason == "h= does not include From");
    CHECK(first(replace_once(message, "i=@football.example.com", "i=@evil.example")).reason ==
          "i=@evil.example is not within d=football.example.com");
    CHECK(first(replace_once(message, "i=@football.example.com", "i=joe@sub.football.example.com")).reason !=
          "i=joe@sub.football.example.com is not within d=football.example.com");
    CHECK(first(replace_once(message, "q=dns/txt; s=brisbane", "q=http; s=brisbane")).result == "permerror");
    CHECK(first(replace_once(message, "c=relaxed/relaxed", "c=fancy/relaxed")).reason ==
          "unknown canonicalization c=fancy/relaxed");
    CHECK(first(replace_once(message, "s=brisbane;", "s=brisbane; s=again;")).reason.find("twice") !=
          std::string::npos);
    // x=: expired after that time, not before.
    std::string expiring = replace_once(message, "t=1528637909; h=from : to :", "t=1528637909; x=1528641509; h=from : to :");
    // (the field changed, so the signature no longer matches; what matters is which check fires)
    CHECK(first(expiring, 1528641510).reason == "the signature expired");
    CHECK(first(expiring, 1528641500).reason != "the signature expired");
    // A message DKIM cannot read: each signature field is a permerror, nothing is looked up.
    ar::test::TableLookup empty;
    auto bare = check(empty, replace_once(message, "Hi.\r\n", "Hi.\n"));
    REQUIRE(bare.size() == 2);
    CHECK(bare[0].result == "permerror");
    CHECK(empty.queries() == 0);
}

TEST_CASE("dkim verify: at most five signatures are checked", "[dkim_verify]") {
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    std::string first_field = message.substr(0, message.find("DKIM-Signature:", 1));
    std::string many = first_field + first_field + first_field + message; // 3 + 2 = 5 ... plus:
    many = first_field + first_field + many;                               // 7 in all
    auto dns = rfc_keys();
    auto v = check(dns, many);
    CHECK(v.size() == ar::dkim::kMaxSignatures);
    CHECK(dns.queries() <= static_cast<int>(ar::dkim::kMaxSignatures));
}

TEST_CASE("dkim verify: tag lists and simple body canonicalization", "[dkim_verify]") {
    auto tags = ar::dkim::parse_tag_list(" v = 1 ;a=rsa-sha256;\r\n\tb= ab\r\n cd ; ");
    REQUIRE(tags.ok());
    REQUIRE(tags->size() == 3);
    CHECK((*tags)[0] == std::pair<std::string, std::string>{"v", "1"});
    CHECK((*tags)[2].second == "ab\r\n cd");
    CHECK_FALSE(ar::dkim::parse_tag_list("a=1; a=2").ok());
    CHECK_FALSE(ar::dkim::parse_tag_list("novalue; a=1").ok());
    CHECK_FALSE(ar::dkim::parse_tag_list("9a=1").ok());
    CHECK(ar::dkim::parse_tag_list("").ok());

    CHECK(ar::dkim::simple_body("") == "\r\n"); // RFC 6376 3.4.3: an empty body is one CRLF
    CHECK(ar::dkim::simple_body("\r\n\r\n") == "\r\n");
    CHECK(ar::dkim::simple_body("a \r\n\r\n") == "a \r\n");
    CHECK(ar::dkim::simple_body("a") == "a\r\n");
}

TEST_CASE("dkim verify: with a worker pool the verdicts are the same", "[dkim_verify]") {
    auto dns = rfc_keys();
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    asio::thread_pool pool(2);
    auto on_pool = ar::test::run_awaitable(ar::auth::check_dkim(dns, message, kRfcTime * 1000, &pool));
    auto inline_ = check(dns, message);
    REQUIRE(on_pool.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
        CHECK(on_pool[i].result == "pass");
        CHECK(on_pool[i].result == inline_[i].result);
        CHECK(on_pool[i].domain == inline_[i].domain);
    }
    auto tampered = ar::test::run_awaitable(
        ar::auth::check_dkim(dns, replace_once(message, "hungry", "thirsty"), kRfcTime * 1000, &pool));
    CHECK(tampered[0].result == "fail");
    pool.join();
}

TEST_CASE("a spent time budget answers TempFail without asking", "[dkim_verify]") {
    auto dns = rfc_keys();
    std::string message = to_crlf(read_sample("dkim", "rfc8463.msg"));
    ar::auth::BudgetLookup spent(dns, std::chrono::steady_clock::now() - std::chrono::seconds(1));
    auto v = ar::test::run_awaitable(ar::auth::check_dkim(spent, message, kRfcTime * 1000));
    REQUIRE(v.size() == 2);
    CHECK(v[0].result == "temperror");
    CHECK(v[1].result == "temperror");
    CHECK(dns.queries() == 0);
    ar::auth::BudgetLookup open(dns, std::chrono::steady_clock::now() + std::chrono::hours(1));
    auto ok = ar::test::run_awaitable(ar::auth::check_dkim(open, message, kRfcTime * 1000));
    CHECK(ok[0].result == "pass");
    CHECK(dns.queries() == 2);
}
