// run.cpp: `serve` (the long-running relay) and `mcp` (one agent's stdio session).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/commands.h"
#include "delivery/config.h"
#include "http/door.h"
#include "http/door_guard.h"
#include "http/rest.h"
#include "mcp/http_transport.h"
#include "mcp/stdio_transport.h"
#include "doors/smtp_doors.h"
#include "webhooks/sender.h"

namespace ar::cli {

namespace {

constexpr const char* kServeHelp = R"(usage: agentrelay serve [--data DIR] [listeners] [delivery options]

The long-running relay: every listener named, plus the delivery engine.
  --http ADDR:PORT          MCP Streamable HTTP at /mcp and the REST API (/v1/...)
  --http-host NAME          a name browsers may reach --http by (repeatable; localhost and IP
                            addresses always pass): a browser request naming any other Host
                            is refused (403), against DNS rebinding
  --webhook-allow-private   webhooks agents register over REST may target private, loopback
                            and reserved addresses (the operator's own network)
  --submission ADDR:PORT    SMTP submission, STARTTLS required before AUTH
  --submissions ADDR:PORT   SMTP submission over implicit TLS
  --inbound ADDR:PORT       MX for the hosted domain (agents' inboxes, bounces)
  --tls-cert FILE --tls-key FILE   certificate for the SMTP listeners (default: the data dir's)
  --trusted-network CIDR=AGENT     clients in CIDR may submit without AUTH as AGENT (repeatable)
  --smtp-client-limit N     SMTP sessions at once from one client address, per listener
                            (default 50; past it: 421 4.7.0)
  --smtp-session-limit N    SMTP sessions at once in all, per listener (default 1000)

Without --data, serve runs on its embedded default: ./agentrelay-data hosting the domain
agents.localhost (created on first start, with an agent "assistant" whose key is printed),
and, without listeners, --http 127.0.0.1:8025 --inbound 127.0.0.1:2525.
Mail between agents of the hosted domain is delivered locally and needs no network.

Delivery options:
  --dns HOST:PORT[,HOST:PORT...]   resolvers for delivery and the inbound MX's SPF/DKIM/DMARC
                                   checks (default: the system's)
  --smtp-port N                    port used to reach MX hosts (default 25)
  --route DOMAIN=HOST:PORT         fixed next hop for DOMAIN, repeatable; DOMAIN '*' = smarthost
  --retry-initial DUR --retry-max DUR --max-age DUR   (DUR like 500ms, 30s, 5m, 4h, 5d)
  --helo-name NAME                 our name in EHLO (default: the hosted domain)
  --retention DUR                  keep finished messages, inbox mail and bounces this long
                                   (default 30d; 0d keeps everything; at least 1d)
  --intake-first DUR               while mail pours in and the CPUs are full, new deliveries
                                   wait, each at most DUR (default 10s; 0s: never)
  --config FILE                    the same settings as a JSON file; flags win
)";

constexpr const char* kMcpHelp = R"(usage: agentrelay mcp --data DIR [--agent NAME] [delivery options]

One agent's MCP session over stdin/stdout, as an MCP client launches it. The agent is named
by --agent, or by the API key in the environment variable AGENTRELAY_API_KEY. Only MCP
messages are written to stdout; logs go to stderr. Exits when stdin closes; whatever is
still queued stays queued for the next process on DIR. Delivery options as for serve.
)";

constexpr const char* kDefaultDataDir = "agentrelay-data";
constexpr const char* kDefaultDomain = "agents.localhost";

// Blocks SIGINT/SIGTERM in every thread started after this; waits for one of them.
sigset_t block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

Result<std::unique_ptr<store::DataDir>> open_data(const Args& args, bool allow_default, bool& created) {
    created = false;
    if (args.has("data")) return store::DataDir::open(*args.get("data"));
    if (!allow_default) return invalid("data", "--data DIR is required");
    bool fresh = !std::filesystem::exists(std::string(kDefaultDataDir) + "/control.db");
    auto data = initialize(kDefaultDataDir, kDefaultDomain);
    if (!data) return data.error();
    created = fresh;
    return data;
}

// Ends the process once the doors are closed and the event loop has stopped. Everything
// accepted is already on disk (every write is committed before it is acknowledged), and a
// delivery cut short keeps its lease, which the next process on the data dir releases, so
// there is nothing to unwind: coroutines still suspended on the event loop are simply dropped.
[[noreturn]] void exit_now(int status) {
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(status);
}

// A relay holds a descriptor per connection (HTTP, SMTP in and out) and per open store: the
// soft limit (often 1024) is raised to the hard one, as a server started by systemd expects.
void raise_descriptor_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 1u << 20);
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) spdlog::warn("cannot raise the descriptor limit: {}", std::strerror(errno));
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
    auto specs = delivery_flags();
    for (FlagSpec f : std::vector<FlagSpec>{{"data"}, {"http"}, {"submission"}, {"submissions"}, {"inbound"},
                                            {"tls-cert"}, {"tls-key"}, {"trusted-network", true, true},
                                            {"smtp-client-limit"}, {"smtp-session-limit"}, {"http-host", true, true}, {"webhook-allow-private", false}, {"help", false}})
        specs.push_back(f);
    auto args = Args::parse(argv, specs);
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kServeHelp;
        return 0;
    }
    if (!args->positional().empty()) throw UsageError{"serve takes no argument '" + args->positional()[0] + "'"};
    std::optional<std::pair<std::string, uint16_t>> http_addr;
    if (auto h = args->get("http")) {
        auto hp = delivery::parse_host_port(*h);
        if (!hp) throw UsageError{"--http: " + hp.error().message};
        http_addr = *hp;
    }
    bool any_listener = args->has("http") || args->has("submission") || args->has("submissions") || args->has("inbound");
    bool use_default = !args->has("data");

