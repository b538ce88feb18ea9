#include "smtp/command.h"
#include "core/text.h"
#include "mime/encoding.h"

#include <array>
#include <cstdint>

namespace ar::smtp {
namespace {

constexpr size_t kMaxLocalPart = 64;   // RFC 5321 4.5.3.1.1
constexpr size_t kMaxDomain = 255;     // RFC 5321 4.5.3.1.2
constexpr size_t kMaxPath = 256;       // RFC 5321 4.5.3.1.3, including the angle brackets
constexpr size_t kMaxPlainField = 255; // RFC 4616: authcid and passwd are at most 255 octets

ar::Error syntax(std::string message) {
    return ar::invalid("", std::move(message));
}

char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = ascii_upper(c);
    return out;
}

bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(unsigned char c) {
    return is_alpha(c) || is_digit(c);
}
bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.size() - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

// atext of RFC 5322, widened by RFC 6531 to every non-ASCII octet (UTF-8 is checked apart).
bool is_atext(unsigned char c) {
    if (is_alnum(c) || c >= 0x80) return true;
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// Local part: a quoted string, or atext and dots. Runs of dots are tolerated (real addresses
// like "a..b" exist and carry no risk); everything else follows RFC 5321 4.1.2.
bool is_valid_local_part(std::string_view local) {
    if (local.empty() || local.size() > kMaxLocalPart) return false;
    if (local.front() != '"') {
        for (char c : local)
            if (c != '.' && !is_atext(static_cast<unsigned char>(c))) return false;
        return true;
    }
    if (local.size() < 2 || local.back() != '"') return false;
    for (size_t i = 1; i + 1 < local.size(); ++i) {
        auto c = static_cast<unsigned char>(local[i]);
        if (c == '\\') {
            if (i + 2 >= local.size()) return false; // the escape would eat the closing quote
            auto next = static_cast<unsigned char>(local[++i]);
            if (next < 32 || next > 126) return false;
            continue;
        }
        if (c == '"' || c < 32 || c == 127) return false;
    }
    return true;
}

// Domain: an address literal "[...]" or dot-separated labels of letters, digits and hyphens
// (non-ASCII allowed: U-labels under SMTPUTF8), no label starting or ending with '-'.
bool is_valid_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > kMaxDomain) return false;
    if (domain.front() == '[') {
        if (domain.size() < 3 || domain.back() != ']') return false;
        // IPv4, "IPv6:..." or "tag:..." (RFC 5321 4.1.3); narrower than the RFC's dcontent, which
        // would let '<', '>' and '"' into a path that other software re-quotes.
        for (char ch : domain.substr(1, domain.size() - 2)) {
            auto c = static_cast<unsigned char>(ch);
            if (!is_alnum(c) && c != '.' && c != ':' && c != '-') return false;
        }
        return true;
    }
    size_t start = 0;
    while (start <= domain.size()) {
        size_t dot = domain.find('.', start);
        if (dot == std::string_view::npos) dot = domain.size();
        std::string_view label = domain.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char ch : label) {
            auto c = static_cast<unsigned char>(ch);
            if (!is_alnum(c) && c != '-' && c < 0x80) return false;
        }
        start = dot + 1;
    }
    return true;
}

// Splits "local@domain" at the '@' that ends the local part (a quoted local part may hold '@').
ar::Result<std::string> validate_mailbox(std::string_view mailbox) {
    size_t at = mailbox.rfind('@');
    if (at == std::string_view::npos)
        return syntax("The address must have the form local-part@domain");
    std::string_view local = mailbox.substr(0, at);
    std::string_view domain = mailbox.substr(at + 1);
    if (!is_valid_local_part(local))
        return syntax("The local part of the address (before the '@') is not valid");
    if (!is_valid_domain(domain))
        return syntax("The domain of the address (after the '@') is not valid");
    return std::string(mailbox);
}

