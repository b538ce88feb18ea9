// dmarc.h: DMARC (RFC 7489) for inbound mail: is the From domain authenticated by a DKIM
// signature or an SPF result aligned with it, and what policy does the domain publish?
//
// The DKIM and SPF results come from their own modules (this one only reads DNS for the
// policy record); the caller writes the Authentication-Results field from the verdict.
//
// Promises:
// - Policy discovery follows 6.6.3: _dmarc.<from domain>, and only when that holds no DMARC
//   record, _dmarc.<organizational domain> (org_domain.h), never asked twice. Several DMARC
//   records at the name found, or a record that cannot be read (dmarc_record.h: a bad p= is
//   kept as p=none when rua= is valid), mean no policy: result none, the reason in `detail`.
// - A lookup that fails temporarily (TempFail) is temperror, never read as "no record".
// - pct= does not change the result word: it says what share of failing mail the domain wants
//   the policy applied to, the receiver's decision, not authentication.
// - Identifiers and the From domain are compared lowercased, without a trailing dot. Inputs
//   are echoed in `detail` with control bytes masked and long names shortened.
#pragma once

#include <asio.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "auth/lookup.h"

namespace ar::auth {

enum class DmarcResult { None, Pass, Fail, TempError, PermError };

// The RFC 8601 word: "none", "pass", "fail", "temperror", "permerror".
std::string_view dmarc_result_name(DmarcResult r);

struct DmarcVerdict {
    DmarcResult result = DmarcResult::None;
    std::string domain; // the From domain evaluated (lowercase)
    std::string policy; // for a domain with a record: the policy that applies to it ("none",
                        // "quarantine", "reject": sp= for a subdomain of the org domain whose
                        // record was found at the org domain, else p=); empty with no record
    std::string detail; // one human sentence: "aligned DKIM signature of example.com", "no
                        // DMARC record for example.com", "neither DKIM (d=other.org) nor SPF
                        // (mail.other.org) aligns with example.com"...
};

// RFC 7489 section 6.6: the record at _dmarc.<from_domain>, else at _dmarc.<organizational
// domain>; pass if a DKIM signature that verified has a d= aligned with from_domain (adkim), or
// SPF passed for an aligned spf_domain (aspf). A TempFail lookup is temperror. No record: none.
// `from_domain` empty or not a domain name (the message had no single usable From): permerror.
asio::awaitable<DmarcVerdict> check_dmarc(Lookup& dns, std::string from_domain,
                                          std::vector<std::string> dkim_pass_domains, bool spf_pass,
                                          std::string spf_domain);

} // namespace ar::auth
