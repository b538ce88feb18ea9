#include "mime/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <variant>

#include "mime/encoding.h"

namespace ar::mime {

namespace {

constexpr std::size_t kMaxLocal = 64;   // RFC 5321 4.5.3.1.1
constexpr std::size_t kMaxDomain = 255; // RFC 5321 4.5.3.1.2
constexpr std::size_t kMaxLabel = 63;   // RFC 1035 2.3.4
constexpr std::size_t kMaxPath = 254;   // RFC 5321 4.5.3.1.3: 256 with the angle brackets
constexpr std::size_t kMaxQuotedName = 76;

using Problem = std::optional<std::string>;

// A rendering of outside input fit for an error message: quoted, control characters escaped,
// cut to a readable length at a character boundary.
std::string describe(std::string_view s) {
    constexpr std::size_t kMax = 100;
    std::string out = "\"";
    std::size_t i = 0;
    while (i < s.size()) {
        if (out.size() > kMax) {
            out += "...";
            break;
        }
        std::size_t start = i;
        char32_t cp;
        if (!next_utf8(s, i, cp)) {
            static constexpr char hex[] = "0123456789abcdef";
            unsigned char b = static_cast<unsigned char>(s[start]);
            out += "\\x";
            out += hex[b >> 4];
            out += hex[b & 15];
            i = start + 1;
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0x20 || cp == 0x7F) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[cp >> 4];
            out += hex[cp & 15];
        } else if (cp == '"' || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else {
            out.append(s, start, i - start);
        }
    }
    return out + "\"";
}

// 'c', for messages. (Built by appending: GCC 12 warns falsely on "'" + std::string.)
std::string quoted_char(char c) {
    std::string out = "'";
    out += c;
    out += '\'';
    return out;
}

std::string_view trim_spaces(std::string_view s) {
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    return s;
}

ar::Error fail(std::string message) {
    return ar::invalid("", std::move(message));
}

// RFC 5322 atext, extended by RFC 6532 with every non-ASCII (UTF-8) byte.
bool is_atext(unsigned char c) {
    if (c >= 0x80) return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
           std::string_view::npos;
}

bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    if (s.find("..") != std::string_view::npos) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == '.' || is_atext(static_cast<unsigned char>(c)); });
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string quote_local(std::string_view local) {
    return is_dot_atom(local) ? std::string(local) : quote(local);
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = s.find(sep, start);
        out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) return out;
        start = end + 1;
    }
}

// RFC 3492 Punycode of one label's code points (without the "xn--" prefix).
std::string punycode(const std::u32string& input) {
    constexpr uint64_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
    auto adapt = [](uint64_t delta, uint64_t points, bool first) {
        delta = first ? delta / damp : delta / 2;
        delta += delta / points;
        uint64_t k = 0;
        while (delta > ((base - tmin) * tmax) / 2) {
            delta /= base - tmin;
            k += base;
        }
        return k + (base - tmin + 1) * delta / (delta + skew);
    };
    auto digit = [](uint64_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + d - 26); };

    std::string out;
    for (char32_t c : input)
        if (c < 0x80) out += static_cast<char>(c);
    const uint64_t b = out.size();
    uint64_t h = b;
    if (b > 0) out += '-';
    uint64_t n = 128, delta = 0, bias = 72;
    while (h < input.size()) {
        uint64_t m = UINT32_MAX;
        for (char32_t c : input)
            if (c >= n && c < m) m = c;
        delta += (m - n) * (h + 1);
        n = m;
        for (char32_t c : input) {
            if (c < n) ++delta;
            if (c != n) continue;
            uint64_t q = delta;
            for (uint64_t k = base;; k += base) {
                uint64_t t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias);
                if (q < t) break;
                out += digit(t + (q - t) % (base - t));
                q = (q - t) / (base - t);
            }
            out += digit(q);
            bias = adapt(delta, h + 1, h == b);
            delta = 0;
            ++h;
        }
        ++delta;
        ++n;
    }
    return out;
}

// The A-label of a label: itself (lowercased) when ASCII, else "xn--" + Punycode.
std::string a_label(std::string_view label) {
    if (is_ascii(label)) return ascii_lower(label);
    std::u32string cps;
    std::size_t i = 0;
    while (i < label.size()) {
        char32_t cp;
        if (!next_utf8(label, i, cp)) {
            cp = static_cast<unsigned char>(label[i]); // unreachable for checked domains
            ++i;
        }
        cps += (cp >= 'A' && cp <= 'Z') ? cp - 'A' + 'a' : cp;
    }
    return "xn--" + punycode(cps);
}

