// sign.h: DKIM signatures (RFC 6376) with ed25519-sha256 (RFC 8463) or rsa-sha256.
//
// A Signer holds one domain's key, parsed once. sign() returns the folded DKIM-Signature field
// (tags v, a, c=relaxed/relaxed, d, s, t, h, bh, b; lines of at most 78 columns) to put in front
// of the message. It signs every present field among From, To, Cc, Subject, Date, Message-ID,
// Reply-To, In-Reply-To, References, MIME-Version, Content-Type, List-Unsubscribe and
// List-Unsubscribe-Post, once per occurrence, and over-signs From, Subject, Date, To and
// Message-ID (one extra h= entry each, RFC 6376 8.15) so none can be added after signing.
// sign() is const and keeps no shared mutable state: one Signer may sign on many threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dkim/keys.h"

namespace ar::dkim {

class Signer {
  public:
    // Checks that domain and selector are DNS names and that the key is of algorithm `a`.
    static ar::Result<Signer> create(std::string domain, std::string selector, Algorithm a,
                                     std::string_view private_pem);

    // The complete folded "DKIM-Signature: ...\r\n" field. `message` is a whole RFC 5322
    // message with CRLF line ends (header, blank line, body); it must have a From field.
    // `now_ms` becomes t= (in seconds).
    ar::Result<std::string> sign(std::string_view message, int64_t now_ms) const;

    // Lower level, for reproducing published examples: the b= value (unfolded base64) for a
    // DKIM-Signature field written in full up to and including its final "b=" tag name
    // (`field_up_to_b`, "DKIM-Signature: v=1; ...; b="), signing the header fields of `message`
    // named in `signed_headers` (the h= list, in order, chosen bottom-up per RFC 6376 5.4.2).
    ar::Result<std::string> signature_value(std::string_view message,
                                            const std::vector<std::string>& signed_headers,
                                            std::string_view field_up_to_b) const;

    const std::string& domain() const { return domain_; }
    const std::string& selector() const { return selector_; }
    Algorithm algorithm() const { return key_.algorithm(); }

  private:
    Signer(std::string domain, std::string selector, PrivateKey key)
        : domain_(std::move(domain)), selector_(std::move(selector)), key_(std::move(key)) {}

    std::string domain_;
    std::string selector_;
    PrivateKey key_;
};

// The body hash, bh= (base64 SHA-256 of the relaxed body).
std::string body_hash(std::string_view body);

// Signs with every signer and returns all their DKIM-Signature fields, in signer order,
// followed by `message`. With no signers, returns `message` unchanged.
ar::Result<std::string> sign_message(const std::vector<Signer>& signers, std::string_view message,
                                     int64_t now_ms);

} // namespace ar::dkim
