#include "auth/authenticate.h"

#include <algorithm>

#include "auth/org_domain.h"
#include "core/text.h"
#include "mime/address.h"

namespace ar::auth {
namespace {

// The From domain DMARC evaluates (RFC 7489 6.6.1): exactly one From field holding exactly one
// mailbox; otherwise none.
std::string from_domain_of(std::string_view message) {
    std::vector<std::string_view> froms;
    // The header alone: the body can be large, and this runs on the event loop.
    size_t end = message.find("\r\n\r\n");
    auto parsed = dkim::parse_message(end == std::string_view::npos ? message : message.substr(0, end + 2));
    if (!parsed) return {}; // a header DKIM cannot read (bare CR or LF): From is not sure
    for (const auto& f : parsed->fields)
        if (iequals(f.name, "from")) froms.push_back(f.value);
    if (froms.size() != 1) return {};
    std::string value(froms.front());
    value.erase(std::remove(value.begin(), value.end(), '\r'), value.end());
    value.erase(std::remove(value.begin(), value.end(), '\n'), value.end());
    auto list = mime::parse_mailbox_list(value);
    if (!list || list->size() != 1) return {};
    return list->front().domain_ascii();
}

// A quoted-string for a reason="..." property (RFC 8601 2.2, RFC 5322 quoted-string).
std::string quoted_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '\r' || c == '\n') continue;
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// Whether a DKIM verdict vouches for the message: a pass that covers the whole body. With l=
// shorter than the body, anything after it could have been appended by anyone (RFC 6376 8.2),
// so such a signature verifies neither From nor DMARC alignment.
bool vouches(const dkim::Verdict& d) {
    return d.result == "pass" && d.covers_whole_body();
}

// DMARC's test for From, with relaxed alignment and whether or not the domain has a record:
// sets from_verified and the sentence that says why.
void conclude(AuthResults& r) {
    r.from_verified = false;
    if (r.from_domain.empty()) {
        r.summary = "From is not verified: the message does not have exactly one From address";
        return;
    }
    for (const auto& d : r.dkim) {
        if (vouches(d) && aligned(d.domain, r.from_domain, false)) {
            r.from_verified = true;
            r.summary = "From domain " + r.from_domain + " is verified: DKIM signature of " + d.domain +
                        " verified";
            return;
        }
    }
    if (r.spf.result == SpfResult::Pass && aligned(r.spf.domain, r.from_domain, false)) {
        r.from_verified = true;
        r.summary = "From domain " + r.from_domain + " is verified: SPF passed for " + r.spf.domain;
        return;
    }
    std::string why;
    if (r.dkim.empty()) why = "no DKIM signature";
    for (const auto& d : r.dkim) {
        if (!why.empty()) why += "; ";
        if (d.result == "pass" && !d.covers_whole_body())
            why += "DKIM signature of " + d.domain + " covers only the first part of the body (l=): " +
                   std::to_string(d.unsigned_body_octets) + " octets after it are unsigned and may have been added";
        else if (d.result == "pass")
            why += "DKIM signature of " + d.domain + " is not of the From domain";
        else
            why += "DKIM " + d.result + (d.domain.empty() ? "" : " for " + d.domain) + " (" + d.reason + ")";
    }
    why += "; SPF " + std::string(spf_result_name(r.spf.result));
    if (!r.spf.domain.empty()) why += " for " + r.spf.domain;
    r.summary = "From domain " + r.from_domain + " is not verified: " + why;
}

} // namespace

asio::awaitable<AuthResults> authenticate(Lookup& dns, asio::ip::address ip, std::string helo,
                                          std::string mail_from, std::string_view message,
                                          int64_t now_ms, asio::thread_pool* cpu) {
    AuthResults r;
    r.spf = co_await check_spf(dns, ip, helo, mail_from);
    r.dkim = co_await check_dkim(dns, message, now_ms, cpu);
    r.from_domain = from_domain_of(message);
    std::vector<std::string> passed;
    for (const auto& d : r.dkim)
        if (vouches(d)) passed.push_back(d.domain);
    r.dmarc = co_await check_dmarc(dns, r.from_domain, passed, r.spf.result == SpfResult::Pass,
                                   r.spf.domain);
    conclude(r);
    co_return r;
}

