#include "dkim/keys.h"
#include "core/openssl_ptr.h"
#include "core/openssl_error.h"
#include "mime/encoding.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <utility>

namespace ar::dkim {
namespace {

constexpr int kRsaBits = 2048;
constexpr int kRsaMinBits = 1024;     // RFC 8301 3.2: verifiers reject shorter keys
constexpr size_t kTxtStringMax = 255; // RFC 1035 3.3: one character-string

std::string base64(const unsigned char* data, size_t n) {
    return mime::base64_encode(std::string_view(reinterpret_cast<const char*>(data), n));
}

std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

} // namespace

std::string algorithm_tag(Algorithm a) {
    return a == Algorithm::Ed25519Sha256 ? "ed25519-sha256" : "rsa-sha256";
}

Algorithm algorithm_from_tag(std::string_view tag) {
    return tag == "ed25519-sha256" ? Algorithm::Ed25519Sha256 : Algorithm::RsaSha256;
}

std::string key_type_tag(Algorithm a) {
    return a == Algorithm::Ed25519Sha256 ? "ed25519" : "rsa";
}

ar::Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return ar::Error{ar::kErrInternal, "out of memory reading a DKIM key", ""};
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!pkey) {
        return ar::invalid("private_pem", "DKIM private key is not a readable PEM private key (" +
                                              openssl_reason() + ")");
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) return PrivateKey(pkey, Algorithm::Ed25519Sha256);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kRsaMinBits) {
            EVP_PKEY_free(pkey);
            return ar::invalid("private_pem", "DKIM RSA key has " + std::to_string(bits) +
                                                  " bits; at least 1024 are required (RFC 8301)");
        }
        return PrivateKey(pkey, Algorithm::RsaSha256);
    }
    EVP_PKEY_free(pkey);
    return ar::invalid("private_pem", "DKIM private key must be ed25519 or RSA");
}

PrivateKey::PrivateKey(const PrivateKey& other) : pkey_(other.pkey_), algorithm_(other.algorithm_) {
    if (pkey_) EVP_PKEY_up_ref(pkey_);
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), algorithm_(other.algorithm_) {}

PrivateKey& PrivateKey::operator=(PrivateKey other) noexcept {
    std::swap(pkey_, other.pkey_);
    std::swap(algorithm_, other.algorithm_);
    return *this;
}

PrivateKey::~PrivateKey() {
    EVP_PKEY_free(pkey_);
}

std::string PrivateKey::public_key_b64() const {
    if (!pkey_) return "";
    if (algorithm_ == Algorithm::Ed25519Sha256) {
        // RFC 8463 4: p= is the bare 32-byte public key, not a SubjectPublicKeyInfo.
        unsigned char raw[32];
        size_t n = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey_, raw, &n) != 1) return "";
        return base64(raw, n);
    }
    // RFC 6376 3.6.1 and its Appendix C: RSA p= is the DER SubjectPublicKeyInfo.
    unsigned char* der = nullptr;
    int n = i2d_PUBKEY(pkey_, &der);
    if (n <= 0) return "";
    std::string out = base64(der, static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
}

std::string PrivateKey::private_pem() const {
    if (!pkey_) return "";
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) return "";
    if (PEM_write_bio_PrivateKey(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return "";
    return bio_contents(bio.get());
}

ar::Result<KeyPair> generate_key(Algorithm a) {
    EVP_PKEY* pkey = a == Algorithm::Ed25519Sha256
                         ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                         : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{kRsaBits});
    if (!pkey) {
        return ar::Error{
            ar::kErrInternal,
            "could not generate a DKIM " + key_type_tag(a) + " key (" + openssl_reason() + ")", ""};
    }
    BioPtr bio(BIO_new(BIO_s_mem()));
    bool written = bio && PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr,
                                                   nullptr) == 1;
    EVP_PKEY_free(pkey);
    if (!written) {
        return ar::Error{ar::kErrInternal,
                         "could not write a DKIM key as PEM (" + openssl_reason() + ")", ""};
    }
    // Read back through the same door as keys from disk, so both take one path.
    return load_key(bio_contents(bio.get()));
}

ar::Result<KeyPair> load_key(std::string_view private_pem) {
    auto key = PrivateKey::from_pem(private_pem);
    if (!key) return key.error();
    std::string pub = key->public_key_b64();
    std::string pem = key->private_pem();
    if (pub.empty() || pem.empty()) {
        return ar::Error{ar::kErrInternal, "could not export a DKIM key (" + openssl_reason() + ")",
                         ""};
    }
    return KeyPair{key->algorithm(), std::move(pem), std::move(pub)};
}

std::string dns_txt_value(Algorithm a, std::string_view public_key_b64) {
    std::string out = "v=DKIM1; k=" + key_type_tag(a) + "; p=";
    out += public_key_b64;
    return out;
}

std::string zone_file_lines(std::string_view domain, std::string_view selector, Algorithm a,
                            std::string_view public_key_b64) {
    std::string owner(selector);
    owner += "._domainkey.";
    owner += domain;
    if (owner.back() != '.') owner += '.';
    std::string out = owner + " IN TXT (";
    // The value holds only tag syntax and base64: no quote or backslash needs escaping.
    std::string value = dns_txt_value(a, public_key_b64);
    for (size_t at = 0; at < value.size(); at += kTxtStringMax) {
        out += " \"";
        out += value.substr(at, kTxtStringMax);
        out += '"';
    }
    out += " )";
    return out;
}

} // namespace ar::dkim
