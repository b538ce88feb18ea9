// config.h: the delivery engine's settings (interface.md, "Delivery options").
//
// Filled from the command line and an optional JSON file (--config; flags win).
// Destinations, the MX sites mail goes to, can have their own limits and TLS
// policy; routes fix the next hop for a domain ('*' = a smarthost for all).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace ar::delivery {

enum class TlsPolicy { Opportunistic, Required, Verify };

struct Route {
    std::string domain;  // lowercased; "*" matches every domain without a route of its own
    std::string host;
    uint16_t port = 25;
    std::optional<std::pair<std::string, std::string>> auth;  // user, password
};

struct DestinationPolicy {
    int max_connections = 10;
    double messages_per_second = 50;  // evenly spaced, 1/rate apart; 0 = unlimited
    TlsPolicy tls = TlsPolicy::Opportunistic;
};

struct DeliveryConfig {
    std::vector<std::string> dns_servers;  // "host:port"; empty = the system's
    uint16_t smtp_port = 25;
    std::vector<Route> routes;
    std::chrono::milliseconds retry_initial{std::chrono::minutes(5)};
    std::chrono::milliseconds retry_max{std::chrono::hours(1)};
    std::chrono::milliseconds max_age{std::chrono::hours(24 * 5)};
    // How long finished messages, inbox messages and bounces are kept (0: for ever); at least
    // a day (the idempotency window).
    std::chrono::milliseconds retention{std::chrono::hours(24 * 30)};
    std::string helo_name;  // default: the hosted domain
    DestinationPolicy default_policy;
    std::map<std::string, DestinationPolicy> policies;  // by recipient domain (lowercased)
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    // "background" (default): the engine's threads run at idle CPU priority (core/threads.h),
    // so sends and SMTP submissions are answered first; "normal": the same priority as the doors.
    bool background_priority = true;
    // Intake first: while the intake is saturated (senders queueing at the door without a
    // pause, core/intake_meter.h), new deliveries wait, for at most this long per message, so
    // that the CPU goes to accepting mail; 0 turns it off. Mail that has waited this long is
    // delivered whatever the intake does, so a steady overload delays delivery by this much,
    // never more.
    std::chrono::milliseconds intake_first{std::chrono::seconds(10)};
    // How busy the CPUs are (0..1) at a steady-clock time in microseconds, for intake first;
    // empty: /proc/stat, sampled by core/cpu_load.h. Tests set their own.
    std::function<std::optional<double>(int64_t now_us)> cpu_busy_share;

    const Route* route_for(const std::string& domain) const;
    const DestinationPolicy& policy_for(const std::string& domain) const;
};

// Intake first's rule. A hold begins when mail is arriving in earnest (at least one message at
// the door for kIntakeBusy of the intake meter's last window, core/intake_meter.h: light
// traffic, however many clients it comes from, stays far below, as a message spends about a
// store commit there) while the CPUs have nothing left (kCpuSaturated of them busy,
// core/cpu_load.h; nullopt: unknown, no hold). It lasts while the intake stays that busy,
// whatever the CPUs do then: delivering again at the first idle moment would take the CPU
// back from the senders in mid-burst.
inline constexpr double kIntakeBusy = 0.25;
inline constexpr double kCpuSaturated = 0.9;
// cpu_busy_share() is asked only when its answer decides: not while the intake is calm, nor
// once a hold has begun.
template <class CpuProbe> bool intake_first_holds(bool holding, double intake_busy_share, CpuProbe cpu_busy_share) {
    if (intake_busy_share < kIntakeBusy) return false;
    if (holding) return true;
    std::optional<double> cpu = cpu_busy_share();
    return cpu && *cpu >= kCpuSaturated;
}
// Within a hold: whether the longest-waiting due recipient (due at oldest_due_ms) has waited
// less than max_hold, so that due mail may wait on.
bool may_wait_longer(std::optional<int64_t> oldest_due_ms, int64_t now_ms, std::chrono::milliseconds max_hold);

// "500ms", "30s", "5m", "4h", "5d".
Result<std::chrono::milliseconds> parse_duration(std::string_view s);
// "HOST:PORT" with an IPv6 literal in brackets.
Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view s);
// "DOMAIN=HOST:PORT".
Result<Route> parse_route(std::string_view s);
// A retention is 0 (keep everything) or at least a day.
Status check_retention(std::chrono::milliseconds d);
// Applies a --config JSON object's delivery settings onto cfg.
Status apply_json(DeliveryConfig& cfg, const nlohmann::json& j);

}  // namespace ar::delivery
