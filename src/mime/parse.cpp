#include "mime/parse.h"

#include "core/text.h"
#include "mime/decode.h"

#include <algorithm>
#include <unordered_map>

namespace ar::mime {

namespace {

using decode::lower;
using decode::trim;

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// One line of `s` starting at `pos`: its text without the line break, and where the next
// line starts (s.size() + 1 past the last line, so loops end).
struct Line {
    std::string_view text;
    size_t next;
};
Line line_at(std::string_view s, size_t pos) {
    size_t nl = s.find('\n', pos);
    size_t end = nl == std::string_view::npos ? s.size() : nl;
    std::string_view text = s.substr(pos, end - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    return {text, nl == std::string_view::npos ? s.size() + 1 : nl + 1};
}

// "Name:" with a field name of printable ASCII (RFC 5322 ftext); blanks before the colon
// (obsolete syntax) are tolerated. Returns the colon's index, or npos.
size_t header_colon(std::string_view line) {
    size_t i = 0;
    while (i < line.size()) {
        auto c = static_cast<unsigned char>(line[i]);
        if (c == ':' || c <= 32 || c >= 127) break;
        ++i;
    }
    if (i == 0) return std::string_view::npos;
    while (i < line.size() && is_blank(line[i]))
        ++i;
    if (i >= line.size() || line[i] != ':') return std::string_view::npos;
    return i;
}

std::string_view field_name(std::string_view line, size_t colon) {
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_blank(name.back()))
        name.remove_suffix(1);
    return name;
}

// Skips the (nested) comment that starts at v[i] == '('; false if it never closes, and
// then i is at the end.
bool skip_comment(std::string_view v, size_t& i) {
    int depth = 0;
    for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
            ++i;
        } else if (v[i] == '(') {
            ++depth;
        } else if (v[i] == ')' && --depth == 0) {
            ++i;
            return true;
        }
    }
    i = v.size();
    return false;
}

// Skips blanks and comments (RFC 5322 CFWS); an unclosed comment runs to the end.
void skip_cfws(std::string_view v, size_t& i) {
    while (i < v.size()) {
        if (is_space(v[i])) {
            ++i;
        } else if (v[i] == '(') {
            skip_comment(v, i);
        } else {
            break;
        }
    }
}

// A parameter as written, before RFC 2231 reassembly.
struct RawParam {
    std::string name; // lowercased, with any "*N*" suffix
    std::string value;
};

std::string read_quoted(std::string_view v, size_t& i) {
    std::string out;
    ++i; // opening quote
    for (; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
            out += v[++i];
        } else if (v[i] == '"') {
            ++i;
            break;
        } else if (v[i] != '\r' && v[i] != '\n') {
            out += v[i];
        }
    }
    return out;
}

std::vector<RawParam> read_params(std::string_view v, size_t i) {
    std::vector<RawParam> params;
    while (i < v.size()) {
        // Skip to the next ';', past any junk (and quoted strings inside it).
        while (i < v.size() && v[i] != ';') {
            if (v[i] == '"') {
                read_quoted(v, i);
            } else {
                ++i;
            }
        }
        if (i >= v.size()) break;
        ++i;
        skip_cfws(v, i);
        size_t name_begin = i;
        while (i < v.size() && v[i] != '=' && v[i] != ';')
            ++i;
        if (i >= v.size() || v[i] != '=') continue;
        std::string name = lower(trim(v.substr(name_begin, i - name_begin)));
        ++i;
        skip_cfws(v, i);
        std::string value;
        if (i < v.size() && v[i] == '"') {
            value = read_quoted(v, i);
        } else {
            size_t begin = i;
            while (i < v.size() && v[i] != ';' && v[i] != '(')
                ++i;
            value = std::string(trim(v.substr(begin, i - begin)));
        }
        if (!name.empty()) params.push_back({std::move(name), std::move(value)});
    }
    return params;
}

// RFC 2231 section parts of one parameter: "name*", "name*N", "name*N*".
struct Section {
    int index;
    bool extended;
    std::string value;
};

