#include "mime/dsn.h"

#include "mime/decode.h"
#include "mime/parse.h"

#include <optional>

namespace ar::mime {

namespace {

using decode::lower;
using decode::trim;

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

struct Field {
    std::string name;
    std::string value; // unfolded, each fold collapsed to one space
};

// Drops a leading "type;" (address-type, diagnostic-type, mta-name-type: "rfc822;",
// "smtp;", "dns;", "X-Postfix;") and surrounding blanks.
std::string strip_type(std::string_view v) {
    size_t semi = v.find(';');
    if (semi != std::string_view::npos) {
        std::string_view type = trim(v.substr(0, semi));
        bool atom = !type.empty() && type.find_first_of(" \t<>@\"") == std::string_view::npos;
        if (atom) v = v.substr(semi + 1);
    }
    return std::string(trim(v));
}

std::string address_value(std::string_view v) {
    std::string a = strip_type(v);
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    return std::string(trim(a));
}

// An mta-name ("dns; mx.example.com. (comment)"): the host name alone, without the type,
// a comment or the root's trailing dot.
std::string mta_name(std::string_view v) {
    std::string name = strip_type(v);
    size_t end = name.find_first_of(" \t(");
    if (end != std::string::npos) name.resize(end);
    if (name.size() > 1 && name.back() == '.') name.pop_back();
    return name;
}

std::string first_word(std::string_view v) {
    v = trim(v);
    size_t end = 0;
    while (end < v.size() && !is_blank(v[end]) && v[end] != '(' && v[end] != ';')
        ++end;
    return lower(v.substr(0, end));
}

size_t count_digits(std::string_view v, size_t i) {
    size_t n = 0;
    while (i + n < v.size() && is_digit(v[i + n]))
        ++n;
    return n;
}

// The first "class.subject.detail" code (RFC 3463: d.ddd.ddd) in a Status value; comments
// and junk around it are ignored. Without one, the value's first word.
std::string status_code(std::string_view v) {
    for (size_t i = 0; i + 4 < v.size(); ++i) {
        bool starts = is_digit(v[i]) && (i == 0 || (!is_digit(v[i - 1]) && v[i - 1] != '.'));
        if (!starts || v[i + 1] != '.') continue;
        size_t j = i + 2;
        size_t subject = count_digits(v, j);
        if (subject == 0 || subject > 3) continue;
        j += subject;
        if (j >= v.size() || v[j] != '.') continue;
        size_t detail = count_digits(v, ++j);
        if (detail == 0 || detail > 3) continue;
        return std::string(v.substr(i, j + detail - i));
    }
    return first_word(v);
}

bool generic_status(std::string_view s) {
    return s.size() >= 4 && s.substr(s.size() - 4) == ".0.0";
}

bool is_recipient_field(std::string_view name) {
    for (const char* n :
         {"Original-Recipient", "Final-Recipient", "Action", "Status", "Remote-MTA",
          "Diagnostic-Code", "Last-Attempt-Date", "Final-Log-ID", "Will-Retry-Until"})
        if (iequals(name, n)) return true;
    return false;
}

void set_once(std::string& slot, std::string value) {
    if (slot.empty()) slot = std::move(value);
}

// Reads one group of fields; a group may hold per-message fields, recipient fields or (from
// sloppy generators) both, and a second Final-Recipient starts another recipient.
void read_group(const std::vector<Field>& fields, Dsn& dsn) {
    std::optional<DsnRecipient> cur;
    auto finish = [&] {
        if (!cur) return;
        if (cur->final_recipient.empty()) cur->final_recipient = cur->original_recipient;
        dsn.recipients.push_back(std::move(*cur));
        cur.reset();
    };
    for (const Field& f : fields) {
        const std::string& n = f.name;
        if (iequals(n, "Reporting-MTA")) {
            set_once(dsn.reporting_mta, mta_name(f.value));
        } else if (iequals(n, "Original-Envelope-Id")) {
            set_once(dsn.original_envelope_id, std::string(trim(f.value)));
        } else if (iequals(n, "Arrival-Date")) {
            set_once(dsn.arrival_date, std::string(trim(f.value)));
        } else if (iequals(n, "X-Original-Message-ID")) { // Gmail names it here
            if (auto ids = parse_msg_ids(f.value); !ids.empty())
                set_once(dsn.original_message_id, ids.front());
        }
        if (!is_recipient_field(n)) continue;
        // RFC 3464 puts Original- before Final-Recipient, Postfix the other way round: either
        // field starts a new recipient only when the current one already has it.
        bool new_recipient =
            cur && ((iequals(n, "Original-Recipient") && !cur->original_recipient.empty()) ||
                    (iequals(n, "Final-Recipient") && !cur->final_recipient.empty()));
        if (new_recipient) finish();
        if (!cur) cur.emplace();
        DsnRecipient& r = *cur;
        if (iequals(n, "Original-Recipient")) {
            set_once(r.original_recipient, address_value(f.value));
        } else if (iequals(n, "Final-Recipient")) {
            set_once(r.final_recipient, address_value(f.value));
        } else if (iequals(n, "Action")) {
            set_once(r.action, first_word(f.value));
        } else if (iequals(n, "Status")) {
            std::string s = status_code(f.value);
            // Some MTAs repeat Status; a specific code says more than a generic "X.0.0".
            if (r.status.empty() || (generic_status(r.status) && !generic_status(s)))
                r.status = std::move(s);
        } else if (iequals(n, "Diagnostic-Code")) {
            set_once(r.diagnostic_code, strip_type(f.value));
        } else if (iequals(n, "Remote-MTA")) {
            set_once(r.remote_mta, mta_name(f.value));
        } else if (iequals(n, "Last-Attempt-Date")) {
            set_once(r.last_attempt_date, std::string(trim(f.value)));
        } else if (iequals(n, "Will-Retry-Until")) {
            set_once(r.will_retry_until, std::string(trim(f.value)));
        }
    }
    finish();
}

// The Message-ID in a header section, or in the header of a whole message.
std::string message_id_of(std::string_view headers_or_message) {
    Entity e = split_entity(headers_or_message);
    auto ids = parse_msg_ids(find_header(e.headers, "Message-ID"));
    return ids.empty() ? std::string() : ids.front();
}

ar::Error not_dsn(std::string why) {
    return ar::invalid("message", "not a delivery status notification (RFC 3464): " + why);
}

} // namespace

ar::Result<Dsn> parse_delivery_status(std::string_view text) {
    Dsn dsn;
    std::vector<Field> group;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        size_t end = nl == std::string_view::npos ? text.size() : nl;
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;

        if (trim(line).empty()) { // a blank line ends a group
            read_group(group, dsn);
            group.clear();
            continue;
        }
        if (is_blank(line.front())) { // a folded continuation
            if (!group.empty()) {
                group.back().value += ' ';
                group.back().value.append(trim(line));
            }
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue; // junk line
        group.push_back(
            {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
    }
    read_group(group, dsn);
    if (dsn.recipients.empty())
        return not_dsn("the delivery-status part names no recipient (no Final-Recipient field)");
    return dsn;
}

ar::Result<Dsn> parse_dsn(std::string_view raw) {
    if (raw.substr(0, 5) == "From ") { // mbox separator line
        size_t nl = raw.find('\n');
        raw = nl == std::string_view::npos ? std::string_view() : raw.substr(nl + 1);
    }
    Entity top = split_entity(raw);
    if (top.headers.empty()) return not_dsn("the input does not start with a header field");
    ContentType ct = entity_content_type(top);
    if (ct.value != "multipart/report")
        return not_dsn("Content-Type is " + ct.value + ", not multipart/report");
    std::string report_type = lower(ct.param("report-type"));
    if (report_type != "delivery-status" && report_type != "global-delivery-status")
        return not_dsn("report-type is \"" + report_type + "\", not delivery-status");
    std::string boundary = ct.param("boundary");
    if (boundary.empty()) return not_dsn("the multipart/report has no boundary parameter");
    std::vector<std::string_view> parts = split_multipart(top.body, boundary);
    if (parts.size() > static_cast<size_t>(kMaxParts))
        return not_dsn("the report has more than " + std::to_string(kMaxParts) + " parts");

    std::optional<std::string> status_fields;
    std::string original_message_id;
    for (std::string_view part : parts) {
        Entity e = split_entity(part);
        std::string type = entity_content_type(e).value;
        if (type == "message/delivery-status" || type == "message/global-delivery-status") {
            if (!status_fields) status_fields = decoded_body(e);
        } else if (type == "message/rfc822" || type == "message/global" ||
                   type == "text/rfc822-headers" || type == "message/global-headers") {
            if (original_message_id.empty()) original_message_id = message_id_of(decoded_body(e));
        }
    }
    if (!status_fields) return not_dsn("the report has no message/delivery-status part");
    ar::Result<Dsn> dsn = parse_delivery_status(*status_fields);
    if (!dsn) return dsn;
    if (!original_message_id.empty()) dsn->original_message_id = std::move(original_message_id);
    return dsn;
}

} // namespace ar::mime
