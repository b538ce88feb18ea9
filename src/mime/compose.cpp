#include "mime/compose.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <optional>

#include "mime/encoding.h"

namespace ar::mime {

namespace {

constexpr std::size_t kFoldAt = 78;   // RFC 5322 2.1.1: lines SHOULD stay within 78
constexpr std::size_t kMaxLine = 998; // RFC 5322 2.1.1: lines MUST stay within 998
constexpr std::size_t kMaxWord = 66;  // encoded words short enough for "Reply-To: " + word
constexpr std::size_t kMaxPlainWord = 76;
constexpr std::size_t kMaxMsgId = 900;
constexpr std::size_t kMaxFilename = 255;

using Pieces = std::vector<std::string>;

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::vector<std::string> split_spaces(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = s.find(' ', start);
        if (end == std::string_view::npos) {
            out.emplace_back(s.substr(start));
            return out;
        }
        out.emplace_back(s.substr(start, end - start));
        start = end + 1;
    }
}

// Writes "Name: piece piece ...", breaking the line (CRLF + the separating space) between
// pieces so lines stay within 78 characters where a piece allows it. Never breaks before an
// empty piece, so no continuation line is whitespace only.
void write_header(std::string& out, std::string_view name, const Pieces& pieces) {
    out += name;
    out += ':';
    std::size_t col = name.size() + 1;
    bool piece_on_line = false;
    for (const std::string& p : pieces) {
        if (piece_on_line && !p.empty() && col + 1 + p.size() > kFoldAt) {
            out += "\r\n";
            col = 0;
        }
        out += ' ';
        out += p;
        col += 1 + p.size();
        piece_on_line = true;
    }
    out += "\r\n";
}

// Unstructured header text as pieces: words that need it become RFC 2047 encoded words (a run
// of such words, with the spaces between them, is encoded together so those spaces survive);
// other words stay as written.
Pieces text_pieces(std::string_view value, bool (*needs_encoding)(std::string_view)) {
    std::vector<std::string> words = split_spaces(value);
    Pieces pieces;
    std::size_t i = 0;
    while (i < words.size()) {
        if (!needs_encoding(words[i])) {
            pieces.push_back(std::move(words[i++]));
            continue;
        }
        std::size_t end = i + 1; // one past the last word of the run that needs encoding
        for (std::size_t j = i + 1; j < words.size(); ++j) {
            if (needs_encoding(words[j]))
                end = j + 1;
            else if (!words[j].empty())
                break;
        }
        std::string run = words[i];
        for (std::size_t j = i + 1; j < end; ++j)
            run += " " + words[j];
        for (std::string& w : split_spaces(encode_words_always(run, kMaxWord)))
            pieces.push_back(std::move(w));
        i = end;
    }
    return pieces;
}

// Subject words are encoded when non-ASCII, when they would be misread as an encoded word, or
// when too long to fold.
bool subject_word_needs_encoding(std::string_view w) {
    return !is_ascii(w) || w.find("=?") != std::string_view::npos || w.size() > kMaxPlainWord;
}

// Extra header values keep ASCII words untouched (they may be URLs or ids); check_extra_header
// already bounds their length.
bool extra_word_needs_encoding(std::string_view w) {
    return !is_ascii(w);
}

ar::Status check_header_text(std::string_view value, const std::string& field, const char* what) {
    if (!is_valid_utf8(value)) return ar::invalid(field, std::string(what) + " is not valid UTF-8");
    if (value.find_first_of("\r\n") != std::string_view::npos)
        return ar::invalid(field, std::string(what) +
                                      " contains a line break (CR or LF); header values must be "
                                      "a single line");
    if (value.find('\0') != std::string_view::npos)
        return ar::invalid(field, std::string(what) + " contains a NUL byte");
    for (char c : value)
        if (c != '\t' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7F))
            return ar::invalid(field, std::string(what) +
                                          " contains a control character; only printable text "
                                          "and TAB are allowed");
    return ar::Ok{};
}

ar::Status check_mailbox_field(const Mailbox& m, const std::string& field) {
    auto st = check_mailbox(m);
    if (!st) return ar::invalid(field, st.error().message);
    return ar::Ok{};
}