// Returns the index just past the '>' that closes the path opened at s[0] == '<', honouring
// quoted strings and their backslash escapes; npos if it is never closed.
size_t find_path_end(std::string_view s) {
    bool quoted = false;
    for (size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '>') {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

enum class PathKind { Reverse, Forward };

struct ParsedPath {
    std::string mailbox;
    std::string_view rest; // what follows the path (the ESMTP parameters)
};

// Parses "<mailbox>", "<>" (reverse path only), "<@route,@route:mailbox>" (the source route is
// dropped, RFC 5321 4.1.2 and appendix C), or a bare mailbox without brackets (tolerated).
ar::Result<ParsedPath> parse_path(std::string_view s, PathKind kind) {
    std::string_view inner;
    std::string_view rest;
    if (!s.empty() && s.front() == '<') {
        size_t end = find_path_end(s);
        if (end == std::string_view::npos) return syntax("The address is missing its closing '>'");
        if (end > kMaxPath) return syntax("The address is longer than 256 octets");
        inner = s.substr(1, end - 2);
        rest = s.substr(end);
        if (!rest.empty() && !is_space(rest.front()))
            return syntax("Parameters must be separated from the address by a space");
    } else {
        size_t end = s.find_first_of(" \t");
        if (end == std::string_view::npos) end = s.size();
        inner = s.substr(0, end);
        rest = s.substr(end);
        if (inner.size() + 2 > kMaxPath) return syntax("The address is longer than 256 octets");
        if (inner.find_first_of("<>") != std::string_view::npos)
            return syntax("The address has unbalanced angle brackets");
    }
    if (!is_valid_utf8(inner)) return syntax("The address is not valid UTF-8");
    if (inner.empty()) {
        if (kind == PathKind::Forward) return syntax("A recipient address is required");
        return ParsedPath{"", rest};
    }
    if (inner.front() == '@') {
        size_t colon = inner.find(':');
        if (colon == std::string_view::npos)
            return syntax("The source route must end with ':' before the address");
        inner.remove_prefix(colon + 1);
    }
    // RFC 5321 4.5.1: "postmaster" without a domain must be accepted as a recipient.
    if (kind == PathKind::Forward && iequals(inner, "postmaster"))
        return ParsedPath{std::string(inner), rest};
    auto mailbox = validate_mailbox(inner);
    if (!mailbox) return mailbox.error();
    return ParsedPath{std::move(mailbox.value()), rest};
}

bool is_esmtp_keyword(std::string_view key) {
    if (key.empty() || !is_alnum(static_cast<unsigned char>(key.front()))) return false;
    for (char c : key)
        if (!is_alnum(static_cast<unsigned char>(c)) && c != '-') return false;
    return true;
}

// esmtp-value of RFC 5321 (any printable ASCII but '=' and space), plus UTF-8 (RFC 6531).
bool is_esmtp_value(std::string_view value) {
    if (value.empty() || !is_valid_utf8(value)) return false;
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80 && (c < 33 || c > 126 || c == '=')) return false;
    }
    return true;
}

ar::Status parse_params(std::string_view s, Command& cmd) {
    while (true) {
        s = trim(s, " \t");
        if (s.empty()) return ar::Ok{};
        size_t end = s.find_first_of(" \t");
        if (end == std::string_view::npos) end = s.size();
        std::string_view param = s.substr(0, end);
        s.remove_prefix(end);
        size_t eq = param.find('=');
        std::string_view key = param.substr(0, eq);
        if (!is_esmtp_keyword(key))
            return syntax("Parameters must have the form KEYWORD or KEYWORD=value");
        std::string value;
        if (eq != std::string_view::npos) {
            std::string_view v = param.substr(eq + 1);
            if (!is_esmtp_value(v))
                return syntax("The value of parameter " + to_upper(key) + " is empty or not valid");
            value = std::string(v);
        }
        cmd.params.emplace_back(to_upper(key), std::move(value));
    }
}

ar::Status parse_mail_or_rcpt(Command& cmd) {
    const bool mail = cmd.verb == Command::Verb::Mail;
    std::string_view prefix = mail ? "FROM:" : "TO:";
    std::string_view arg = cmd.argument;
    if (!istarts_with(arg, prefix))
        return syntax(mail ? "Syntax: MAIL FROM:<address> [parameters]"
                           : "Syntax: RCPT TO:<address> [parameters]");
    arg.remove_prefix(prefix.size());
    while (!arg.empty() && is_space(arg.front()))
        arg.remove_prefix(1); // "FROM: <a@b>" is common
    if (arg.empty())
        return syntax(mail ? "Syntax: MAIL FROM:<address> [parameters]"
                           : "Syntax: RCPT TO:<address> [parameters]");
    auto path = parse_path(arg, mail ? PathKind::Reverse : PathKind::Forward);
    if (!path) return path.error();
    cmd.path = std::move(path->mailbox);
    return parse_params(path->rest, cmd);
}

