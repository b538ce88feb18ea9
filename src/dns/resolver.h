// resolver.h: asynchronous DNS lookups (MX, A/AAAA, TXT) for the delivery engine, with c-ares
// driven by an Asio event loop, and a cache that honours TTLs.
//
// Promises:
// - resolve_mx gives the delivery engine everything RFC 5321 section 5.1 asks for: MX hosts by
//   preference (equal preferences shuffled with the rng passed in), the implicit MX (no MX
//   records but A/AAAA: the domain itself at preference 0), null MX (RFC 7505), NXDOMAIN as a
//   permanent answer, and every failure to get an answer (SERVFAIL, REFUSED, timeouts,
//   network errors) as TempFail, never as permanent.
// - Answers are cached within their TTL (capped at 1 h; negative answers at 5 min, and only
//   when the reply carries an SOA, RFC 2308), keyed by (type, lowercased name), in this
//   Resolver. Temporary failures are never cached.
// - Threading: a Resolver and its coroutines must be used from one thread, the one running
//   its executor's io_context (c-ares has no thread of its own; it is driven by that loop).
//   Many queries may be in flight at once.
// - Destroying the Resolver ends the queries in flight with TempFail ("resolver shut down");
//   it must be destroyed before its io_context.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/answer.h"

namespace ar::dns {

struct MxResult {
    enum Kind { Hosts, NullMx, NoSuchDomain, TempFail } kind;
    // By preference; equal preferences shuffled; implicit MX (RFC 5321 5.1: no MX but A/AAAA)
    // → {{domain, 0}}.
    std::vector<MxHost> hosts;
    std::string detail; // human text: "SERVFAIL for example.com MX from 127.0.0.1:5353", ...
    bool implicit = false; // hosts is the implicit MX: the domain has no MX records
};

struct AddressResult {
    Status status;
    std::vector<asio::ip::address> addresses; // IPv4 first, then IPv6
    std::string detail;
};

struct TxtResult {
    Status status;
    std::vector<std::string> records; // each record's character-strings joined
    std::string detail;
};

using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

class Resolver {
  public:
    // servers: "host:port" list (IPv4 literal, or IPv6 literal in brackets), as returned by
    // parse_server_list; empty = the system's resolvers (/etc/resolv.conf).
    // rng: randomness for shuffling equal MX preferences (default: seeded from the system).
    // now: the clock for cache expiry (default: steady_clock::now).
    Resolver(asio::any_io_executor ex, std::vector<std::string> servers,
             std::function<uint32_t()> rng = {}, SteadyNow now = {});
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    asio::awaitable<MxResult> resolve_mx(std::string domain);
    asio::awaitable<AddressResult> resolve_addresses(std::string host); // A and AAAA together
    asio::awaitable<TxtResult> resolve_txt(std::string name);

    // Per-try timeout and number of tries for each server (defaults 2000 ms, 2 tries). Takes
    // effect at once when nothing is in flight, otherwise once the queries in flight are done.
    void set_timeout(std::chrono::milliseconds per_try, int tries);

    // Forgets every cached answer.
    void clear_cache();

    class Engine;

  private:
    std::shared_ptr<Engine> engine_;
};

// An Asio address as the dns module holds one (an IPv4-mapped IPv6 address stays IPv6).
IpAddress ip_address(const asio::ip::address& a);

// Validates and normalises a "--dns" value: comma-separated "IPv4:port" or "[IPv6]:port"
// (the port may be left out: 53). Host names are refused: a resolver needs no resolver.
ar::Result<std::vector<std::string>> parse_server_list(std::string_view csv);

} // namespace ar::dns
