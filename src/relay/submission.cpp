#include "relay/submission.h"

#include <array>

#include "core/text.h"
#include "mime/compose.h"
#include "mime/date.h"
#include "mime/decode.h"
#include "mime/parse.h"

namespace ar {

namespace {

constexpr size_t kMaxLineOctets = 998; // RFC 5322 2.1.1, CRLF not counted

// RFC 5322 3.6: the fields a message may hold at most once (From exactly once, checked apart).
constexpr std::array<std::string_view, 10> kAtMostOnce = {
    "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References"};

// The fields whose addresses say who wrote or sent the message: each must be the agent.
constexpr std::array<std::string_view, 4> kSenderFields = {"From", "Sender", "Resent-From",
                                                           "Resent-Sender"};

size_t count_fields(const std::vector<mime::Header>& headers, std::string_view name) {
    size_t n = 0;
    for (const auto& h : headers)
        n += iequals(h.name, name);
    return n;
}

Error forbidden(const std::string& field, const std::string& message) {
    return Error{kErrForbidden, message, field};
}

// Every address of a sender field is the agent's own.
Status check_sender_field(const mime::Header& h, const mime::Mailbox& sender) {
    std::string field = ascii_lower(h.name);
    auto list = mime::parse_mailbox_list(h.value);
    std::string got = printable(h.value, 200, true);
    if (!list)
        return forbidden(field, "the " + h.name + " field must be your own address " +
                                    sender.address() + " (got '" + got + "': " +
                                    list.error().message + ")");
    for (const auto& mb : *list)
        if (!mime::same_address(mb, sender))
            return forbidden(field, "the " + h.name + " field must be your own address " +
                                        sender.address() + " (got '" + got + "')");
    if (list->size() > 1)
        return forbidden(field, "the " + h.name + " field must hold one address, your own " +
                                    sender.address() + " (got '" + got + "')");
    return Ok{};
}

bool usable_message_id(std::string_view value) {
    auto ids = mime::parse_msg_ids(value);
    return ids.size() == 1 && mime::is_msg_id(ids.front());
}

} // namespace

Status check_lines(std::string_view raw) {
    size_t line = 1, start = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '\r') {
            if (i + 1 >= raw.size() || raw[i + 1] != '\n')
                return invalid("message", "line " + std::to_string(line) +
                                              " holds a bare CR (a CR not followed by LF): "
                                              "lines must end with CRLF");
            if (i - start > kMaxLineOctets)
                return invalid("message", "line " + std::to_string(line) + " is " +
                                              std::to_string(i - start) +
                                              " octets long; at most 998 are allowed (RFC 5322 "
                                              "2.1.1): wrap it, or send the body as "
                                              "quoted-printable or base64");
            ++i;
            ++line;
            start = i + 1;
        } else if (c == '\n') {
            return invalid("message", "line " + std::to_string(line) +
                                          " ends with a bare LF: lines must end with CRLF");
        }
    }
    if (raw.size() - start > kMaxLineOctets)
        return invalid("message", "line " + std::to_string(line) + " is " +
                                      std::to_string(raw.size() - start) +
                                      " octets long; at most 998 are allowed (RFC 5322 2.1.1)");
    return Ok{};
}

Result<CheckedSubmission> check_submission(std::string raw, const mime::Mailbox& sender) {
    if (auto st = check_lines(raw); !st) return st.error();
    mime::Entity e = mime::split_entity(raw);
    if (!e.stray_line.empty())
        return invalid("message", "the header section holds a line that is not a header field ('" +
                                      printable(e.stray_line, 80) +
                                      "'): end the header fields with a blank line before the body");
    size_t froms = count_fields(e.headers, "From");
    if (froms != 1)
        return forbidden("from", "the message has " + std::to_string(froms) +
                                     " From fields; exactly one is allowed, with your own address " +
                                     sender.address());
    for (std::string_view name : kAtMostOnce)
        if (size_t n = count_fields(e.headers, name); n > 1)
            return invalid(ascii_lower(name), "the message has " + std::to_string(n) + " " +
                                                  std::string(name) +
                                                  " fields; at most one is allowed (RFC 5322 3.6)");
    CheckedSubmission out;
    bool drop_date = false, drop_message_id = false, has_date = false;
    for (const auto& h : e.headers) {
        for (std::string_view name : kSenderFields)
            if (iequals(h.name, name))
                if (auto st = check_sender_field(h, sender); !st) return st.error();
        if (iequals(h.name, "Date")) {
            has_date = true;
            drop_date = !mime::parse_date(h.value);
        } else if (iequals(h.name, "Message-ID")) {
            if (usable_message_id(h.value)) out.message_id = mime::parse_msg_ids(h.value).front();
            else drop_message_id = true;
        } else if (iequals(h.name, "Subject")) {
            out.subject = mime::decode::rfc2047(h.value);
        }
    }
    out.needs_date = !has_date || drop_date;
    if (drop_date || drop_message_id)
        out.raw = mime::remove_header_fields(raw, [&](std::string_view name) {
            return (drop_date && iequals(name, "Date")) ||
                   (drop_message_id && iequals(name, "Message-ID"));
        });
    else
        out.raw = std::move(raw);
    return out;
}

} // namespace ar
