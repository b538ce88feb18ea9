// keys.h: DKIM signing keys and the DNS records that publish them.
//
// Two algorithms: ed25519-sha256 (RFC 8463) and rsa-sha256 (RFC 6376, 2048-bit keys per
// RFC 8301). A KeyPair carries the private key as PEM (PKCS #8) and the public key exactly as
// it goes in the key record's p= tag: the raw 32-byte key for ed25519 (RFC 8463 section 4),
// the DER SubjectPublicKeyInfo for RSA. Everything here uses OpenSSL 3's EVP interface only.
#pragma once

#include <string>
#include <string_view>

#include <openssl/types.h>

#include "core/result.h"

namespace ar::dkim {

enum class Algorithm { Ed25519Sha256, RsaSha256 };

// The a= tag value: "ed25519-sha256" or "rsa-sha256".
std::string algorithm_tag(Algorithm a);
// The algorithm an a= tag names, as the control store keeps it ("rsa-sha256" for anything
// but "ed25519-sha256": the store only ever holds these two).
Algorithm algorithm_from_tag(std::string_view tag);
// The key record's k= value: "ed25519" or "rsa".
std::string key_type_tag(Algorithm a);

struct KeyPair {
    Algorithm algorithm;
    std::string private_pem;    // PKCS #8 PEM
    std::string public_key_b64; // the p= value
};

// A parsed private key. Parsed once; copies share the same read-only EVP_PKEY through OpenSSL's
// reference count, so a PrivateKey may be used from many threads at once.
class PrivateKey {
  public:
    // Reads PEM: PKCS #8 for either algorithm, or PKCS #1 ("RSA PRIVATE KEY"). RSA keys must
    // have at least 1024 bits (RFC 8301 3.2).
    static ar::Result<PrivateKey> from_pem(std::string_view pem);

    PrivateKey(const PrivateKey& other);
    PrivateKey(PrivateKey&& other) noexcept;
    PrivateKey& operator=(PrivateKey other) noexcept;
    ~PrivateKey();

    Algorithm algorithm() const { return algorithm_; }
    // The p= value for this key's public half.
    std::string public_key_b64() const;
    // PKCS #8 PEM.
    std::string private_pem() const;
    // Borrowed; valid while this PrivateKey lives.
    EVP_PKEY* get() const { return pkey_; }

  private:
    PrivateKey(EVP_PKEY* pkey, Algorithm a) : pkey_(pkey), algorithm_(a) {}
    EVP_PKEY* pkey_;
    Algorithm algorithm_;
};

// A fresh key: ed25519, or RSA 2048.
ar::Result<KeyPair> generate_key(Algorithm a);

// Reads a private key PEM (PKCS #8, or PKCS #1 for RSA) and derives its algorithm and p= value,
// so records can be printed again for a key already on disk.
ar::Result<KeyPair> load_key(std::string_view private_pem);

// The key record's TXT value: "v=DKIM1; k=ed25519; p=...".
std::string dns_txt_value(Algorithm a, std::string_view public_key_b64);

// The key record as one zone-file line, its TXT value split into character-strings of at most
// 255 octets (RFC 1035 3.3): `sel._domainkey.domain. IN TXT ( "..." "..." )`. No line end.
std::string zone_file_lines(std::string_view domain, std::string_view selector, Algorithm a,
                            std::string_view public_key_b64);

} // namespace ar::dkim
