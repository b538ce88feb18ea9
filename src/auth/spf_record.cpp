#include "auth/spf_record.h"
#include "core/text.h"

#include <arpa/inet.h>

#include <algorithm>

namespace ar::auth {
namespace {

// No real sender or record comes near this; it only keeps a hostile record from making a
// huge string (thousands of %{s} with a long sender).
constexpr size_t kMaxExpansion = 65536;
constexpr size_t kMaxName = 253; // RFC 7208 7.3, RFC 1035 2.3.4 without the trailing dot

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Terms are quoted in errors; a hostile record should not fill a log line.
std::string quote(std::string_view term) {
    return "\"" + printable(term, 80) + "\"";
}

ar::Error spf_error(std::string message) {
    return ar::invalid("spf", std::move(message));
}

// ---- Macro strings (RFC 7208 7.1) ------------------------------------------------------------

bool is_delimiter(char c) {
    return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// RFC 7208 7.3: uppercase macros are URL-escaped; RFC 3986 2.3 unreserved bytes stay.
std::string url_escape(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            unsigned char u = static_cast<unsigned char>(c);
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        }
    }
    return out;
}

std::string ip_dotted(const dns::IpAddress& ip) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    if (!ip.v6) {
        for (int i = 0; i < 4; ++i) {
            if (i) out += '.';
            out += std::to_string(ip.bytes[i]);
        }
        return out;
    }
    // RFC 7208 7.3: IPv6 as dot-separated nibbles, so "r" reverses it into ip6.arpa order.
    for (int i = 0; i < 16; ++i) {
        if (i) out += '.';
        out += kHex[ip.bytes[i] >> 4];
        out += '.';
        out += kHex[ip.bytes[i] & 0xf];
    }
    return out;
}

std::string ip_text(const dns::IpAddress& ip) {
    if (!ip.v6) return ip_dotted(ip);
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(AF_INET6, ip.bytes.data(), buf, sizeof buf)) return "::";
    return buf;
}

std::string macro_value(char letter, const SpfMacroContext& ctx) {
    switch (letter) {
    case 's':
        return ctx.sender;
    case 'l':
        return ctx.local_part;
    case 'o':
        return ctx.sender_domain;
    case 'd':
        return ctx.domain;
    case 'i':
        return ip_dotted(ctx.ip);
    case 'p':
        return ctx.ip_name;
    case 'v':
        return ctx.ip.v6 ? "ip6" : "in-addr";
    case 'h':
        return ctx.helo;
    case 'c':
        return ip_text(ctx.ip);
    case 'r':
        return ctx.receiver;
    case 't':
        return std::to_string(ctx.timestamp);
    }
    return {};
}

// Splits on the delimiters, optionally reverses, keeps the rightmost `keep` parts (0 = all)
// and joins them with dots (RFC 7208 7.3).
std::string transform(std::string_view value, std::string_view delimiters, size_t keep,
                      bool reverse) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || delimiters.find(value[i]) != std::string_view::npos) {
            parts.push_back(value.substr(start, i - start));
            start = i + 1;
        }
    }
    if (reverse) std::reverse(parts.begin(), parts.end());
    size_t first = keep != 0 && keep < parts.size() ? parts.size() - keep : 0;
    std::string out;
    for (size_t i = first; i < parts.size(); ++i) {
        if (i != first) out += '.';
        out += parts[i];
    }
    return out;
}

struct Scan {
    std::string error;          // empty when the string is well formed
    size_t last_macro_end = 0;  // offset just past the last macro-expand (0 if none)
    bool ends_in_macro = false; // the string's last token is a macro-expand
};