// Splits "name*N*" into its base name, section index and extended flag; false for a
// plain name or an unusable suffix.
bool parse_section_name(std::string_view name, std::string_view& base, int& index, bool& extended) {
    size_t star = name.find('*');
    if (star == std::string_view::npos || star == 0) return false;
    base = name.substr(0, star);
    std::string_view rest = name.substr(star + 1);
    extended = false;
    index = 0;
    if (rest.empty()) { // "name*": one extended value
        extended = true;
        return true;
    }
    if (rest.back() == '*') {
        extended = true;
        rest.remove_suffix(1);
    }
    if (rest.empty() || rest.size() > 4) return false;
    for (char c : rest) {
        if (!is_digit(c)) return false;
        index = index * 10 + (c - '0');
    }
    return true;
}

std::string join_sections(std::vector<Section>& sections) {
    std::stable_sort(sections.begin(), sections.end(),
                     [](const Section& a, const Section& b) { return a.index < b.index; });
    std::string charset;
    std::string bytes;
    int last = -1;
    for (size_t k = 0; k < sections.size(); ++k) {
        Section& s = sections[k];
        if (s.index == last) continue; // a repeated section: the first one counts
        last = s.index;
        std::string_view value = s.value;
        if (k == 0 && s.extended) { // charset'language'value
            size_t q1 = value.find('\'');
            size_t q2 = q1 == std::string_view::npos ? q1 : value.find('\'', q1 + 1);
            if (q2 != std::string_view::npos) {
                charset = std::string(value.substr(0, q1));
                value = value.substr(q2 + 1);
            }
        }
        bytes += s.extended ? decode::percent(value) : std::string(value);
    }
    return decode::to_utf8(bytes, charset);
}

std::string decode_plain_param(std::string_view value) {
    // Many mailers put RFC 2047 words inside quoted parameters; decoding them is harmless.
    if (value.find("=?") != std::string_view::npos) return decode::rfc2047(value);
    return decode::sanitize_utf8(value);
}

std::vector<std::pair<std::string, std::string>> assemble_params(std::vector<RawParam> raw) {
    struct Pending {
        std::string base;
        bool has_plain = false;
        std::string plain;
        std::vector<Section> sections;
    };
    std::vector<Pending> pending; // in order of first appearance
    std::unordered_map<std::string, size_t> index;
    auto entry = [&](std::string_view base) -> Pending& {
        auto [it, added] = index.try_emplace(std::string(base), pending.size());
        if (added) pending.emplace_back().base = std::string(base);
        return pending[it->second];
    };
    for (auto& p : raw) {
        std::string_view base;
        int index = 0;
        bool extended = false;
        if (parse_section_name(p.name, base, index, extended)) {
            entry(base).sections.push_back({index, extended, std::move(p.value)});
            continue;
        }
        Pending& e = entry(p.name);
        if (!e.has_plain) {
            e.has_plain = true;
            e.plain = std::move(p.value);
        }
    }
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(pending.size());
    for (auto& p : pending) {
        // The RFC 2231 form wins: senders add it because the plain one could not say it all.
        std::string value =
            p.sections.empty() ? decode_plain_param(p.plain) : join_sections(p.sections);
        out.emplace_back(std::move(p.base), std::move(value));
    }
    return out;
}

// A filename safe to show and to save: the last path component, no control characters.
std::string safe_filename(std::string_view name) {
    size_t slash = name.find_last_of("/\\");
    if (slash != std::string_view::npos) name = name.substr(slash + 1);
    std::string out;
    for (char c : name)
        if (static_cast<unsigned char>(c) >= 32 && c != 127) out += c;
    std::string_view t = trim(out);
    if (t == "." || t == "..") return "";
    return std::string(t);
}

bool has_header(const std::vector<Header>& headers, std::string_view name) {
    for (const auto& h : headers)
        if (iequals(h.name, name)) return true;
    return false;
}

// The first word of a field value, lowercased: "auto-replied; owner-email=..." -> "auto-replied".
std::string first_word(std::string_view v) {
    size_t i = 0;
    skip_cfws(v, i);
    size_t begin = i;
    while (i < v.size() && !is_space(v[i]) && v[i] != ';' && v[i] != '(')
        ++i;
    return lower(v.substr(begin, i - begin));
}

