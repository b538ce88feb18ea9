// admin.cpp: `init`, `agent create|list|revoke|rotate|limits`.
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/ids.h"
#include "dkim/keys.h"
#include "mime/address.h"
#include "smtp/tls.h"

namespace ar::cli {

namespace {

constexpr const char* kInitHelp = R"(usage: agentrelay init --data DIR --domain DOMAIN [--tls-cert FILE --tls-key FILE]

Creates DIR (SQLite control store, DKIM keys: ed25519 and rsa-2048, a self-signed TLS
certificate unless one is given) and prints the DNS records to publish for DOMAIN.
Running it again on the same DIR changes nothing and prints the records again.
)";

constexpr const char* kAgentHelp = R"(usage: agentrelay agent create NAME --data DIR
       agentrelay agent list --data DIR
       agentrelay agent revoke NAME --data DIR
       agentrelay agent rotate NAME --data DIR
       agentrelay agent limits NAME [--per-minute N|default] [--per-day N|default] --data DIR

create  makes an agent NAME@DOMAIN and prints {"name", "address", "api_key"}; the key is shown
        once and stored only as a hash. It is also the agent's SMTP AUTH password.
list    prints the agents as JSON, one object a line.
revoke  disables the agent's key at once.
rotate  replaces the agent's key and prints the new one.
limits  sets how many messages the agent may send per minute and per day (its own limits win
        over the relay's rate_per_minute/rate_per_day defaults; "default" goes back to them; a
        flag left out keeps its value) and prints them; null means the relay's default.
)";

std::string new_api_key() { return "ar_" + random_token(32); }

// "--per-minute N": a positive count, or "default" (nullopt: the relay's default applies).
Result<std::optional<int64_t>> parse_limit(const std::string& flag, const std::string& value) {
    if (value == "default") return std::optional<int64_t>{};
    int64_t n = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || p != value.data() + value.size() || n < 1)
        return invalid(flag, "--" + flag +
                                 " takes a number of messages (1 or more) or 'default', got '" +
                                 value + "'");
    return std::optional<int64_t>{n};
}

nlohmann::json limits_json(const store::AgentRecord& a) {
    nlohmann::json j{{"name", a.name}, {"rate_per_minute", nullptr}, {"rate_per_day", nullptr}};
    if (a.rate_per_minute) j["rate_per_minute"] = *a.rate_per_minute;
    if (a.rate_per_day) j["rate_per_day"] = *a.rate_per_day;
    return j;
}

std::string today_tag() {
    auto t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
    return buf;
}

}  // namespace

Result<std::unique_ptr<store::DataDir>> initialize(const std::string& dir, const std::string& domain) {
    auto probe = mime::parse_address("postmaster@" + domain);
    if (!probe) return invalid("domain", "'" + domain + "' is not a valid mail domain");
    auto data = store::DataDir::create(dir, domain);
    if (!data) return data.error();
    auto& control = (*data)->control();
    if (!control.setting("return_path_secret")) {
        if (auto st = control.set_setting("return_path_secret", random_hex(32)); !st) return st.error();
    }
    if (control.dkim_keys(domain).empty()) {
        SystemClock clock;
        for (auto alg : {dkim::Algorithm::Ed25519Sha256, dkim::Algorithm::RsaSha256}) {
            auto key = dkim::generate_key(alg);
            if (!key) return key.error();
            store::DkimKeyRecord rec;
            rec.domain = domain;
            rec.selector = "ar" + today_tag() + (alg == dkim::Algorithm::Ed25519Sha256 ? "e" : "r");
            rec.algorithm = dkim::algorithm_tag(alg);
            rec.private_pem = key->private_pem;
            rec.public_key = key->public_key_b64;
            rec.state = "active";
            rec.created_at = clock.now_ms();
            if (auto st = control.add_dkim_key(rec); !st) return st.error();
        }
    }
    auto cert = (*data)->tls_cert_path();
    auto key = (*data)->tls_key_path();
    if (!std::filesystem::exists(cert) || !std::filesystem::exists(key)) {
        if (auto st = smtp::generate_self_signed(cert, key, domain); !st) return st.error();
    }
    return data;
}

std::string dns_records(store::DataDir& data) {
    const std::string& d = data.domain();
    std::string out = "; DNS records to publish for " + d + "\n";
    out += d + ". IN MX 10 " + d + ".\n";
    out += d + ". IN TXT \"v=spf1 a mx -all\"\n";
    for (const auto& k : data.control().dkim_keys(d)) {
        if (k.state == "retired") continue;
        out += dkim::zone_file_lines(d, k.selector, dkim::algorithm_from_tag(k.algorithm), k.public_key) + "\n";
    }
    out += "_dmarc." + d + ". IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@" + d + "\"\n";
    return out;
}

Result<std::vector<std::string>> agents_to_visit(store::DataDir& data, const std::optional<std::string>& agent) {
    if (!agent) return data.agent_names();
    if (!data.control().find_agent(*agent)) return Error{kErrNotFound, "no agent named '" + *agent + "'", "agent"};
    return std::vector<std::string>{*agent};
}

