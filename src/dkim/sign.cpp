#include "dkim/sign.h"
#include "core/openssl_ptr.h"
#include "core/openssl_error.h"
#include "mime/encoding.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "dkim/canonicalize.h"
#include "dkim/message.h"

namespace ar::dkim {
namespace {

constexpr size_t kMaxColumns = 78; // RFC 5322 2.1.1: lines SHOULD be at most 78 characters

// The fields worth protecting, in the order h= lists them (RFC 6376 5.4.1).
// clang-format off
constexpr std::string_view kSignedFields[] = {
    "from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
    "mime-version", "content-type", "list-unsubscribe", "list-unsubscribe-post"};
// clang-format on

// Listed once more than they occur, so a field added later breaks the signature (RFC 6376 8.15).
constexpr std::string_view kOverSignedFields[] = {"from", "subject", "date", "to", "message-id"};

ar::Error crypto_error(std::string_view what) {
    return ar::Error{ar::kErrInternal,
                     "DKIM " + std::string(what) + " failed (" + openssl_reason() + ")", ""};
}

std::string base64(const unsigned char* data, size_t n) {
    return mime::base64_encode(std::string_view(reinterpret_cast<const char*>(data), n));
}

ar::Result<std::string> sign_data(EVP_PKEY* pkey, Algorithm a, std::string_view data) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return crypto_error("signing context");
    std::string_view to_sign = data;
    unsigned char hash[EVP_MAX_MD_SIZE];
    const EVP_MD* md = EVP_sha256();
    if (a == Algorithm::Ed25519Sha256) {
        // RFC 8463 3: ed25519-sha256 signs the SHA-256 hash of the header data with pure
        // Ed25519 (which takes no digest of its own: md is NULL).
        unsigned int hash_len = 0;
        if (EVP_Digest(data.data(), data.size(), hash, &hash_len, md, nullptr) != 1)
            return crypto_error("header hash");
        to_sign = std::string_view(reinterpret_cast<const char*>(hash), hash_len);
        md = nullptr;
    }
    if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) != 1)
        return crypto_error("signing setup");
    const auto* in = reinterpret_cast<const unsigned char*>(to_sign.data());
    size_t sig_len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, in, to_sign.size()) != 1)
        return crypto_error("signature size");
    std::string sig(sig_len, '\0');
    auto* out = reinterpret_cast<unsigned char*>(sig.data());
    if (EVP_DigestSign(ctx.get(), out, &sig_len, in, to_sign.size()) != 1)
        return crypto_error("signature");
    return base64(out, sig_len);
}

// ---- Folding -----------------------------------------------------------------------------

// Writes a header field, folding (CRLF SP) before a piece that would pass column 78. A fold
// is whitespace that relaxed canonicalization keeps as one SP, so the signer must sign the
// field exactly as folded here.
class Folder {
  public:
    explicit Folder(std::string_view start) : out_(start), column_(start.size()) {}

    // A piece after a space (between tags).
    void word(std::string_view piece) {
        if (column_ + 1 + piece.size() > kMaxColumns) {
            fold();
        } else {
            out_ += ' ';
            ++column_;
        }
        append(piece);
    }
    // A piece directly after the previous one (inside the h= list).
    void glue(std::string_view piece) {
        if (column_ + piece.size() > kMaxColumns) fold();
        append(piece);
    }
    // Base64 spread over as many lines as it needs: FWS inside b= is ignored (RFC 6376 3.5).
    void spread(std::string_view text) {
        while (!text.empty()) {
            if (column_ >= kMaxColumns) fold();
            size_t n = std::min(text.size(), kMaxColumns - column_);
            append(text.substr(0, n));
            text.remove_prefix(n);
        }
    }
    const std::string& text() const { return out_; }

  private:
    void fold() {
        out_ += "\r\n ";
        column_ = 1;
    }
    void append(std::string_view piece) {
        out_ += piece;
        column_ += piece.size();
    }
    std::string out_;
    size_t column_;
};

// The h= list: each signed field once per occurrence, then the over-signed names once more.
std::vector<std::string> signed_header_list(const ParsedMessage& msg) {
    std::vector<std::string> names;
    for (std::string_view name : kSignedFields) {
        for (const HeaderField& f : msg.fields) {
            if (iequals(f.name, name)) names.emplace_back(name);
        }
    }
    for (std::string_view name : kOverSignedFields)
        names.emplace_back(name);
    return names;
}

