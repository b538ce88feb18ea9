// answer.h: turns the raw bytes of a DNS reply into typed results (MX, A, AAAA, TXT).
//
// Promises: every function here accepts arbitrary bytes (a reply from the network is outside
// input) and never reads outside them; a reply that cannot be parsed becomes TempFail with a
// detail, never a crash. No Asio and no I/O here, so the parsers are fuzzed on their own
// (fuzz/fuzz_dns_answer.cpp). The resolver (resolver.h) sends the queries and caches what
// these functions return.
//
// Each parse_*_answer reads the reply's RCODE itself:
//   NXDOMAIN                           → NoSuchDomain
//   NOERROR with records of the type   → Ok
//   NOERROR without them (NODATA)      → NoData
//   SERVFAIL, REFUSED, anything else   → TempFail
// and reports a TTL in seconds: for Ok the smallest TTL among the records used, for
// NoSuchDomain/NoData the negative-caching TTL of RFC 2308 section 5 (min of the SOA
// record's TTL and its MINIMUM field), 0 when the reply carries no SOA (RFC 2308: such
// answers should not be cached). TTLs with the top bit set count as 0 (RFC 2181 section 8).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ar::dns {

enum class Status {
    Ok,
    NoSuchDomain, // NXDOMAIN
    NoData,       // the name exists, but has no records of that type
    TempFail,     // SERVFAIL, timeout, refused, network, malformed reply
};

std::string_view status_name(Status s);

struct MxHost {
    std::string host; // without the trailing dot
    uint16_t preference;
    bool operator==(const MxHost&) const = default;
};

// An IPv4 or IPv6 address in network byte order (bytes 0..3 used for IPv4).
struct IpAddress {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};
    bool operator==(const IpAddress&) const = default;
};

struct MxAnswer {
    Status status = Status::TempFail;
    // RFC 7505: the reply's only usable answer is "0 ." (c-ares reports the exchange as "" or
    // "."). Records whose exchange is the root are never listed in `hosts`; when they are all
    // there is, the domain advertises null MX.
    bool null_mx = false;
    std::vector<MxHost> hosts; // in reply order; see order_mx
    uint32_t ttl = 0;
    std::string detail; // why, when status is not Ok ("NXDOMAIN", "SERVFAIL", ...)
};

struct AddressAnswer {
    Status status = Status::TempFail;
    std::vector<IpAddress> addresses; // in reply order
    uint32_t ttl = 0;
    std::string detail;
};

struct TxtAnswer {
    Status status = Status::TempFail;
    std::vector<std::string> records; // each record's character-strings joined
    uint32_t ttl = 0;
    std::string detail;
};

MxAnswer parse_mx_answer(const unsigned char* data, std::size_t size);
AddressAnswer parse_a_answer(const unsigned char* data, std::size_t size);
AddressAnswer parse_aaaa_answer(const unsigned char* data, std::size_t size);
TxtAnswer parse_txt_answer(const unsigned char* data, std::size_t size);

// Sorts by preference (lowest first, RFC 5321 section 5.1) and shuffles hosts of equal
// preference with `rng` so load spreads across them. `rng` must be callable.
void order_mx(std::vector<MxHost>& hosts, const std::function<uint32_t()>& rng);

// "NOERROR", "SERVFAIL", ... or "RCODE 11" for codes without a name.
std::string rcode_name(int rcode);

std::string to_string(const IpAddress& address);

// Whether `ip` lies in the network net/prefix (prefix in bits); addresses of different
// families never do. For SPF's ip4/ip6/a/mx terms and the trusted networks.
bool in_network(const IpAddress& ip, const IpAddress& net, int prefix);

} // namespace ar::dns
