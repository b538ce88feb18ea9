// dsn.h: reads a delivery status notification (RFC 3464) that came back to us.
//
// parse_dsn accepts a multipart/report with report-type=delivery-status whose
// message/delivery-status (or RFC 6533 message/global-delivery-status) part it reads: the
// per-message fields, then one group of fields per recipient. It also finds the Message-ID
// of the returned message (message/rfc822, message/global, text/rfc822-headers or
// message/global-headers part), which links the report to the message we sent. Anything
// else (a plain-text bounce, a read receipt) is an error. Like parse_message it never
// crashes and runs in linear time on any input.
#pragma once

#include "core/result.h"

#include <string>
#include <string_view>
#include <vector>

namespace ar::mime {

struct DsnRecipient {
    std::string final_recipient;    // address only, the "rfc822;" type stripped
    std::string original_recipient; // likewise; "" if not reported
    std::string action;             // failed, delayed, delivered, relayed, expanded (lowercase)
    std::string status;             // enhanced status code "5.1.1"
    std::string diagnostic_code;    // e.g. "550 5.1.1 user unknown", the "smtp;" type stripped
    std::string remote_mta;         // host name, e.g. "mx.example.com" (type, comment dropped)
    std::string last_attempt_date;  // as written (RFC 5322 date), "" if not reported
    std::string will_retry_until;   // as written, for action "delayed"; "" if not reported
};

struct Dsn {
    std::string reporting_mta;        // host name, the "dns;" type stripped
    std::string original_envelope_id; // ENVID we gave in MAIL FROM, if the MTA kept it
    std::string arrival_date;
    // "<...>" of the message reported on: from the returned message or its headers, else from
    // an X-Original-Message-ID field (Gmail writes one); "" if the report does not say.
    std::string original_message_id;
    std::vector<DsnRecipient> recipients; // at least one
};

// Errors (kErrInvalid, field "message"): not a MIME message, not multipart/report with
// report-type delivery-status, no delivery-status part, or no recipient in it.
ar::Result<Dsn> parse_dsn(std::string_view raw);

// Reads the body of a message/delivery-status part alone (the fields, not the MIME wrapper).
// Errors when it names no recipient.
ar::Result<Dsn> parse_delivery_status(std::string_view fields);

} // namespace ar::mime
