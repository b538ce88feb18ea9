#include "dkim/message.h"

#include <cctype>

#include "dkim/canonicalize.h"

namespace ar::dkim {
namespace {

std::string_view trim_wsp_end(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

ar::Status check_line_ends(std::string_view message) {
    for (size_t i = 0; i < message.size(); ++i) {
        char c = message[i];
        bool bare_cr = c == '\r' && (i + 1 == message.size() || message[i + 1] != '\n');
        bool bare_lf = c == '\n' && (i == 0 || message[i - 1] != '\r');
        if (bare_cr || bare_lf) {
            return ar::invalid("message", std::string("message has a bare ") +
                                              (bare_cr ? "CR" : "LF") + " at byte " +
                                              std::to_string(i) + "; DKIM needs CRLF line ends");
        }
    }
    return ar::Ok{};
}

} // namespace

ar::Result<ParsedMessage> parse_message(std::string_view message) {
    if (auto ends = check_line_ends(message); !ends) return ends.error();
    ParsedMessage out;
    size_t pos = 0;
    while (pos < message.size()) {
        size_t eol = message.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = message.size();
        std::string_view line = message.substr(pos, eol - pos);
        size_t next = eol == message.size() ? eol : eol + 2;
        if (line.empty()) { // the blank line: the body follows
            out.body = message.substr(next);
            return out;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (out.fields.empty()) {
                return ar::invalid("message", "message header starts with a continuation line");
            }
            HeaderField& f = out.fields.back();
            f.value = std::string_view(f.value.data(), message.data() + eol - f.value.data());
            f.raw = std::string_view(f.raw.data(), message.data() + eol - f.raw.data());
        } else {
            size_t colon = line.find(':');
            std::string_view name = colon == std::string_view::npos
                                        ? std::string_view()
                                        : trim_wsp_end(line.substr(0, colon));
            if (name.empty()) {
                return ar::invalid("message", "message header line \"" +
                                                  std::string(line.substr(0, 40)) +
                                                  "\" is not a field (name, colon, value)");
            }
            out.fields.push_back({name, line.substr(colon + 1), line});
        }
        pos = next;
    }
    return out; // header only, no body
}

std::string canonical_header(std::string_view name, std::string_view value, std::string_view raw,
                             Canon c) {
    if (c == Canon::Relaxed) return relaxed_header(name, value);
    std::string out(raw);
    out += "\r\n";
    return out;
}

ar::Result<std::string> header_data(const ParsedMessage& msg,
                                    const std::vector<std::string>& signed_headers,
                                    std::string_view signature_field, Canon c) {
    std::string data;
    std::vector<bool> used(msg.fields.size(), false);
    for (const std::string& name : signed_headers) {
        for (size_t i = msg.fields.size(); i-- > 0;) {
            if (used[i] || !iequals(msg.fields[i].name, name)) continue;
            used[i] = true;
            const HeaderField& f = msg.fields[i];
            data += canonical_header(f.name, f.value, f.raw, c);
            break;
        }
    }
    size_t colon = signature_field.find(':');
    if (colon == std::string_view::npos) {
        return ar::invalid("signature_field", "DKIM-Signature field has no colon");
    }
    std::string self = canonical_header(signature_field.substr(0, colon),
                                        signature_field.substr(colon + 1), signature_field, c);
    self.resize(self.size() - 2); // 3.7: the signature field is hashed without its CRLF
    data += self;
    return data;
}

} // namespace ar::dkim