// Walks a macro-string once: checks it, and when `ctx` is given, expands it into `out`.
Scan scan_macro_string(std::string_view s, bool explanation, const SpfMacroContext* ctx,
                       std::string* out) {
    Scan scan;
    auto fail = [&scan](std::string message) {
        scan.error = std::move(message);
        return scan;
    };
    auto emit = [&](std::string_view text) {
        if (out) out->append(text);
    };
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c != '%') {
            unsigned char u = static_cast<unsigned char>(c);
            bool literal = (u >= 0x21 && u <= 0x7e) || (explanation && c == ' ');
            if (!literal) return fail("byte " + std::to_string(u) + " is not allowed there");
            emit(s.substr(i, 1));
            ++i;
            scan.ends_in_macro = false;
        } else {
            if (i + 1 >= s.size()) return fail("a lone \"%\" at its end");
            char next = s[i + 1];
            if (next == '%' || next == '_' || next == '-') {
                emit(next == '%' ? "%" : next == '_' ? " " : "%20");
                i += 2;
            } else if (next == '{') {
                size_t close = s.find('}', i + 2);
                if (close == std::string_view::npos) return fail("a \"%{\" without \"}\"");
                std::string_view body = s.substr(i + 2, close - i - 2);
                if (body.empty()) return fail("an empty macro \"%{}\"");
                char letter = lower(body[0]);
                if (std::string_view("slodiphcrtv").find(letter) == std::string_view::npos)
                    return fail("unknown macro letter in " + quote(s.substr(i, close - i + 1)));
                if (!explanation && (letter == 'c' || letter == 'r' || letter == 't'))
                    return fail("macro %{" + std::string(1, body[0]) +
                                "} is only allowed in explanations");
                size_t j = 1;
                size_t keep = 0;
                bool has_digits = false;
                while (j < body.size() && is_digit(body[j])) {
                    has_digits = true;
                    keep = std::min<size_t>(keep * 10 + static_cast<size_t>(body[j] - '0'),
                                            size_t{1} << 20); // more parts than any value has
                    ++j;
                }
                if (has_digits && keep == 0)
                    return fail("a zero digit transformer in " + quote(s.substr(i, close - i + 1)));
                bool reverse = j < body.size() && lower(body[j]) == 'r';
                if (reverse) ++j;
                std::string_view delimiters = body.substr(j);
                for (char d : delimiters)
                    if (!is_delimiter(d))
                        return fail("bad transformer or delimiter in " +
                                    quote(s.substr(i, close - i + 1)));
                if (ctx) {
                    std::string value = macro_value(letter, *ctx);
                    if (has_digits || reverse || !delimiters.empty())
                        value =
                            transform(value, delimiters.empty() ? "." : delimiters, keep, reverse);
                    if (is_alpha(body[0]) && body[0] != letter) value = url_escape(value);
                    emit(value);
                }
                i = close + 1;
            } else {
                return fail("\"%\" must be followed by \"{\", \"%\", \"_\" or \"-\"");
            }
            scan.ends_in_macro = true;
            scan.last_macro_end = i;
        }
        if (out && out->size() > kMaxExpansion) return fail("the expansion is too long");
    }
    return scan;
}

// RFC 7208 12: toplabel = ( *alphanum ALPHA *alphanum ) /
//                         ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
    if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
    bool alpha = false, hyphen = false;
    for (char c : label) {
        if (c == '-')
            hyphen = true;
        else if (is_alpha(c))
            alpha = true;
        else if (!is_digit(c))
            return false;
    }
    return alpha || hyphen;
}

// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
std::string check_domain_spec(std::string_view spec) {
    if (spec.empty()) return "an empty domain";
    Scan scan = scan_macro_string(spec, false, nullptr, nullptr);
    if (!scan.error.empty()) return scan.error;
    if (scan.ends_in_macro) return {};
    std::string_view tail = spec.substr(scan.last_macro_end); // literals only
    if (tail.size() > 1 && tail.back() == '.') tail.remove_suffix(1);
    size_t dot = tail.rfind('.');
    if (dot == std::string_view::npos || !is_toplabel(tail.substr(dot + 1)))
        return "a domain that does not end in a valid top-level label or a macro";
    return {};
}

// "/" cidr at most max_digits long, no leading zero, at most `max`. -1 when invalid.
int parse_cidr(std::string_view digits, int max) {
    if (digits.empty() || digits.size() > 3) return -1;
    if (digits.size() > 1 && digits[0] == '0') return -1;
    int v = 0;
    for (char c : digits) {
        if (!is_digit(c)) return -1;
        v = v * 10 + (c - '0');
    }
    return v <= max ? v : -1;
}

// Takes dual-cidr-length = [ "/" ip4 ] [ "//" ip6 ] off the end of `s`. False when what looks
// like a CIDR length is out of range or has leading zeros.
bool take_dual_cidr(std::string_view& s, int& cidr4, int& cidr6) {
    auto trailing_digits = [](std::string_view v) {
        size_t j = v.size();
        while (j > 0 && is_digit(v[j - 1]))
            --j;
        return j;
    };
    size_t j = trailing_digits(s);
    if (j < s.size() && j >= 2 && s[j - 1] == '/' && s[j - 2] == '/') {
        cidr6 = parse_cidr(s.substr(j), 128);
        if (cidr6 < 0) return false;
        s = s.substr(0, j - 2);
        j = trailing_digits(s);
    }
    if (j < s.size() && j >= 1 && s[j - 1] == '/') {
        cidr4 = parse_cidr(s.substr(j), 32);
        if (cidr4 < 0) return false;
        s = s.substr(0, j - 1);
    }
    return true;
}

