#include "auth/spf.h"

#include <optional>
#include <utility>
#include <vector>

#include "auth/spf_record.h"
#include "dns/resolver.h"
#include "core/text.h"

namespace ar::auth {
namespace {

constexpr int kMaxDnsTerms = 10;   // RFC 7208 4.6.4
constexpr int kMaxVoidLookups = 2; // RFC 7208 4.6.4
constexpr size_t kMaxMxNames = 10; // RFC 7208 4.6.4

// What one check_host() level found: the result, the term that decided it in `domain`'s
// record, and the sentence for the verdict.
struct Outcome {
    SpfResult result = SpfResult::None;
    std::string mechanism;
    std::string detail;
};

// State shared by the whole check, includes and redirects too: the limits are global.
struct Check {
    Lookup& dns;
    dns::IpAddress ip;
    std::string ip_text;
    SpfMacroContext macros; // everything but `domain`, which each level sets
    int dns_terms = 0;
    int void_lookups = 0;
};

enum class Match { No, Yes, Error };

struct TermResult {
    Match match = Match::No;
    Outcome error; // when match is Error: a temperror or permerror
};

Outcome make(SpfResult result, std::string detail) {
    Outcome o;
    o.result = result;
    o.detail = std::move(detail);
    return o;
}

TermResult term_error(SpfResult result, std::string detail) {
    TermResult t;
    t.match = Match::Error;
    t.error = make(result, std::move(detail));
    return t;
}

TermResult term_match(bool matched) {
    TermResult t;
    t.match = matched ? Match::Yes : Match::No;
    return t;
}

// An IPv4-mapped IPv6 client (::ffff:0:0/96, RFC 4291 2.5.5.2) is checked as IPv4.
dns::IpAddress to_ip(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return dns::ip_address(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
    return dns::ip_address(a);
}

// Names in sentences come from DNS or the sender: kept printable and short.
std::string shown(std::string_view s) {
    return printable(s, 255);
}

std::string dns_failure(std::string_view what, const std::string& name, const Answer& a) {
    return "the " + std::string(what) + " lookup for " + name + " failed temporarily" +
           (a.detail.empty() ? std::string() : " (" + a.detail + ")");
}

// Section 4.6.4: the 11th DNS-querying term is an error before it asks anything.
std::optional<TermResult> count_dns_term(Check& c, const std::string& term,
                                         const std::string& domain) {
    if (++c.dns_terms <= kMaxDnsTerms) return std::nullopt;
    return term_error(SpfResult::PermError,
                      "the SPF check needs more than " + std::to_string(kMaxDnsTerms) +
                          " DNS-querying terms (RFC 7208 4.6.4); the one too many is " + term +
                          " in " + domain + "'s record");
}

// Section 4.6.4: more than two lookups that find nothing is an error.
std::optional<TermResult> count_void(Check& c, const std::string& term, const std::string& domain) {
    if (++c.void_lookups <= kMaxVoidLookups) return std::nullopt;
    return term_error(SpfResult::PermError,
                      "the SPF check makes more than " + std::to_string(kMaxVoidLookups) +
                          " DNS lookups that find nothing (RFC 7208 4.6.4); the one too many "
                          "is for " +
                          term + " in " + domain + "'s record");
}

bool has_family_address(const Answer& a, bool v6) {
    for (const auto& addr : a.addresses)
        if (addr.is_v6() == v6) return true;
    return false;
}

bool matches_address(const Check& c, const Answer& a, const SpfMechanism& m) {
    for (const auto& addr : a.addresses) {
        dns::IpAddress candidate = to_ip(addr);
        if (dns::in_network(c.ip, candidate, c.ip.v6 ? m.cidr6 : m.cidr4)) return true;
    }
    return false;
}

SpfResult qualifier_result(SpfQualifier q) {
    switch (q) {
    case SpfQualifier::Pass:
        return SpfResult::Pass;
    case SpfQualifier::Fail:
        return SpfResult::Fail;
    case SpfQualifier::SoftFail:
        return SpfResult::SoftFail;
    case SpfQualifier::Neutral:
        return SpfResult::Neutral;
    }
    return SpfResult::Neutral;
}

std::string matched_sentence(SpfResult r, const std::string& ip, const std::string& domain,
                             const std::string& term) {
    switch (r) {
    case SpfResult::Pass:
        return ip + " is permitted by " + domain + "'s SPF record (" + term + ")";
    case SpfResult::Fail:
        return ip + " is not permitted by " + domain + "'s SPF record (" + term + ")";
    case SpfResult::SoftFail:
        return domain + "'s SPF record says " + ip + " is probably not permitted (" + term + ")";
    default:
        return domain + "'s SPF record makes no assertion about " + ip + " (" + term + ")";
    }
}

asio::awaitable<Outcome> check_host(Check& c, std::string domain);
asio::awaitable<Outcome> evaluate(Check& c, const std::string& domain, const SpfRecord& record);

// The name a term asks about: its domain-spec expanded, or the current domain without one.
// nullopt when the expansion is no usable name (an empty label from an empty macro value):
// such a term cannot match anything.
ar::Result<std::optional<std::string>> term_target(const SpfMechanism& m,
                                                   const SpfMacroContext& ctx) {
    if (m.domain_spec.empty()) return std::optional<std::string>(ctx.domain);
    auto name = expand_spf_domain(m.domain_spec, ctx);
    if (!name) return name.error();
    if (!is_valid_query_name(*name)) return std::optional<std::string>();
    return std::optional<std::string>(std::move(name).value());
}

asio::awaitable<TermResult> match_include(Check& c, const SpfMechanism& m,
                                          const std::string& target, const std::string& domain) {
    Outcome inner = co_await check_host(c, target);
    TermResult out;
    switch (inner.result) {
    case SpfResult::Pass:
        out = term_match(true);
        break;
    case SpfResult::Fail:
    case SpfResult::SoftFail:
    case SpfResult::Neutral:
        out = term_match(false);
        break;
    case SpfResult::TempError:
    case SpfResult::PermError:
        out = term_error(inner.result, m.text + " in " + domain + "'s record: " + inner.detail);
        break;
    case SpfResult::None:
        // Section 5.2: an included domain without a record is the publisher's mistake.
        out = term_error(SpfResult::PermError, m.text + " in " + domain +
                                                   "'s record names a domain without an SPF "
                                                   "record (" +
                                                   inner.detail + ")");
        break;
    }
    co_return out;
}

asio::awaitable<TermResult> match_mx(Check& c, const SpfMechanism& m, const std::string& target,
                                     const std::string& domain) {
    TermResult out;
    Answer mx = co_await c.dns.mx(target);
    if (mx.status == dns::Status::TempFail) {
        out = term_error(SpfResult::TempError, dns_failure("MX", target, mx));
        co_return out;
    }
    if (mx.status != dns::Status::Ok || mx.values.empty()) {
        if (auto e = count_void(c, m.text, domain)) out = std::move(*e);
        co_return out;
    }
    if (mx.values.size() > kMaxMxNames) {
        out = term_error(SpfResult::PermError,
                         m.text + " in " + domain + "'s record: " + target + " has " +
                             std::to_string(mx.values.size()) + " MX hosts, more than the " +
                             std::to_string(kMaxMxNames) + " RFC 7208 4.6.4 allows");
        co_return out;
    }
    for (const std::string& host : mx.values) {
        Answer a = co_await c.dns.addresses(host);
        if (a.status == dns::Status::TempFail) {
            out = term_error(SpfResult::TempError, dns_failure("address", host, a));
            co_return out;
        }
        if (a.status != dns::Status::Ok || !has_family_address(a, c.ip.v6)) {
            if (auto e = count_void(c, m.text, domain)) {
                out = std::move(*e);
                co_return out;
            }
            continue;
        }
        if (matches_address(c, a, m)) {
            out = term_match(true);
            co_return out;
        }
    }
    co_return out;
}

// One directive against the client (section 5).
asio::awaitable<TermResult> match_term(Check& c, const SpfMechanism& m,
                                       const SpfMacroContext& ctx) {
    TermResult out;
    const std::string& domain = ctx.domain;
    switch (m.kind) {
    case SpfMechanismKind::All:
        out = term_match(true);
        co_return out;
    case SpfMechanismKind::Ip4:
    case SpfMechanismKind::Ip6:
        out = term_match(dns::in_network(c.ip, m.network, m.network.v6 ? m.cidr6 : m.cidr4));
        co_return out;
    default:
        break;
    }
    if (auto e = count_dns_term(c, m.text, domain)) {
        out = std::move(*e);
        co_return out;
    }
    if (m.kind == SpfMechanismKind::Ptr) co_return out; // never matches, see spf.h
    auto target = term_target(m, ctx);
    if (!target) {
        out = term_error(SpfResult::PermError,
                         m.text + " in " + domain + "'s record: " + target.error().message);
        co_return out;
    }
    if (!*target) co_return out; // no usable name: nothing to match
    std::string name = **target;

    if (m.kind == SpfMechanismKind::Include) {
        out = co_await match_include(c, m, name, domain);
        co_return out;
    }
    if (m.kind == SpfMechanismKind::Mx) {
        out = co_await match_mx(c, m, name, domain);
        co_return out;
    }
    // a and exists: one address lookup.
    Answer a = co_await c.dns.addresses(name);
    if (a.status == dns::Status::TempFail) {
        out = term_error(SpfResult::TempError, dns_failure("address", name, a));
        co_return out;
    }
    bool exists = m.kind == SpfMechanismKind::Exists;
    bool found = a.status == dns::Status::Ok && has_family_address(a, exists ? false : c.ip.v6);
    if (!found) {
        if (auto e = count_void(c, m.text, domain)) out = std::move(*e);
        co_return out;
    }
    out = term_match(exists || matches_address(c, a, m));
    co_return out;
}

// Section 6.1: the redirect= of `ctx.domain`'s record, which matched nothing.
asio::awaitable<Outcome> follow_redirect(Check& c, const std::string& spec,
                                         const SpfMacroContext& ctx) {
    Outcome out;
    const std::string& domain = ctx.domain;
    std::string term = "redirect=" + spec;
    if (auto e = count_dns_term(c, term, domain)) {
        out = std::move(e->error);
        co_return out;
    }
    auto target = expand_spf_domain(spec, ctx);
    if (!target) {
        out = make(SpfResult::PermError,
                   term + " in " + domain + "'s record: " + target.error().message);
        co_return out;
    }
    std::string name = std::move(target).value();
    Outcome inner = co_await check_host(c, name);
    if (inner.result == SpfResult::None) {
        // A redirect to a domain without a record is the publisher's mistake.
        out = make(SpfResult::PermError, domain +
                                             "'s SPF record redirects to a domain without "
                                             "an SPF record (" +
                                             inner.detail + ")");
        co_return out;
    }
    out.result = inner.result;
    if (!inner.mechanism.empty()) out.mechanism = term;
    out.detail = domain + "'s SPF record redirects to " + name + ": " + inner.detail;
    co_return out;
}

// RFC 7208 4: check_host() for one domain; includes and redirects recurse into it.
asio::awaitable<Outcome> check_host(Check& c, std::string domain) {
    Outcome out;
    if (!is_valid_query_name(domain)) {
        out = make(SpfResult::None, "\"" + shown(domain) + "\" is not a valid domain name");
        co_return out;
    }
    Answer txt = co_await c.dns.txt(domain);
    if (txt.status == dns::Status::TempFail) {
        out = make(SpfResult::TempError, dns_failure("TXT", domain, txt));
        co_return out;
    }
    if (txt.status == dns::Status::NoSuchDomain) {
        out = make(SpfResult::None, domain + " does not exist (NXDOMAIN), so has no SPF record");
        co_return out;
    }
    auto chosen = select_spf_record(txt.values);
    if (!chosen) {
        out = make(SpfResult::PermError, domain + ": " + chosen.error().message);
        co_return out;
    }
    if (!*chosen) {
        out = make(SpfResult::None, domain + " publishes no SPF record");
        co_return out;
    }
    auto record = parse_spf_record(**chosen);
    if (!record) {
        out = make(SpfResult::PermError,
                   domain + "'s SPF record is invalid: " + record.error().message);
        co_return out;
    }

    out = co_await evaluate(c, domain, record.value());
    co_return out;
}

// Section 4.6: the terms of `domain`'s record, left to right, then its redirect.
asio::awaitable<Outcome> evaluate(Check& c, const std::string& domain, const SpfRecord& record) {
    Outcome out;
    SpfMacroContext ctx = c.macros;
    ctx.domain = domain;
    for (const SpfMechanism& m : record.mechanisms) {
        TermResult t = co_await match_term(c, m, ctx);
        if (t.match == Match::Error) {
            out = std::move(t.error);
            co_return out;
        }
        if (t.match == Match::Yes) {
            out.result = qualifier_result(m.qualifier);
            out.mechanism = m.text;
            out.detail = matched_sentence(out.result, c.ip_text, domain, m.text);
            co_return out;
        }
    }

    // Section 6.1: redirect only when nothing matched; an "all" always matches, so reaching
    // here means the record has none.
    if (record.redirect) {
        out = co_await follow_redirect(c, *record.redirect, ctx);
        co_return out;
    }

    out = make(SpfResult::Neutral, c.ip_text + " matches nothing in " + domain +
                                       "'s SPF record, so the result is neutral");
    co_return out;
}

} // namespace

std::string_view spf_result_name(SpfResult r) {
    switch (r) {
    case SpfResult::None:
        return "none";
    case SpfResult::Neutral:
        return "neutral";
    case SpfResult::Pass:
        return "pass";
    case SpfResult::Fail:
        return "fail";
    case SpfResult::SoftFail:
        return "softfail";
    case SpfResult::TempError:
        return "temperror";
    case SpfResult::PermError:
        return "permerror";
    }
    return "none";
}

asio::awaitable<SpfVerdict> check_spf(Lookup& dns, asio::ip::address ip, std::string helo,
                                      std::string mail_from) {
    Check c{dns, to_ip(ip), std::string(), SpfMacroContext(), 0, 0};
    c.ip_text = dns::to_string(c.ip);

    // Section 2.4: a null reverse-path is checked as postmaster at the HELO name.
    std::string sender = mail_from;
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>')
        sender = sender.substr(1, sender.size() - 2);
    if (sender.empty()) sender = "postmaster@" + helo;
    size_t at = sender.rfind('@');
    std::string local = at == std::string::npos ? std::string() : sender.substr(0, at);
    std::string domain = at == std::string::npos ? sender : sender.substr(at + 1);
    // Section 4.3: no local-part means "postmaster".
    if (local.empty()) local = "postmaster";
    domain = ascii_lower(domain);
    if (!domain.empty() && domain.back() == '.') domain.pop_back();

    c.macros.sender = local + "@" + domain;
    c.macros.local_part = local;
    c.macros.sender_domain = domain;
    c.macros.ip = c.ip;
    c.macros.helo = helo;

    SpfVerdict verdict;
    verdict.domain = domain;
    if (!is_valid_spf_domain(domain)) {
        verdict.result = SpfResult::None;
        verdict.domain = shown(domain);
        verdict.detail = "the sender domain \"" + shown(domain) +
                         "\" is not a valid domain name, so "
                         "it has no SPF record to check";
        co_return verdict;
    }
    Outcome o = co_await check_host(c, domain);
    verdict.result = o.result;
    verdict.mechanism = std::move(o.mechanism);
    verdict.detail = std::move(o.detail);
    co_return verdict;
}

} // namespace ar::auth
