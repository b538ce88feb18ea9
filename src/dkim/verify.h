// verify.h: checking the DKIM signatures of a received message (RFC 6376 section 6, with
// RFC 8301's rules for rsa-sha256 and RFC 8463's ed25519-sha256).
//
// Verification has two halves around one DNS question: Verifier::parse finds and parses the
// message's DKIM-Signature fields and says which key record each needs (selector._domainkey.
// domain); verify() takes that record's TXT answer and gives the verdict. The DNS question
// itself is the caller's (auth/dkim_check.h asks it through the relay's resolver), so
// everything here is synchronous, does no I/O and is fuzzed (fuzz/fuzz_dkim_verify.cpp).
//
// Promises:
// - Any bytes are accepted: a message or field that cannot be parsed is a permerror verdict,
//   never a crash. At most kMaxSignatures signatures are looked at (a message can carry many:
//   each costs a DNS question and a public-key operation).
// - Results are the RFC 8601 words: "pass", "fail" (the signature or body hash does not match,
//   or the signature expired), "neutral" (no signature for this field: never returned here),
//   "temperror" (the key record could not be fetched now), "permerror" (the signature or its
//   key record is unusable: missing tags, unknown algorithm, rsa-sha1, a key under 1024 bits,
//   a revoked key, no key record).
// - A signature passes only if the body hash (with l=, if any) and the header signature both
//   verify with the published key, the key's type matches a=, h= includes From, and i= (if
//   any) is within d=. A pass whose l= leaves part of the body unsigned says how much
//   (Verdict::unsigned_body_octets): callers must not take it as vouching for the whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/message.h"
#include "dns/answer.h"

namespace ar::dkim {

inline constexpr size_t kMaxSignatures = 5;

// One DKIM-Signature field's tags (only those verification uses).
struct SignatureTags {
    std::string algorithm;                   // a=
    std::string domain;                      // d=, lowercase
    std::string selector;                    // s=
    std::string identity;                    // i=, or "@" + d= when absent
    std::vector<std::string> signed_headers; // h=
    Canon header_canon = Canon::Simple;      // c= (default simple/simple)
    Canon body_canon = Canon::Simple;
    std::string body_hash;                   // bh=, decoded
    std::string signature;                   // b=, decoded
    std::string b_text;                      // b= as written, without whitespace
    bool has_length = false;                 // l=
    uint64_t length = 0;
    bool has_expiry = false;                 // x=
    int64_t expires = 0;
};

struct Verdict {
    std::string result;    // pass, fail, temperror, permerror
    std::string domain;    // d= (empty if the field was too broken to have one)
    std::string selector;  // s=
    std::string algorithm; // a=
    std::string b_prefix;  // the first 8 characters of b= (RFC 6008 header.b)
    std::string reason;    // one sentence: "body hash did not verify", "no key record at ...", ...
    // Canonicalized body octets after the first l= that the signature does not cover (RFC 6376
    // 8.2: anyone may append them). 0 without l= or when l= covers the whole body. A pass
    // with an unsigned tail vouches only for the part it covers.
    uint64_t unsigned_body_octets = 0;
    bool covers_whole_body() const { return unsigned_body_octets == 0; }
};

class Verifier {
  public:
    // Splits the message and parses its DKIM-Signature fields (the first kMaxSignatures). A
    // message DKIM cannot read (bare CR/LF, a header line that is no field) has no usable
    // signatures: each field found is then a permerror.
    static Verifier parse(std::string_view message);

    size_t count() const { return sigs_.size(); }
    // Where signature i's key record is: "selector._domainkey.domain"; empty if the field is
    // already a permerror (verify() says why without a record).
    std::string key_name(size_t i) const;
    // The verdict for signature i given the key record lookup's status and TXT values, at
    // `now_s` (seconds since the epoch, for x=).
    Verdict verify(size_t i, dns::Status key_status, const std::vector<std::string>& key_records,
                   int64_t now_s) const;

  private:
    struct Parsed {
        SignatureTags tags;
        std::string error;           // set: this signature is a permerror
        std::string field_without_b; // the field as written, its b= value removed
    };
    std::string_view message_;
    bool parsed_ok_ = false;
    ParsedMessage msg_;
    std::vector<Parsed> sigs_;
};

// A tag=value list (RFC 6376 3.2) as name/value pairs, values with surrounding whitespace
// removed. An error for a malformed list or a tag given twice. Exposed for tests.
ar::Result<std::vector<std::pair<std::string, std::string>>> parse_tag_list(std::string_view text);

// The body canonicalized "simple" (RFC 6376 3.4.3): trailing empty lines removed, and an empty
// body becomes one CRLF. Exposed for tests.
std::string simple_body(std::string_view body);

} // namespace ar::dkim