bool is_auto_submitted(const std::vector<Header>& headers) {
    if (has_header(headers, "Auto-Submitted")) {
        std::string v = first_word(find_header(headers, "Auto-Submitted"));
        if (!v.empty() && v != "no") return true;
    }
    for (const char* name : {"X-Autoreply", "X-Autorespond"}) {
        if (!has_header(headers, name)) continue;
        std::string v = first_word(find_header(headers, name));
        if (v != "no" && v != "false" && v != "0") return true;
    }
    return first_word(find_header(headers, "Precedence")) == "auto_reply";
}

std::string normalize_newlines(std::string s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
        out += s[i];
    }
    return out;
}

// RFC 3676 format=flowed: undo space-stuffing and join soft line breaks (a line ending in
// a space continues on the next), except in the signature separator "-- ".
std::string unflow(std::string_view text, bool delsp) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos <= text.size()) {
        Line l = line_at(text, pos);
        std::string_view line = l.text;
        bool last = l.next > text.size();
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        bool soft = !line.empty() && line.back() == ' ' && line != "-- ";
        if (soft && delsp) line.remove_suffix(1);
        out.append(line);
        if (!soft && !last) out += '\n';
        pos = l.next;
    }
    return out;
}

std::string text_of(const Entity& e, const ContentType& ct) {
    std::string text = normalize_newlines(decode::to_utf8(decoded_body(e), ct.param("charset")));
    if (iequals(ct.param("format"), "flowed"))
        text = unflow(text, iequals(ct.param("delsp"), "yes"));
    return text;
}

bool is_message_type(std::string_view type) {
    return type == "message/rfc822" || type == "message/global";
}

class Walker {
  public:
    explicit Walker(ParsedMessage& msg) : msg_(msg) {}

    ar::Status walk(const Entity& e, int depth, bool in_digest) {
        ContentType ct = entity_content_type(e, in_digest);
        std::string boundary = ct.param("boundary");
        bool multipart = ct.value.rfind("multipart/", 0) == 0;
        if (multipart && boundary.empty()) ct.value = "text/plain"; // unreadable as multipart
        if (!multipart || boundary.empty()) {
            leaf(e, ct);
            return ar::Ok{};
        }
        if (depth >= kMaxDepth)
            return ar::invalid("message", "MIME multiparts nest deeper than " +
                                              std::to_string(kMaxDepth) + " levels");
        size_t room = static_cast<size_t>(kMaxParts - parts_);
        std::vector<std::string_view> children = split_multipart(e.body, boundary, room);
        parts_ += static_cast<int>(children.size());
        if (parts_ > kMaxParts)
            return ar::invalid("message", "message has more than " + std::to_string(kMaxParts) +
                                              " MIME parts");
        bool digest = ct.value == "multipart/digest";
        for (std::string_view child : children) {
            ar::Status s = walk(split_entity(child), depth + 1, digest);
            if (!s) return s;
        }
        return ar::Ok{};
    }

  private:
    void leaf(const Entity& e, const ContentType& ct) {
        ContentType disposition = parse_content_type(find_header(e.headers, "Content-Disposition"));
        std::string filename = disposition.param("filename");
        if (filename.empty()) filename = ct.param("name");
        filename = safe_filename(filename);
        bool attachment = disposition.value == "attachment" || !filename.empty();
        if (is_message_type(ct.value)) {
            attachment = true;
            if (filename.empty()) filename = "message.eml";
        }
        if (!attachment && ct.value == "text/plain" && !have_text_) {
            msg_.text = text_of(e, ct);
            have_text_ = true;
            return;
        }
        if (!attachment && ct.value == "text/html" && !have_html_) {
            msg_.html = text_of(e, ct);
            have_html_ = true;
            return;
        }
        if (attachment) msg_.attachments.push_back({filename, ct.value, decoded_body(e)});
    }

    ParsedMessage& msg_;
    int parts_ = 0;
    bool have_text_ = false;
    bool have_html_ = false;
};

} // namespace

std::string ParsedMessage::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.name, name)) return decode::rfc2047(h.value);
    return "";
}

std::string ContentType::param(std::string_view name) const {
    for (const auto& [n, v] : params)
        if (iequals(n, name)) return v;
    return "";
}

