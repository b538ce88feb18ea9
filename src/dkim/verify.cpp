#include "dkim/verify.h"
#include "core/openssl_ptr.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "dkim/canonicalize.h"
#include "mime/encoding.h"

namespace ar::dkim {
namespace {

bool is_fws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string without_fws(std::string_view s) {
    std::string out;
    for (char c : s)
        if (!is_fws(c)) out += c;
    return out;
}

// The colon-separated list of h=, q=, s= and the key record's h=, each item trimmed.
std::vector<std::string> colon_list(std::string_view s) {
    std::vector<std::string> out;
    while (true) {
        size_t colon = s.find(':');
        out.emplace_back(trim(s.substr(0, colon)));
        if (colon == std::string_view::npos) break;
        s.remove_prefix(colon + 1);
    }
    return out;
}

bool list_has(const std::vector<std::string>& list, std::string_view item) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& x) { return iequals(x, item); });
}

bool parse_u64(std::string_view s, uint64_t& out) {
    if (s.empty() || s.size() > 19) return false; // 76 bits at most in the RFC; 63 here
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

const std::string* find_tag(const std::vector<std::pair<std::string, std::string>>& tags,
                            std::string_view name) {
    for (const auto& [n, v] : tags)
        if (n == name) return &v;
    return nullptr;
}

std::string decode_base64(std::string_view text, bool& ok) {
    auto decoded = mime::base64_decode(without_fws(text));
    ok = decoded.ok();
    return ok ? std::move(decoded).value() : std::string();
}

// The field as written with the value of its b= tag (and the whitespace around that value)
// removed, as 3.7 hashes it.
std::string remove_b_value(std::string_view raw) {
    size_t colon = raw.find(':');
    if (colon == std::string_view::npos) return std::string(raw);
    std::string out(raw.substr(0, colon + 1));
    std::string_view rest = raw.substr(colon + 1);
    while (true) {
        size_t semi = rest.find(';');
        std::string_view segment = rest.substr(0, semi);
        size_t eq = segment.find('=');
        if (eq != std::string_view::npos && trim(segment.substr(0, eq)) == "b")
            out += segment.substr(0, eq + 1);
        else
            out += segment;
        if (semi == std::string_view::npos) break;
        out += ';';
        rest.remove_prefix(semi + 1);
    }
    return out;
}

// The p= key: SubjectPublicKeyInfo (or a bare RSAPublicKey, which some publish) for RSA, the
// raw 32 bytes for ed25519 (RFC 8463 4).
PkeyPtr public_key(std::string_view der, bool ed25519) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    if (ed25519) {
        if (der.size() != 32) return nullptr;
        return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, p, der.size()));
    }
    const unsigned char* q = p;
    PkeyPtr key(d2i_PUBKEY(nullptr, &q, static_cast<long>(der.size())));
    if (!key) {
        q = p;
        key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &q, static_cast<long>(der.size())));
    }
    if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return nullptr;
    return key;
}

std::string sha256(std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1) return {};
    return std::string(reinterpret_cast<const char*>(out), len);
}

bool verify_signature(EVP_PKEY* key, bool ed25519, std::string_view data,
                      std::string_view signature) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    std::string hash;
    std::string_view signed_data = data;
    const EVP_MD* md = EVP_sha256();
    if (ed25519) { // RFC 8463 3: pure Ed25519 over the SHA-256 hash of the header data
        hash = sha256(data);
        signed_data = hash;
        md = nullptr;
    }
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(signed_data.data()),
                            signed_data.size()) == 1;
}

