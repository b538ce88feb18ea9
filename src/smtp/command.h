// command.h: the SMTP server's door for command lines (RFC 5321 section 4.1, RFC 6531, RFC 4954).
//
// parse_command turns one line received from a client (CRLF already removed) into a typed
// Command: the verb, the MAIL/RCPT path with its ESMTP parameters, or the AUTH mechanism and
// initial response. It checks syntax only, never policy: which parameters are supported and who
// may send what is the server's and the handler's business. Errors carry a message fit for a
// 500/501 reply. decode_auth_plain and decode_base64 decode SASL client responses.
//
// Promises: never throws on any input, never reads past the given view, and every path it
// returns is valid UTF-8 free of control characters, spaces outside quotes and angle brackets.
// No Asio here, so the fuzzer (clang) can build it.
#pragma once

#include "core/result.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ar::smtp {

struct Command {
    enum class Verb {
        Helo,
        Ehlo,
        Mail,
        Rcpt,
        Data,
        Bdat,
        Rset,
        Noop,
        Quit,
        Vrfy,
        Expn,
        Help,
        StartTls,
        Auth,
        Unknown
    } verb = Verb::Unknown;
    std::string argument; // the rest of the line after the verb and one space
    std::string path;     // MAIL/RCPT: the address inside <> ("" for the null reverse-path <>)
    // ESMTP parameters of MAIL/RCPT, keys uppercased (SIZE, BODY, SMTPUTF8, ...), values as sent
    // ("" when the parameter has no value).
    std::vector<std::pair<std::string, std::string>> params;
    // AUTH: the SASL mechanism (uppercased) and the initial response, if one was sent ("=" is
    // the empty response and is kept as "=").
    std::string mechanism;
    std::optional<std::string> initial_response;
};

// The verb's name as written on the wire ("MAIL", "STARTTLS"); "" for Unknown.
std::string_view verb_name(Command::Verb verb);

// Parses one command line (without the CRLF). Unknown verbs are not an error: they come back
// as Verb::Unknown (the server answers 500). Errors (code kErrInvalid) are syntax errors of a
// known verb; their message suits a 501 reply.
ar::Result<Command> parse_command(std::string_view line);

// True if the path holds a byte outside ASCII (an internationalized address, RFC 6531).
bool is_non_ascii(std::string_view s);

// Strict base64 (RFC 4648, with padding, no whitespace) as SASL uses it (RFC 4954).
ar::Result<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

// SASL PLAIN (RFC 4616): authzid NUL authcid NUL passwd.
struct PlainCredentials {
    std::string authzid; // the identity to act as; "" means the same as authcid
    std::string authcid; // the user name
    std::string password;
};
// Decodes a PLAIN client response given in base64 ("=" is the empty response, which fails).
ar::Result<PlainCredentials> decode_auth_plain(std::string_view base64);

} // namespace ar::smtp