Entity split_entity(std::string_view raw) {
    Entity e;
    size_t pos = 0;
    while (pos < raw.size()) {
        Line l = line_at(raw, pos);
        if (l.text.empty()) { // the blank line: the body follows it
            pos = l.next;
            break;
        }
        if (is_blank(l.text.front()) && !e.headers.empty()) {
            e.headers.back().value.append(l.text);
            pos = l.next;
            continue;
        }
        size_t colon = header_colon(l.text);
        if (colon == std::string_view::npos) { // not a header: the body starts here
            e.stray_line = l.text;
            break;
        }
        e.headers.push_back(
            {std::string(field_name(l.text, colon)), std::string(l.text.substr(colon + 1))});
        pos = l.next;
    }
    for (auto& h : e.headers)
        h.value = std::string(trim(h.value));
    e.body = raw.substr(std::min(pos, raw.size()));
    return e;
}

std::string remove_header_fields(std::string_view raw,
                                 const std::function<bool(std::string_view name)>& drop) {
    std::string out;
    out.reserve(raw.size());
    bool dropping = false;
    size_t pos = 0;
    while (pos < raw.size()) {
        size_t nl = raw.find('\n', pos);
        size_t end = nl == std::string_view::npos ? raw.size() : nl + 1;
        std::string_view line = raw.substr(pos, end - pos);
        if (line == "\r\n" || line == "\n") break; // the end of the header section
        if (!is_blank(line.front())) {
            size_t colon = line.find(':');
            dropping = colon != std::string_view::npos && drop(ar::trim(line.substr(0, colon), " \t"));
        }
        if (!dropping) out.append(line);
        pos = end;
    }
    out.append(raw.substr(pos));
    return out;
}

std::string_view find_header(const std::vector<Header>& headers, std::string_view name) {
    for (const auto& h : headers)
        if (iequals(h.name, name)) return h.value;
    return {};
}

ContentType parse_content_type(std::string_view v) {
    ContentType ct;
    size_t i = 0;
    skip_cfws(v, i);
    size_t begin = i;
    while (i < v.size() && v[i] != ';' && v[i] != '(' && !is_space(v[i]))
        ++i;
    ct.value = lower(v.substr(begin, i - begin));
    ct.params = assemble_params(read_params(v, i));
    return ct;
}

ContentType entity_content_type(const Entity& e, bool in_digest) {
    ContentType ct = parse_content_type(find_header(e.headers, "Content-Type"));
    size_t slash = ct.value.find('/');
    bool well_formed = slash != std::string::npos && slash > 0 && slash + 1 < ct.value.size();
    if (well_formed) return ct;
    ContentType fallback;
    if (in_digest) {
        fallback.value = "message/rfc822";
    } else {
        fallback.value = "text/plain";
        fallback.params.emplace_back("charset", "us-ascii");
    }
    return fallback;
}

std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary,
                                              size_t max_parts) {
    std::vector<std::string_view> parts;
    if (boundary.empty()) return parts;
    auto delimiter = [&](std::string_view line, bool& close) {
        if (line.size() < boundary.size() + 2 || line[0] != '-' || line[1] != '-') return false;
        if (line.compare(2, boundary.size(), boundary) != 0) return false;
        std::string_view rest = line.substr(boundary.size() + 2);
        close = rest.size() >= 2 && rest[0] == '-' && rest[1] == '-';
        if (close) rest.remove_prefix(2);
        for (char c : rest)
            if (!is_blank(c)) return false; // a longer boundary that shares this prefix
        return true;
    };
    bool in_part = false;
    size_t part_begin = 0;
    size_t pos = 0;
    while (pos <= body.size()) {
        Line l = line_at(body, pos);
        bool close = false;
        if (delimiter(l.text, close)) {
            if (in_part) {
                // The line break before a delimiter belongs to the delimiter.
                size_t end = pos;
                if (end > part_begin && body[end - 1] == '\n') --end;
                if (end > part_begin && body[end - 1] == '\r') --end;
                parts.push_back(body.substr(part_begin, end - part_begin));
                if (parts.size() > max_parts) return parts;
            }
            if (close) return parts;
            in_part = true;
            part_begin = std::min(l.next, body.size());
        }
        pos = l.next;
    }
    if (in_part) parts.push_back(body.substr(part_begin));
    return parts;
}

std::string decoded_body(const Entity& e) {
    std::string cte = first_word(find_header(e.headers, "Content-Transfer-Encoding"));
    if (cte == "base64") return decode::base64(e.body);
    if (cte == "quoted-printable") return decode::quoted_printable(e.body);
    return std::string(e.body);
}

