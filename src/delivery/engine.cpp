#include "delivery/engine.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <asio/ssl.hpp>
#include <algorithm>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/await_callback.h"
#include "core/cpu_load.h"
#include "core/run_on_pool.h"
#include "core/ids.h"
#include "core/metrics.h"
#include "core/threads.h"
#include "core/text.h"
#include "delivery/leases.h"
#include "delivery/outcome.h"
#include "delivery/rate_bucket.h"
#include "delivery/retention.h"
#include "delivery/signers.h"
#include "dkim/sign.h"
#include "dns/resolver.h"
#include "smtp/client.h"

namespace ar::delivery {

using smtp::Reply;
using smtp::make_reply;

namespace {

constexpr int64_t kLeaseMs = 30 * 60 * 1000;         // longer than the longest conversation
constexpr int kClaimBatch = 128;  // recipients claimed per store per scan (one store job: keep it short)
constexpr size_t kMaxInFlight = 5000;  // recipients claimed and not yet finished
constexpr auto kPollInterval = std::chrono::seconds(1);  // finds work other processes queued
constexpr auto kGatherDelay = std::chrono::milliseconds(5);  // after a notify, before claiming
constexpr auto kIntakeRecheck = std::chrono::milliseconds(25);  // while intake first holds delivery
constexpr auto kIdleConnection = std::chrono::seconds(2);  // an idle connection waits this long
constexpr auto kStaleLeaseCheck = std::chrono::seconds(10);
// Addresses one connection attempt tries, over all MX hosts, before it gives up for now
// (Postfix's smtp_mx_address_limit): a domain with dozens of MX addresses that all time out
// must not hold a connection slot for all their timeouts.
constexpr size_t kMaxAddressesPerAttempt = 5;
// Retention: each store is purged of what is older than the retention once an hour, in
// batches; a backlog (a first run on a large store) goes on batch by batch, a pass a second.
constexpr auto kPurgeInterval = std::chrono::hours(1);
constexpr auto kPurgeBacklogPause = std::chrono::seconds(1);
constexpr int kPurgeBatch = 500;

std::string hostname() {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
    auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

constexpr const char* kStageDns = "dns";
constexpr const char* kStageConnect = "connect";
constexpr const char* kStageSign = "dkim";

Reply dns_failure(const dns::MxResult& mx, const std::string& domain) {
    switch (mx.kind) {
    case dns::MxResult::NullMx:
        return make_reply(556, "5.1.10", "recipient domain " + domain + " accepts no mail (null MX, RFC 7505)");
    case dns::MxResult::NoSuchDomain:
        return make_reply(550, "5.1.2", "recipient domain " + domain + " does not exist: " + mx.detail);
    default:
        return make_reply(451, "4.4.3", "cannot look up MX of " + domain + ": " + mx.detail);
    }
}

// The MX set as a key: (preference, host) pairs in a fixed order, host names lowercased.
std::string mx_set_key(const std::vector<dns::MxHost>& hosts) {
    std::vector<std::pair<int, std::string>> set;
    for (const auto& h : hosts) set.emplace_back(h.preference, ascii_lower(h.host));
    std::sort(set.begin(), set.end());
    std::string key;
    for (const auto& [preference, host] : set) key += std::to_string(preference) + " " + host + ",";
    return key;
}

void log_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("delivery: {}", ex.what());
    }
}

}  // namespace

// One SMTP transaction to be made: one message to the recipients of one domain. The message
// is read and signed only when a connection is about to send it, and dropped once sent: a
// backlog of thousands of claimed recipients holds no message bodies in memory.
struct Job {
    std::string agent;
    std::string message_id;
    std::string domain;
    std::vector<store::DueRecipient> recipients;
    bool loaded = false;
    store::StoredMessage message;
    std::vector<dkim::Signer> signers;  // from load() to the signing pool
    std::string signed_message;
    std::string sign_error;  // why it could not be signed: then it is not sent (deferred)
    std::string mail_from;
};

struct Hop {
    std::string host;  // MX host name, or a route's host (name or literal)
    uint16_t port;
};

// A destination (the MX site, or a route's next hop): its queue of transactions, its
// connections and its limits.
struct Destination {
    std::string key;
    std::vector<Hop> hops;
    DestinationPolicy policy;
    std::optional<std::pair<std::string, std::string>> auth;
    std::deque<std::shared_ptr<Job>> queue;
    int connections = 0;
    int busy = 0;  // connections carrying a transaction (or opening for one)
    std::list<asio::steady_timer*> idle_workers;
    RateBucket rate;  // messages_per_second
};

