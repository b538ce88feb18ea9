// target.h: where a webhook POSTs, and the guard against server-side request forgery.
//
// A webhook URL is http:// or https://, a host (name, IPv4 or [IPv6]), an optional port and a
// path. A relay that POSTs wherever it is told could be made to reach the operator's own
// network (a cloud metadata address, an admin port on loopback), so every address the host
// resolves to must be public: loopback, private (RFC 1918, RFC 4193), link-local, CGNAT,
// unspecified, multicast and reserved addresses are refused unless the operator allowed
// them for that webhook (--allow-private), as tests on loopback do.
#pragma once

#include <asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace ar::webhooks {

struct Target {
    bool tls = false;
    std::string host; // without brackets
    uint16_t port = 0;
    std::string path; // "/..." with its query
};

Result<Target> parse_url(const std::string& url);

// Whether an address is one the guard refuses without allow_private.
bool is_private_address(const asio::ip::address& a);

// The host's addresses (a literal stands for itself); an error when it does not resolve, or
// when an address is private and allow_private is false (the message names it).
Result<std::vector<asio::ip::address>> check_target(const Target& t, bool allow_private);

} // namespace ar::webhooks