std::vector<std::string> parse_msg_ids(std::string_view v) {
    std::vector<std::string> ids;
    bool comments_close = true; // after one unclosed "(", parentheses are plain text
    size_t i = 0;
    while (i < v.size()) {
        char c = v[i];
        if (c == '(' && comments_close) {
            size_t j = i;
            if (skip_comment(v, j)) {
                i = j;
            } else {
                comments_close = false;
                ++i;
            }
            continue;
        }
        if (c != '<') {
            ++i;
            continue;
        }
        size_t j = v.find_first_of("<>", i + 1);
        if (j == std::string_view::npos) break;
        if (v[j] == '<') { // "<<x>": the inner one is the id
            i = j;
            continue;
        }
        std::string id;
        for (char ch : v.substr(i + 1, j - i - 1))
            if (!is_space(ch)) id += ch;
        if (!id.empty()) ids.push_back("<" + id + ">");
        i = j + 1;
    }
    if (!ids.empty()) return ids;
    std::string_view t = trim(v);
    bool lone = !t.empty() && t.find('@') != std::string_view::npos &&
                t.find_first_of(" \t\r\n<>()") == std::string_view::npos;
    if (lone) ids.push_back("<" + std::string(t) + ">");
    return ids;
}

ar::Result<ParsedMessage> parse_message(std::string_view raw, Depth depth) {
    if (raw.empty()) return ar::invalid("message", "message is empty");
    if (raw.substr(0, 5) == "From ") { // mbox separator line
        Line l = line_at(raw, 0);
        raw = raw.substr(std::min(l.next, raw.size()));
    }
    Entity top = split_entity(raw);
    if (top.headers.empty())
        return ar::invalid("message", "message does not start with a header field "
                                      "(\"Name: value\" lines, then a blank line, then the body)");
    ParsedMessage msg;
    if (depth == Depth::Full) {
        msg.content_type = entity_content_type(top).value;
        Walker walker(msg);
        ar::Status s = walker.walk(top, 0, false);
        if (!s) return s.error();
    }

    msg.headers = std::move(top.headers);
    msg.from = msg.header("From");
    msg.to = msg.header("To");
    msg.cc = msg.header("Cc");
    msg.reply_to = msg.header("Reply-To");
    msg.subject = msg.header("Subject");
    msg.date = msg.header("Date");
    if (auto ids = parse_msg_ids(find_header(msg.headers, "Message-ID")); !ids.empty())
        msg.message_id = ids.front();
    if (auto ids = parse_msg_ids(find_header(msg.headers, "In-Reply-To")); !ids.empty())
        msg.in_reply_to = ids.front();
    msg.references = parse_msg_ids(find_header(msg.headers, "References"));
    msg.auto_submitted = is_auto_submitted(msg.headers);
    if (trim(msg.text).empty() && !msg.html.empty()) msg.text = html_to_text(msg.html);
    return msg;
}

namespace {

// Builds the plain text: collapses HTML whitespace, and turns block boundaries into at most
// one blank line.
class TextBuilder {
  public:
    void text(std::string_view s, bool pre) {
        for (char c : s) {
            if (pre) {
                if (c == '\r') continue;
                out_ += c;
                space_ = false;
            } else if (is_space(c)) {
                space_ = true;
            } else {
                if (space_ && !out_.empty() && out_.back() != '\n') out_ += ' ';
                space_ = false;
                out_ += c;
            }
        }
    }
    // A literal that never collapses (an entity such as &nbsp;).
    void literal(std::string_view s) {
        if (space_ && !out_.empty() && out_.back() != '\n') out_ += ' ';
        space_ = false;
        out_.append(s);
    }
    void breaks(int n) {
        space_ = false;
        while (!out_.empty() && out_.back() == ' ')
            out_.pop_back();
        if (out_.empty()) return;
        int have = 0;
        for (size_t i = out_.size(); i > 0 && out_[i - 1] == '\n' && have < n; --i)
            ++have;
        for (; have < n; ++have)
            out_ += '\n';
    }
    // A <br>: always ends the line, so two of them leave an empty line (but never more).
    void line_break() {
        space_ = false;
        while (!out_.empty() && out_.back() == ' ')
            out_.pop_back();
        if (out_.empty()) return;
        bool two =
            out_.size() >= 2 && out_[out_.size() - 1] == '\n' && out_[out_.size() - 2] == '\n';
        if (!two) out_ += '\n';
    }
    size_t size() const { return out_.size(); }
    std::string_view since(size_t pos) const { return std::string_view(out_).substr(pos); }
    std::string finish() { return decode::sanitize_utf8(trim(out_)); }

