// lookup.h: the DNS questions that authenticating inbound mail asks (SPF, DKIM, DMARC), as
// an interface: the Resolver answers them in production, a table in unit tests.
//
// Promises:
// - Each answer's status is that of dns::Status: Ok with at least one value, NoSuchDomain
//   (NXDOMAIN), NoData (the name exists, no records of the type), TempFail (SERVFAIL,
//   timeout, no server; never to be read as "no record").
// - txt(): one value per TXT record, its character-strings joined (RFC 7208 3.3, RFC 6376
//   3.6.2.2). addresses(): A and AAAA together, IPv4 first. mx(): the exchange host names of
//   the MX records by preference, without the implicit MX of RFC 5321 5.1 (SPF's "mx"
//   mechanism matches nothing for a domain without MX records) and without a null MX's ".".
// - Calls are made from the coroutine's own executor; a Lookup is used by one thread.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dns/answer.h"

namespace ar::dns {
class Resolver;
}

namespace ar::auth {

struct Answer {
    dns::Status status = dns::Status::TempFail;
    std::vector<std::string> values;          // txt(): records; mx(): host names
    std::vector<asio::ip::address> addresses; // addresses()
    std::string detail;                       // why, when status is not Ok
};

class Lookup {
  public:
    virtual ~Lookup() = default;
    virtual asio::awaitable<Answer> txt(std::string name) = 0;
    virtual asio::awaitable<Answer> addresses(std::string name) = 0;
    virtual asio::awaitable<Answer> mx(std::string name) = 0;
};

// The production lookups, through the relay's resolver (its cache and its --dns servers).
class ResolverLookup final : public Lookup {
  public:
    explicit ResolverLookup(dns::Resolver& resolver) : resolver_(resolver) {}
    asio::awaitable<Answer> txt(std::string name) override;
    asio::awaitable<Answer> addresses(std::string name) override;
    asio::awaitable<Answer> mx(std::string name) override;

  private:
    dns::Resolver& resolver_;
};

// Another Lookup under a time budget: once `deadline` has passed, every question fails at once
// (TempFail) without being sent. The inbound MX gives each message's checks one budget, so a
// slow resolver delays the SMTP reply by the budget plus one question's timeout at most,
// not by SPF's ten lookups, each DKIM key and DMARC's two, one after another.
class BudgetLookup final : public Lookup {
  public:
    BudgetLookup(Lookup& inner, std::chrono::steady_clock::time_point deadline)
        : inner_(inner), deadline_(deadline) {}
    asio::awaitable<Answer> txt(std::string name) override;
    asio::awaitable<Answer> addresses(std::string name) override;
    asio::awaitable<Answer> mx(std::string name) override;

  private:
    std::optional<Answer> spent(const std::string& name) const;
    Lookup& inner_;
    std::chrono::steady_clock::time_point deadline_;
};

} // namespace ar::auth
