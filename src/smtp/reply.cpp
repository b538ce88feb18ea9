// reply.cpp: SMTP reply parsing (RFC 5321 4.2, RFC 3463 enhanced status codes).
#include "smtp/reply.h"

#include <algorithm>
#include <cctype>

namespace ar::smtp {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Length of a valid UTF-8 sequence starting at s[i], or 0 if it is not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence_length(std::string_view s, size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        const unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
        if (b < min || b > max) return 0;
    }
    return len;
}

// Server text is outside input: keep valid UTF-8, replace control characters and invalid
// bytes with '?' (a tab becomes a space).
std::string sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '\t') {
            out += ' ';
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            out += '?';
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if (size_t len = utf8_sequence_length(s, i); len > 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += '?';
            ++i;
        }
    }
    return out;
}

// Length of the enhanced status code ("5.1.1") at the start of text, including the space
// after it, or 0 if there is none of the given class. RFC 3463: class "." subject "." detail,
// subject and detail 1-3 digits.
size_t enhanced_code_length(std::string_view text, char reply_class) {
    if (text.size() < 5 || text[0] != reply_class || text[1] != '.') return 0;
    size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 4)
            ++i;
        const size_t digits = i - start;
        if (digits < 1 || digits > 3) return 0;
        if (part == 0) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
    }
    if (i == text.size()) return i;
    if (text[i] != ' ') return 0;
    return i + 1;
}

std::string strip_enhanced(std::string_view line, char reply_class) {
    std::string_view rest = line.substr(enhanced_code_length(line, reply_class));
    return std::string(rest);
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

} // namespace

std::string Reply::text() const {
    const char reply_class = static_cast<char>('0' + code / 100);
    std::string out;
    for (const auto& line : lines) {
        std::string stripped = strip_enhanced(line, reply_class);
        if (stripped.empty()) continue;
        if (!out.empty()) out += ' ';
        out += stripped;
    }
    return out;
}

std::string Reply::to_string() const {
    std::string out = std::to_string(code);
    if (!enhanced.empty()) out += ' ' + enhanced;
    if (std::string t = text(); !t.empty()) out += ' ' + t;
    return out;
}

Reply make_reply(int code, std::string enhanced, std::string text) {
    Reply reply;
    reply.code = code;
    reply.enhanced = std::move(enhanced);
    reply.lines.push_back(reply.enhanced.empty() ? sanitize(text)
                                                 : reply.enhanced + ' ' + sanitize(text));
    return reply;
}

ar::Result<std::optional<Reply>> ReplyParser::feed(std::string_view line) {
    auto fail = [this](std::string message) -> ar::Result<std::optional<Reply>> {
        partial_ = Reply{};
        return ar::Error{ar::kErrInvalid, std::move(message), "reply"};
    };
    if (line.size() > kMaxReplyLine)
        return fail("reply line of " + std::to_string(line.size()) + " octets exceeds the " +
                    std::to_string(kMaxReplyLine) + " allowed");
    // Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 4.2)
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
        !is_digit(line[2]))
        return fail("reply line does not start with a reply code 200-559: \"" +
                    sanitize(line.substr(0, 40)) + "\"");
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-')
        return fail("reply code is followed by neither ' ' nor '-': \"" +
                    sanitize(line.substr(0, 40)) + "\"");

    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!partial_.lines.empty() && code != partial_.code)
        return fail("reply code changed from " + std::to_string(partial_.code) + " to " +
                    std::to_string(code) + " within one reply");
    if (partial_.lines.size() >= kMaxReplyLines)
        return fail("reply has more than " + std::to_string(kMaxReplyLines) + " lines");

    const std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    if (partial_.lines.empty()) {
        partial_.code = code;
        if (size_t len = enhanced_code_length(text, line[0]); len > 0) {
            partial_.enhanced = std::string(text.substr(0, len));
            if (partial_.enhanced.back() == ' ') partial_.enhanced.pop_back();
        }
    }
    partial_.lines.push_back(sanitize(text));

    const bool last = line.size() == 3 || line[3] == ' ';
    if (!last) return std::optional<Reply>{};
    Reply done = std::move(partial_);
    partial_ = Reply{};
    return std::optional<Reply>{std::move(done)};
}

bool EhloExtensions::has_auth(std::string_view mechanism) const {
    return std::find(auth_mechanisms.begin(), auth_mechanisms.end(), upper(mechanism)) !=
           auth_mechanisms.end();
}

EhloExtensions parse_ehlo(const Reply& ehlo_reply) {
    EhloExtensions ext;
    if (ehlo_reply.lines.empty()) return ext;
    ext.greeting = ehlo_reply.lines.front();
    for (size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
        std::string_view line = ehlo_reply.lines[i];
        // ehlo-line = ehlo-keyword *( SP ehlo-param ); the old "AUTH=PLAIN" form is accepted.
        const size_t end = line.find_first_of(" =");
        const std::string keyword = upper(line.substr(0, end));
        std::vector<std::string> params;
        for (size_t pos = end; pos != std::string_view::npos && pos < line.size();) {
            const size_t start = line.find_first_not_of(' ', pos + 1);
            if (start == std::string_view::npos) break;
            pos = line.find(' ', start);
            params.emplace_back(line.substr(start, pos - start));
        }
        if (keyword == "PIPELINING") {
            ext.pipelining = true;
        } else if (keyword == "STARTTLS") {
            ext.starttls = true;
        } else if (keyword == "SMTPUTF8") {
            ext.smtputf8 = true;
        } else if (keyword == "8BITMIME") {
            ext.eight_bit_mime = true;
        } else if (keyword == "ENHANCEDSTATUSCODES") {
            ext.enhanced_codes = true;
        } else if (keyword == "SIZE") {
            ext.size = true;
            // A limit of 0 (or none) means no fixed maximum (RFC 1870).
            if (!params.empty() && !params[0].empty() && params[0].size() <= 18 &&
                std::all_of(params[0].begin(), params[0].end(), is_digit)) {
                const size_t limit = std::stoull(params[0]);
                if (limit > 0) ext.size_limit = limit;
            }
        } else if (keyword == "AUTH") {
            for (const auto& p : params) {
                std::string mech = upper(p);
                if (!ext.has_auth(mech)) ext.auth_mechanisms.push_back(std::move(mech));
            }
        }
    }
    return ext;
}

} // namespace ar::smtp