  private:
    std::string out_;
    bool space_ = false;
};

struct NamedEntity {
    const char* name;
    unsigned long code_point;
};
constexpr NamedEntity kEntities[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},     {"reg", 0xAE},     {"trade", 0x2122}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"laquo", 0xAB},    {"raquo", 0xBB},   {"bull", 0x2022},  {"middot", 0xB7},
    {"euro", 0x20AC},  {"pound", 0xA3},    {"yen", 0xA5},     {"cent", 0xA2},    {"sect", 0xA7},
    {"deg", 0xB0},     {"plusmn", 0xB1},   {"times", 0xD7},   {"divide", 0xF7},  {"shy", 0xAD},
    {"zwnj", 0x200C},  {"zwj", 0x200D},    {"auml", 0xE4},    {"ouml", 0xF6},    {"uuml", 0xFC},
    {"Auml", 0xC4},    {"Ouml", 0xD6},     {"Uuml", 0xDC},    {"szlig", 0xDF},   {"eacute", 0xE9},
    {"egrave", 0xE8},  {"aacute", 0xE1},   {"agrave", 0xE0},  {"ccedil", 0xE7},  {"ntilde", 0xF1},
    {"oacute", 0xF3},  {"iacute", 0xED},   {"uacute", 0xFA},
};

// Decodes the entity at h[i] == '&'; on success appends it and moves i past the ';'.
bool decode_entity(std::string_view h, size_t& i, std::string& out) {
    constexpr size_t kMaxEntity = 12;
    size_t semi = h.substr(i + 1, kMaxEntity + 1).find(';'); // bounded: no rescans
    if (semi == std::string_view::npos || semi == 0) return false;
    semi += i + 1;
    std::string_view name = h.substr(i + 1, semi - i - 1);
    unsigned long cp = 0;
    if (name[0] == '#') {
        bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
        std::string_view digits = name.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 8) return false;
        for (char c : digits) {
            int d = is_digit(c) ? c - '0' : -1;
            if (hex && d < 0 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                d = (c | 0x20) - 'a' + 10;
            if (d < 0) return false;
            cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d);
        }
        if (cp == 0) cp = 0xFFFD;
    } else {
        bool found = false;
        for (const auto& e : kEntities) {
            if (name == e.name) {
                cp = e.code_point;
                found = true;
                break;
            }
        }
        if (!found) return false;
    }
    if (cp == 0xA0) cp = ' '; // a no-break space reads as a space in plain text
    decode::append_utf8(out, cp);
    i = semi + 1;
    return true;
}

// Case-insensitive search for an ASCII needle; linear for the short needles used here.
size_t ifind(std::string_view hay, std::string_view needle, size_t from) {
    if (needle.size() > hay.size()) return std::string_view::npos;
    for (size_t i = from; i + needle.size() <= hay.size(); ++i)
        if (iequals(hay.substr(i, needle.size()), needle)) return i;
    return std::string_view::npos;
}

// The value of attribute `name` in a tag's attribute text, "" if absent.
std::string attribute(std::string_view attrs, std::string_view name) {
    size_t i = 0;
    while (i < attrs.size()) {
        while (i < attrs.size() && (is_space(attrs[i]) || attrs[i] == '/'))
            ++i;
        size_t begin = i;
        while (i < attrs.size() && !is_space(attrs[i]) && attrs[i] != '=' && attrs[i] != '/')
            ++i;
        std::string_view attr = attrs.substr(begin, i - begin);
        while (i < attrs.size() && is_space(attrs[i]))
            ++i;
        std::string value;
        if (i < attrs.size() && attrs[i] == '=') {
            ++i;
            while (i < attrs.size() && is_space(attrs[i]))
                ++i;
            if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
                char q = attrs[i++];
                size_t end = attrs.find(q, i);
                if (end == std::string_view::npos) end = attrs.size();
                value = std::string(attrs.substr(i, end - i));
                i = end + 1;
            } else {
                size_t vb = i;
                while (i < attrs.size() && !is_space(attrs[i]))
                    ++i;
                value = std::string(attrs.substr(vb, i - vb));
            }
        } else if (attr.empty()) {
            ++i; // junk such as a stray '='
        }
        if (!attr.empty() && iequals(attr, name)) return value;
    }
    return "";
}

