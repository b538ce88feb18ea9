// DKIM signing: the RFC's own vectors, canonicalization cases, and independent verification of
// our signatures by dkimpy (Debian's /usr/bin/python3 has the `dkim` module).
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "dkim/canonicalize.h"
#include "dkim/keys.h"
#include "dkim/sign.h"

namespace fs = std::filesystem;
using ar::dkim::Algorithm;
using ar::dkim::Signer;

namespace {

const std::string kDataDir = std::string(AR_TEST_DATA_DIR) + "/dkim/";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    REQUIRE(out.good());
}

// The vector files keep LF line ends, so they read as the RFC prints them.
std::string crlf(std::string_view lf) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::map<std::string, std::string> read_pairs(const std::string& path, char sep) {
    std::map<std::string, std::string> out;
    std::istringstream in(read_file(path));
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        size_t at = line.find(sep);
        REQUIRE(at != std::string::npos);
        out[line.substr(0, at)] = line.substr(at + 1);
    }
    return out;
}

// The value of tag `name` in a DKIM-Signature field, with all whitespace removed.
std::string tag_value(std::string_view field, std::string_view name) {
    std::string compact;
    for (char c : field.substr(field.find(':') + 1)) {
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') compact += c;
    }
    std::istringstream in(compact);
    for (std::string tag; std::getline(in, tag, ';');) {
        size_t eq = tag.find('=');
        if (eq != std::string::npos && tag.substr(0, eq) == name) return tag.substr(eq + 1);
    }
    return "";
}

std::vector<std::string> split_h(const std::string& h) {
    std::vector<std::string> out;
    std::istringstream in(h);
    for (std::string name; std::getline(in, name, ':');)
        out.push_back(name);
    return out;
}

Signer make_signer(std::string domain, std::string selector, Algorithm a, const std::string& pem) {
    auto s = Signer::create(std::move(domain), std::move(selector), a, pem);
    INFO((s ? "" : s.error().message));
    REQUIRE(s.ok());
    return std::move(s).value();
}

// A scratch directory, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "ar-dkim-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// Verifies every DKIM-Signature of each message with dkimpy, looking keys up in `dns`
// ("selector._domainkey.domain" -> TXT value). Returns, per message name, "ok" or "fail".
std::map<std::string, std::string> dkimpy_verify(const std::map<std::string, std::string>& messages,
                                                 const std::map<std::string, std::string>& dns) {
    TempDir dir;
    std::string records;
    for (const auto& [name, txt] : dns)
        records += name + " " + txt + "\n";
    write_file(dir.path / "dns.txt", records);
    std::string names;
    for (const auto& [name, message] : messages) {
        write_file(dir.path / name, message);
        names += " " + name;
    }
    const char* script = R"PY(
import sys, dkim
d = sys.argv[1]
recs = {}
for line in open(d + "/dns.txt"):
    name, value = line.rstrip("\n").split(" ", 1)
    recs[name] = value.encode()
def dns(name, timeout=5):
    return recs.get(name.decode().rstrip("."))
for name in sys.argv[2:]:
    v = dkim.DKIM(open(d + "/" + name, "rb").read())
    n = sum(1 for h in v.headers if h[0].lower() == b"dkim-signature")
    try:
        ok = n > 0 and all(v.verify(idx=i, dnsfunc=dns) for i in range(n))
    except dkim.DKIMException:
        ok = False
    print(name, "ok" if ok else "fail")
)PY";
    std::string cmd =
        "/usr/bin/python3 -c '" + std::string(script) + "' " + dir.path.string() + names + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
        output.append(buf.data(), n);
    int status = pclose(pipe);
    INFO("dkimpy output:\n" << output);
    REQUIRE(status == 0);
    std::map<std::string, std::string> results;
    std::istringstream in(output);
    for (std::string name, verdict; in >> name >> verdict;)
        results[name] = verdict;
    REQUIRE(results.size() == messages.size());
    return results;
}