    auto dcfg = delivery_config(*args);
    if (!dcfg) throw UsageError{dcfg.error().message};
    auto rcfg = relay_config(*args);
    if (!rcfg) throw UsageError{rcfg.error().message};
    auto hosts = http_hosts(*args);
    if (!hosts) throw UsageError{hosts.error().message};
    sigset_t signals = block_signals();
    raise_descriptor_limit();
    bool created = false;
    auto data = open_data(*args, true, created);
    if (!data) {
        std::cerr << "agentrelay: " << data.error().message << "\n";
        return 1;
    }
    if (dcfg->helo_name.empty()) dcfg->helo_name = (*data)->domain();

    doors::SmtpOptions smtp_opts;
    smtp_opts.submission = args->get("submission");
    smtp_opts.submissions = args->get("submissions");
    smtp_opts.inbound = args->get("inbound");
    smtp_opts.tls_cert = args->get_or("tls-cert", (*data)->tls_cert_path());
    smtp_opts.tls_key = args->get_or("tls-key", (*data)->tls_key_path());
    smtp_opts.trusted_networks = args->all("trusted-network");
    // The SMTP doors refuse what the core would refuse, and say so early (EHLO SIZE).
    smtp_opts.max_message_bytes = rcfg->max_message_bytes;
    smtp_opts.max_recipients = rcfg->max_recipients;
    smtp_opts.dns_servers = dcfg->dns_servers;
    if (auto st = smtp_session_limits(*args, smtp_opts.max_sessions_per_client, smtp_opts.max_sessions); !st)
        throw UsageError{st.error().message};
    if (use_default && !any_listener) {
        http_addr = std::make_pair(std::string("127.0.0.1"), static_cast<uint16_t>(8025));
        smtp_opts.inbound = "127.0.0.1:2525";
    }
    if (created) {
        auto agent = create_agent(**data, "assistant");
        if (agent) {
            std::cout << "agentrelay: created " << kDefaultDataDir << " for " << kDefaultDomain
                      << " with a first agent (its key is shown only now):\n"
                      << agent->dump() << std::endl;  // now, not when the relay stops
        }
    }