bool parse_ip4(std::string_view s, dns::IpAddress& out) {
    out = dns::IpAddress{};
    size_t pos = 0;
    for (int part = 0; part < 4; ++part) {
        if (part) {
            if (pos >= s.size() || s[pos] != '.') return false;
            ++pos;
        }
        size_t start = pos;
        while (pos < s.size() && is_digit(s[pos]) && pos - start < 4)
            ++pos;
        std::string_view digits = s.substr(start, pos - start);
        if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0'))
            return false;
        int v = 0;
        for (char c : digits)
            v = v * 10 + (c - '0');
        if (v > 255) return false;
        out.bytes[static_cast<size_t>(part)] = static_cast<uint8_t>(v);
    }
    return pos == s.size();
}

bool parse_ip6(std::string_view s, dns::IpAddress& out) {
    out = dns::IpAddress{};
    out.v6 = true;
    // RFC 4291 2.2 text (including an embedded dotted IPv4); inet_pton reads exactly that, but
    // stops at a NUL, so only the characters of that form are let through.
    if (s.empty() || s.size() > 45) return false;
    for (char c : s)
        if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.'))
            return false;
    std::string text(s);
    return inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1;
}

ar::Result<SpfMechanism> parse_mechanism(std::string_view term) {
    SpfMechanism m;
    m.text = std::string(term);
    std::string_view rest = term;
    switch (rest.empty() ? '\0' : rest.front()) {
    case '+':
        m.qualifier = SpfQualifier::Pass;
        rest.remove_prefix(1);
        break;
    case '-':
        m.qualifier = SpfQualifier::Fail;
        rest.remove_prefix(1);
        break;
    case '~':
        m.qualifier = SpfQualifier::SoftFail;
        rest.remove_prefix(1);
        break;
    case '?':
        m.qualifier = SpfQualifier::Neutral;
        rest.remove_prefix(1);
        break;
    default:
        break;
    }
    size_t name_end = std::min(rest.find(':'), rest.find('/'));
    std::string_view name = rest.substr(0, name_end);
    std::string_view args = name_end == std::string_view::npos ? "" : rest.substr(name_end);
    auto bad = [&term](std::string why) { return spf_error("term " + quote(term) + ": " + why); };

    if (iequals(name, "all")) {
        if (!args.empty()) return bad("\"all\" takes no arguments");
        m.kind = SpfMechanismKind::All;
        return m;
    }
    if (iequals(name, "include") || iequals(name, "exists") || iequals(name, "ptr")) {
        m.kind = iequals(name, "include")  ? SpfMechanismKind::Include
                 : iequals(name, "exists") ? SpfMechanismKind::Exists
                                           : SpfMechanismKind::Ptr;
        if (args.empty() && m.kind == SpfMechanismKind::Ptr) return m;
        if (args.empty() || args.front() != ':') return bad("expected \":\" and a domain");
        m.domain_spec = std::string(args.substr(1));
        if (std::string why = check_domain_spec(m.domain_spec); !why.empty()) return bad(why);
        return m;
    }
    if (iequals(name, "a") || iequals(name, "mx")) {
        m.kind = iequals(name, "a") ? SpfMechanismKind::A : SpfMechanismKind::Mx;
        std::string_view spec = args;
        if (!take_dual_cidr(spec, m.cidr4, m.cidr6)) return bad("invalid CIDR length");
        if (spec.empty()) return m;
        if (spec.front() != ':') return bad("expected \":\" and a domain, or a CIDR length");
        m.domain_spec = std::string(spec.substr(1));
        if (std::string why = check_domain_spec(m.domain_spec); !why.empty()) return bad(why);
        return m;
    }
    if (iequals(name, "ip4") || iequals(name, "ip6")) {
        bool v6 = iequals(name, "ip6");
        m.kind = v6 ? SpfMechanismKind::Ip6 : SpfMechanismKind::Ip4;
        if (args.empty() || args.front() != ':') return bad("expected \":\" and an address");
        std::string_view net = args.substr(1);
        size_t slash = net.find('/');
        if (slash != std::string_view::npos) {
            int cidr = parse_cidr(net.substr(slash + 1), v6 ? 128 : 32);
            if (cidr < 0) return bad("invalid CIDR length");
            (v6 ? m.cidr6 : m.cidr4) = cidr;
            net = net.substr(0, slash);
        }
        bool ok = v6 ? parse_ip6(net, m.network) : parse_ip4(net, m.network);
        if (!ok) return bad(v6 ? "not an IPv6 address" : "not an IPv4 address");
        return m;
    }
    return bad("unknown mechanism");
}

