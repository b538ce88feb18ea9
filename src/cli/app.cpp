#include "cli/app.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "core/metrics.h"
#include "core/threads.h"
#include "dns/resolver.h"

namespace ar::cli {

std::vector<FlagSpec> delivery_flags() {
    return {{"dns"},           {"smtp-port"}, {"route", true, true}, {"retry-initial"},
            {"retry-max"},     {"max-age"},   {"config"},            {"helo-name"},
            {"retention"},     {"intake-first"}};
}

namespace {
Result<nlohmann::json> read_config(const Args& args) {
    if (!args.has("config")) return nlohmann::json::object();
    std::ifstream f(*args.get("config"));
    if (!f) return invalid("config", "cannot read --config file " + *args.get("config"));
    auto j = nlohmann::json::parse(f, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return invalid("config", "--config file " + *args.get("config") + " is not a JSON object");
    return j;
}
}  // namespace

Result<delivery::DeliveryConfig> delivery_config(const Args& args) {
    delivery::DeliveryConfig cfg;
    auto file = read_config(args);
    if (!file) return file.error();
    if (auto st = delivery::apply_json(cfg, *file); !st) return st.error();
    if (auto dns = args.get("dns")) {
        auto servers = dns::parse_server_list(*dns);
        if (!servers) return invalid("dns", "--dns: " + servers.error().message);
        cfg.dns_servers = *servers;
    }
    if (auto port = args.get("smtp-port")) {
        auto hp = delivery::parse_host_port("x:" + *port);
        if (!hp) return invalid("smtp-port", "--smtp-port must be a port number 1-65535, got '" + *port + "'");
        cfg.smtp_port = hp->second;
    }
    for (const auto& r : args.all("route")) {
        auto route = delivery::parse_route(r);
        if (!route) return route.error();
        cfg.routes.push_back(*route);
    }
    struct D {
        const char* flag;
        std::chrono::milliseconds* out;
    };
    for (D d : {D{"retry-initial", &cfg.retry_initial}, D{"retry-max", &cfg.retry_max}, D{"max-age", &cfg.max_age},
                D{"retention", &cfg.retention}, D{"intake-first", &cfg.intake_first}}) {
        if (auto v = args.get(d.flag)) {
            auto dur = delivery::parse_duration(*v);
            if (!dur) return invalid(d.flag, std::string("--") + d.flag + ": " + dur.error().message);
            *d.out = *dur;
        }
    }
    if (auto h = args.get("helo-name")) cfg.helo_name = *h;
    if (auto st = delivery::check_retention(cfg.retention); !st)
        return invalid("retention", "--" + st.error().message);
    if (cfg.retry_initial.count() <= 0) return invalid("retry-initial", "--retry-initial must be positive");
    if (cfg.retry_max < cfg.retry_initial)
        return invalid("retry-max", "--retry-max must not be shorter than --retry-initial");
    return cfg;
}

Result<RelayConfig> relay_config(const Args& args) {
    RelayConfig cfg;
    auto file = read_config(args);
    if (!file) return file.error();
    try {
        if (file->contains("max_recipients")) cfg.max_recipients = file->at("max_recipients").get<size_t>();
        if (file->contains("max_message_bytes")) cfg.max_message_bytes = file->at("max_message_bytes").get<size_t>();
        if (file->contains("rate_per_minute")) cfg.default_rate_per_minute = file->at("rate_per_minute").get<int64_t>();
        if (file->contains("rate_per_day")) cfg.default_rate_per_day = file->at("rate_per_day").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
        return invalid("config", std::string("bad configuration value: ") + e.what());
    }
    return cfg;
}

Status smtp_session_limits(const Args& args, size_t& per_client, size_t& total) {
    auto file = read_config(args);
    if (!file) return file.error();
    struct Limit {
        const char* key;
        const char* flag;
        size_t* out;
    };
    for (Limit l : {Limit{"smtp_client_limit", "smtp-client-limit", &per_client},
                    Limit{"smtp_session_limit", "smtp-session-limit", &total}}) {
        if (auto v = file->find(l.key); v != file->end()) {
            if (!v->is_number_unsigned() || v->get<size_t>() == 0)
                return invalid("config", std::string("\"") + l.key + "\" must be a positive number");
            *l.out = v->get<size_t>();
        }
        if (args.has(l.flag)) *l.out = static_cast<size_t>(args.positive(l.flag, 1));
    }
    return Ok{};
}

Result<std::vector<std::string>> http_hosts(const Args& args) {
    auto file = read_config(args);
    if (!file) return file.error();
    std::vector<std::string> hosts;
    if (auto v = file->find("http_hosts"); v != file->end()) {
        if (!v->is_array()) return invalid("config", "\"http_hosts\" must be an array of host names");
        for (const auto& h : *v) {
            if (!h.is_string() || h.get<std::string>().empty())
                return invalid("config", "\"http_hosts\" must be an array of host names");
            hosts.push_back(h.get<std::string>());
        }
    }
    for (const auto& h : args.all("http-host")) {
        if (h.empty() || h.find_first_of(":/ ") != std::string::npos)
            return invalid("http-host", "--http-host takes a host name without port or scheme, got '" + h + "'");
        hosts.push_back(h);
    }
    return hosts;
}

App::App(std::unique_ptr<store::DataDir> data, RelayConfig relay_config, delivery::DeliveryConfig config)
    : data_(std::move(data)),
      relay_(*data_, clock_, relay_config),
      api_(relay_),
      mcp_(registry_, mcp::ServerIdentity{"agentrelay", AGENTRELAY_VERSION,
                                          "Send email and read this agent's inbox. send_email queues a "
                                          "message and returns its message_id at once; delivery happens "
                                          "in the background: poll check_status with the message_id to "
                                          "see what became of each recipient, and list_bounces for "
                                          "failures. list_messages/read_message/wait_for_message read "
                                          "the inbox."}),
      background_delivery_(config.background_priority),
      engine_(relay_, std::move(config), clock_, io_) {
    api_.register_all(registry_);
    mcp_.set_resources(&resources_);
    relay_.on_queued([this](const std::string& agent) { engine_.notify(agent); });
    Metrics::instance().gauge("agentrelay_queue_recipients", "Recipients by delivery status", [this] {
        std::map<std::string, int64_t> out;
        for (const auto& name : data_->agent_names()) {
            auto store = data_->agent_store(name);
            if (!store) continue;
            for (const char* s : {store::kQueued, store::kDeferred}) {
                auto n = (*store)->count_by_status(s);
                if (n) out[std::string("{status=\"") + s + "\"}"] += *n;
            }
        }
        return out;
    });
}

App::~App() { stop(); }

namespace {
std::thread run_loop(asio::io_context& io, const char* name, bool background) {
    return std::thread([&io, name, background] {
        name_this_thread(name);
        if (background) lower_this_thread_priority();
        try {
            io.run();
        } catch (const std::exception& e) {
            spdlog::critical("{} event loop stopped: {}", name, e.what());
        }
    });
}
}  // namespace

void App::start() {
    work_ = std::make_unique<WorkGuard>(io_.get_executor());
    doors_work_ = std::make_unique<WorkGuard>(doors_io_.get_executor());
    engine_.start();
    io_thread_ = run_loop(io_, "ar-delivery", background_delivery_);
    doors_thread_ = run_loop(doors_io_, "ar-smtp", false);
}

void App::stop() {
    if (!io_thread_.joinable()) return;
    engine_.stop();
    work_.reset();
    doors_work_.reset();
    io_.stop();
    doors_io_.stop();
    io_thread_.join();
    doors_thread_.join();
    // A commit still in the stores' writers would post its completion to a loop that is
    // about to be destroyed; wait for them while the loops still exist.
    data_->drain();
}

}  // namespace ar::cli