bool is_mechanism_name(std::string_view s) {
    if (s.empty() || s.size() > 20) return false; // RFC 4422 3.1: 1 to 20 characters
    for (char c : s)
        if (!is_alnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    return true;
}

ar::Status parse_auth(Command& cmd) {
    std::string_view arg = cmd.argument;
    size_t sp = arg.find_first_of(" \t");
    std::string_view mech = arg.substr(0, sp);
    if (!is_mechanism_name(mech)) return syntax("Syntax: AUTH mechanism [initial-response]");
    cmd.mechanism = to_upper(mech);
    if (sp == std::string_view::npos) return ar::Ok{};
    std::string_view response = trim(arg.substr(sp), " \t");
    if (response.find_first_of(" \t") != std::string_view::npos)
        return syntax("Syntax: AUTH mechanism [initial-response]");
    cmd.initial_response = std::string(response);
    return ar::Ok{};
}

ar::Status parse_bdat(const Command& cmd) {
    std::string_view arg = cmd.argument;
    size_t sp = arg.find_first_of(" \t");
    std::string_view size = arg.substr(0, sp);
    bool digits = !size.empty() && size.size() <= 19;
    for (char c : size)
        digits = digits && is_digit(static_cast<unsigned char>(c));
    std::string_view last = sp == std::string_view::npos ? "" : trim(arg.substr(sp), " \t");
    if (!digits || !(last.empty() || iequals(last, "LAST")))
        return syntax("Syntax: BDAT chunk-size [LAST]");
    return ar::Ok{};
}

struct VerbName {
    std::string_view name;
    Command::Verb verb;
};
constexpr std::array<VerbName, 14> kVerbs{{
    {"HELO", Command::Verb::Helo},
    {"EHLO", Command::Verb::Ehlo},
    {"MAIL", Command::Verb::Mail},
    {"RCPT", Command::Verb::Rcpt},
    {"DATA", Command::Verb::Data},
    {"BDAT", Command::Verb::Bdat},
    {"RSET", Command::Verb::Rset},
    {"NOOP", Command::Verb::Noop},
    {"QUIT", Command::Verb::Quit},
    {"VRFY", Command::Verb::Vrfy},
    {"EXPN", Command::Verb::Expn},
    {"HELP", Command::Verb::Help},
    {"STARTTLS", Command::Verb::StartTls},
    {"AUTH", Command::Verb::Auth},
}};

} // namespace

std::string_view verb_name(Command::Verb verb) {
    for (const auto& v : kVerbs)
        if (v.verb == verb) return v.name;
    return "";
}

bool is_non_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return true;
    return false;
}

ar::Result<Command> parse_command(std::string_view line) {
    for (char ch : line) {
        auto c = static_cast<unsigned char>(ch);
        if ((c < 32 && c != '\t') || c == 127)
            return syntax("The command line contains control characters");
    }
    size_t sp = line.find_first_of(" \t");
    std::string_view verb = line.substr(0, sp);
    Command cmd;
    cmd.argument = sp == std::string_view::npos ? "" : std::string(trim(line.substr(sp), " \t"));
    for (const auto& v : kVerbs)
        if (iequals(verb, v.name)) cmd.verb = v.verb;

    using V = Command::Verb;
    const bool has_argument = !cmd.argument.empty();
    switch (cmd.verb) {
    case V::Helo:
    case V::Ehlo:
        if (!has_argument)
            return syntax(std::string(verb_name(cmd.verb)) +
                          " requires a domain name or address literal");
        break;
    case V::Mail:
    case V::Rcpt:
        if (auto st = parse_mail_or_rcpt(cmd); !st) return st.error();
        break;
    case V::Auth:
        if (auto st = parse_auth(cmd); !st) return st.error();
        break;
    case V::Bdat:
        if (auto st = parse_bdat(cmd); !st) return st.error();
        break;
    case V::Data:
    case V::Rset:
    case V::Quit:
    case V::StartTls:
        if (has_argument) return syntax(std::string(verb_name(cmd.verb)) + " takes no arguments");
        break;
    case V::Vrfy:
    case V::Expn:
        if (!has_argument)
            return syntax(std::string(verb_name(cmd.verb)) + " requires an argument");
        break;
    case V::Noop:
    case V::Help:
    case V::Unknown:
        break;
    }
    return cmd;
}

ar::Result<std::string> decode_base64(std::string_view text) {
    // SASL (RFC 4954) sends base64 on one line: no white space, unlike MIME bodies, which
    // mime::base64_decode also accepts; past that check, the same strict decoder.
    if (text.find_first_of(" \t\r\n") != std::string_view::npos)
        return syntax("Invalid base64: white space inside");
    auto decoded = mime::base64_decode(text);
    if (!decoded) return syntax("Invalid base64: " + decoded.error().message);
    return decoded;
}

std::string encode_base64(std::string_view bytes) { return mime::base64_encode(bytes); }

ar::Result<PlainCredentials> decode_auth_plain(std::string_view base64) {
    if (base64 == "=") base64 = ""; // RFC 4954: "=" is the empty initial response
    auto decoded = decode_base64(base64);
    if (!decoded) return decoded.error();
    std::string_view s = decoded.value();
    size_t first = s.find('\0');
    size_t second = first == std::string_view::npos ? first : s.find('\0', first + 1);
    if (second == std::string_view::npos || s.find('\0', second + 1) != std::string_view::npos)
        return syntax("AUTH PLAIN expects authzid NUL authcid NUL password");
    PlainCredentials creds{std::string(s.substr(0, first)),
                           std::string(s.substr(first + 1, second - first - 1)),
                           std::string(s.substr(second + 1))};
    if (creds.authcid.empty() || creds.password.empty())
        return syntax("AUTH PLAIN needs a user name and a password");
    if (creds.authzid.size() > kMaxPlainField || creds.authcid.size() > kMaxPlainField ||
        creds.password.size() > kMaxPlainField)
        return syntax("AUTH PLAIN fields are limited to 255 octets");
    return creds;
}

} // namespace ar::smtp
