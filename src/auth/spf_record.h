// spf_record.h: the text side of SPF (RFC 7208): choosing the SPF record among a domain's TXT
// records, parsing it, and expanding its macros. The evaluator (spf.h) does the DNS.
//
// Promises:
// - No Asio and no I/O here, so this file is fuzzed on its own (fuzz/fuzz_spf.cpp). Every
//   function accepts arbitrary bytes (a record comes from someone else's DNS) and runs in time
//   linear in its input (expansion: in its output, which is bounded, see expand_spf_macros).
// - parse_spf_record follows the ABNF of RFC 7208 section 12 strictly, because section 4.6
//   wants any syntax error anywhere in the record to be a permerror, even after a mechanism
//   that would have matched: so a record that parses can be evaluated without meeting one.
//   What it checks: the version "v=spf1" (any case) followed by a space or the end; terms
//   separated by one or more spaces; qualifiers + - ~ ?; the mechanisms all, include, a, mx,
//   ptr, ip4, ip6, exists with their domain-spec and CIDR lengths (no leading zeros, IPv4 at
//   most 32, IPv6 at most 128); the modifiers redirect= and exp= at most once each; unknown
//   modifiers name=macro-string (kept syntax-checked, then ignored, section 6); every
//   domain-spec ends in a "." toplabel or a macro, and uses only the macros allowed outside
//   explanations (not c, r, t: section 7.1).
// - Errors are ar::invalid("spf", sentence), the sentence naming the offending term; the
//   evaluator turns each into a permerror.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/answer.h"

namespace ar::auth {

enum class SpfQualifier { Pass, Fail, SoftFail, Neutral }; // + - ~ ?

enum class SpfMechanismKind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

struct SpfMechanism {
    SpfQualifier qualifier = SpfQualifier::Pass;
    SpfMechanismKind kind = SpfMechanismKind::All;
    // include, a, mx, ptr, exists: the domain-spec as written, macros unexpanded; empty when
    // a, mx or ptr has none (they then mean the domain being checked).
    std::string domain_spec;
    dns::IpAddress network; // ip4, ip6: the address written (bits past the prefix kept)
    int cidr4 = 32;         // a, mx, ip4: prefix length for IPv4 clients
    int cidr6 = 128;        // a, mx, ip6: prefix length for IPv6 clients
    std::string text;       // the term as written ("-all", "ip4:192.0.2.0/24"), for verdicts
};

struct SpfRecord {
    std::vector<SpfMechanism> mechanisms; // in record order
    std::optional<std::string> redirect;  // redirect= domain-spec, unexpanded
    std::optional<std::string> exp;       // exp= domain-spec, unexpanded (parsed, not used)
};

// True when `txt` begins with the version section "v=spf1" (any case) ended by a space or the
// end of the text (RFC 7208 4.5): such a TXT record is an SPF record, whatever follows.
bool is_spf_record(std::string_view txt);

// RFC 7208 4.5 on the TXT values of a domain: the only SPF record among them; nullopt when
// there is none (result "none"); an error when there are several (result "permerror").
ar::Result<std::optional<std::string>> select_spf_record(const std::vector<std::string>& txt);

ar::Result<SpfRecord> parse_spf_record(std::string_view text);

// The values macros expand to (RFC 7208 7.2). The evaluator fills it per check_host() call.
struct SpfMacroContext {
    std::string sender;        // s: <sender>, "local@domain" ("postmaster@" for a null one)
    std::string local_part;    // l
    std::string sender_domain; // o
    std::string domain;        // d: the domain whose record is being evaluated
    dns::IpAddress ip;         // i, c, v: the SMTP client (IPv4-mapped addresses given as IPv4)
    std::string ip_name = "unknown";  // p: the client's validated name; we do no PTR lookups
    std::string helo;                 // h
    std::string receiver = "unknown"; // r (explanations only)
    int64_t timestamp = 0;            // t (explanations only), seconds since the epoch
};

// Expands a macro-string (RFC 7208 7.3). As a domain-spec (`explanation` false) the macros
// c, r, t are errors and the expansion is not yet a query name (see expand_spf_domain); as an
// explain-string (`explanation` true, a TXT record fetched for exp=) they are allowed and
// spaces are kept. Uppercase macro letters are URL-escaped after expansion. Errors: a "%"
// not starting a valid macro, an unknown letter, a zero digit transformer, a byte outside
// printable ASCII, an expansion longer than 64 KiB (no real record comes near; it keeps a
// hostile one from building a huge string).
ar::Result<std::string> expand_spf_macros(std::string_view macro_string, const SpfMacroContext& ctx,
                                          bool explanation = false);

// Expands a domain-spec into the name to query: the expansion, without a trailing dot, and
// cut from the left, whole labels at a time, to at most 253 octets (RFC 7208 7.3). The result
// may still be unusable as a name (an empty label from an empty macro value): check it with
// is_valid_query_name before asking DNS.
ar::Result<std::string> expand_spf_domain(std::string_view domain_spec, const SpfMacroContext& ctx);

// A name DNS can be asked about: 1..253 octets, labels of 1..63 octets, no spaces or control
// bytes (a trailing dot is allowed). Macro expansions may contain any other printable byte.
bool is_valid_query_name(std::string_view name);

// A domain that check_host() may start from (RFC 7208 4.3): a valid query name of at least
// two labels, each of letters, digits, hyphens and underscores only (A-labels, no U-labels,
// no address literals). Anything else makes the result "none".
bool is_valid_spf_domain(std::string_view domain);

} // namespace ar::auth