struct Engine::Impl {
    Relay& relay;
    DeliveryConfig cfg;
    const Clock& clock;
    asio::io_context& io;
    // Store work (claims, reading messages, local deliveries, releases): short, and it takes
    // the store's locks, which the threads answering requests need too, so it runs at normal
    // CPU priority (its writes still wait behind the requests').
    asio::thread_pool store_pool{2};
    // Signing is CPU-bound (an RSA-2048 signature is ~0.5 ms): one thread per core. More
    // threads than cores only preempt the threads accepting mail (measured on 2 cores: 4
    // threads cost SMTP submission 13% of its rate and HTTP sends 2 ms of p99 against 2).
    // They run at idle priority (unless configured otherwise) and only compute: see threads.h.
    asio::thread_pool sign_pool{std::max(2u, std::thread::hardware_concurrency())};
    dns::Resolver resolver;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    asio::ssl::context tls_verify{asio::ssl::context::tls_client};
    std::string owner;
    std::string host;
    bool stopping = false;
    // New mail was queued since the last claim: set by notify() from any thread, cleared by
    // the scan loop. Only the send that sets it wakes the event loop; a burst of sends costs
    // one wake-up, not one each.
    std::atomic<bool> kicked{false};
    asio::steady_timer wake;
    std::map<std::string, std::shared_ptr<Destination>> destinations;
    std::atomic<size_t> in_flight{0};
    CpuLoad cpu_load;  // the scan loop's, for intake first (unless cfg.cpu_busy_share)
    std::mt19937 rng{std::random_device{}()};
    SignerCache signers;
    std::string secret;
    asio::steady_timer side_jobs_timer;  // the side jobs' next run (side_jobs())

    Impl(Relay& r, DeliveryConfig c, const Clock& cl, asio::io_context& i)
        : relay(r), cfg(std::move(c)), clock(cl), io(i), resolver(i.get_executor(), cfg.dns_servers),
          host(hostname()), wake(i), signers(r.data().control(), r.domain()), side_jobs_timer(i) {
        owner = make_lease_owner(host);
        tls.set_verify_mode(asio::ssl::verify_none);
        tls_verify.set_default_verify_paths();
        tls_verify.set_verify_mode(asio::ssl::verify_peer);
        secret = relay.data().control().setting("return_path_secret").value_or("");
        Metrics::instance().describe("agentrelay_delivery_attempts_total", "counter",
                                     "Recipient delivery outcomes by result");
        Metrics::instance().describe("agentrelay_delivery_intake_holds_total", "counter",
                                     "Times new deliveries began to wait for a saturated intake (intake first)");
        Metrics::instance().describe("agentrelay_dkim_sign_failures_total", "counter",
                                     "Messages not sent because DKIM signing failed (their recipients are deferred)");
    }

    ~Impl() {
        sign_pool.join();
        store_pool.join();
    }

    // Runs store work f on the store pool (ar-queue) and resumes on the event loop with its result.
    template <class F> asio::awaitable<std::invoke_result_t<F&>> offload(F& f) {
        return run_on_pool(store_pool, f, "ar-queue", PoolPriority::Background);
    }

    std::optional<double> cpu_busy_share(int64_t now_us) {
        return cfg.cpu_busy_share ? cfg.cpu_busy_share(now_us) : cpu_load.busy_share(now_us);
    }

    void spawn(asio::awaitable<void> a) { asio::co_spawn(io, std::move(a), log_exception); }

    // ---------------------------------------------------------------- side jobs

