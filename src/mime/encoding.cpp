#include "mime/encoding.h"

#include <openssl/evp.h>

#include <algorithm>
#include <vector>

namespace ar::mime {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// Characters RFC 2047 section 5 (3) lets a Q-encoded word carry literally in a phrase, the
// strictest context; using them everywhere keeps one encoder valid in every header.
bool q_literal(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '*' || c == '+' || c == '-' || c == '/';
}

std::size_t q_len(unsigned char c) {
    return (q_literal(c) || c == ' ') ? 1 : 3;
}

void q_append(std::string& out, unsigned char c) {
    if (c == ' ') {
        out += '_';
    } else if (q_literal(c)) {
        out += static_cast<char>(c);
    } else {
        out += '=';
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
}

std::size_t b64_len(std::size_t n) {
    return 4 * ((n + 2) / 3);
}

// Splits `s` into characters: whole UTF-8 sequences, or single bytes where it is malformed,
// so an encoded word never ends inside a character.
std::vector<std::string_view> characters(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t start = i;
        char32_t cp;
        if (!next_utf8(s, i, cp)) i = start + 1;
        out.push_back(s.substr(start, i - start));
    }
    return out;
}

} // namespace

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool next_utf8(std::string_view s, std::size_t& i, char32_t& cp) {
    if (i >= s.size()) return false;
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        cp = b0;
        ++i;
        return true;
    }
    std::size_t len;
    char32_t min;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
        unsigned char b = byte(i + k);
        if ((b & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
    return true;
}

bool is_valid_utf8(std::string_view s) {
    std::size_t i = 0;
    char32_t cp;
    while (i < s.size())
        if (!next_utf8(s, i, cp)) return false;
    return true;
}

bool has_control_char(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        char32_t cp;
        if (!next_utf8(s, i, cp)) {
            ++i; // malformed bytes are the UTF-8 check's business, not this one's
            continue;
        }
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return true;
    }
    return false;
}

std::string encode_words_always(std::string_view utf8, std::size_t max_word) {
    max_word = std::clamp<std::size_t>(max_word, 16, 75);
    const std::size_t room = max_word - 12; // "=?UTF-8?Q?" and "?="

    std::size_t q_total = 0;
    for (char c : utf8)
        q_total += q_len(static_cast<unsigned char>(c));
    const bool use_q = q_total <= b64_len(utf8.size());
    const char* prefix = use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?";

    std::string out;
    std::string chunk; // raw bytes of the word being built
    std::size_t chunk_len = 0;
    auto flush = [&] {
        if (chunk.empty()) return;
        if (!out.empty()) out += ' ';
        out += prefix;
        if (use_q) {
            for (char c : chunk)
                q_append(out, static_cast<unsigned char>(c));
        } else {
            out += base64_encode(chunk);
        }
        out += "?=";
        chunk.clear();
        chunk_len = 0;
    };
    for (std::string_view ch : characters(utf8)) {
        std::size_t add = 0;
        for (char c : ch)
            add += q_len(static_cast<unsigned char>(c));
        std::size_t next = use_q ? chunk_len + add : b64_len(chunk.size() + ch.size());
        if (next > room) flush();
        chunk += ch;
        chunk_len = use_q ? chunk_len + add : b64_len(chunk.size());
    }
    flush();
    return out;
}

std::string encode_words(std::string_view utf8) {
    if (is_ascii(utf8)) return std::string(utf8);
    return encode_words_always(utf8, 75);
}

std::string base64_encode(std::string_view data) {
    // EVP_EncodeBlock takes an int length: encode in blocks whose size is a multiple of 3 so
    // the pieces concatenate into one valid encoding.
    constexpr std::size_t kBlock = 3 * 16384;
    std::string out;
    out.reserve(b64_len(data.size()));
    std::vector<unsigned char> buf(b64_len(kBlock) + 1);
    for (std::size_t pos = 0; pos < data.size(); pos += kBlock) {
        std::size_t n = std::min(kBlock, data.size() - pos);
        int written =
            EVP_EncodeBlock(buf.data(), reinterpret_cast<const unsigned char*>(data.data() + pos),
                            static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(written));
    }
    return out;
}

