// smtp_doors.h: agentrelay's SMTP listeners and their policy.
//
// The SMTP protocol engine (smtp/server.h) knows nothing of agents; this file is
// the policy it asks:
//   submission (--submission, STARTTLS; --submissions, implicit TLS): AUTH as an
//     agent (its address or name, and its API key); MAIL FROM must be that agent's
//     address (553 5.7.1 otherwise); the message goes through Relay::submit, the
//     same core path as send_email. Clients in a trusted network submit without
//     AUTH as the agent named for that network.
//   inbound MX (--inbound): mail for an agent of the hosted domain lands in its
//     inbox; mail to a return path (bounces+TOKEN@domain) is a delivery status
//     notification recorded as an asynchronous bounce (auto-replies go to the
//     inbox, marked automatic); everything else is refused: never an open relay.
//     Each message is checked first (SPF, DKIM, DMARC: auth/authenticate.h); the result
//     is stored with it and heads it as an Authentication-Results field.
// Store work runs on a worker pool, never on the event loop.
#pragma once

#include <asio.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/relay.h"

namespace ar::doors {

struct SmtpOptions {
    std::optional<std::string> submission;  // ADDR:PORT
    std::optional<std::string> submissions; // ADDR:PORT
    std::optional<std::string> inbound;     // ADDR:PORT
    std::string tls_cert, tls_key;
    std::vector<std::string> trusted_networks; // "CIDR=AGENT"
    size_t max_message_bytes = 25u << 20;
    size_t max_recipients = 50;
    // Sessions at once, from one client address and in all, on each listener (smtp::ServerLimits).
    size_t max_sessions_per_client = 50;
    size_t max_sessions = 1000;
    // Resolvers for the inbound MX's SPF, DKIM and DMARC checks ("host:port"; empty: the
    // system's), the same --dns as delivery's.
    std::vector<std::string> dns_servers;
};

class SmtpDoors {
  public:
    virtual ~SmtpDoors() = default;
    virtual void stop() = 0;
    // Bound ports (for listeners given port 0).
    virtual std::optional<uint16_t> port(const std::string& which) const = 0;
};

// Binds every listener named in options on io. Nothing named: an object that does nothing.
Result<std::unique_ptr<SmtpDoors>> start_smtp_doors(asio::io_context& io, Relay& relay,
                                                    const SmtpOptions& options);

// A submitted message without the header fields an MSA must not pass on: Bcc and Resent-Bcc
// (RFC 6409 8.1: they would show the blind recipients to everyone) and Return-Path (RFC 5321
// 4.4: only the final delivery adds one). Everything else, the body included, is untouched.
// Exposed for tests.
std::string strip_submission_headers(std::string_view raw);

// "10.0.0.0/8=billing" → network and agent. Exposed for tests.
struct TrustedNetwork {
    asio::ip::address network;
    int prefix = 0;
    std::string agent;
    bool contains(const asio::ip::address& a) const;
};
Result<TrustedNetwork> parse_trusted_network(const std::string& s);

} // namespace ar::doors