// Parses one DKIM-Signature field's value; an error sentence when it cannot be verified.
std::string parse_signature(std::string_view value, SignatureTags& t) {
    auto list = parse_tag_list(value);
    if (!list) return "malformed DKIM-Signature: " + list.error().message;
    const auto& tags = *list;
    for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"})
        if (!find_tag(tags, required)) return std::string("DKIM-Signature has no ") + required + "= tag";
    if (*find_tag(tags, "v") != "1") return "DKIM-Signature version v=" + *find_tag(tags, "v") + " is not 1";
    t.algorithm = lower(*find_tag(tags, "a"));
    t.domain = lower(*find_tag(tags, "d"));
    t.selector = *find_tag(tags, "s");
    if (t.domain.empty() || t.selector.empty()) return "DKIM-Signature has an empty d= or s=";
    if (t.algorithm == "rsa-sha1") return "rsa-sha1 signatures are not accepted (RFC 8301)";
    if (t.algorithm != "rsa-sha256" && t.algorithm != "ed25519-sha256")
        return "unknown signing algorithm a=" + t.algorithm;
    if (const auto* c = find_tag(tags, "c")) {
        auto slash = c->find('/');
        std::string h = lower(c->substr(0, slash));
        std::string b = slash == std::string::npos ? "simple" : lower(c->substr(slash + 1));
        for (auto [text, canon] : {std::pair{&h, &t.header_canon}, std::pair{&b, &t.body_canon}}) {
            if (*text == "relaxed") *canon = Canon::Relaxed;
            else if (*text == "simple") *canon = Canon::Simple;
            else return "unknown canonicalization c=" + *c;
        }
    }
    if (const auto* q = find_tag(tags, "q"); q && !list_has(colon_list(*q), "dns/txt"))
        return "query method q=" + *q + " is not dns/txt";
    t.signed_headers = colon_list(*find_tag(tags, "h"));
    if (!list_has(t.signed_headers, "from")) return "h= does not include From";
    t.identity = "@" + t.domain;
    if (const auto* i = find_tag(tags, "i")) {
        t.identity = *i;
        auto at = i->rfind('@');
        std::string idomain = lower(at == std::string::npos ? "" : i->substr(at + 1));
        bool within = idomain == t.domain ||
                      (idomain.size() > t.domain.size() &&
                       idomain.compare(idomain.size() - t.domain.size(), t.domain.size(), t.domain) == 0 &&
                       idomain[idomain.size() - t.domain.size() - 1] == '.');
        if (!within) return "i=" + *i + " is not within d=" + t.domain;
    }
    if (const auto* l = find_tag(tags, "l")) {
        if (!parse_u64(*l, t.length)) return "l=" + *l + " is not a number";
        t.has_length = true;
    }
    uint64_t x = 0, ts = 0;
    if (const auto* xs = find_tag(tags, "x")) {
        if (!parse_u64(*xs, x)) return "x=" + *xs + " is not a number";
        t.has_expiry = true;
        t.expires = static_cast<int64_t>(x);
        if (const auto* tt = find_tag(tags, "t"); tt && parse_u64(*tt, ts) && x < ts)
            return "x= is before t=";
    }
    bool ok = false;
    t.body_hash = decode_base64(*find_tag(tags, "bh"), ok);
    if (!ok || t.body_hash.empty()) return "bh= is not base64";
    t.b_text = without_fws(*find_tag(tags, "b"));
    t.signature = decode_base64(t.b_text, ok);
    if (!ok || t.signature.empty()) return "b= is not base64";
    return {};
}

} // namespace

ar::Result<std::vector<std::pair<std::string, std::string>>> parse_tag_list(std::string_view text) {
    std::vector<std::pair<std::string, std::string>> out;
    while (true) {
        size_t semi = text.find(';');
        std::string_view spec = trim(text.substr(0, semi));
        if (!spec.empty()) {
            size_t eq = spec.find('=');
            if (eq == std::string_view::npos)
                return ar::invalid("tag", "\"" + std::string(spec.substr(0, 40)) + "\" has no '='");
            std::string name(trim(spec.substr(0, eq)));
            bool valid = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0]));
            for (char c : name)
                valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
            if (!valid) return ar::invalid("tag", "\"" + name.substr(0, 40) + "\" is not a tag name");
            if (find_tag(out, name)) return ar::invalid("tag", "tag " + name + "= is given twice");
            out.emplace_back(std::move(name), std::string(trim(spec.substr(eq + 1))));
        }
        if (semi == std::string_view::npos) break;
        text.remove_prefix(semi + 1);
    }
    return out;
}

std::string simple_body(std::string_view body) {
    while (body.size() >= 2 && body.substr(body.size() - 2) == "\r\n")
        body.remove_suffix(2);
    std::string out(body);
    out += "\r\n";
    return out;
}

Verifier Verifier::parse(std::string_view message) {
    Verifier v;
    v.message_ = message;
    auto msg = parse_message(message);
    if (!msg) {
        // Unreadable for DKIM: every DKIM-Signature line found is a permerror.
        size_t pos = 0;
        while (pos < message.size() && v.sigs_.size() < kMaxSignatures) {
            size_t eol = message.find('\n', pos);
            std::string_view line = message.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
            if (line.empty() || line == "\r") break;
            if (line.size() > 15 && iequals(line.substr(0, 15), "dkim-signature:")) {
                Parsed p;
                p.error = "the message cannot be verified: " + msg.error().message;
                v.sigs_.push_back(std::move(p));
            }
            if (eol == std::string_view::npos) break;
            pos = eol + 1;
        }
        return v;
    }
    v.parsed_ok_ = true;
    v.msg_ = std::move(*msg);
    for (const auto& f : v.msg_.fields) {
        if (!iequals(f.name, "dkim-signature")) continue;
        if (v.sigs_.size() == kMaxSignatures) break;
        Parsed p;
        p.error = parse_signature(f.value, p.tags);
        p.field_without_b = remove_b_value(f.raw);
        v.sigs_.push_back(std::move(p));
    }
    return v;
}