// The message of RFC 6376 A.1 / RFC 8463 A.3, unsigned, with CRLF line ends.
std::string rfc_unsigned_message() {
    std::string signed_msg = crlf(read_file(kDataDir + "rfc8463.msg"));
    return signed_msg.substr(signed_msg.find("\r\nFrom: ") + 2);
}

// The n-th DKIM-Signature field of the RFC's message, cut just after its "b=".
std::string rfc_field_up_to_b(int n) {
    std::string signed_msg = crlf(read_file(kDataDir + "rfc8463.msg"));
    size_t start = signed_msg.find("DKIM-Signature:");
    for (int i = 1; i < n; ++i)
        start = signed_msg.find("DKIM-Signature:", start + 1);
    size_t b = signed_msg.find(" b=", start);
    return signed_msg.substr(start, b + 3 - start);
}

void check_line_lengths(const std::string& field) {
    std::istringstream in(field);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        INFO(line);
        CHECK(line.size() <= 78);
    }
}

} // namespace

TEST_CASE("dkim: RFC 6376 3.4.5 relaxed canonicalization example", "[dkim]") {
    // Header "A: <SP> X <CRLF>" and "B <SP> : <SP> Y <HTAB><CRLF> <HTAB> Z <SP><SP><CRLF>".
    CHECK(ar::dkim::relaxed_header("A", " X\r\n") == "a:X\r\n");
    CHECK(ar::dkim::relaxed_header("B ", " Y\t\r\n\tZ  \r\n") == "b:Y Z\r\n");
    // Body "<SP> C <SP><CRLF> D <SP><HTAB><SP> E <CRLF><CRLF><CRLF>".
    CHECK(ar::dkim::relaxed_body(" C \r\nD \t E\r\n\r\n\r\n") == " C\r\nD E\r\n");
}

TEST_CASE("dkim: relaxed canonicalization edge cases", "[dkim]") {
    using ar::dkim::relaxed_body;
    using ar::dkim::relaxed_header;
    CHECK(relaxed_body("") == "");           // 3.4.4: an empty body stays empty
    CHECK(relaxed_body("\r\n\r\n") == "");   // only empty lines: all removed
    CHECK(relaxed_body(" \t\r\n") == "");    // a line of WSP is empty once trimmed
    CHECK(relaxed_body("abc") == "abc\r\n"); // a CRLF ends a non-empty body
    CHECK(relaxed_body("a\r\n\r\nb\r\n\r\n") == "a\r\n\r\nb\r\n"); // inner empty lines stay
    CHECK(relaxed_body("a  b\t\tc \r\n") == "a b c\r\n");
    CHECK(relaxed_header("SUBJECT", "\t \tHello   World \t ") == "subject:Hello World\r\n");
    CHECK(relaxed_header("X", "") == "x:\r\n");
    CHECK(relaxed_header("To", " a@b,\r\n c@d,\r\n\te@f\r\n") == "to:a@b, c@d, e@f\r\n");

    std::string body = "  lead\r\nmid \t dle \r\n\r\n\tend\t\r\n \r\n";
    std::string once = relaxed_body(body);
    CHECK(once == " lead\r\nmid dle\r\n\r\n end\r\n");
    CHECK(relaxed_body(once) == once);

    // The streaming form hands over the same bytes, in pieces, for a body past one buffer.
    std::string big;
    for (int i = 0; i < 20000; ++i)
        big += "line  " + std::to_string(i) + " \r\n";
    std::string pieces;
    ar::dkim::relaxed_body(big, [&](std::string_view p) { pieces += p; });
    CHECK(pieces == relaxed_body(big));
}

