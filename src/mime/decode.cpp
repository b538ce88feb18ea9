#include "mime/decode.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>

namespace ar::mime::decode {

namespace {

bool is_b64(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Decodes a run of base64 alphabet characters (no padding, no junk) and appends the bytes.
void decode_b64_run(std::string& out, std::string& run) {
    if (run.size() % 4 == 1) run.pop_back(); // a lone sextet carries no whole byte
    size_t pad = run.size() % 4 == 0 ? 0 : 4 - run.size() % 4;
    run.append(pad, '=');
    if (run.empty()) return;
    size_t old = out.size();
    out.resize(old + run.size() / 4 * 3);
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data() + old),
                            reinterpret_cast<const unsigned char*>(run.data()),
                            static_cast<int>(run.size()));
    // EVP_DecodeBlock counts the bytes that padding stands for; drop them.
    out.resize(n < 0 ? old : old + static_cast<size_t>(n) - pad);
    run.clear();
}

// Windows-1252's 0x80..0x9F; the five unassigned bytes map to the C1 controls, as in WHATWG.
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

std::string cp1252_to_utf8(std::string_view in) {
    std::string out;
    out.reserve(in.size() + in.size() / 4);
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out += ch;
        } else if (c < 0xA0) {
            append_utf8(out, kCp1252High[c - 0x80]);
        } else {
            append_utf8(out, c);
        }
    }
    return out;
}

enum class Charset { utf8, cp1252, other };

Charset classify_charset(std::string_view name) {
    std::string n = lower(trim(name));
    if (n.size() >= 2 && n.front() == '"' && n.back() == '"') n = n.substr(1, n.size() - 2);
    if (n == "utf-8" || n == "utf8" || n == "us-ascii" || n == "ascii" || n == "ansi_x3.4-1968" ||
        n.empty())
        return Charset::utf8;
    if (n == "iso-8859-1" || n == "iso8859-1" || n == "iso_8859-1" || n == "latin1" ||
        n == "latin-1" || n == "l1" || n == "cp819" || n == "windows-1252" || n == "cp1252" ||
        n == "x-cp1252")
        return Charset::cp1252;
    return Charset::other;
}

struct EncodedWord {
    std::string charset;
    std::string bytes; // decoded, still in `charset`
    size_t end = 0;    // just past the closing "?="
};

// Finds the next occurrence of `what` at or after `from`, remembering the answer so that a
// run of failed candidates costs linear time in total (searches only move forward).
class ForwardFinder {
  public:
    ForwardFinder(std::string_view text, bool (*match)(std::string_view, size_t))
        : text_(text), match_(match) {}
    size_t next(size_t from) {
        if (from <= found_ && searched_from_ <= from) return found_;
        size_t i = from;
        while (i < text_.size() && !match_(text_, i))
            ++i;
        searched_from_ = from;
        found_ = i < text_.size() ? i : std::string_view::npos;
        return found_;
    }

  private:
    std::string_view text_;
    bool (*match_)(std::string_view, size_t);
    size_t searched_from_ = std::string_view::npos;
    size_t found_ = 0;
};

bool at_word_end(std::string_view t, size_t i) {
    return t[i] == '?' && i + 1 < t.size() && t[i + 1] == '=';
}
bool at_space(std::string_view t, size_t i) {
    return is_space(t[i]);
}

// Parses "=?charset?B|Q?text?=" starting at `start` (which holds "=?").
bool parse_encoded_word(std::string_view v, size_t start, ForwardFinder& word_end,
                        ForwardFinder& space, EncodedWord& w) {
    constexpr size_t kMaxCharset = 64;
    size_t i = start + 2;
    size_t cs_begin = i;
    while (i < v.size() && v[i] != '?' && i - cs_begin <= kMaxCharset) {
        char c = v[i];
        if (is_space(c) || c == '=' || c == '"' || c == '(' || c == ')') return false;
        ++i;
    }
    if (i >= v.size() || v[i] != '?' || i == cs_begin) return false;
    std::string_view charset = v.substr(cs_begin, i - cs_begin);
    if (auto star = charset.find('*'); star != std::string_view::npos) // RFC 2231 language
        charset = charset.substr(0, star);
    if (i + 2 >= v.size() || v[i + 2] != '?') return false;
    char enc = v[i + 1];
    if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q') return false;
    size_t text_begin = i + 3;
    size_t end = word_end.next(text_begin);
    if (end == std::string_view::npos) return false;
    size_t sp = space.next(text_begin);
    if (sp != std::string_view::npos && sp < end) return false;
    std::string_view text = v.substr(text_begin, end - text_begin);
    w.charset = std::string(charset);
    w.bytes = (enc == 'B' || enc == 'b') ? base64(text) : q_encoding(text);
    w.end = end + 2;
    return true;
}