    // Lease reaping (every kStaleLeaseCheck) and retention (hourly, or a batch a second while
    // a backlog lasts) as scheduled work of their own, off the claim path: each runs on the
    // store pool and the loop sleeps until the next is due.
    asio::awaitable<void> side_jobs() {
        using Clock = std::chrono::steady_clock;
        auto reap = [this] { release_dead_leases(relay.data(), owner, host); };
        auto purge = [this] {
            return purge_expired(relay.data(), clock.now_ms() - cfg.retention.count(), kPurgeBatch,
                                 cfg.retention.count() / 86'400'000);
        };
        auto next_reap = Clock::now() + kStaleLeaseCheck;
        auto next_purge = Clock::now();  // one pass at start
        while (!stopping) {
            auto now = Clock::now();
            if (now >= next_reap) {
                co_await offload(reap);
                next_reap = Clock::now() + kStaleLeaseCheck;
            }
            if (cfg.retention.count() > 0 && now >= next_purge) {
                bool more = co_await offload(purge);
                next_purge = Clock::now() + (more ? Clock::duration(kPurgeBacklogPause) : Clock::duration(kPurgeInterval));
            }
            if (stopping) break;
            auto next = cfg.retention.count() > 0 ? std::min(next_reap, next_purge) : next_reap;
            std::error_code ec;
            side_jobs_timer.expires_at(next);
            co_await side_jobs_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // ---------------------------------------------------------------- scanning the queue

    asio::awaitable<void> scan_loop() {
        // Leases a crashed process left are released before the first claim, so a crash (even
        // kill -9) delays nothing: that mail is in the first scan.
        auto reap = [this] { release_dead_leases(relay.data(), owner, host); };
        co_await offload(reap);
        spawn(side_jobs());
        auto claim_work = [this] { return claim(); };
        auto find_next = [this] { return next_due(); };
        bool holding = false;
        while (!stopping) {
            // Intake first (config.h): while senders are queueing at the door and the CPUs
            // are full, due mail waits (up to cfg.intake_first). `kicked` stays set meanwhile,
            // so sends do not wake the loop; it looks again every kIntakeRecheck.
            if (cfg.intake_first.count() > 0) {
                int64_t now_us = IntakeMeter::steady_now_us();
                bool hold = intake_first_holds(holding, relay.intake().busy_share(now_us),
                                               [&] { return cpu_busy_share(now_us); });
                if (hold != holding) {
                    holding = hold;
                    spdlog::debug("delivery: {}", hold ? "intake first: new deliveries wait while the intake is saturated"
                                                       : "intake first: delivering again");
                    if (hold) Metrics::instance().add("agentrelay_delivery_intake_holds_total");
                }
                if (hold) {
                    auto oldest = co_await offload(find_next);
                    if (may_wait_longer(oldest, clock.now_ms(), cfg.intake_first)) {
                        std::error_code ec;
                        wake.expires_after(kIntakeRecheck);
                        co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                        continue;
                    }
                }
            }
            kicked.store(false);
            auto claimed = co_await offload(claim_work);
            for (auto& job : claimed) spawn(run_job(std::move(job)));
            if (stopping) break;
            auto next = co_await offload(find_next);
            auto now = clock.now_ms();
            auto sleep = std::chrono::milliseconds(kPollInterval);
            if (kicked || (next && *next <= now && in_flight < kMaxInFlight && !claimed.empty()))
                sleep = std::chrono::milliseconds(0);
            else if (next && *next > now)
                sleep = std::min(sleep, std::chrono::milliseconds(*next - now));
            std::error_code ec;
            if (sleep.count() > 0) {
                wake.expires_after(sleep);
                co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
            if (kicked && !stopping) {
                // Woken by a send: let the sends of the next few milliseconds gather, so a
                // busy sender costs one claim per batch instead of one per message.
                wake.expires_after(kGatherDelay);
                co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
        }
    }

    // On the store pool: claims due recipients of every agent, grouped into jobs.
    std::vector<std::shared_ptr<Job>> claim() {
        std::vector<std::shared_ptr<Job>> jobs;
        int64_t now = clock.now_ms();
        for (const auto& agent : relay.data().agent_names()) {
            if (in_flight >= kMaxInFlight) break;
            auto store = relay.data().agent_store(agent);
            if (!store) continue;
            auto due = (*store)->claim_due(owner, now, kLeaseMs, kClaimBatch);
            if (!due) {
                spdlog::warn("delivery: cannot claim work of {}: {}", agent, due.error().message);
                continue;
            }
            std::map<std::pair<std::string, std::string>, std::shared_ptr<Job>> by_key;
            for (auto& r : *due) {
                auto& job = by_key[{r.message_id, r.domain}];
                if (!job) {
                    job = std::make_shared<Job>();
                    job->agent = agent;
                    job->message_id = r.message_id;
                    job->domain = r.domain;
                }
                job->recipients.push_back(std::move(r));
            }
            for (auto& [key, job] : by_key) {
                in_flight += job->recipients.size();
                jobs.push_back(std::move(job));
            }
        }
        return jobs;
    }

    std::optional<int64_t> next_due() {
        std::optional<int64_t> best;
        for (const auto& agent : relay.data().agent_names()) {
            auto store = relay.data().agent_store(agent);
            if (!store) continue;
            auto n = (*store)->next_due_at();
            if (n && (!best || *n < *best)) best = n;
        }
        return best;
    }

    // ---------------------------------------------------------------- one job

    asio::awaitable<void> run_job(std::shared_ptr<Job> job) {
        if (!relay.local_agent_of("x@" + job->domain)) {
            co_await route(job);  // read and signed when a connection takes it (connection())
            co_return;
        }
        if (co_await load_on_pool(job.get()) != Loaded::Ready) {
            finish_without_attempt(*job);
            co_return;
        }
        Job* j = job.get();
        auto deliver = [this, j] { return deliver_locally(*j); };
        co_await offload(deliver);
    }

    // Ready: the message is read (and signed, for a remote destination); Unreadable: it could
    // not be read; Unsigned: the hosted domain has active DKIM keys but it could not be signed
    // with them, and it must not leave unsigned (job->sign_error says why).
    enum class Loaded { Ready, Unreadable, Unsigned };

    // Reads the job's message on the store pool; for a remote destination, signs it on the
    // signing pool.
    asio::awaitable<Loaded> load_on_pool(Job* j) {
        auto load_job = [this, j] { return load(*j); };
        if (!co_await offload(load_job)) co_return Loaded::Unreadable;
        if (j->signers.empty()) co_return j->sign_error.empty() ? Loaded::Ready : Loaded::Unsigned;
        auto sign_job = [this, j] {
            auto signed_msg = dkim::sign_message(j->signers, j->message.raw, clock.now_ms());
            if (signed_msg) j->signed_message = std::move(*signed_msg);
            else j->sign_error = signed_msg.error().message;
            j->signers.clear();
        };
        co_await run_on_pool(sign_pool, sign_job, "ar-sign",
                             cfg.background_priority ? PoolPriority::Idle : PoolPriority::Background);
        co_return j->sign_error.empty() ? Loaded::Ready : Loaded::Unsigned;
    }

    // On the store pool: the message, its return path and the signers for it (the message is
    // signed, if there are any, by load_on_pool on the signing pool).
    bool load(Job& job) {
        auto store = relay.data().agent_store(job.agent);
        if (!store) return false;
        auto m = (*store)->stored_message(job.message_id);
        if (!m) {
            spdlog::error("delivery: message {} of {} cannot be read: {}", job.message_id, job.agent,
                          m.error().message);
            return false;
        }
        job.message = std::move(*m);
        job.loaded = true;
        if (relay.local_agent_of("x@" + job.domain)) return true;
        job.mail_from = job.message.mail_from.empty()
                            ? ""
                            : Engine::return_path(secret, relay.domain(), job.agent, job.message_id);
        auto current = signers.current();
        job.signers = std::move(current.signers);
        job.sign_error = std::move(current.error);
        if (job.signers.empty() && job.sign_error.empty()) job.signed_message = job.message.raw;  // no active key
        return true;
    }

    bool deliver_locally(Job& job) {
        std::vector<RecipientStatus> rs;
        for (const auto& r : job.recipients) rs.push_back({r.address, store::kQueued});
        relay.deliver_local(job.agent, job.message_id, job.message.mail_from, job.message.raw, rs);
        release(job);
        in_flight -= std::min(in_flight.load(), job.recipients.size());
        return true;
    }

    // Gives back the leases of what was not attempted (released on the pool).
    void release(Job& job) {
        auto store = relay.data().agent_store(job.agent);
        if (store) (void)(*store)->release(owner, job.recipients);
    }

    void finish_without_attempt(Job& job) {
        auto j = std::make_shared<Job>(job);
        asio::post(store_pool, [this, j] {
            enter_pool_thread("ar-queue", PoolPriority::Background);
            release(*j);
        });
        in_flight -= std::min(in_flight.load(), job.recipients.size());
    }

    asio::awaitable<void> route(std::shared_ptr<Job> job) {
        std::string key;
        std::vector<Hop> hops;
        std::optional<std::pair<std::string, std::string>> auth;
        if (const Route* r = cfg.route_for(job->domain)) {
            key = "route:" + r->host + ":" + std::to_string(r->port);
            hops.push_back({r->host, r->port});
            auth = r->auth;
        } else {
            auto mx = co_await resolver.resolve_mx(job->domain);
            switch (mx.kind) {
            case dns::MxResult::Hosts:
                break;
            default: {
                Reply reply = dns_failure(mx, job->domain);
                co_await fail_all(job, reply, kStageDns);
                co_return;
            }
            }
            // The destination is the MX set, whatever order this answer put its equal
            // preferences in: every job for it shares one connection limit and one rate.
            key = "mx:" + mx_set_key(mx.hosts);
            for (const auto& h : mx.hosts) hops.push_back({h.host, cfg.smtp_port});
        }
        // A domain with a policy of its own has a destination of its own: sharing one with
        // another domain on the same hosts would send its mail under the other's TLS policy
        // and limits (the destination's policy is set when it is made).
        if (cfg.policies.count(job->domain)) key += "|" + job->domain;
        auto& dest = destinations[key];
        if (!dest) {
            dest = std::make_shared<Destination>();
            dest->key = key;
            dest->policy = cfg.policy_for(job->domain);
        }
        dest->hops = hops;
        dest->auth = auth;
        dest->queue.push_back(std::move(job));
        kick(dest);
    }

    // Wakes an idle connection of dest, or opens another if the limit allows.
    void kick(const std::shared_ptr<Destination>& dest) {
        if (!dest->idle_workers.empty()) {
            auto* t = dest->idle_workers.front();
            dest->idle_workers.pop_front();
            t->cancel();
            return;
        }
        if (dest->connections >= dest->policy.max_connections) return;
        // A busy connection cannot take this job soon (a slow or stalled server keeps it for
        // minutes); only one still starting will.
        if (static_cast<size_t>(dest->connections - dest->busy) >= dest->queue.size()) return;
        ++dest->connections;
        spawn(connection(dest));
    }

    // ---------------------------------------------------------------- one connection

    // One connection's life: open it, carry transactions from the destination's queue
    // until it is empty and stays empty for a moment, then QUIT.
    asio::awaitable<void> connection(std::shared_ptr<Destination> dest) {
        std::unique_ptr<smtp::Session> session;
        std::string mx_name;
        for (;;) {
            if (dest->queue.empty()) {
                if (!session || stopping) break;
                asio::steady_timer idle(io, kIdleConnection);
                dest->idle_workers.push_back(&idle);
                std::error_code ec;
                co_await idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                dest->idle_workers.remove(&idle);
                if (dest->queue.empty()) break;
                continue;
            }
            auto job = dest->queue.front();
            dest->queue.pop_front();
            ++dest->busy;
            if (!session || !session->usable()) {
                session.reset();
                auto opened = co_await open(*dest, mx_name);
                if (!opened) {
                    // Every hop failed: this job and everything queued behind it waits.
                    Reply reply = make_reply(451, "4.4.1", opened.error().message);
                    co_await fail_all(job, reply, kStageConnect);
                    while (!dest->queue.empty()) {
                        auto next = dest->queue.front();
                        dest->queue.pop_front();
                        co_await fail_all(next, reply, kStageConnect);
                    }
                    --dest->busy;
                    break;
                }
                session = std::move(*opened);
            }
            if (!job->loaded) {
                Loaded loaded = co_await load_on_pool(job.get());
                if (loaded == Loaded::Unreadable) {
                    finish_without_attempt(*job);
                    --dest->busy;
                    continue;
                }
                if (loaded == Loaded::Unsigned) {
                    co_await defer_unsigned(job);
                    --dest->busy;
                    continue;
                }
            }
            co_await take_token(*dest);
            co_await transact(*session, mx_name, job);
            --dest->busy;
        }
        if (session) co_await session->quit();
        --dest->connections;
        if (!dest->queue.empty()) kick(dest);
        if (dest->connections == 0 && dest->queue.empty()) destinations.erase(dest->key);
    }

    asio::awaitable<Result<std::unique_ptr<smtp::Session>>> open(Destination& dest, std::string& mx_name) {
        smtp::ClientOptions opts;
        opts.helo_name = cfg.helo_name;
        opts.auth = dest.auth;
        opts.timeouts.connect = cfg.connect_timeout;
        switch (dest.policy.tls) {
        case TlsPolicy::Opportunistic: opts.tls = smtp::TlsMode::Opportunistic; break;
        case TlsPolicy::Required: opts.tls = smtp::TlsMode::Required; break;
        case TlsPolicy::Verify: opts.tls = smtp::TlsMode::Verify; break;
        }
        auto& ctx = dest.policy.tls == TlsPolicy::Verify ? tls_verify : tls;
        std::string errors;
        auto hops = dest.hops;
        size_t tried = 0;
        for (const auto& hop : hops) {
            if (tried >= kMaxAddressesPerAttempt) {
                errors += "; not trying further MX addresses (at most " +
                          std::to_string(kMaxAddressesPerAttempt) + " an attempt)";
                break;
            }
            std::vector<asio::ip::address> addresses;
            std::error_code ec;
            auto literal = asio::ip::make_address(hop.host, ec);
            if (!ec) {
                addresses.push_back(literal);
            } else {
                auto a = co_await resolver.resolve_addresses(hop.host);
                if (a.status != dns::Status::Ok) {
                    errors += (errors.empty() ? "" : "; ") + hop.host + ": " + a.detail;
                    continue;
                }
                addresses = a.addresses;
            }
            for (const auto& addr : addresses) {
                if (tried++ >= kMaxAddressesPerAttempt) break;
                asio::ip::tcp::endpoint ep(addr, hop.port);
                auto s = co_await smtp::Session::open(io.get_executor(), ep, hop.host, opts, ctx);
                if (!s && s.error().field == "starttls" && opts.tls == smtp::TlsMode::Opportunistic &&
                    !opts.auth) {
                    // Opportunistic TLS whose handshake fails: the same server again in plain
                    // text rather than no delivery at all (RFC 7435; Postfix's level "may").
                    smtp::ClientOptions plain = opts;
                    plain.tls = smtp::TlsMode::Plain;
                    spdlog::info("delivery: TLS with {} {} failed ({}); trying again without TLS", hop.host,
                                 endpoint_text(ep), s.error().message);
                    s = co_await smtp::Session::open(io.get_executor(), ep, hop.host, plain, ctx);
                }
                if (s) {
                    mx_name = hop.host;
                    co_return std::move(*s);
                }
                errors += (errors.empty() ? "" : "; ") + hop.host + " " + endpoint_text(ep) + ": " +
                          s.error().message;
            }
        }
        if (errors.empty()) errors = "no MX host to try";
        co_return Error{kErrUnavailable, errors, ""};
    }

    asio::awaitable<void> take_token(Destination& dest) {
        for (;;) {
            auto wait = dest.rate.take(dest.policy.messages_per_second, std::chrono::steady_clock::now());
            if (wait == std::chrono::steady_clock::duration::zero()) co_return;
            asio::steady_timer t(io, wait);
            co_await t.async_wait(asio::use_awaitable);
        }
    }

    asio::awaitable<void> transact(smtp::Session& session, const std::string& mx_name,
                                   std::shared_ptr<Job> job) {
        smtp::Envelope env;
        env.mail_from = job->mail_from;
        for (const auto& r : job->recipients) env.recipients.push_back(r.address);
        env.smtputf8 = job->message.smtputf8;
        env.eight_bit = has_8bit(job->signed_message);
        auto result = co_await session.send(env, job->signed_message);
        // Sent (or refused): the bodies are not needed any more.
        job->signed_message = std::string();
        job->message.raw = std::string();
        const auto& info = session.info();
        std::string where = mx_name + " " + info.peer + (info.tls_version.empty() ? "" : " " + info.tls_version);
        std::vector<store::RecipientUpdate> updates;
        int64_t now = clock.now_ms();
        for (size_t i = 0; i < job->recipients.size(); ++i) {
            Reply reply = reply_for_recipient(result, i);
            updates.push_back(outcome(job->recipients[i], job->message_id, reply, where, mx_name, now));
        }
        // The connection goes on to its next transaction while the outcome is committed: it
        // does not wait an fsync per message. The recipients stay leased until then, so no
        // one sends them again meanwhile; a crash before the commit only means another try.
        spawn(record_owned(std::move(job), std::move(updates)));
    }

    asio::awaitable<void> record_owned(std::shared_ptr<Job> job, std::vector<store::RecipientUpdate> updates) {
        co_await record(job, updates);
    }

    // A message that could not be signed is never sent unsigned (it would fail DMARC on our own
    // domain): its recipients are deferred, so it goes once the key is mended, or bounces at
    // max_age; the operator sees why in the log, the metric and check_status.
    asio::awaitable<void> defer_unsigned(std::shared_ptr<Job> job) {
        spdlog::error("delivery: message {} of {} not sent: DKIM signing failed: {}", job->message_id, job->agent,
                      job->sign_error);
        Metrics::instance().add("agentrelay_dkim_sign_failures_total");
        Reply reply = make_reply(451, "4.3.0",
                                 "local error: DKIM signing failed (" + job->sign_error + "); not sent unsigned");
        job->message.raw = std::string();
        job->loaded = false;
        co_await fail_all(std::move(job), reply, kStageSign);
    }

    // Every recipient of job gets the same reply (DNS or connection failures).
    asio::awaitable<void> fail_all(std::shared_ptr<Job> job, const Reply& reply, const char* stage) {
        std::vector<store::RecipientUpdate> updates;
        int64_t now = clock.now_ms();
        for (const auto& r : job->recipients)
            updates.push_back(outcome(r, job->message_id, reply, stage, "", now));
        co_await record(job, updates);
    }

    store::RecipientUpdate outcome(const store::DueRecipient& r, const std::string& message_id,
                                   const Reply& reply, const std::string& where, const std::string& mx,
                                   int64_t now) {
        Outcome o = classify(reply, r, now, cfg, rng);
        store::RecipientUpdate u = to_update(o, r, message_id, reply, where, mx, now);
        Metrics::instance().add("agentrelay_delivery_attempts_total", "{result=\"" + u.status + "\"}");
        return u;
    }

    // Records the outcomes and resumes once they are committed. No thread waits for the commit:
    // the store's writer posts the result back to this event loop.
    asio::awaitable<void> record(std::shared_ptr<Job> job, const std::vector<store::RecipientUpdate>& updates) {
        auto store = relay.data().agent_store(job->agent);
        if (store) {
            store::AgentStore* st = *store;
            auto apply = [st, &updates](std::function<void(Status)> done) { st->apply_async(updates, std::move(done)); };
            Status recorded = co_await await_callback<Status>(apply);
            if (!recorded)
                spdlog::error("delivery: recording the outcome of {} failed: {}", job->message_id,
                              recorded.error().message);
        }
        in_flight -= std::min(in_flight.load(), job->recipients.size());
    }
};

Engine::Engine(Relay& relay, DeliveryConfig config, const Clock& clock, asio::io_context& io)
    : impl_(std::make_shared<Impl>(relay, std::move(config), clock, io)) {}

Engine::~Engine() = default;

void Engine::start() {
    auto impl = impl_;
    asio::co_spawn(impl->io, impl->scan_loop(), log_exception);
}

void Engine::stop() {
    auto impl = impl_;
    asio::post(impl->io, [impl] {
        impl->stopping = true;
        impl->wake.cancel();
        impl->side_jobs_timer.cancel();
    });
}

void Engine::notify(const std::string&) {
    if (impl_->kicked.exchange(true)) return;  // already woken, or gathering
    auto impl = impl_;
    asio::post(impl->io, [impl] { impl->wake.cancel(); });
}

std::string Engine::return_path(const std::string& secret, const std::string& domain,
                                const std::string& agent, const std::string& message_id) {
    std::string payload = message_id + "=" + agent;
    return "bounces+" + payload + "=" + hmac_sha256_hex(secret, payload).substr(0, 12) + "@" + domain;
}

std::optional<std::pair<std::string, std::string>> Engine::parse_return_path(const std::string& secret,
                                                                             const std::string& local_part) {
    const std::string prefix = "bounces+";
    if (local_part.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::string token = local_part.substr(prefix.size());
    auto first = token.find('=');
    auto last = token.rfind('=');
    if (first == std::string::npos || first == last) return std::nullopt;
    std::string message_id = token.substr(0, first);
    std::string agent = token.substr(first + 1, last - first - 1);
    std::string mac = token.substr(last + 1);
    std::string want = hmac_sha256_hex(secret, message_id + "=" + agent).substr(0, 12);
    if (mac.size() != want.size() || CRYPTO_memcmp(mac.data(), want.data(), mac.size()) != 0)
        return std::nullopt;
    return std::make_pair(agent, message_id);
}

}  // namespace ar::delivery