TEST_CASE("dkim: RFC 8463 Appendix A vector", "[dkim]") {
    auto expected = read_pairs(kDataDir + "rfc8463.result", '=');
    const int64_t t_ms = std::stoll(expected["t"]) * 1000;
    std::string message = rfc_unsigned_message();
    std::string body = message.substr(message.find("\r\n\r\n") + 4);

    // Relaxed body canonicalization: the body hash is the RFC's.
    CHECK(ar::dkim::body_hash(body) == expected["bh"]);

    Signer ed = make_signer("football.example.com", "brisbane", Algorithm::Ed25519Sha256,
                            read_file(kDataDir + "rfc8463.key"));
    Signer rsa = make_signer("football.example.com", "test", Algorithm::RsaSha256,
                             read_file(kDataDir + "rfc8463-rsa.key"));

    // The RFC signs with i=, q= and "h=from : to : ...", which our signer does not write, so
    // its field is given as printed. Ed25519 and RSA PKCS #1 v1.5 are both deterministic: the
    // same canonical header data and key must give exactly the RFC's b=.
    for (auto [signer, n] : {std::pair{&ed, 1}, std::pair{&rsa, 2}}) {
        std::string field = rfc_field_up_to_b(n);
        std::string algo = ar::dkim::algorithm_tag(signer->algorithm());
        INFO(algo << " field: " << field);
        REQUIRE(tag_value(field, "a") == algo);
        auto b = signer->signature_value(message, split_h(tag_value(field, "h")), field);
        REQUIRE(b.ok());
        CHECK(*b == expected["b." + algo]);
    }

    // Our own signature over the same message carries the RFC's bh= and t=, and verifies.
    auto field = ed.sign(message, t_ms);
    REQUIRE(field.ok());
    CHECK(tag_value(*field, "bh") == expected["bh"]);
    CHECK(tag_value(*field, "t") == expected["t"]);
    CHECK(tag_value(*field, "d") == "football.example.com");
    CHECK(tag_value(*field, "s") == "brisbane");
    auto signed_both = ar::dkim::sign_message({ed, rsa}, message, t_ms);
    REQUIRE(signed_both.ok());
    auto results =
        dkimpy_verify({{"rfc8463.eml", *signed_both}}, read_pairs(kDataDir + "rfc8463.dns", ' '));
    CHECK(results["rfc8463.eml"] == "ok");
}

namespace {

// Messages meant to stress canonicalization and folding; all with CRLF line ends.
std::map<std::string, std::string> sample_messages() {
    std::string long_to = "To: ";
    for (int i = 0; i < 12; ++i) {
        long_to += "Recipient Number " + std::to_string(i) + " <r" + std::to_string(i) +
                   "@example.net>" + (i < 11 ? ",\r\n\t" : "\r\n");
    }
    std::string refs = "References:";
    for (int i = 0; i < 8; ++i)
        refs += "\r\n <thread-" + std::to_string(i) + "@example.org>";
    refs += "\r\n";
    const std::string std_headers = "Date: Fri, 27 Nov 2026 21:30:00 +0000\r\n"
                                    "Message-ID: <abc.123@example.org>\r\n";
    return {
        {"plain.eml", "From: Agent <agent@example.org>\r\nTo: Bob <bob@example.net>\r\n"
                      "Subject: Hello\r\n" +
                          std_headers + "\r\nHi Bob.\r\n"},
        {"utf8_subject.eml", "From: Agent <agent@example.org>\r\nTo: bob@example.net\r\n"
                             "Subject: Gr\xC3\xBC\xC3\x9F"
                             "e \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\r\n"
                             "Cc: =?UTF-8?B?SsO8cmdlbg==?= <j@example.net>\r\n" +
                                 std_headers +
                                 "MIME-Version: 1.0\r\nContent-Type: text/plain; "
                                 "charset=utf-8\r\n\r\nS\xC3\xBC\xC3\x9F.\r\n"},
        {"long_folded.eml", "From: Agent <agent@example.org>\r\n" + long_to +
                                "Subject: A subject line that goes on and on, well past the "
                                "seventy-eight column mark,\r\n and is folded\r\n" +
                                std_headers + refs + "In-Reply-To: <thread-7@example.org>\r\n" +
                                "\r\nBody.\r\n"},
        {"empty_body.eml", "From: agent@example.org\r\nTo: bob@example.net\r\nSubject: "
                           "empty\r\n" +
                               std_headers + "\r\n"},
        {"header_only.eml", "From: agent@example.org\r\nSubject: no blank line\r\n"},
        {"trailing_blank.eml", "From: agent@example.org\r\nTo: bob@example.net\r\n" + std_headers +
                                   "\r\nHi.\r\n\r\n\r\n \r\n\t\r\n\r\n"},
        {"whitespace.eml", "FROM:   agent@example.org  \r\nto:\tbob@example.net\t\r\n"
                           "Subject:   lots \t of   space\t\t \r\n\t  and a fold  \r\n" +
                               std_headers + "\r\n  indented  line  \r\ntabs\t\there\t\r\n"},
        {"no_final_crlf.eml",
         "From: agent@example.org\r\nTo: bob@example.net\r\n" + std_headers + "\r\nno line end"},
        {"list_headers.eml",
         "From: News <news@example.org>\r\nTo: bob@example.net\r\nCc: a@example.net\r\n"
         "Cc: b@example.net\r\nReply-To: help@example.org\r\nSubject: Digest\r\n" +
             std_headers +
             "List-Unsubscribe: <https://example.org/u/1>,\r\n <mailto:u@example.org>\r\n"
             "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
             "X-Not-Signed: whatever\r\n\r\nNews.\r\n"},
    };
}

} // namespace