Result<nlohmann::json> create_agent(store::DataDir& data, const std::string& name) {
    if (!store::valid_agent_name(name))
        return invalid("name", "agent name '" + name +
                                   "' is not allowed: use 1-64 of a-z, 0-9, '.', '_' and '-', "
                                   "starting and ending with a letter or digit");
    std::string key = new_api_key();
    std::string address = name + "@" + data.domain();
    SystemClock clock;
    auto rec = data.control().create_agent(name, address, store::hash_api_key(key), clock.now_ms());
    if (!rec) return rec.error();
    return nlohmann::json{{"name", name}, {"address", address}, {"api_key", key}};
}

int cmd_init(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"domain"}, {"tls-cert"}, {"tls-key"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kInitHelp;
        return 0;
    }
    if (!args->has("data") || !args->has("domain")) throw UsageError{"init needs --data DIR and --domain DOMAIN"};
    if (!args->positional().empty()) throw UsageError{"init takes no argument '" + args->positional()[0] + "'"};
    if (args->has("tls-cert") != args->has("tls-key"))
        throw UsageError{"--tls-cert and --tls-key go together"};
    auto data = initialize(*args->get("data"), *args->get("domain"));
    if (!data) {
        std::cerr << "agentrelay: " << data.error().message << "\n";
        return 1;
    }
    if (args->has("tls-cert")) {
        std::error_code ec;
        std::filesystem::copy_file(*args->get("tls-cert"), (*data)->tls_cert_path(),
                                   std::filesystem::copy_options::overwrite_existing, ec);
        if (!ec)
            std::filesystem::copy_file(*args->get("tls-key"), (*data)->tls_key_path(),
                                       std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) {
            std::cerr << "agentrelay: cannot copy the TLS certificate: " << ec.message() << "\n";
            return 1;
        }
    }
    std::cout << dns_records(**data);
    return 0;
}

int cmd_agent(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"per-minute"}, {"per-day"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kAgentHelp;
        return 0;
    }
    const auto& pos = args->positional();
    if (pos.empty())
        throw UsageError{"agent needs an action: create, list, revoke, rotate or limits"};
    if (!args->has("data")) throw UsageError{"agent " + pos[0] + " needs --data DIR"};
    const std::string& action = pos[0];
    bool needs_name =
        action == "create" || action == "revoke" || action == "rotate" || action == "limits";
    if (action != "list" && !needs_name) throw UsageError{"unknown agent action '" + action + "'"};
    if (needs_name && pos.size() != 2) throw UsageError{"agent " + action + " needs exactly one NAME"};
    if (!needs_name && pos.size() != 1) throw UsageError{"agent list takes no NAME"};
    if (action != "limits" && (args->has("per-minute") || args->has("per-day")))
        throw UsageError{"--per-minute and --per-day go with agent limits"};

    auto data = store::DataDir::open(*args->get("data"));
    if (!data) {
        std::cerr << "agentrelay: " << data.error().message << "\n";
        return 1;
    }
    auto& control = (*data)->control();
    auto fail = [](const Error& e) {
        std::cerr << "agentrelay: " << e.message << "\n";
        return 1;
    };
    if (action == "create") {
        auto r = create_agent(**data, pos[1]);
        if (!r) return fail(r.error());
        std::cout << r->dump() << "\n";
        return 0;
    }
    if (action == "list") {
        for (const auto& a : control.list_agents(true)) {
            nlohmann::json j{{"name", a.name}, {"address", a.address}, {"created_at", format_rfc3339(a.created_at)},
                             {"revoked", a.revoked_at.has_value()}};
            auto limits = limits_json(a);
            j["rate_per_minute"] = limits["rate_per_minute"];
            j["rate_per_day"] = limits["rate_per_day"];
            std::cout << j.dump() << "\n";
        }
        return 0;
    }
    if (action == "revoke") {
        SystemClock clock;
        if (auto st = control.revoke_agent(pos[1], clock.now_ms()); !st) return fail(st.error());
        std::cout << nlohmann::json{{"name", pos[1]}, {"revoked", true}}.dump() << "\n";
        return 0;
    }
    if (action == "limits") {
        auto agent = control.find_agent(pos[1]);
        if (!agent) return fail(Error{kErrNotFound, "no agent named '" + pos[1] + "'", ""});
        struct Flag {
            const char* name;
            std::optional<int64_t>* value;
        };
        for (Flag f : {Flag{"per-minute", &agent->rate_per_minute},
                       Flag{"per-day", &agent->rate_per_day}}) {
            auto v = args->get(f.name);
            if (!v) continue;
            auto limit = parse_limit(f.name, *v);
            if (!limit) throw UsageError{limit.error().message};
            *f.value = *limit;
        }
        auto st = control.set_agent_limits(pos[1], agent->rate_per_minute, agent->rate_per_day);
        if (!st) return fail(st.error());
        std::cout << limits_json(*agent).dump() << "\n";
        return 0;
    }
    auto agent = control.find_agent(pos[1]);
    if (!agent || agent->revoked_at) return fail(Error{kErrNotFound, "no active agent named '" + pos[1] + "'", ""});
    std::string key = new_api_key();
    if (auto st = control.set_key_hash(pos[1], store::hash_api_key(key)); !st) return fail(st.error());
    std::cout << nlohmann::json{{"name", agent->name}, {"address", agent->address}, {"api_key", key}}.dump() << "\n";
    return 0;
}

}  // namespace ar::cli