std::string decode_entities(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        if (s[i] == '&' && decode_entity(s, i, out)) continue;
        out += s[i++];
    }
    return out;
}

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

std::string html_to_text(std::string_view h) {
    TextBuilder out;
    bool pre = false;
    std::string href;      // target of the open <a>
    size_t link_start = 0; // where its text begins in the output
    size_t i = 0;
    while (i < h.size()) {
        char c = h[i];
        if (c == '&') {
            std::string decoded;
            if (decode_entity(h, i, decoded)) {
                out.literal(decoded);
                continue;
            }
        }
        if (c != '<') {
            size_t next = h.find_first_of("<&", i + 1);
            if (next == std::string_view::npos) next = h.size();
            out.text(h.substr(i, next - i), pre);
            i = next;
            continue;
        }
        if (h.compare(i, 4, "<!--") == 0) {
            size_t end = h.find("-->", i + 4);
            i = end == std::string_view::npos ? h.size() : end + 3;
            continue;
        }
        size_t j = i + 1;
        bool closing = j < h.size() && h[j] == '/';
        if (closing) ++j;
        bool markup =
            j < h.size() && (is_alpha(h[j]) || (!closing && (h[j] == '!' || h[j] == '?')));
        if (!markup) {
            out.text("<", pre);
            ++i;
            continue;
        }
        size_t name_begin = j;
        while (j < h.size() && (is_alpha(h[j]) || is_digit(h[j])))
            ++j;
        std::string name = lower(h.substr(name_begin, j - name_begin));
        // The tag ends at the first '>' outside a quoted attribute value.
        size_t k = j;
        char quote = 0;
        for (; k < h.size(); ++k) {
            if (quote) {
                if (h[k] == quote) quote = 0;
            } else if ((h[k] == '"' || h[k] == '\'') && k > 0 &&
                       (h[k - 1] == '=' || is_space(h[k - 1]))) {
                quote = h[k];
            } else if (h[k] == '>') {
                break;
            }
        }
        std::string_view attrs = h.substr(j, k - j);
        i = k < h.size() ? k + 1 : h.size();
        if (!closing &&
            is_one_of(name, {"script", "style", "head", "title", "noscript", "template"})) {
            size_t end = ifind(h, "</" + name, i);
            if (end == std::string_view::npos) {
                i = h.size();
            } else {
                size_t gt = h.find('>', end);
                i = gt == std::string_view::npos ? h.size() : gt + 1;
            }
            continue;
        }
        if (name == "br") {
            out.line_break();
        } else if (is_one_of(name, {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table",
                                    "ul", "ol", "hr", "dl", "pre"})) {
            out.breaks(2);
            if (name == "pre") pre = !closing;
        } else if (is_one_of(name, {"div", "tr", "li", "dt", "dd", "section", "article", "header",
                                    "footer", "address", "center", "form", "figure", "main", "nav",
                                    "aside", "caption", "body"})) {
            out.breaks(1);
            if (name == "li" && !closing) out.literal("- ");
        } else if ((name == "td" || name == "th") && !closing) {
            out.text(" ", false);
        } else if (name == "img" && !closing) {
            std::string alt = decode_entities(attribute(attrs, "alt"));
            if (!trim(alt).empty()) out.literal("[" + std::string(trim(alt)) + "]");
        } else if (name == "a" && !closing) {
            href = decode_entities(std::string(trim(attribute(attrs, "href"))));
            link_start = out.size();
        } else if (name == "a" && closing && !href.empty()) {
            bool web = href.rfind("http://", 0) == 0 || href.rfind("https://", 0) == 0;
            if (web && link_start <= out.size() && trim(out.since(link_start)) != href)
                out.literal(" (" + href + ")");
            href.clear();
        }
    }
    return out.finish();
}

} // namespace ar::mime