TEST_CASE("dkim: dkimpy verifies our ed25519 and rsa signatures", "[dkim]") {
    auto ed_key = ar::dkim::generate_key(Algorithm::Ed25519Sha256);
    auto rsa_key = ar::dkim::generate_key(Algorithm::RsaSha256);
    REQUIRE(ed_key.ok());
    REQUIRE(rsa_key.ok());
    std::vector<Signer> signers = {
        make_signer("example.org", "ed", Algorithm::Ed25519Sha256, ed_key->private_pem),
        make_signer("example.org", "rsa", Algorithm::RsaSha256, rsa_key->private_pem)};
    std::map<std::string, std::string> dns = {
        {"ed._domainkey.example.org",
         ar::dkim::dns_txt_value(Algorithm::Ed25519Sha256, ed_key->public_key_b64)},
        {"rsa._domainkey.example.org",
         ar::dkim::dns_txt_value(Algorithm::RsaSha256, rsa_key->public_key_b64)}};

    const int64_t now_ms = 1'795'555'200'123;
    std::map<std::string, std::string> signed_messages;
    for (const auto& [name, message] : sample_messages()) {
        INFO(name);
        for (const Signer& s : signers) {
            auto field = s.sign(message, now_ms);
            REQUIRE(field.ok());
            check_line_lengths(*field);
            CHECK(tag_value(*field, "t") == "1795555200");
            CHECK(tag_value(*field, "c") == "relaxed/relaxed");
        }
        auto signed_msg = ar::dkim::sign_message(signers, message, now_ms);
        REQUIRE(signed_msg.ok());
        signed_messages[name] = *signed_msg;
    }

    // (4) The same check must be able to fail: a changed body, a changed subject, and a second
    // From added above the signed one (caught only because From is over-signed).
    std::string plain = signed_messages["plain.eml"];
    std::string body_changed = plain;
    body_changed.replace(body_changed.find("Hi Bob."), 7, "Hi Rob.");
    std::string subject_changed = plain;
    subject_changed.replace(subject_changed.find("Subject: Hello"), 14, "Subject: Hellp");
    std::string from_added = "From: Mallory <m@example.com>\r\n" + plain;
    std::map<std::string, std::string> tampered = {{"tampered_body.eml", body_changed},
                                                   {"tampered_subject.eml", subject_changed},
                                                   {"tampered_from.eml", from_added}};
    auto all = signed_messages;
    all.insert(tampered.begin(), tampered.end());

    auto results = dkimpy_verify(all, dns);
    for (const auto& [name, verdict] : results) {
        INFO(name);
        CHECK(verdict == (tampered.count(name) ? "fail" : "ok"));
    }
}

