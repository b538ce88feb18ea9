#include "dkim/canonicalize.h"

#include <cctype>

namespace ar::dkim {
namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

// Appends `line` with every WSP run turned into one SP and trailing WSP dropped.
void append_collapsed(std::string& out, std::string_view line) {
    bool pending_space = false;
    for (char c : line) {
        if (is_wsp(c)) {
            pending_space = true;
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += c;
    }
}

} // namespace

std::string relaxed_header(std::string_view name, std::string_view value) {
    std::string out;
    out.reserve(name.size() + value.size() + 3);
    while (!name.empty() && is_wsp(name.back()))
        name.remove_suffix(1);
    for (char c : name)
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += ':';

    // Unfold: drop every CRLF. Dropping the LF of a CRLF whose CR is already in `unfolded`
    // (rather than matching pairs in the input) also removes pairs that a removal brings
    // together, so the result holds no CRLF at all and canonicalizing it again is a no-op.
    std::string unfolded;
    unfolded.reserve(value.size());
    for (char c : value) {
        if (c == '\n' && !unfolded.empty() && unfolded.back() == '\r') {
            unfolded.pop_back();
            continue;
        }
        unfolded += c;
    }
    std::string_view v = unfolded;
    while (!v.empty() && is_wsp(v.front()))
        v.remove_prefix(1);
    append_collapsed(out, v);
    out += "\r\n";
    return out;
}

void relaxed_body(std::string_view body, const std::function<void(std::string_view)>& sink) {
    // Empty lines are held back until a non-empty line proves they are not at the end.
    constexpr size_t kFlushAt = 64 * 1024;
    std::string buf;
    size_t held_empty_lines = 0;
    while (!body.empty()) {
        size_t end = body.find("\r\n");
        std::string_view line = body.substr(0, end);
        body.remove_prefix(end == std::string_view::npos ? body.size() : end + 2);

        size_t before = buf.size();
        append_collapsed(buf, line);
        if (buf.size() == before) {
            ++held_empty_lines;
            continue;
        }
        if (held_empty_lines > 0) {
            std::string line_text = buf.substr(before);
            buf.resize(before);
            for (; held_empty_lines > 0; --held_empty_lines)
                buf += "\r\n";
            buf += line_text;
        }
        buf += "\r\n";
        if (buf.size() >= kFlushAt) {
            sink(buf);
            buf.clear();
        }
    }
    if (!buf.empty()) sink(buf);
}

std::string relaxed_body(std::string_view body) {
    std::string out;
    out.reserve(body.size());
    relaxed_body(body, [&out](std::string_view piece) { out += piece; });
    return out;
}

} // namespace ar::dkim
