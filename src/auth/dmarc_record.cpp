#include "auth/dmarc_record.h"
#include "core/text.h"

#include <cctype>
#include <optional>

namespace ar::auth {
namespace {

constexpr std::string_view kField = "dmarc";

// A piece of the record for an error message: records come from anyone's DNS, and the message
// may end up in a log line or a header comment, so control and non-ASCII bytes are masked.
std::string quoted(std::string_view s) {
    return "\"" + printable(s, 40) + "\"";
}

struct TagSpec {
    std::string_view name;
    std::string_view value;
    bool has_equals = false;
};

TagSpec split_tag(std::string_view spec) {
    TagSpec t;
    size_t eq = spec.find('=');
    if (eq == std::string_view::npos) {
        t.name = trim(spec);
        return t;
    }
    t.name = trim(spec.substr(0, eq));
    t.value = trim(spec.substr(eq + 1));
    t.has_equals = true;
    return t;
}

// Calls f(tag-spec) for each ";"-separated piece that is not blank.
template <class F> void for_each_tag(std::string_view txt, F&& f) {
    while (true) {
        size_t semi = txt.find(';');
        std::string_view spec = txt.substr(0, semi);
        if (!trim(spec).empty()) f(spec);
        if (semi == std::string_view::npos) break;
        txt.remove_prefix(semi + 1);
    }
}

std::optional<DmarcPolicy> policy_of(std::string_view v) {
    if (iequals(v, "none")) return DmarcPolicy::None;
    if (iequals(v, "quarantine")) return DmarcPolicy::Quarantine;
    if (iequals(v, "reject")) return DmarcPolicy::Reject;
    return std::nullopt;
}

// RFC 3986 3.1: a scheme, a colon, then something; no whitespace or control bytes (URIs in a
// DMARC record must percent-encode them, and "," and ";" separate them).
bool looks_like_uri(std::string_view u) {
    size_t colon = u.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == u.size()) return false;
    if (!std::isalpha(static_cast<unsigned char>(u[0]))) return false;
    for (size_t i = 1; i < colon; ++i) {
        auto c = static_cast<unsigned char>(u[i]);
        if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
    }
    for (char ch : u) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

std::vector<std::string> uri_list(std::string_view v) {
    std::vector<std::string> out;
    while (true) {
        size_t comma = v.find(',');
        std::string_view u = trim(v.substr(0, comma));
        if (looks_like_uri(u)) out.emplace_back(u);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

// Digits only, at most `max`; nullopt otherwise (without overflowing on long digit strings).
std::optional<uint32_t> small_number(std::string_view v, uint32_t max) {
    if (v.empty()) return std::nullopt;
    uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<uint64_t>(c - '0');
        if (n > max) return std::nullopt;
    }
    return static_cast<uint32_t>(n);
}

// One of the strict tags: its first problem, if any, wins over later ones.
struct PolicyTag {
    bool seen = false;
    std::optional<DmarcPolicy> value;
    std::string problem; // set when seen but unusable
};

void read_policy(PolicyTag& tag, std::string_view name, std::string_view value) {
    if (tag.seen) {
        tag.value.reset();
        if (tag.problem.empty()) tag.problem = std::string(name) + "= appears more than once";
        return;
    }
    tag.seen = true;
    tag.value = policy_of(value);
    if (!tag.value)
        tag.problem =
            std::string(name) + "= must be none, quarantine or reject, not " + quoted(value);
}

} // namespace

std::string_view dmarc_policy_name(DmarcPolicy p) {
    switch (p) {
    case DmarcPolicy::None:
        return "none";
    case DmarcPolicy::Quarantine:
        return "quarantine";
    case DmarcPolicy::Reject:
        return "reject";
    }
    return "none";
}

bool is_dmarc_record(std::string_view txt) {
    TagSpec first = split_tag(txt.substr(0, txt.find(';')));
    return first.has_equals && iequals(first.name, "v") && first.value == "DMARC1";
}

ar::Result<DmarcRecord> parse_dmarc_record(std::string_view txt) {
    if (!is_dmarc_record(txt))
        return ar::invalid(std::string(kField), "not a DMARC record: it must begin with "
                                                "\"v=DMARC1\", found " +
                                                    quoted(trim(txt)));
    DmarcRecord r;
    PolicyTag p, sp;
    std::string problem; // the first problem with adkim=, aspf= or pct=
    bool seen_adkim = false, seen_aspf = false, seen_pct = false, first = true;

    auto alignment = [&](std::string_view name, std::string_view value, bool& seen, bool& strict) {
        if (seen) {
            if (problem.empty()) problem = std::string(name) + "= appears more than once";
            return;
        }
        seen = true;
        if (iequals(value, "s"))
            strict = true;
        else if (!iequals(value, "r") && problem.empty())
            problem = std::string(name) + "= must be r or s, not " + quoted(value);
    };

    auto tag = [&](std::string_view spec) {
        if (first) { // the v=DMARC1 checked above
            first = false;
            return;
        }
        TagSpec t = split_tag(spec);
        if (!t.has_equals) return;
        const auto is = [&t](std::string_view n) { return iequals(t.name, n); };
        if (is("p")) {
            read_policy(p, "p", t.value);
        } else if (is("sp")) {
            read_policy(sp, "sp", t.value);
        } else if (is("adkim")) {
            alignment("adkim", t.value, seen_adkim, r.strict_dkim);
        } else if (is("aspf")) {
            alignment("aspf", t.value, seen_aspf, r.strict_spf);
        } else if (is("pct")) {
            if (seen_pct) {
                if (problem.empty()) problem = "pct= appears more than once";
                return;
            }
            seen_pct = true;
            auto n = small_number(t.value, 100);
            if (n)
                r.percent = static_cast<int>(*n);
            else if (problem.empty())
                problem = "pct= must be a whole number from 0 to 100, not " + quoted(t.value);
        } else if (is("rua")) {
            if (r.rua.empty()) r.rua = uri_list(t.value);
        } else if (is("ruf")) {
            if (r.ruf.empty()) r.ruf = uri_list(t.value);
        } else if (is("fo")) {
            if (!t.value.empty()) r.failure_options = std::string(t.value);
        } else if (is("rf")) {
            if (!t.value.empty()) r.report_format = std::string(t.value);
        } else if (is("ri")) {
            if (auto n = small_number(t.value, UINT32_MAX)) r.report_interval = *n;
        }
        // Anything else: a tag of a later revision, ignored (6.3).
    };
    for_each_tag(txt, tag);

    if (!problem.empty()) return ar::invalid(std::string(kField), problem);

    std::string policy_problem = !p.seen ? "p= is missing" : p.problem;
    if (policy_problem.empty()) policy_problem = sp.problem;
    if (!policy_problem.empty()) {
        if (r.rua.empty()) {
            policy_problem += " (and no valid rua= to keep the record as p=none)";
            return ar::invalid(std::string(kField), policy_problem);
        }
        r.policy = DmarcPolicy::None;
        r.subdomain_policy = DmarcPolicy::None;
        r.policy_assumed = true;
        return r;
    }
    r.policy = *p.value;
    r.subdomain_policy = sp.value ? *sp.value : r.policy;
    return r;
}

DmarcSelection select_dmarc_record(const std::vector<std::string>& txt_values) {
    DmarcSelection s;
    for (const auto& v : txt_values) {
        if (!is_dmarc_record(v)) continue;
        if (++s.count == 1) s.record = v;
    }
    if (s.count != 1) s.record.clear();
    return s;
}

} // namespace ar::auth