namespace {

bool b64_alphabet(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

ar::Error b64_error(std::string message) {
    return ar::invalid("", std::move(message));
}

} // namespace

ar::Result<std::string> base64_decode(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    std::size_t pads = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t') continue;
        if (c == '=') {
            ++pads;
        } else if (pads > 0) {
            return b64_error("base64 data has '=' padding before its end (at offset " +
                             std::to_string(i) + "); '=' may only end the data");
        } else if (!b64_alphabet(c)) {
            std::string what = (c == '-' || c == '_')
                                   ? "the URL-safe character '" + std::string(1, c) +
                                         "'; use the standard alphabet with '+' and '/'"
                                   : "a character that is not base64 (byte " +
                                         std::to_string(static_cast<unsigned char>(c)) + ")";
            return b64_error("base64 data has " + what + " at offset " + std::to_string(i) +
                             "; allowed: A-Z a-z 0-9 + / and '=' padding at the end");
        }
        clean += c;
    }
    if (pads > 2)
        return b64_error("base64 data ends with " + std::to_string(pads) +
                         " '=' characters; at most 2 padding characters are allowed");
    if (clean.size() % 4 != 0)
        return b64_error("base64 data has " + std::to_string(clean.size()) +
                         " characters, not a multiple of 4; is the '=' padding missing or the "
                         "data cut short?");
    if (pads > 0 && clean.size() == pads) return b64_error("base64 data is only '=' padding");

    constexpr std::size_t kBlock = 4 * 16384;
    std::string out;
    out.reserve(clean.size() / 4 * 3);
    std::vector<unsigned char> buf(kBlock / 4 * 3 + 1);
    for (std::size_t pos = 0; pos < clean.size(); pos += kBlock) {
        std::size_t n = std::min(kBlock, clean.size() - pos);
        int written =
            EVP_DecodeBlock(buf.data(), reinterpret_cast<const unsigned char*>(clean.data() + pos),
                            static_cast<int>(n));
        if (written < 0) return b64_error("base64 data could not be decoded");
        out.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(written));
    }
    // EVP_DecodeBlock counts the padding as zero bytes of output.
    out.resize(out.size() - pads);
    return out;
}

std::string base64_lines(std::string_view data) {
    std::string flat = base64_encode(data);
    std::string out;
    out.reserve(flat.size() + flat.size() / 76 * 2 + 2);
    for (std::size_t pos = 0; pos < flat.size(); pos += 76) {
        out.append(flat, pos, 76);
        out += "\r\n";
    }
    return out;
}

std::string quoted_printable(std::string_view text) {
    // Lines of at most 76 characters; a soft break "=" needs one of them unless the line ends
    // there. Runs of characters that stand for themselves are copied whole.
    constexpr std::size_t kLine = 76;
    const std::size_t n = text.size();
    auto line_break_at = [&](std::size_t i) {
        return i == n || text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n');
    };
    auto safe = [](unsigned char c) { return c >= 33 && c <= 126 && c != '='; };
    std::string out;
    out.reserve(n + n / 16 + 16);
    std::size_t line_len = 0;  // characters on the current encoded line
    auto soft_break = [&] {
        out.append("=\r\n", 3);
        line_len = 0;
    };
    std::size_t i = 0;
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\n' || (c == '\r' && i + 1 < n && text[i + 1] == '\n')) {
            i += c == '\r' ? 2 : 1;
            out.append("\r\n", 2);
            line_len = 0;
            continue;
        }
        if (safe(c)) {
            std::size_t j = i;
            while (j < n && safe(static_cast<unsigned char>(text[j]))) ++j;
            bool ends_line = line_break_at(j);
            while (i < j) {
                std::size_t left = j - i;
                if (ends_line && line_len + left <= kLine) {  // the rest fits, no "=" needed
                    out.append(text.data() + i, left);
                    line_len += left;
                    i = j;
                    break;
                }
                std::size_t take = std::min(left, kLine - 1 - line_len);
                out.append(text.data() + i, take);
                line_len += take;
                i += take;
                if (i < j) soft_break();
            }
            continue;
        }
        bool at_line_end = line_break_at(i + 1);
        bool literal = (c == ' ' || c == '\t') && !at_line_end;
        std::size_t width = literal ? 1 : 3;
        if (line_len + width > (at_line_end ? kLine : kLine - 1)) soft_break();
        if (literal) {
            out.push_back(static_cast<char>(c));
        } else {
            char esc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
            out.append(esc, 3);
        }
        line_len += width;
        ++i;
    }
    return out;
}

} // namespace ar::mime