// RFC 7208 12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
bool is_modifier_name(std::string_view name) {
    if (name.empty() || !is_alpha(name.front())) return false;
    for (char c : name)
        if (!(is_alnum(c) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

ar::Status parse_modifier(std::string_view term, size_t eq, SpfRecord& record) {
    std::string_view name = term.substr(0, eq);
    std::string_view value = term.substr(eq + 1);
    if (!is_modifier_name(name)) return spf_error("term " + quote(term) + ": bad modifier name");
    bool redirect = iequals(name, "redirect");
    if (redirect || iequals(name, "exp")) {
        std::optional<std::string>& slot = redirect ? record.redirect : record.exp;
        if (slot)
            return spf_error("the " + std::string(redirect ? "redirect" : "exp") +
                             " modifier appears more than once");
        if (std::string why = check_domain_spec(value); !why.empty())
            return spf_error("term " + quote(term) + ": " + why);
        slot = std::string(value);
        return ar::Ok{};
    }
    // Section 6: unknown modifiers are ignored, but they still have to be macro-strings.
    Scan scan = scan_macro_string(value, false, nullptr, nullptr);
    if (!scan.error.empty()) return spf_error("term " + quote(term) + ": " + scan.error);
    return ar::Ok{};
}

} // namespace

bool is_spf_record(std::string_view txt) {
    return txt.size() >= 6 && iequals(txt.substr(0, 6), "v=spf1") &&
           (txt.size() == 6 || txt[6] == ' ');
}

ar::Result<std::optional<std::string>> select_spf_record(const std::vector<std::string>& txt) {
    std::optional<std::string> found;
    size_t count = 0;
    for (const std::string& t : txt) {
        if (!is_spf_record(t)) continue;
        if (++count == 1) found = t;
    }
    if (count > 1)
        return spf_error("the domain publishes " + std::to_string(count) +
                         " SPF records, and RFC 7208 4.5 allows one");
    return found;
}

ar::Result<SpfRecord> parse_spf_record(std::string_view text) {
    if (!is_spf_record(text)) return spf_error("the record does not start with \"v=spf1\"");
    SpfRecord record;
    std::string_view rest = text.substr(6);
    size_t pos = 0;
    while (pos < rest.size()) {
        // Every term is preceded by at least one space; is_spf_record saw the first one.
        while (pos < rest.size() && rest[pos] == ' ')
            ++pos;
        if (pos == rest.size()) break;
        size_t end = std::min(rest.find(' ', pos), rest.size());
        std::string_view term = rest.substr(pos, end - pos);
        pos = end;
        // A modifier is a name and "=" before any ":" or "/"; everything else is a directive.
        size_t sep = term.find_first_of(":/=");
        if (sep != std::string_view::npos && term[sep] == '=' && is_alpha(term.front())) {
            if (auto s = parse_modifier(term, sep, record); !s) return s.error();
            continue;
        }
        auto m = parse_mechanism(term);
        if (!m) return m.error();
        record.mechanisms.push_back(std::move(m).value());
    }
    return record;
}

ar::Result<std::string> expand_spf_macros(std::string_view macro_string, const SpfMacroContext& ctx,
                                          bool explanation) {
    std::string out;
    Scan scan = scan_macro_string(macro_string, explanation, &ctx, &out);
    if (!scan.error.empty()) return spf_error("macro " + quote(macro_string) + ": " + scan.error);
    return out;
}

ar::Result<std::string> expand_spf_domain(std::string_view domain_spec,
                                          const SpfMacroContext& ctx) {
    auto expanded = expand_spf_macros(domain_spec, ctx, false);
    if (!expanded) return expanded.error();
    std::string name = std::move(expanded).value();
    if (!name.empty() && name.back() == '.') name.pop_back();
    // Section 7.3: too long a name loses labels from the left until it fits.
    size_t cut = 0;
    while (name.size() - cut > kMaxName) {
        size_t dot = name.find('.', cut);
        if (dot == std::string::npos) break; // one huge label: left for is_valid_query_name
        cut = dot + 1;
    }
    name.erase(0, cut);
    return name;
}

bool is_valid_query_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > kMaxName) return false;
    size_t label = 0;
    for (char c : name) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

bool is_valid_spf_domain(std::string_view domain) {
    if (!is_valid_query_name(domain)) return false;
    if (domain.back() == '.') domain.remove_suffix(1);
    size_t dot = domain.rfind('.');
    if (dot == std::string_view::npos) return false; // one label: not a mail domain
    for (char c : domain)
        if (!(is_alnum(c) || c == '-' || c == '_' || c == '.')) return false;
    return is_toplabel(domain.substr(dot + 1)); // also keeps address literals out
}

} // namespace ar::auth
