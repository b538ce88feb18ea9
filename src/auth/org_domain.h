// org_domain.h: the Organizational Domain of RFC 7489 3.2 and identifier alignment (3.1), from
// the Public Suffix List through libpsl.
//
// Promises:
// - The list is loaded once per process, on first use, thread-safely: the newest of libpsl's
//   built-in list and the system's (Debian's publicsuffix package), as psl_latest() picks. If
//   none can be loaded every domain is its own organizational domain (alignment is then
//   strict), never a crash.
// - Any bytes are accepted. Domains are compared lowercased (ASCII) and without one trailing
//   dot; an empty identifier aligns with nothing.
// - Calls are cheap (no I/O after the first) and may come from any thread.
#pragma once

#include <string>
#include <string_view>

namespace ar::auth {

// A domain as this module compares it: ASCII lowercase, without one trailing dot.
std::string canonical_domain(std::string_view domain);

// The registrable domain of `domain` (one label below its public suffix: mail.example.co.uk ->
// example.co.uk), lowercased, without a trailing dot. A domain that is itself a public suffix
// (co.uk), or that libpsl cannot place, is returned as it is (lowercased).
std::string organizational_domain(std::string_view domain);

// RFC 7489 3.1.1/3.1.2: does an authenticated `identifier` (a DKIM d=, an SPF domain) align
// with the From domain? strict: the same name, ignoring case; relaxed: the same
// organizational domain.
bool aligned(std::string_view identifier, std::string_view from_domain, bool strict);

} // namespace ar::auth