TEST_CASE("dkim: h= lists present fields once per occurrence and over-signs", "[dkim]") {
    auto key = ar::dkim::generate_key(Algorithm::Ed25519Sha256);
    REQUIRE(key.ok());
    Signer s = make_signer("example.org", "sel", Algorithm::Ed25519Sha256, key->private_pem);
    std::string message = "Received: from x\r\nFrom: a@example.org\r\nCc: b@example.net\r\n"
                          "Subject: s\r\nCC: c@example.net\r\nX-Other: o\r\n"
                          "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nbody\r\n";
    auto field = s.sign(message, 0);
    REQUIRE(field.ok());
    CHECK(field->rfind("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;", 0) == 0);
    CHECK(field->size() > 2);
    CHECK(field->substr(field->size() - 2) == "\r\n");
    CHECK(tag_value(*field, "h") ==
          "from:cc:cc:subject:list-unsubscribe-post:from:subject:date:to:message-id");
    CHECK(tag_value(*field, "v") == "1");
    CHECK(tag_value(*field, "t") == "0");
    CHECK(tag_value(*field, "b").size() == 88); // 64 octets of Ed25519 signature, base64
}

TEST_CASE("dkim: signing is deterministic and safe from many threads and copies", "[dkim]") {
    Signer original = make_signer("football.example.com", "brisbane", Algorithm::Ed25519Sha256,
                                  read_file(kDataDir + "rfc8463.key"));
    std::string message = rfc_unsigned_message();
    auto reference = original.sign(message, 1'528'637'909'000);
    REQUIRE(reference.ok());

    Signer copy = original;
    Signer moved = std::move(original);
    original = copy; // assigned after being moved from: usable again
    std::vector<Signer> signers = {copy, moved, original, copy};
    std::vector<int> mismatches(signers.size(), 0);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < signers.size(); ++i) {
        threads.emplace_back([&, i] {
            for (int n = 0; n < 50; ++n) {
                auto f = signers[i].sign(message, 1'528'637'909'000);
                if (!f.ok() || *f != *reference) ++mismatches[i];
            }
        });
    }
    for (auto& t : threads)
        t.join();
    for (int m : mismatches)
        CHECK(m == 0);
}

TEST_CASE("dkim: bad keys, names and messages are refused with a reason", "[dkim]") {
    auto ed = ar::dkim::generate_key(Algorithm::Ed25519Sha256);
    auto rsa = ar::dkim::generate_key(Algorithm::RsaSha256);
    REQUIRE(ed.ok());
    REQUIRE(rsa.ok());

    auto mismatch = Signer::create("example.org", "s", Algorithm::RsaSha256, ed->private_pem);
    REQUIRE_FALSE(mismatch.ok());
    CHECK(mismatch.error().field == "private_pem");
    CHECK_FALSE(Signer::create("example.org", "s", Algorithm::RsaSha256, "not a key").ok());
    CHECK_FALSE(Signer::create("exa mple.org", "s", Algorithm::RsaSha256, rsa->private_pem).ok());
    CHECK_FALSE(Signer::create("example..org", "s", Algorithm::RsaSha256, rsa->private_pem).ok());
    auto bad_selector =
        Signer::create("example.org", "s;x=1", Algorithm::RsaSha256, rsa->private_pem);
    REQUIRE_FALSE(bad_selector.ok());
    CHECK(bad_selector.error().field == "selector");
    CHECK(Signer::create("example.org", "2026_a.x", Algorithm::RsaSha256, rsa->private_pem).ok());

    // RFC 8301: RSA below 1024 bits is refused.
    EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{512});
    REQUIRE(small != nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_PrivateKey(bio, small, nullptr, nullptr, 0, nullptr, nullptr) == 1);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string small_pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(small);
    auto weak = Signer::create("example.org", "s", Algorithm::RsaSha256, small_pem);
    REQUIRE_FALSE(weak.ok());
    CHECK(weak.error().message.find("1024") != std::string::npos);

    Signer s = make_signer("example.org", "s", Algorithm::Ed25519Sha256, ed->private_pem);
    auto bare_lf = s.sign("From: a@example.org\nSubject: x\r\n\r\nbody\r\n", 0);
    REQUIRE_FALSE(bare_lf.ok());
    CHECK(bare_lf.error().code == ar::kErrInvalid);
    CHECK(bare_lf.error().message.find("bare LF") != std::string::npos);
    CHECK_FALSE(s.sign("From: a@example.org\r\n\r\nbody\rmore\r\n", 0).ok());
    auto no_from = s.sign("To: b@example.net\r\n\r\nbody\r\n", 0);
    REQUIRE_FALSE(no_from.ok());
    CHECK(no_from.error().message.find("From") != std::string::npos);
    CHECK_FALSE(s.sign(" folded: first\r\nFrom: a@example.org\r\n\r\n", 0).ok());
    CHECK_FALSE(s.sign("From: a@example.org\r\nno colon here\r\n\r\n", 0).ok());

    auto none = ar::dkim::sign_message({}, "From: a@example.org\r\n\r\nx\r\n", 0);
    REQUIRE(none.ok());
    CHECK(*none == "From: a@example.org\r\n\r\nx\r\n");
}