// --- local part -------------------------------------------------------------------------

Problem check_dot_atom_local(std::string_view local, const std::string& whole) {
    const std::string allowed =
        "; allowed: letters, digits, UTF-8 and !#$%&'*+-/=?^_`{|}~ with single dots between "
        "them, or the whole local part in double quotes";
    if (local.front() == '.')
        return "local part of address " + whole + " starts with a dot" + allowed;
    if (local.back() == '.') return "local part of address " + whole + " ends with a dot" + allowed;
    if (local.find("..") != std::string_view::npos)
        return "local part of address " + whole + " has two dots in a row" + allowed;
    for (char c : local) {
        if (c == '.' || is_atext(static_cast<unsigned char>(c))) continue;
        std::string what = c == ' ' ? std::string("a space") : quoted_char(c);
        return "local part of address " + whole + " contains " + what +
               ", which needs double quotes" + allowed;
    }
    return std::nullopt;
}

// Reads a quoted local part at the start of `s`; stores its content and returns the index
// just past the closing quote, or an error message.
std::variant<std::size_t, std::string> read_quoted_local(std::string_view s, std::string& content,
                                                         const std::string& whole) {
    std::size_t i = 1;
    while (i < s.size()) {
        char c = s[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (i + 1 >= s.size()) break;
            c = s[++i];
        }
        content += c;
        ++i;
    }
    return "address " + whole + " opens a quoted local part with '\"' but never closes it";
}

// --- domain -----------------------------------------------------------------------------

Problem check_address_literal(std::string_view domain, const std::string& whole) {
    const std::string allowed = "; allowed: an IPv4 literal like [192.0.2.1] or an IPv6 "
                                "literal like [IPv6:2001:db8::1]";
    if (domain.back() != ']')
        return "domain of address " + whole +
               " opens an address literal with '[' but does not "
               "end with ']'" +
               allowed;
    std::string inner(domain.substr(1, domain.size() - 2));
    unsigned char buf[16];
    if (inner.size() > 5 && ascii_lower(inner.substr(0, 5)) == "ipv6:") {
        if (inet_pton(AF_INET6, inner.c_str() + 5, buf) == 1) return std::nullopt;
    } else if (inet_pton(AF_INET, inner.c_str(), buf) == 1) {
        return std::nullopt;
    }
    return "domain of address " + whole + " is not a valid address literal" + allowed;
}

Problem check_label(std::string_view label, const std::string& whole) {
    const std::string allowed = "; labels hold letters, digits, hyphens (not first or last) "
                                "or UTF-8 characters";
    if (label.empty())
        return "domain of address " + whole +
               " has an empty label (a leading dot or two dots in a row)";
    if (label.size() > kMaxLabel)
        return "domain of address " + whole + " has a label of " + std::to_string(label.size()) +
               " octets; at most 63 are allowed";
    if (label.front() == '-' || label.back() == '-')
        return "domain of address " + whole + " has the label " + describe(label) +
               ", which starts or ends with a hyphen" + allowed;
    for (char c : label) {
        unsigned char u = static_cast<unsigned char>(c);
        bool ok = u >= 0x80 || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9');
        if (!ok) return "domain of address " + whole + " contains " + quoted_char(c) + allowed;
    }
    if (!is_ascii(label) && a_label(label).size() > kMaxLabel)
        return "domain of address " + whole + " has the label " + describe(label) +
               ", which is longer than 63 octets in its ASCII (xn--) form";
    return std::nullopt;
}

