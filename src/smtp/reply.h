// reply.h: SMTP replies as the client reads them (RFC 5321 4.2), without any network code.
//
// ReplyParser assembles one reply from its lines ("250-first", ..., "250 last") and refuses
// malformed input: a line that does not start with a 3-digit reply code (first digit 2-5,
// second 0-5), a code that changes inside one reply, a line longer than kMaxReplyLine octets,
// or a reply of more than kMaxReplyLines lines. The enhanced status code (RFC 3463) is taken
// from the first line when its class matches the reply code's first digit.
//
// Promise: every Reply's text is valid UTF-8 without control characters (bytes that are not
// are replaced by '?'), so it can go into logs, JSON and DSNs as is.
//
// EhloExtensions reads the service extensions a server advertises in its EHLO reply.
#pragma once

#include "core/result.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ar::smtp {

inline constexpr size_t kMaxReplyLine = 2000; // octets, without CRLF (RFC 5321 says 512)
inline constexpr size_t kMaxReplyLines = 200;

struct Reply {
    int code = 0;                   // 3-digit reply code
    std::string enhanced;           // "5.1.1" if the server gave an enhanced status code, else ""
    std::vector<std::string> lines; // text of each line without code/separator

    // The lines joined with " ", the enhanced status code stripped from each.
    std::string text() const;
    // "550 5.1.1 user unknown"
    std::string to_string() const;
    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; } // 4xx
    bool permanent() const { return code >= 500 && code < 600; } // 5xx
};

// A reply we made up ourselves (a local failure), phrased like one from a server.
Reply make_reply(int code, std::string enhanced, std::string text);

class ReplyParser {
  public:
    // Feed one line (without CRLF). Returns a complete Reply, nothing yet (a continuation line
    // was read), or an error for a malformed line; after an error the parser starts afresh.
    ar::Result<std::optional<Reply>> feed(std::string_view line);

  private:
    Reply partial_;
};

// The service extensions of an EHLO reply (RFC 5321 4.1.1.1): keywords are case-insensitive.
struct EhloExtensions {
    std::string greeting;                     // the first line: the server's name and greeting text
    bool pipelining = false;                  // RFC 2920
    bool starttls = false;                    // RFC 3207
    bool smtputf8 = false;                    // RFC 6531
    bool eight_bit_mime = false;              // RFC 6152
    bool enhanced_codes = false;              // RFC 2034 ENHANCEDSTATUSCODES
    bool size = false;                        // RFC 1870 SIZE advertised
    std::optional<size_t> size_limit;         // SIZE with a non-zero fixed maximum
    std::vector<std::string> auth_mechanisms; // upper-case, e.g. "PLAIN", "LOGIN"

    bool has_auth(std::string_view mechanism) const;
};

EhloExtensions parse_ehlo(const Reply& ehlo_reply);

} // namespace ar::smtp
