// engine.h: the delivery engine: durable queue → destination → SMTP → outcome.
//
// The engine claims due recipients from the agents' stores with a lease (so no
// two processes on one data dir send the same recipient), groups them into one
// SMTP transaction per message and domain, finds the destination (a --route, or
// the domain's MX hosts through c-ares), and hands the transaction to the
// destination's queue. Each destination (the MX site; a domain with a policy of its own in
// --config is a destination by itself) has its own connection limit, message rate and TLS
// policy, and idle connections that carry the next message. Every attempt's outcome goes back
// to the sending agent's store: delivered, deferred with exponential backoff and jitter, or
// bounced (5xx, null MX, no such domain, or older than --max-age). Mail for the hosted domain
// goes to the inbox.
//
// All network work runs as coroutines on one io_context thread; store writes and
// DKIM signing run on a small worker pool, so the event loop never waits on disk.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "relay/relay.h"
#include "delivery/config.h"

namespace ar::delivery {

class Engine {
  public:
    Engine(Relay& relay, DeliveryConfig config, const Clock& clock, asio::io_context& io);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Starts scanning the stores (on io's thread, which the caller runs).
    void start();
    // Stops claiming new work; transactions under way finish or are abandoned to their lease.
    void stop();
    // New mail was queued for `agent`: scan now rather than at the next tick.
    void notify(const std::string& agent);

    // The return path (MAIL FROM) for a message: bounces+TOKEN@domain, where TOKEN names the
    // message and agent with a MAC, so a DSN sent there is tied to them and cannot be forged.
    static std::string return_path(const std::string& secret, const std::string& domain,
                                   const std::string& agent, const std::string& message_id);
    // Reverses return_path(): the agent and message id, if the token's MAC is right.
    static std::optional<std::pair<std::string, std::string>>
    parse_return_path(const std::string& secret, const std::string& local_part);

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace ar::delivery