Problem check_domain(std::string_view domain, const std::string& whole) {
    if (domain.front() == '[') return check_address_literal(domain, whole);
    if (domain.size() > kMaxDomain)
        return "domain of address " + whole + " is " + std::to_string(domain.size()) +
               " octets; at most 255 are allowed";
    if (domain.back() == '.')
        return "domain of address " + whole + " ends with a dot; write it without the final dot";
    auto labels = split(domain, '.');
    if (labels.size() < 2)
        return "domain of address " + whole +
               " has no dot; a full domain name like example.com is required";
    std::size_t ascii_size = labels.size() - 1;
    for (std::string_view label : labels) {
        if (auto p = check_label(label, whole)) return p;
        ascii_size += a_label(label).size();
    }
    if (ascii_size > kMaxDomain)
        return "domain of address " + whole + " is longer than 255 octets in its ASCII form";
    std::string_view tld = labels.back();
    if (std::all_of(tld.begin(), tld.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "domain of address " + whole + " ends in the all-digit label " + describe(tld) +
               "; write an IP address as a literal like [192.0.2.1]";
    return std::nullopt;
}

// Checks text as a whole before any structure is read: UTF-8, and no control characters.
Problem check_text(std::string_view s, const char* what) {
    if (!is_valid_utf8(s)) return std::string(what) + " " + describe(s) + " is not valid UTF-8";
    if (has_control_char(s))
        return std::string(what) + " " + describe(s) +
               " contains a control character (such as CR, LF, TAB or NUL); only printable "
               "text is allowed";
    return std::nullopt;
}

// --- display name -----------------------------------------------------------------------

bool is_name_special(char c) {
    return std::string_view("()<>[]:;@\\,").find(c) != std::string_view::npos;
}

// Reads an RFC 5322 phrase (obs-phrase: '.' allowed): atoms and quoted strings. Whitespace
// between words becomes one space; quoted content is kept exactly, escapes removed.
ar::Result<std::string> parse_display_name(std::string_view p, const std::string& whole) {
    std::string out;
    bool pending_space = false;
    std::size_t i = 0;
    while (i < p.size()) {
        char c = p[i];
        if (c == ' ') {
            pending_space = !out.empty();
            ++i;
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        if (c != '"') {
            if (is_name_special(c))
                return fail("display name of mailbox " + whole + " contains " + quoted_char(c) +
                            "; put the name in double quotes, like \"Smith, Bob\" "
                            "<bob@example.com>");
            out += c;
            ++i;
            continue;
        }
        bool closed = false;
        for (++i; i < p.size(); ++i) {
            c = p[i];
            if (c == '"') {
                closed = true;
                ++i;
                break;
            }
            if (c == '\\' && i + 1 < p.size()) c = p[++i];
            out += c;
        }
        if (!closed)
            return fail("display name of mailbox " + whole +
                        " opens a quote with '\"' but never closes it");
    }
    return out;
}

// Index of the first '<' outside double quotes, or npos.
std::size_t find_angle(std::string_view s) {
    bool in_quote = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (in_quote) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_quote = false;
        } else if (c == '"') {
            in_quote = true;
        } else if (c == '<') {
            return i;
        }
    }
    return std::string_view::npos;
}

bool is_atom_phrase(std::string_view name) {
    for (std::string_view word : split(name, ' ')) {
        if (word.empty() || word.size() > kMaxQuotedName) return false;
        if (!std::all_of(word.begin(), word.end(),
                         [](char c) { return is_atext(static_cast<unsigned char>(c)); }))
            return false;
    }
    return true;
}

} // namespace

// --- Mailbox ----------------------------------------------------------------------------

std::string Mailbox::address() const {
    return quote_local(local_part) + "@" + domain;
}

std::string Mailbox::domain_lower() const {
    return ascii_lower(domain);
}

std::string Mailbox::domain_ascii() const {
    if (domain.empty() || domain.front() == '[') return ascii_lower(domain);
    std::string out;
    for (std::string_view label : split(domain, '.')) {
        if (!out.empty()) out += '.';
        out += a_label(label);
    }
    return out;
}

bool Mailbox::needs_smtputf8() const {
    return !is_ascii(local_part) || !is_ascii(domain);
}

std::vector<std::string> header_pieces(const Mailbox& m, std::size_t max_word) {
    std::vector<std::string> pieces;
    const std::string& name = m.display_name;
    if (name.empty()) {
        pieces.push_back(m.address());
        return pieces;
    }
    bool plain = is_ascii(name) && !has_control_char(name) &&
                 name.find("=?") == std::string::npos; // would be misread as an encoded word
    if (plain && is_atom_phrase(name)) {
        for (std::string_view word : split(name, ' '))
            pieces.emplace_back(word);
    } else if (plain && quote(name).size() <= kMaxQuotedName) {
        pieces.push_back(quote(name));
    } else {
        const std::string encoded = encode_words_always(name, max_word);
        for (std::string_view word : split(encoded, ' '))
            pieces.emplace_back(word);
    }
    std::string angle = "<";
    angle += m.address();
    angle += '>';
    pieces.push_back(std::move(angle));
    return pieces;
}

std::string Mailbox::to_header() const {
    std::string out;
    for (const std::string& piece : header_pieces(*this)) {
        if (!out.empty()) out += ' ';
        out += piece;
    }
    return out;
}

// --- parsing ----------------------------------------------------------------------------

