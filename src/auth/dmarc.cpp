#include "auth/dmarc.h"

#include "auth/dmarc_record.h"
#include "auth/org_domain.h"
#include "core/text.h"

namespace ar::auth {
namespace {

// Letters, digits, hyphens and underscores in labels of 1 to 63 bytes, 253 at most in all.
// Bytes above 0x7f pass: a From domain of an internationalized message may be UTF-8, and
// looking it up does no harm.
bool is_domain_name(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    size_t label = 0;
    for (char ch : d) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80;
        if (!ok || ++label > 63) return false;
    }
    return label > 0;
}

// An outside name as shown in `detail`, which may end up in a header comment or a log line.
std::string shown(std::string_view s) {
    return printable(s, 100, true);
}

struct Discovery {
    enum Kind { Record, NoRecord, Several, TempError } kind = NoRecord;
    std::string record;    // Record
    std::size_t count = 0; // Several
    std::string detail;    // TempError: the DNS reason
};

asio::awaitable<Discovery> discover(Lookup& lookup, std::string domain) {
    std::string name = "_dmarc." + domain;
    Answer answer = co_await lookup.txt(name);
    Discovery d;
    if (answer.status == dns::Status::TempFail) {
        d.kind = Discovery::TempError;
        d.detail = answer.detail.empty() ? std::string("no answer") : answer.detail;
        co_return d;
    }
    if (answer.status != dns::Status::Ok) co_return d; // NXDOMAIN or NODATA: no record here
    DmarcSelection s = select_dmarc_record(answer.values);
    if (s.count == 1) {
        d.kind = Discovery::Record;
        d.record = std::move(s.record);
    } else if (s.count > 1) {
        d.kind = Discovery::Several;
        d.count = s.count;
    }
    co_return d;
}

std::string fail_detail(const std::vector<std::string>& dkim_pass_domains, bool spf_pass,
                        const std::string& spf_domain, const std::string& from,
                        const DmarcRecord& record) {
    std::string dkim;
    for (const auto& d : dkim_pass_domains) {
        if (!dkim.empty()) dkim += ", ";
        dkim += "d=" + shown(canonical_domain(d));
    }
    if (dkim.empty()) dkim = "no verified signature";
    std::string spf = !spf_pass            ? std::string("no pass")
                      : spf_domain.empty() ? std::string("no domain")
                                           : shown(canonical_domain(spf_domain));
    std::string s = "neither DKIM (" + dkim + ") nor SPF (" + spf + ") aligns with " + from;
    if (record.strict_dkim && record.strict_spf)
        s += " (strict alignment: adkim=s, aspf=s)";
    else if (record.strict_dkim)
        s += " (strict DKIM alignment: adkim=s)";
    else if (record.strict_spf)
        s += " (strict SPF alignment: aspf=s)";
    return s;
}

} // namespace

std::string_view dmarc_result_name(DmarcResult r) {
    switch (r) {
    case DmarcResult::None:
        return "none";
    case DmarcResult::Pass:
        return "pass";
    case DmarcResult::Fail:
        return "fail";
    case DmarcResult::TempError:
        return "temperror";
    case DmarcResult::PermError:
        return "permerror";
    }
    return "none";
}

asio::awaitable<DmarcVerdict> check_dmarc(Lookup& lookup, std::string from_domain,
                                          std::vector<std::string> dkim_pass_domains, bool spf_pass,
                                          std::string spf_domain) {
    DmarcVerdict v;
    std::string from = canonical_domain(from_domain);
    if (!is_domain_name(from)) {
        v.result = DmarcResult::PermError;
        if (from_domain.empty())
            v.detail = "no From domain to evaluate";
        else
            v.detail = "the From domain \"" + shown(from_domain) + "\" is not a domain name";
        co_return v;
    }
    v.domain = from;

    // 6.6.3: the From domain's own record, and only when it has none, its organization's.
    std::string record_domain = from;
    Discovery found = co_await discover(lookup, from);
    if (found.kind == Discovery::NoRecord) {
        std::string org = organizational_domain(from);
        if (org != from) {
            record_domain = org;
            found = co_await discover(lookup, org);
        }
    }

    switch (found.kind) {
    case Discovery::TempError:
        v.result = DmarcResult::TempError;
        v.detail = "the DNS lookup of _dmarc." + shown(record_domain) + " failed temporarily (" +
                   shown(found.detail) + ")";
        co_return v;
    case Discovery::NoRecord:
        v.detail = "no DMARC record for " + shown(from);
        if (record_domain != from) v.detail += " or " + shown(record_domain);
        co_return v;
    case Discovery::Several:
        v.detail = std::to_string(found.count) + " DMARC records at _dmarc." +
                   shown(record_domain) + ", so no policy applies";
        co_return v;
    case Discovery::Record:
        break;
    }

    ar::Result<DmarcRecord> parsed = parse_dmarc_record(found.record);
    if (!parsed.ok()) {
        v.detail = "the DMARC record at _dmarc." + shown(record_domain) + " is invalid (" +
                   parsed.error().message + "), so no policy applies";
        co_return v;
    }
    const DmarcRecord& record = parsed.value();
    bool subdomain = record_domain != from; // found at the organizational domain
    v.policy = std::string(dmarc_policy_name(subdomain ? record.subdomain_policy : record.policy));

    for (const auto& d : dkim_pass_domains) {
        if (aligned(d, from, record.strict_dkim)) {
            v.result = DmarcResult::Pass;
            v.detail = "aligned DKIM signature of " + shown(canonical_domain(d));
            co_return v;
        }
    }
    if (spf_pass && aligned(spf_domain, from, record.strict_spf)) {
        v.result = DmarcResult::Pass;
        v.detail = "aligned SPF pass for " + shown(canonical_domain(spf_domain));
        co_return v;
    }
    v.result = DmarcResult::Fail;
    v.detail = fail_detail(dkim_pass_domains, spf_pass, spf_domain, from, record);
    co_return v;
}

} // namespace ar::auth
