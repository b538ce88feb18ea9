#include "delivery/config.h"

#include <algorithm>
#include <charconv>

#include "core/text.h"

namespace ar::delivery {

namespace {

Result<TlsPolicy> parse_tls(const std::string& s) {
    if (s == "opportunistic") return TlsPolicy::Opportunistic;
    if (s == "required") return TlsPolicy::Required;
    if (s == "verify") return TlsPolicy::Verify;
    return invalid("tls", "tls must be opportunistic, required or verify, got '" + s + "'");
}

Status apply_policy(DestinationPolicy& p, const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) return invalid(where, where + " must be an object");
    if (j.contains("max_connections")) p.max_connections = j.at("max_connections").get<int>();
    if (j.contains("messages_per_second")) p.messages_per_second = j.at("messages_per_second").get<double>();
    if (j.contains("tls")) {
        auto t = parse_tls(j.at("tls").get<std::string>());
        if (!t) return t.error();
        p.tls = *t;
    }
    if (p.max_connections < 1) return invalid(where, where + ".max_connections must be at least 1");
    if (p.messages_per_second < 0) return invalid(where, where + ".messages_per_second must be >= 0");
    return Ok{};
}
}  // namespace

const Route* DeliveryConfig::route_for(const std::string& domain) const {
    const Route* star = nullptr;
    for (const auto& r : routes) {
        if (r.domain == domain) return &r;
        if (r.domain == "*") star = &r;
    }
    return star;
}

const DestinationPolicy& DeliveryConfig::policy_for(const std::string& domain) const {
    auto it = policies.find(domain);
    return it == policies.end() ? default_policy : it->second;
}

bool may_wait_longer(std::optional<int64_t> oldest_due_ms, int64_t now_ms, std::chrono::milliseconds max_hold) {
    return !oldest_due_ms || now_ms - *oldest_due_ms < max_hold.count();
}

Result<std::chrono::milliseconds> parse_duration(std::string_view s) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
    auto bad = [&] {
        return invalid("duration", "'" + std::string(s) + "' is not a duration: use a number and a unit, "
                                                          "like 500ms, 30s, 5m, 4h or 5d");
    };
    if (ec != std::errc() || p == s.data() || n < 0) return bad();
    using namespace std::chrono;
    if (unit == "ms") return milliseconds(n);
    if (unit == "s") return duration_cast<milliseconds>(seconds(n));
    if (unit == "m") return duration_cast<milliseconds>(minutes(n));
    if (unit == "h") return duration_cast<milliseconds>(hours(n));
    if (unit == "d") return duration_cast<milliseconds>(hours(24 * n));
    return bad();
}

Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view s) {
    std::string host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return invalid("address", "'" + std::string(s) + "' is not [IPv6]:PORT");
        host = std::string(s.substr(1, close - 1));
        port = s.substr(close + 2);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return invalid("address", "'" + std::string(s) + "' is not HOST:PORT");
        host = std::string(s.substr(0, colon));
        port = s.substr(colon + 1);
    }
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535)
        return invalid("address", "'" + std::string(s) + "' has no valid port (1-65535)");
    return std::make_pair(host, static_cast<uint16_t>(v));
}

Result<Route> parse_route(std::string_view s) {
    auto eq = s.find('=');
    if (eq == std::string_view::npos || eq == 0)
        return invalid("route", "--route takes DOMAIN=HOST:PORT (DOMAIN '*' for every domain), got '" +
                                    std::string(s) + "'");
    auto hp = parse_host_port(s.substr(eq + 1));
    if (!hp) return invalid("route", "--route " + std::string(s) + ": " + hp.error().message);
    Route r;
    r.domain = ascii_lower(std::string(s.substr(0, eq)));
    r.host = hp->first;
    r.port = hp->second;
    return r;
}

Status check_retention(std::chrono::milliseconds d) {
    if (d.count() != 0 && d < std::chrono::hours(24))
        return invalid("retention", "retention must be at least 1d (the idempotency window), or 0 to keep "
                                    "everything; got " + std::to_string(d.count()) + " ms");
    return Ok{};
}

Status apply_json(DeliveryConfig& cfg, const nlohmann::json& j) {
    try {
        if (j.contains("dns")) {
            cfg.dns_servers.clear();
            for (const auto& s : j.at("dns")) cfg.dns_servers.push_back(s.get<std::string>());
        }
        if (j.contains("smtp_port")) cfg.smtp_port = j.at("smtp_port").get<uint16_t>();
        if (j.contains("helo_name")) cfg.helo_name = j.at("helo_name").get<std::string>();
        if (j.contains("delivery_priority")) {
            auto p = j.at("delivery_priority").get<std::string>();
            if (p != "background" && p != "normal")
                return invalid("delivery_priority",
                               "delivery_priority must be \"background\" or \"normal\", got \"" + p + "\"");
            cfg.background_priority = p == "background";
        }
        struct D {
            const char* key;
            std::chrono::milliseconds* out;
        };
        for (D d : {D{"retry_initial", &cfg.retry_initial}, D{"retry_max", &cfg.retry_max},
                    D{"max_age", &cfg.max_age}, D{"retention", &cfg.retention},
                    D{"intake_first", &cfg.intake_first}}) {
            if (!j.contains(d.key)) continue;
            auto v = parse_duration(j.at(d.key).get<std::string>());
            if (!v) return invalid(d.key, std::string(d.key) + ": " + v.error().message);
            if (d.out == &cfg.retention) {
                if (auto st = check_retention(*v); !st) return st;  // refused: cfg keeps its value
            }
            *d.out = *v;
        }
        if (j.contains("routes")) {
            for (const auto& r : j.at("routes")) {
                Route route;
                if (r.is_string()) {
                    auto parsed = parse_route(r.get<std::string>());
                    if (!parsed) return parsed.error();
                    route = *parsed;
                } else {
                    auto parsed = parse_route(r.at("domain").get<std::string>() + "=" +
                                              r.at("next_hop").get<std::string>());
                    if (!parsed) return parsed.error();
                    route = *parsed;
                    if (r.contains("username"))
                        route.auth = std::make_pair(r.at("username").get<std::string>(),
                                                    r.value("password", ""));
                }
                cfg.routes.push_back(route);
            }
        }
        if (j.contains("destination_defaults"))
            if (auto st = apply_policy(cfg.default_policy, j.at("destination_defaults"), "destination_defaults"); !st)
                return st;
        if (j.contains("destinations")) {
            for (const auto& [domain, p] : j.at("destinations").items()) {
                DestinationPolicy pol = cfg.default_policy;
                if (auto st = apply_policy(pol, p, "destinations." + domain); !st) return st;
                cfg.policies[ascii_lower(domain)] = pol;
            }
        }
    } catch (const nlohmann::json::exception& e) {
        return invalid("config", std::string("bad configuration value: ") + e.what());
    }
    return Ok{};
}

}  // namespace ar::delivery