bool has_field(const ParsedMessage& msg, std::string_view name) {
    for (const HeaderField& f : msg.fields) {
        if (iequals(f.name, name)) return true;
    }
    return false;
}

// A DNS name of letters, digits and hyphens (and underscores, if `underscore`), 1-63 octets a
// label, at most 253 in all. Anything else could also break the tag list (";", "=", spaces).
bool is_dns_name(std::string_view s, bool underscore) {
    if (s.empty() || s.size() > 253) return false;
    size_t label = 0;
    for (char c : s) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok =
            std::isalnum(static_cast<unsigned char>(c)) || c == '-' || (underscore && c == '_');
        if (!ok || ++label > 63) return false;
    }
    return label > 0;
}

} // namespace

// ---- Public ------------------------------------------------------------------------------

std::string body_hash(std::string_view body) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
    relaxed_body(body, [&](std::string_view piece) {
        ok = ok && EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) == 1;
    });
    ok = ok && EVP_DigestFinal_ex(ctx.get(), hash, &len) == 1;
    return ok ? base64(hash, len) : std::string();
}

ar::Result<Signer> Signer::create(std::string domain, std::string selector, Algorithm a,
                                  std::string_view private_pem) {
    if (!is_dns_name(domain, false)) {
        return ar::invalid("domain", "DKIM domain \"" + domain +
                                         "\" is not a DNS name (letters, digits, hyphens, dots)");
    }
    if (!is_dns_name(selector, true)) {
        return ar::invalid(
            "selector", "DKIM selector \"" + selector +
                            "\" is not a DNS name (letters, digits, hyphens, underscores, dots)");
    }
    auto key = PrivateKey::from_pem(private_pem);
    if (!key) return key.error();
    if (key->algorithm() != a) {
        return ar::invalid("private_pem", "DKIM key is " + key_type_tag(key->algorithm()) +
                                              " but the signer was asked for " + algorithm_tag(a));
    }
    return Signer(std::move(domain), std::move(selector), std::move(key).value());
}

ar::Result<std::string> Signer::sign(std::string_view message, int64_t now_ms) const {
    auto msg = parse_message(message);
    if (!msg) return msg.error();
    if (!has_field(*msg, "from")) {
        return ar::invalid("message", "message has no From field; DKIM must sign it "
                                      "(RFC 6376 5.4)");
    }
    std::vector<std::string> names = signed_header_list(*msg);
    int64_t seconds = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;

    Folder field("DKIM-Signature:");
    field.word("v=1;");
    field.word("a=" + algorithm_tag(algorithm()) + ";");
    field.word("c=relaxed/relaxed;");
    field.word("d=" + domain_ + ";");
    field.word("s=" + selector_ + ";");
    field.word("t=" + std::to_string(seconds) + ";");
    for (size_t i = 0; i < names.size(); ++i) {
        std::string piece = (i == 0 ? "h=" : "") + names[i] + (i + 1 < names.size() ? ":" : ";");
        if (i == 0) {
            field.word(piece);
        } else {
            field.glue(piece);
        }
    }
    field.word("bh=" + body_hash(msg->body) + ";");
    field.word("b=");

    auto data = header_data(*msg, names, field.text(), Canon::Relaxed);
    if (!data) return data.error();
    auto b = sign_data(key_.get(), algorithm(), *data);
    if (!b) return b.error();
    field.spread(*b);
    return field.text() + "\r\n";
}

ar::Result<std::string> Signer::signature_value(std::string_view message,
                                                const std::vector<std::string>& signed_headers,
                                                std::string_view field_up_to_b) const {
    auto msg = parse_message(message);
    if (!msg) return msg.error();
    auto data = header_data(*msg, signed_headers, field_up_to_b, Canon::Relaxed);
    if (!data) return data.error();
    return sign_data(key_.get(), algorithm(), *data);
}

ar::Result<std::string> sign_message(const std::vector<Signer>& signers, std::string_view message,
                                     int64_t now_ms) {
    std::string out;
    for (const Signer& signer : signers) {
        auto field = signer.sign(message, now_ms);
        if (!field) return field.error();
        out += *field;
    }
    out += message;
    return out;
}

} // namespace ar::dkim