Pieces mailbox_list_pieces(const std::vector<Mailbox>& list) {
    Pieces pieces;
    for (std::size_t i = 0; i < list.size(); ++i) {
        Pieces one = header_pieces(list[i], kMaxWord);
        if (i + 1 < list.size()) one.back() += ',';
        for (std::string& p : one)
            pieces.push_back(std::move(p));
    }
    return pieces;
}

// --- MIME parts -------------------------------------------------------------------------

struct Part {
    std::string headers; // complete header lines, each ending in CRLF
    std::string body;    // the encoded body; a trailing CRLF belongs to the content
};

// CRLF for every line break: a lone LF or a lone CR becomes CRLF.
std::string normalize_line_ends(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 32);
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\r') {
            out += "\r\n";
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else if (c == '\n') {
            out += "\r\n";
        } else {
            out += c;
        }
    }
    return out;
}

// 7bit is fine for ASCII text with short lines and no controls but TAB; anything else is
// written quoted-printable.
bool fits_7bit(std::string_view crlf_text) {
    std::size_t line = 0;
    for (std::size_t i = 0; i < crlf_text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(crlf_text[i]);
        if (c == '\r' && i + 1 < crlf_text.size() && crlf_text[i + 1] == '\n') {
            line = 0;
            ++i;
            continue;
        }
        if (c >= 0x80 || c == 0x7F || (c < 0x20 && c != '\t')) return false;
        if (++line > kMaxLine) return false;
    }
    return true;
}

ar::Result<Part> text_part(std::string_view text, const char* subtype, const std::string& field) {
    if (!is_valid_utf8(text))
        return ar::invalid(field, "the " + field + " body is not valid UTF-8");
    std::string crlf = normalize_line_ends(text);
    Part p;
    p.headers = "Content-Type: text/" + std::string(subtype) + "; charset=utf-8\r\n";
    if (fits_7bit(crlf)) {
        p.headers += "Content-Transfer-Encoding: 7bit\r\n";
        p.body = std::move(crlf);
    } else {
        p.headers += "Content-Transfer-Encoding: quoted-printable\r\n";
        p.body = quoted_printable(crlf);
    }
    return p;
}