TEST_CASE("dkim: keys load back and publish as DNS records", "[dkim]") {
    auto ed = ar::dkim::generate_key(Algorithm::Ed25519Sha256);
    REQUIRE(ed.ok());
    CHECK(ed->algorithm == Algorithm::Ed25519Sha256);
    CHECK(ed->public_key_b64.size() == 44); // 32 raw octets (RFC 8463 4)
    auto again = ar::dkim::load_key(ed->private_pem);
    REQUIRE(again.ok());
    CHECK(again->public_key_b64 == ed->public_key_b64);

    // The RFC's keys give the RFC's published p= values.
    auto rfc_ed = ar::dkim::load_key(read_file(kDataDir + "rfc8463.key"));
    auto rfc_rsa = ar::dkim::load_key(read_file(kDataDir + "rfc8463-rsa.key"));
    REQUIRE(rfc_ed.ok());
    REQUIRE(rfc_rsa.ok());
    auto dns = read_pairs(kDataDir + "rfc8463.dns", ' ');
    CHECK(ar::dkim::dns_txt_value(rfc_ed->algorithm, rfc_ed->public_key_b64) ==
          dns["brisbane._domainkey.football.example.com"]);
    CHECK(ar::dkim::dns_txt_value(rfc_rsa->algorithm, rfc_rsa->public_key_b64) ==
          dns["test._domainkey.football.example.com"]);

    CHECK(ar::dkim::algorithm_tag(Algorithm::Ed25519Sha256) == "ed25519-sha256");
    CHECK(ar::dkim::algorithm_tag(Algorithm::RsaSha256) == "rsa-sha256");
    CHECK(ar::dkim::zone_file_lines("example.org", "ed", Algorithm::Ed25519Sha256, "AAAA") ==
          "ed._domainkey.example.org. IN TXT ( \"v=DKIM1; k=ed25519; p=AAAA\" )");

    auto rsa = ar::dkim::generate_key(Algorithm::RsaSha256);
    REQUIRE(rsa.ok());
    std::string zone =
        ar::dkim::zone_file_lines("example.org.", "rsa", Algorithm::RsaSha256, rsa->public_key_b64);
    REQUIRE(zone.rfind("rsa._domainkey.example.org. IN TXT ( \"", 0) == 0);
    REQUIRE(zone.substr(zone.size() - 2) == " )");
    // The quoted strings, each at most 255 octets, join to the TXT value.
    std::string joined;
    size_t strings = 0;
    for (size_t at = zone.find('"'); at != std::string::npos; at = zone.find('"', at + 1)) {
        size_t end = zone.find('"', at + 1);
        REQUIRE(end != std::string::npos);
        CHECK(end - at - 1 <= 255);
        joined += zone.substr(at + 1, end - at - 1);
        ++strings;
        at = end;
    }
    CHECK(strings >= 2); // a 2048-bit key's record needs two strings
    CHECK(joined == ar::dkim::dns_txt_value(Algorithm::RsaSha256, rsa->public_key_b64));
}
