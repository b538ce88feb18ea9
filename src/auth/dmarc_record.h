// dmarc_record.h: reads the policy a domain publishes at _dmarc.<domain> (RFC 7489 6.3, 6.4)
// and picks it among the TXT records found there (6.6.3).
//
// Promises:
// - Every function accepts arbitrary bytes (a TXT record is outside input), runs in linear
//   time and never throws; no Asio, no I/O and no libpsl here, so this file is fuzzed on its
//   own (fuzz/fuzz_dmarc.cpp). The lookups and the evaluation are in dmarc.h.
// - A record is "v=DMARC1" as its first tag (tag name in any case, value exactly "DMARC1"),
//   then tags in any order. Whitespace around tags and values is ignored. Unknown tags and
//   tag-specs without "=" are ignored, as later versions may add tags (6.3).
// - p=, sp=, adkim=, aspf= and pct= are strict: a bad value, or the tag twice, is an error.
//   Their values are read in any case (RFC 7489's ABNF strings are case-insensitive).
// - 6.6.3 step 6: when p= is missing or invalid, or sp= is invalid, a record whose rua= holds
//   at least one syntactically valid URI is read as p=none (and sp=none); otherwise it is an
//   error. rua=, ruf=, fo=, rf= and ri= are lenient: what cannot be read is dropped, never an
//   error, as they only concern reports.
// - p= need not be the second tag: published records often list rua= first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ar::auth {

enum class DmarcPolicy { None, Quarantine, Reject };

// "none", "quarantine", "reject".
std::string_view dmarc_policy_name(DmarcPolicy p);

struct DmarcRecord {
    DmarcPolicy policy = DmarcPolicy::None;           // p=
    DmarcPolicy subdomain_policy = DmarcPolicy::None; // sp=; p= when absent
    // p= (or sp=) was missing or invalid and the record was kept as p=none for its rua= (6.6.3).
    bool policy_assumed = false;
    bool strict_dkim = false; // adkim=s (default r: relaxed)
    bool strict_spf = false;  // aspf=s (default r)
    int percent = 100;        // pct=, 0..100: the share of failing mail the policy asks to apply to
    std::vector<std::string> rua;       // aggregate report URIs that look like URIs, as written
    std::vector<std::string> ruf;       // failure report URIs, likewise
    std::string failure_options = "0";  // fo=, as written
    std::string report_format = "afrf"; // rf=, as written
    uint32_t report_interval = 86400;   // ri=, seconds
};

// True if `txt` starts with the tag "v=DMARC1" (after optional whitespace): the test of
// 6.6.3 steps 2 and 4 for whether a TXT record is a DMARC record at all.
bool is_dmarc_record(std::string_view txt);

// Errors (kErrInvalid, field "dmarc"): not a DMARC record, or a strict tag that cannot be read
// (see above). The message quotes at most a short, sanitized piece of the record.
ar::Result<DmarcRecord> parse_dmarc_record(std::string_view txt);

// The DMARC record among the TXT records of one name (6.6.3 steps 2, 4 and 5): those for which
// is_dmarc_record holds count; exactly one is the policy, none or several mean no policy.
struct DmarcSelection {
    std::size_t count = 0; // how many TXT records are DMARC records
    std::string record;    // the record when count == 1, else empty
};
DmarcSelection select_dmarc_record(const std::vector<std::string>& txt_values);

} // namespace ar::auth