// RFC 2045 token characters: printable ASCII except space and tspecials.
bool is_token_char(char c) {
    return c > 0x20 && c < 0x7F &&
           std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

// Outside text for an error message: shown when short printable ASCII, else elided, so a
// message never carries line breaks or binary.
std::string shown(std::string_view s) {
    bool printable = s.size() <= 100 &&
                     std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
    return printable ? "\"" + std::string(s) + "\"" : std::string("given");
}

ar::Result<std::string> check_content_type(std::string_view ct, const std::string& field) {
    if (ct.empty()) return std::string("application/octet-stream");
    std::size_t slash = ct.find('/');
    bool ok = slash != std::string_view::npos && ct.size() <= 200 &&
              is_token(ct.substr(0, slash)) && is_token(ct.substr(slash + 1));
    if (!ok)
        return ar::invalid(field, "content type " + shown(ct) +
                                      " is not of the form type/subtype (letters, digits and "
                                      "-+.!#$%&'*^_`{|}~), like application/pdf; parameters are "
                                      "not accepted");
    return ascii_lower(ct);
}

ar::Status check_filename(std::string_view name, const std::string& field) {
    if (!is_valid_utf8(name)) return ar::invalid(field, "filename is not valid UTF-8");
    if (has_control_char(name))
        return ar::invalid(field, "filename contains a control character (such as CR, LF, TAB or "
                                  "NUL); only printable text is allowed");
    if (name.find_first_of("/\\") != std::string_view::npos)
        return ar::invalid(field, "filename contains '/' or '\\'; give a bare file name like "
                                  "report.pdf, without a path");
    if (name.size() > kMaxFilename)
        return ar::invalid(field, "filename is " + std::to_string(name.size()) +
                                      " octets; at most 255 are allowed");
    return ar::Ok{};
}

// A MIME parameter: name="value" for ASCII, or RFC 2231 name*=utf-8''%XX... otherwise.
std::string mime_param(std::string_view name, std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out(name);
    if (is_ascii(value)) {
        out += "=\"";
        for (char c : value) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        return out + "\"";
    }
    out += "*=utf-8''";
    for (char c : value) {
        unsigned char u = static_cast<unsigned char>(c);
        if (is_token_char(c) && c != '*' && c != '\'' && c != '%') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

ar::Result<Part> attachment_part(const Attachment& a, std::size_t index) {
    const std::string prefix = "attachments[" + std::to_string(index) + "].";
    auto ct = check_content_type(a.content_type, prefix + "content_type");
    if (!ct) return ct.error();
    if (auto st = check_filename(a.filename, prefix + "filename"); !st) return st.error();

    Part p;
    Pieces type = {*ct};
    Pieces disposition = {"attachment"};
    if (!a.filename.empty()) {
        type.back() += ';';
        type.push_back(mime_param("name", a.filename));
        disposition.back() += ';';
        disposition.push_back(mime_param("filename", a.filename));
    }
    write_header(p.headers, "Content-Type", type);
    write_header(p.headers, "Content-Disposition", disposition);
    p.headers += "Content-Transfer-Encoding: base64\r\n";
    p.body = base64_lines(a.content);
    // The CRLF before the next boundary is the delimiter's; base64 needs no final line end.
    if (p.body.size() >= 2) p.body.resize(p.body.size() - 2);
    return p;
}

ar::Result<std::string> random_boundary() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        return ar::Error{ar::kErrInternal, "no randomness for a MIME boundary", ""};
    static constexpr char hex[] = "0123456789abcdef";
    // "=_" can occur in neither base64 nor quoted-printable output.
    std::string b = "=_ar_";
    for (unsigned char c : bytes) {
        b += hex[c >> 4];
        b += hex[c & 15];
    }
    return b;
}

ar::Result<Part> multipart(const char* subtype, const std::vector<Part>& parts) {
    std::string boundary;
    for (int attempt = 0;; ++attempt) {
        auto b = random_boundary();
        if (!b) return b.error();
        bool clash = std::any_of(parts.begin(), parts.end(), [&](const Part& p) {
            return p.headers.find(*b) != std::string::npos || p.body.find(*b) != std::string::npos;
        });
        if (!clash) {
            boundary = std::move(*b);
            break;
        }
        if (attempt == 8)
            return ar::Error{ar::kErrInternal, "could not find a free MIME boundary", ""};
    }
    Part out;
    write_header(out.headers, "Content-Type",
                 {"multipart/" + std::string(subtype) + ";", "boundary=\"" + boundary + "\""});
    for (const Part& p : parts) {
        out.body += "--" + boundary + "\r\n";
        out.body += p.headers;
        out.body += "\r\n";
        out.body += p.body;
        out.body += "\r\n";
    }
    out.body += "--" + boundary + "--\r\n";
    return out;
}

ar::Result<Part> body_part(const Draft& d) {
    std::vector<Part> alternatives;
    if (d.text) {
        auto p = text_part(*d.text, "plain", "text");
        if (!p) return p.error();
        alternatives.push_back(std::move(*p));
    }
    if (d.html) {
        auto p = text_part(*d.html, "html", "html");
        if (!p) return p.error();
        alternatives.push_back(std::move(*p));
    }
    std::optional<Part> body;
    if (alternatives.size() == 2) {
        auto p = multipart("alternative", alternatives);
        if (!p) return p.error();
        body = std::move(*p);
    } else if (alternatives.size() == 1) {
        body = std::move(alternatives.front());
    }
    if (d.attachments.empty()) {
        if (!body)
            return ar::invalid("text", "the message has no body; give text, html or at least "
                                       "one attachment");
        return std::move(*body);
    }
    std::vector<Part> parts;
    if (body) parts.push_back(std::move(*body));
    for (std::size_t i = 0; i < d.attachments.size(); ++i) {
        auto p = attachment_part(d.attachments[i], i);
        if (!p) return p.error();
        parts.push_back(std::move(*p));
    }
    return multipart("mixed", parts);
}

// --- headers ----------------------------------------------------------------------------

ar::Status check_addresses(const Draft& d) {
    if (auto st = check_mailbox_field(d.from, "from"); !st) return st;
    if (d.reply_to)
        if (auto st = check_mailbox_field(*d.reply_to, "reply_to"); !st) return st;
    for (std::size_t i = 0; i < d.to.size(); ++i)
        if (auto st = check_mailbox_field(d.to[i], "to[" + std::to_string(i) + "]"); !st) return st;
    for (std::size_t i = 0; i < d.cc.size(); ++i)
        if (auto st = check_mailbox_field(d.cc[i], "cc[" + std::to_string(i) + "]"); !st) return st;
    return ar::Ok{};
}

ar::Status check_ids(const Draft& d) {
    if (!is_msg_id(d.message_id))
        return ar::invalid("message_id", "message id is not of the form <left@right> (RFC 5322 "
                                         "msg-id, no spaces, at most 900 octets)");
    if (!d.in_reply_to.empty() && !is_msg_id(d.in_reply_to))
        return ar::invalid("in_reply_to", "in_reply_to is not a message id of the form "
                                          "<left@right>, like <abc.123@example.com>");
    for (std::size_t i = 0; i < d.references.size(); ++i)
        if (!is_msg_id(d.references[i]))
            return ar::invalid("references[" + std::to_string(i) + "]",
                               "reference is not a message id of the form <left@right>, like "
                               "<abc.123@example.com>");
    return ar::Ok{};
}

// Every line within 998 octets and every line break CRLF: the promise of this module,
// checked once on the finished message rather than trusted.
bool well_formed(std::string_view msg) {
    std::size_t line = 0;
    for (std::size_t i = 0; i < msg.size(); ++i) {
        char c = msg[i];
        if (c == '\r') {
            if (i + 1 >= msg.size() || msg[i + 1] != '\n') return false;
            ++i;
            line = 0;
        } else if (c == '\n') {
            return false;
        } else if (++line > kMaxLine) {
            return false;
        }
    }
    return true;
}

bool is_atext_ascii(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom_text(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    if (s.find("..") != std::string_view::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || is_atext_ascii(c); });
}

constexpr std::array<std::string_view, 15> kSafeHeaders = {
    "List-Unsubscribe", "List-Unsubscribe-Post",
    "List-Id",          "List-Help",
    "Auto-Submitted",   "Precedence",
    "Keywords",         "Comments",
    "Importance",       "Priority",
    "Sensitivity",      "Organization",
    "Thread-Topic",     "Thread-Index",
    "Feedback-ID"};

constexpr std::array<std::string_view, 17> kOwnHeaders = {
    "From",         "Sender",      "To",          "Cc",         "Bcc",
    "Received",     "Return-Path", "Date",        "Message-ID", "Subject",
    "MIME-Version", "Reply-To",    "In-Reply-To", "References", "DKIM-Signature",
    "Resent-From",  "Resent-To"};

std::string allowed_headers_text() {
    std::string out = "headers you may set: any name starting with X-, and";
    for (std::size_t i = 0; i < kSafeHeaders.size(); ++i) {
        out += i == 0 ? " " : ", ";
        out += kSafeHeaders[i];
    }
    return out;
}

} // namespace

// --- public -----------------------------------------------------------------------------

std::string format_date(int64_t ms) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t secs = ms / 1000 - (ms % 1000 < 0 ? 1 : 0); // floor, for times before 1970
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
                  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

bool is_msg_id(std::string_view s) {
    if (s.size() < 5 || s.size() > kMaxMsgId || s.front() != '<' || s.back() != '>') return false;
    std::string_view inner = s.substr(1, s.size() - 2);
    std::size_t at = inner.find('@');
    if (at == std::string_view::npos) return false;
    std::string_view left = inner.substr(0, at), right = inner.substr(at + 1);
    if (!is_dot_atom_text(left)) return false;
    if (right.size() >= 2 && right.front() == '[' && right.back() == ']') {
        // no-fold-literal: dtext is printable ASCII except '[', ']' and '\'.
        std::string_view lit = right.substr(1, right.size() - 2);
        return std::all_of(lit.begin(), lit.end(), [](char c) {
            return c > 0x20 && c < 0x7F && c != '[' && c != ']' && c != '\\';
        });
    }
    return is_dot_atom_text(right);
}

ar::Status check_extra_header(std::string_view name, std::string_view value) {
    if (name.empty()) return ar::invalid("", "header name is empty; " + allowed_headers_text());
    if (!std::all_of(name.begin(), name.end(),
                     [](char c) { return c > 0x20 && c < 0x7F && c != ':'; }))
        return ar::invalid("", "header name may only hold printable ASCII without spaces or ':'; " +
                                   allowed_headers_text());
    const std::string lower = ascii_lower(name);
    const std::string header_name(name); // printable ASCII, checked above
    bool allowed = lower.size() > 2 && lower.compare(0, 2, "x-") == 0;
    for (std::string_view safe : kSafeHeaders)
        allowed = allowed || lower == ascii_lower(safe);
    if (!allowed) {
        bool own = lower.compare(0, 8, "content-") == 0;
        for (std::string_view h : kOwnHeaders)
            own = own || lower == ascii_lower(h);
        std::string why =
            own ? " is written by agentrelay itself and cannot be set; " : " is not allowed; ";
        return ar::invalid("", "header " + header_name + why + allowed_headers_text());
    }
    if (auto st = check_header_text(value, "", ("value of header " + header_name).c_str()); !st)
        return st;
    if (name.size() + 2 + value.size() > kMaxLine)
        return ar::invalid("", "header " + header_name + " is " +
                                   std::to_string(name.size() + 2 + value.size()) +
                                   " octets with its name; at most 998 are allowed");
    return ar::Ok{};
}

ar::Result<std::string> compose(const Draft& d) {
    if (auto st = check_addresses(d); !st) return st.error();
    if (auto st = check_ids(d); !st) return st.error();
    if (auto st = check_header_text(d.subject, "subject", "subject"); !st) return st.error();
    for (std::size_t i = 0; i < d.extra_headers.size(); ++i) {
        const auto& [name, value] = d.extra_headers[i];
        if (auto st = check_extra_header(name, value); !st)
            return ar::invalid("extra_headers[" + std::to_string(i) + "]", st.error().message);
    }
    auto body = body_part(d);
    if (!body) return body.error();

    std::string msg;
    write_header(msg, "Date", {format_date(d.date_ms)});
    write_header(msg, "Message-ID", {d.message_id});
    write_header(msg, "From", header_pieces(d.from, kMaxWord));
    if (d.reply_to) write_header(msg, "Reply-To", header_pieces(*d.reply_to, kMaxWord));
    if (!d.to.empty()) write_header(msg, "To", mailbox_list_pieces(d.to));
    if (!d.cc.empty()) write_header(msg, "Cc", mailbox_list_pieces(d.cc));
    write_header(msg, "Subject", text_pieces(d.subject, subject_word_needs_encoding));
    if (!d.in_reply_to.empty()) write_header(msg, "In-Reply-To", {d.in_reply_to});
    Pieces refs = d.references;
    if (!d.in_reply_to.empty() && (refs.empty() || refs.back() != d.in_reply_to))
        refs.push_back(d.in_reply_to);
    if (!refs.empty()) write_header(msg, "References", refs);
    msg += "MIME-Version: 1.0\r\n";
    for (const auto& [name, value] : d.extra_headers)
        write_header(msg, name, text_pieces(value, extra_word_needs_encoding));
    msg += body->headers;
    msg += "\r\n";
    msg += body->body;
    if (msg.size() < 2 || msg.compare(msg.size() - 2, 2, "\r\n") != 0) msg += "\r\n";

    if (!well_formed(msg))
        return ar::Error{ar::kErrInternal,
                         "composed message has a line over 998 octets or a bare CR/LF", ""};
    return msg;
}

} // namespace ar::mime
