// text.h: small text and digest helpers shared by the core, stores and doors.
#pragma once

#include <string>
#include <string_view>

namespace ar {

// ASCII lowercase (domains, agent names, commands); bytes >= 0x80 are left alone.
std::string ascii_lower(std::string_view s);
// Equal ignoring ASCII case (header and tag names, SMTP verbs, policy words); inline, so the
// parsers' fuzz targets need no other file.
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
// s without the characters of `blanks` at either end (default: SP, HTAB, CR, LF).
inline std::string_view trim(std::string_view s, std::string_view blanks = " \t\r\n") {
    size_t start = s.find_first_not_of(blanks);
    if (start == std::string_view::npos) return {};
    return s.substr(start, s.find_last_not_of(blanks) - start + 1);
}
// Outside text (a DNS record, a name a sender gave) made safe for a log line or a header
// comment: control bytes, DEL and (unless keep_non_ascii, for UTF-8 names) bytes above 0x7e
// become '?', and it is cut after `max` bytes with "...".
inline std::string printable(std::string_view s, size_t max, bool keep_non_ascii = false) {
    std::string out;
    for (char ch : s.substr(0, max)) {
        auto c = static_cast<unsigned char>(ch);
        out += (c < 0x20 || c == 0x7f || (c > 0x7f && !keep_non_ascii)) ? '?' : ch;
    }
    if (s.size() > max) out += "...";
    return out;
}
// Lowercase hex of bytes.
std::string to_hex(const unsigned char* data, size_t size);
// SHA-256 of data, lowercase hex.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256 of data under key, lowercase hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// The same, as the 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

}  // namespace ar