std::string Verifier::key_name(size_t i) const {
    if (i >= sigs_.size() || !sigs_[i].error.empty()) return {};
    return sigs_[i].tags.selector + "._domainkey." + sigs_[i].tags.domain;
}

Verdict Verifier::verify(size_t i, dns::Status key_status,
                         const std::vector<std::string>& key_records, int64_t now_s) const {
    Verdict v;
    if (i >= sigs_.size()) {
        v.result = "permerror";
        v.reason = "no such signature";
        return v;
    }
    const Parsed& p = sigs_[i];
    const SignatureTags& t = p.tags;
    v.domain = t.domain;
    v.selector = t.selector;
    v.algorithm = t.algorithm;
    v.b_prefix = t.b_text.substr(0, 8);
    auto verdict = [&](const char* result, std::string reason) {
        v.result = result;
        v.reason = std::move(reason);
        return v;
    };
    if (!p.error.empty()) return verdict("permerror", p.error);
    if (t.has_expiry && now_s > t.expires) return verdict("fail", "the signature expired");

    std::string name = key_name(i);
    switch (key_status) {
    case dns::Status::TempFail:
        return verdict("temperror", "the key record " + name + " could not be fetched");
    case dns::Status::NoSuchDomain:
    case dns::Status::NoData:
        return verdict("permerror", "no key record at " + name);
    case dns::Status::Ok:
        break;
    }
    // The first record that parses as a key record (3.6.2.2: several are a publisher's error).
    std::vector<std::pair<std::string, std::string>> key;
    bool found = false;
    for (const auto& record : key_records) {
        auto tags = parse_tag_list(record);
        if (!tags) continue;
        if (!tags->empty() && tags->front().first == "v" && tags->front().second != "DKIM1")
            continue;
        if (find_tag(*tags, "v") && tags->front().first != "v") continue; // v= must come first
        key = std::move(*tags);
        found = true;
        break;
    }
    if (!found) return verdict("permerror", "the key record at " + name + " cannot be parsed");
    if (const auto* h = find_tag(key, "h"); h && !list_has(colon_list(*h), "sha256"))
        return verdict("permerror", "the key at " + name + " does not allow sha256 (h=" + *h + ")");
    std::string k = lower(find_tag(key, "k") ? *find_tag(key, "k") : "rsa");
    bool ed25519 = t.algorithm == "ed25519-sha256";
    if (k != (ed25519 ? "ed25519" : "rsa"))
        return verdict("permerror", "the key at " + name + " is k=" + k + ", the signature a=" + t.algorithm);
    if (const auto* s = find_tag(key, "s");
        s && !list_has(colon_list(*s), "*") && !list_has(colon_list(*s), "email"))
        return verdict("permerror", "the key at " + name + " is not for email (s=" + *s + ")");
    if (const auto* flags = find_tag(key, "t"); flags && list_has(colon_list(*flags), "s")) {
        auto at = t.identity.rfind('@');
        if (lower(t.identity.substr(at == std::string::npos ? 0 : at + 1)) != t.domain)
            return verdict("permerror", "the key at " + name + " (t=s) forbids subdomains in i=");
    }
    const auto* p_tag = find_tag(key, "p");
    if (!p_tag) return verdict("permerror", "the key record at " + name + " has no p=");
    if (without_fws(*p_tag).empty()) return verdict("permerror", "the key at " + name + " is revoked");
    bool ok = false;
    std::string der = decode_base64(*p_tag, ok);
    PkeyPtr pkey = ok ? public_key(der, ed25519) : nullptr;
    if (!pkey) return verdict("permerror", "the key at " + name + " cannot be read");
    if (!ed25519 && EVP_PKEY_get_bits(pkey.get()) < 1024)
        return verdict("permerror", "the key at " + name + " has fewer than 1024 bits (RFC 8301)");

    std::string body = t.body_canon == Canon::Relaxed ? relaxed_body(msg_.body) : simple_body(msg_.body);
    if (t.has_length) {
        if (t.length > body.size()) return verdict("permerror", "l= is longer than the body");
        v.unsigned_body_octets = body.size() - t.length;
        body.resize(t.length);
    }
    if (sha256(body) != t.body_hash) return verdict("fail", "the body hash did not verify");
    auto data = header_data(msg_, t.signed_headers, p.field_without_b, t.header_canon);
    if (!data) return verdict("permerror", data.error().message);
    if (!verify_signature(pkey.get(), ed25519, *data, t.signature))
        return verdict("fail", "the signature did not verify");
    if (!v.covers_whole_body())
        return verdict("pass", "signed by " + t.domain + ", but its l= covers only the first " +
                                   std::to_string(t.length) + " of " +
                                   std::to_string(t.length + v.unsigned_body_octets) +
                                   " body octets: the rest is unsigned");
    return verdict("pass", "signed by " + t.domain);
}

} // namespace ar::dkim