std::string AuthResults::header(std::string_view authserv_id) const {
    std::string h = "Authentication-Results: " + std::string(authserv_id) + ";\r\n\tspf=" +
                    std::string(spf_result_name(spf.result));
    if (!spf.domain.empty()) h += " smtp.mailfrom=" + spf.domain;
    if (dkim.empty()) h += ";\r\n\tdkim=none";
    for (const auto& d : dkim) {
        h += ";\r\n\tdkim=" + d.result;
        if ((d.result != "pass" || !d.covers_whole_body()) && !d.reason.empty())
            h += " reason=" + quoted_string(d.reason);
        if (!d.domain.empty()) h += " header.d=" + d.domain;
        if (!d.selector.empty()) h += " header.s=" + d.selector;
        if (!d.algorithm.empty()) h += " header.a=" + d.algorithm;
        if (!d.b_prefix.empty()) h += " header.b=" + d.b_prefix;
    }
    h += ";\r\n\tdmarc=" + std::string(dmarc_result_name(dmarc.result));
    if (!dmarc.policy.empty()) h += " (p=" + dmarc.policy + ")";
    if (!from_domain.empty()) h += " header.from=" + from_domain;
    return h + "\r\n";
}

nlohmann::json AuthResults::to_json() const {
    nlohmann::json sigs = nlohmann::json::array();
    for (const auto& d : dkim) {
        sigs.push_back({{"result", d.result},
                        {"domain", d.domain},
                        {"selector", d.selector},
                        {"algorithm", d.algorithm},
                        {"reason", d.reason}});
        if (!d.covers_whole_body()) sigs.back()["unsigned_body_octets"] = d.unsigned_body_octets;
    }
    return {{"from_verified", from_verified},
            {"summary", summary},
            {"spf",
             {{"result", spf_result_name(spf.result)}, {"domain", spf.domain}, {"detail", spf.detail}}},
            {"dkim", sigs},
            {"dmarc",
             {{"result", dmarc_result_name(dmarc.result)},
              {"domain", dmarc.domain},
              {"policy", dmarc.policy},
              {"detail", dmarc.detail}}}};
}

std::string strip_forged_results(std::string_view message, std::string_view authserv_id) {
    std::string out;
    out.reserve(message.size());
    std::string ours = ascii_lower(std::string(authserv_id));
    // One whole field (its first line and continuation lines) at a time: the id may be folded
    // onto a continuation line, and a forged field must not slip through that way.
    auto flush = [&](std::string_view field) {
        if (field.empty()) return;
        auto colon = field.find(':');
        std::string name =
            colon == std::string_view::npos ? std::string() : ascii_lower(std::string(field.substr(0, colon)));
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
            name.pop_back();
        if (name == "authentication-results") {
            std::string_view value = field.substr(colon + 1);
            size_t start = value.find_first_not_of(" \t\r\n");
            size_t stop = value.find_first_of("; \t\r\n(", start);
            std::string id = start == std::string_view::npos
                                 ? std::string()
                                 : std::string(value.substr(start, stop - start));
            if (ascii_lower(id) == ours) return;
        }
        out.append(field);
    };
    size_t pos = 0, field_start = 0;
    while (pos < message.size()) {
        size_t nl = message.find('\n', pos);
        size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
        std::string_view line = message.substr(pos, end - pos);
        if (line == "\r\n" || line == "\n") break; // the end of the header section
        if (line.front() != ' ' && line.front() != '\t') {
            flush(message.substr(field_start, pos - field_start));
            field_start = pos;
        }
        pos = end;
    }
    flush(message.substr(field_start, pos - field_start));
    out.append(message.substr(pos));
    return out;
}

} // namespace ar::auth