ar::Result<Mailbox> parse_address(std::string_view input) {
    std::string_view s = trim_spaces(input);
    if (s.empty())
        return fail("address is empty; expected local-part@domain, like bob@example.com");
    if (auto p = check_text(s, "address")) return fail(*p);
    const std::string whole = describe(s);

    Mailbox m;
    std::size_t at;
    if (s.front() == '"') {
        auto end = read_quoted_local(s, m.local_part, whole);
        if (auto* msg = std::get_if<std::string>(&end)) return fail(*msg);
        at = std::get<std::size_t>(end);
        if (at >= s.size())
            return fail("address " + whole +
                        " has no '@' after its quoted local part; expected "
                        "local-part@domain");
        if (s[at] != '@')
            return fail("address " + whole + " has " + quoted_char(s[at]) +
                        " after its quoted local part; expected '@' and the domain");
        if (m.local_part.empty())
            return fail("address " + whole + " has an empty quoted local part");
    } else {
        at = s.find('@');
        if (at == std::string_view::npos)
            return fail("address " + whole +
                        " has no '@'; expected local-part@domain, like "
                        "bob@example.com");
        if (at == 0) return fail("address " + whole + " has no local part before '@'");
        m.local_part = std::string(s.substr(0, at));
        if (auto p = check_dot_atom_local(m.local_part, whole)) return fail(*p);
    }

    std::string_view domain = s.substr(at + 1);
    if (domain.empty()) return fail("address " + whole + " has no domain after '@'");
    if (domain.find('@') != std::string_view::npos)
        return fail("address " + whole +
                    " has more than one '@'; a local part that contains "
                    "'@' must be in double quotes");
    if (auto p = check_domain(domain, whole)) return fail(*p);
    m.domain = std::string(domain);

    std::size_t local_size = quote_local(m.local_part).size();
    if (local_size > kMaxLocal)
        return fail("local part of address " + whole + " is " + std::to_string(local_size) +
                    " octets; at most 64 are allowed");
    std::size_t total = m.address().size();
    if (total > kMaxPath)
        return fail("address " + whole + " is " + std::to_string(total) +
                    " octets; at most 254 are allowed");
    return m;
}

ar::Result<Mailbox> parse_mailbox(std::string_view input) {
    std::string_view s = trim_spaces(input);
    if (s.empty())
        return fail("mailbox is empty; expected an address like bob@example.com or "
                    "Bob <bob@example.com>");
    if (auto p = check_text(s, "mailbox")) return fail(*p);
    const std::string whole = describe(s);

    std::size_t lt = find_angle(s);
    if (lt == std::string_view::npos) {
        if (s.back() == '>')
            return fail("mailbox " + whole +
                        " has '>' without '<'; expected Name "
                        "<local-part@domain>");
        return parse_address(s);
    }
    if (s.back() != '>')
        return fail("mailbox " + whole +
                    " does not end with '>' after its '<'; expected Name "
                    "<local-part@domain> with nothing after the '>'");
    auto mailbox = parse_address(s.substr(lt + 1, s.size() - lt - 2));
    if (!mailbox) return mailbox;
    auto name = parse_display_name(s.substr(0, lt), whole);
    if (!name) return name.error();
    mailbox->display_name = std::move(*name);
    return mailbox;
}

ar::Result<std::vector<Mailbox>> parse_mailbox_list(std::string_view s) {
    std::vector<Mailbox> out;
    std::size_t entry = 0;
    auto take = [&](std::string_view piece) -> ar::Status {
        ++entry;
        if (trim_spaces(piece).empty()) return ar::Ok{};
        auto m = parse_mailbox(piece);
        if (!m) return fail("entry " + std::to_string(entry) + ": " + m.error().message);
        out.push_back(std::move(*m));
        return ar::Ok{};
    };
    bool in_quote = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (in_quote) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_quote = false;
        } else if (c == '"') {
            in_quote = true;
        } else if (c == ',') {
            if (auto st = take(s.substr(start, i - start)); !st) return st.error();
            start = i + 1;
        }
    }
    if (auto st = take(s.substr(start)); !st) return st.error();
    if (out.empty())
        return fail("no address given; expected one or more addresses separated by commas, "
                    "like bob@example.com, Ann <ann@example.org>");
    return out;
}

ar::Status check_mailbox(const Mailbox& m) {
    auto parsed = parse_address(m.address());
    if (!parsed) return parsed.error();
    if (parsed->local_part != m.local_part || parsed->domain != m.domain)
        return fail("address " + describe(m.address()) +
                    " has spaces around it or does not read back as written");
    if (auto p = check_text(m.display_name, "display name")) return fail(*p);
    return ar::Ok{};
}

bool same_address(const Mailbox& a, const Mailbox& b) {
    return a.local_part == b.local_part && a.domain_ascii() == b.domain_ascii();
}

} // namespace ar::mime
