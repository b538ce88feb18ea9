// spf.h: SPF (RFC 7208), so the inbound MX can tell an agent whether the host that handed it a
// message was allowed to send mail for the envelope sender's domain. The record syntax and the
// macros are in spf_record.h; this file does check_host() with DNS, through auth::Lookup.
//
// Promises:
// - check_spf never throws on what DNS or the sender says: every record, however broken, ends
//   in a verdict. A temporary DNS failure (TempFail) is temperror wherever it happens, never
//   read as "no record".
// - Limits of section 4.6.4, counted over the whole check (includes and redirects share them):
//   at most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect), the 11th is a
//   permerror before its query is sent; at most 2 void lookups (NXDOMAIN or no records),
//   the 3rd is a permerror; an mx naming more than 10 hosts is a permerror. So one check asks
//   DNS at most about 1 + 10 * 11 names.
// - "ptr" never matches: section 5.5 says it SHOULD NOT be used, and Lookup has no PTR query.
//   It still counts as a DNS-querying term, and %{p} expands to "unknown".
// - Since Lookup::addresses asks A and AAAA together, "a" and "mx" compare only the client's
//   family (with the term's CIDR length, /32 and /128 by default), and a lookup that gives no
//   address of that family counts as void, as the single A or AAAA query of 5.3 would. "exists"
//   matches on IPv4 addresses only (5.7: an A query, whatever the client's family).
// - exp= is parsed and checked, but no explanation is fetched (the verdict's detail says why).
// - IPv4-mapped IPv6 clients (::ffff:192.0.2.1) are checked as IPv4.
#pragma once

#include <asio.hpp>
#include <string>
#include <string_view>

#include "auth/lookup.h"

namespace ar::auth {

enum class SpfResult { None, Neutral, Pass, Fail, SoftFail, TempError, PermError };

// The RFC 8601 / RFC 7208 word: "none", "neutral", "pass", "fail", "softfail", "temperror",
// "permerror".
std::string_view spf_result_name(SpfResult r);

struct SpfVerdict {
    SpfResult result = SpfResult::None;
    std::string domain;    // the domain whose record was checked: MAIL FROM's, or HELO's for a
                           // null sender
    std::string mechanism; // what decided, as written in the record ("ip4:192.0.2.0/24",
                           // "-all", "include:_spf.example.com", "redirect=_spf.example.com");
                           // empty for none/errors/default
    std::string detail;    // one human sentence: "192.0.2.7 is permitted by example.com's SPF
                           // record (ip4:192.0.2.0/24)", or what went wrong
};

// RFC 7208 check_host() for the SMTP client at `ip`: the identity is `mail_from` (the MAIL
// FROM address; when empty, the null reverse-path, "postmaster@" + helo is checked, section
// 2.4), `helo` is the EHLO/HELO name (for %{h}). A sender domain that is not a valid domain
// name (empty label, one label, an address literal, non-ASCII) gives None.
asio::awaitable<SpfVerdict> check_spf(Lookup& dns, asio::ip::address ip, std::string helo,
                                      std::string mail_from);

} // namespace ar::auth
