// main.cpp: agentrelay's command line (README.md, "Command line").
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"

namespace {

constexpr const char* kHelp = R"(agentrelay: an email relay and mailbox for AI agents, as MCP tools

usage: agentrelay COMMAND [options]     (agentrelay COMMAND --help for each)

  init --data DIR --domain DOMAIN       create a data dir; print the DNS records to publish
  agent create|list|revoke|rotate|limits  manage agents, their API keys and send limits
  serve [--data DIR] [listeners]        run the relay: MCP over HTTP, REST, SMTP, delivery
  mcp --data DIR [--agent NAME]         one agent's MCP session over stdio
  dkim list|rotate|activate             DKIM keys of the hosted domain
  doctor --data DIR                     check the domain's published DNS records
  queue list|retry --data DIR           the delivery queue (like mailq), and retrying it now
  suppression list|add|remove --data DIR  each agent's suppression list (bounced addresses)
  webhook add|list|remove|test --data DIR  signed POSTs of agents' events to your endpoints
  version                               print the version
)";

}  // namespace

int main(int argc, char** argv) {
    // Logs go to stderr only: stdout carries command output (and MCP messages for `mcp`).
    auto logger = spdlog::stderr_color_mt("agentrelay");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    if (const char* level = std::getenv("AGENTRELAY_LOG")) spdlog::set_level(spdlog::level::from_str(level));

    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kHelp;
        return args.empty() ? 2 : 0;
    }
    std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        if (cmd == "init") return ar::cli::cmd_init(rest);
        if (cmd == "agent") return ar::cli::cmd_agent(rest);
        if (cmd == "serve") return ar::cli::cmd_serve(rest);
        if (cmd == "mcp") return ar::cli::cmd_mcp(rest);
        if (cmd == "dkim") return ar::cli::cmd_dkim(rest);
        if (cmd == "doctor") return ar::cli::cmd_doctor(rest);
        if (cmd == "queue") return ar::cli::cmd_queue(rest);
        if (cmd == "suppression") return ar::cli::cmd_suppression(rest);
        if (cmd == "webhook") return ar::cli::cmd_webhook(rest);
        if (cmd == "version" || cmd == "--version") {
            std::cout << "agentrelay " << AGENTRELAY_VERSION << "\n";
            return 0;
        }
        throw ar::cli::UsageError{"unknown command '" + cmd + "' (see agentrelay --help)"};
    } catch (const ar::cli::UsageError& e) {
        std::cerr << "agentrelay: " << e.message << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "agentrelay: " << e.what() << "\n";
        return 1;
    }
}