    App app(std::move(*data), *rcfg, std::move(*dcfg));
    auto smtp = doors::start_smtp_doors(app.doors_io(), app.relay(), smtp_opts);
    if (!smtp) {
        std::cerr << "agentrelay: " << smtp.error().message << "\n";
        return 1;
    }
    std::unique_ptr<http::Door> door;
    if (http_addr) {
        http::DoorOptions opts;
        opts.address = http_addr->first;
        opts.port = http_addr->second;
        opts.max_body_bytes = http::body_limit_for(rcfg->max_message_bytes);
        opts.body_budget_bytes = std::max<size_t>(256u << 20, 2 * opts.max_body_bytes);
        opts.hosts = *hosts;
        door = std::make_unique<http::Door>(opts);
        mcp::mount_http(
            *door, app.mcp(),
            [&app](const std::string& key) -> std::optional<std::string> {
                auto a = app.relay().authenticate(key);
                if (!a) return std::nullopt;
                return a->name;
            },
            mcp::HttpOptions{});
        http::RestOptions rest;
        rest.webhook_allow_private = args->has("webhook-allow-private");
        http::mount_rest(*door, app.relay(), app.api(), app.registry(), rest);
        if (auto st = door->bind(); !st) {
            std::cerr << "agentrelay: --http: " << st.error().message << "\n";
            return 1;
        }
    }
    app.start();  // only once every port is ours: a relay that cannot listen claims no mail
    webhooks::Sender webhook_sender(app.relay());  // only serve sends webhooks: one sender a data dir
    webhook_sender.start();
    if (door) {
        door->start();
        spdlog::info("MCP at http://{}:{}/mcp, REST at /v1", http_addr->first, door->port());
    }
    spdlog::info("agentrelay serving {} from {}", app.relay().domain(), app.data().path());

    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: shutting down", sig);
    if (door) door->stop();
    (*smtp)->stop();
    webhook_sender.stop();
    app.stop();
    exit_now(0);
}

int cmd_mcp(const std::vector<std::string>& argv) {
    auto specs = delivery_flags();
    specs.push_back({"data"});
    specs.push_back({"agent"});
    specs.push_back({"help", false});
    auto args = Args::parse(argv, specs);
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kMcpHelp;
        return 0;
    }
    if (!args->positional().empty()) throw UsageError{"mcp takes no argument '" + args->positional()[0] + "'"};
    if (!args->has("data")) throw UsageError{"mcp needs --data DIR"};
    const char* env_key = std::getenv("AGENTRELAY_API_KEY");
    if (!args->has("agent") && (!env_key || !*env_key))
        throw UsageError{"mcp needs --agent NAME or the environment variable AGENTRELAY_API_KEY"};

    auto dcfg = delivery_config(*args);
    if (!dcfg) throw UsageError{dcfg.error().message};
    auto rcfg = relay_config(*args);
    if (!rcfg) throw UsageError{rcfg.error().message};
    block_signals();
    bool created = false;
    auto data = open_data(*args, false, created);
    if (!data) {
        std::cerr << "agentrelay: " << data.error().message << "\n";
        return 1;
    }
    if (dcfg->helo_name.empty()) dcfg->helo_name = (*data)->domain();
    App app(std::move(*data), *rcfg, std::move(*dcfg));

    std::optional<store::AgentRecord> agent;
    if (auto name = args->get("agent")) {
        agent = app.relay().find_agent(*name);
        if (!agent) {
            std::cerr << "agentrelay: no active agent named '" << *name << "'\n";
            return 1;
        }
    } else {
        agent = app.relay().authenticate(env_key);
        if (!agent) {
            std::cerr << "agentrelay: AGENTRELAY_API_KEY is not the key of any active agent\n";
            return 1;
        }
    }
    app.start();
    spdlog::info("MCP session for {} over stdio", agent->address);
    mcp::run_stdio(app.mcp(), agent->name, std::cin, std::cout);
    app.stop();
    exit_now(0);
}

}  // namespace ar::cli