bool all_space(std::string_view s) {
    for (char c : s)
        if (!is_space(c)) return false;
    return true;
}

} // namespace

std::string base64(std::string_view in) {
    constexpr size_t kRunChunk = 64 * 1024; // a multiple of 4: decodes without padding
    std::string out;
    out.reserve(in.size() / 4 * 3 + 3);
    std::string run;
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (is_b64(c)) {
            run += ch;
            if (run.size() == kRunChunk) decode_b64_run(out, run);
        } else if (c == '=') {
            decode_b64_run(out, run);
        }
    }
    decode_b64_run(out, run);
    return out;
}

std::string quoted_printable(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    size_t pos = 0;
    while (pos < in.size()) {
        size_t nl = in.find('\n', pos);
        bool has_break = nl != std::string_view::npos;
        size_t line_end = has_break ? nl : in.size();
        std::string_view line = in.substr(pos, line_end - pos);
        bool crlf = has_break && !line.empty() && line.back() == '\r';
        while (!line.empty() && (is_blank(line.back()) || line.back() == '\r'))
            line.remove_suffix(1);
        bool soft = !line.empty() && line.back() == '=';
        if (soft) line.remove_suffix(1);
        for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] == '=' && i + 2 < line.size() && hex_value(line[i + 1]) >= 0 &&
                hex_value(line[i + 2]) >= 0) {
                out += static_cast<char>(hex_value(line[i + 1]) * 16 + hex_value(line[i + 2]));
                i += 2;
            } else {
                out += line[i];
            }
        }
        if (has_break && !soft) out += crlf ? "\r\n" : "\n";
        pos = has_break ? nl + 1 : in.size();
    }
    return out;
}

std::string q_encoding(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '_') {
            out += ' ';
        } else if (c == '=' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
                   hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
    if (classify_charset(charset) == Charset::cp1252) return cp1252_to_utf8(bytes);
    return sanitize_utf8(bytes);
}

void append_utf8(std::string& out, unsigned long cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string sanitize_utf8(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        // Sequence length and the allowed range of the second byte (Unicode table 3-7).
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        if (len == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        size_t n = 1;
        while (n < len && i + n < in.size()) {
            auto b = static_cast<unsigned char>(in[i + n]);
            bool ok = n == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
            if (!ok) break;
            ++n;
        }
        if (n == len) {
            out.append(in.substr(i, len));
        } else {
            out += "\xEF\xBF\xBD"; // one replacement for the maximal invalid subpart
        }
        i += n;
    }
    return out;
}

std::string rfc2047(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    ForwardFinder word_end(v, at_word_end);
    ForwardFinder space(v, at_space);
    std::string pending; // bytes of adjacent encoded words in one charset, not yet converted
    std::string pending_charset;
    auto flush = [&] {
        if (!pending.empty()) out += to_utf8(pending, pending_charset);
        pending.clear();
    };
    size_t literal_from = 0; // start of the text not yet copied to `out`
    bool after_word = false; // literal_from sits right after an encoded word
    size_t scan = 0;
    EncodedWord w;
    while (scan < v.size()) {
        size_t start = v.find("=?", scan);
        if (start == std::string_view::npos) break;
        if (!parse_encoded_word(v, start, word_end, space, w)) {
            scan = start + 1;
            continue;
        }
        std::string_view literal = v.substr(literal_from, start - literal_from);
        if (!(after_word && all_space(literal))) {
            flush();
            out += sanitize_utf8(literal);
        }
        if (w.charset != pending_charset) flush();
        pending_charset = w.charset;
        pending += w.bytes;
        literal_from = scan = w.end;
        after_word = true;
    }
    flush();
    out += sanitize_utf8(v.substr(literal_from));
    return out;
}

std::string percent(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
            hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view trim(std::string_view s) {
    return ar::trim(s);
}

} // namespace ar::mime::decode
