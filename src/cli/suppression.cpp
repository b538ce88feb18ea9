// suppression.cpp: `agentrelay suppression list|add|remove`, each agent's suppression list seen
// and edited by the operator (SES's suppression list API on the command line). Works beside a
// running relay on the same data dir: its next send to the address sees the change.
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "mime/address.h"

namespace ar::cli {

namespace {

constexpr const char* kSuppressionHelp = R"(usage: agentrelay suppression list --data DIR [--agent NAME] [--limit N]
       agentrelay suppression add ADDRESS --agent NAME --data DIR [--reason TEXT]
       agentrelay suppression remove ADDRESS --agent NAME --data DIR

Each agent has its own suppression list: a hard bounce of a bad address (5.1.1 and the like)
puts the address there, and later mail to it is not attempted (the recipient's status is
suppressed). Addresses compare without regard to case.

list    prints each suppressed address, newest first, one JSON object a line: agent, address,
        reason (the bounce that put it there, or --reason), created_at. At most N an agent
        (default 1000).
add     suppresses ADDRESS for the agent (reason: --reason, default "added by the operator").
        Prints {"agent", "address", "added"}; added is false when it was listed already.
remove  takes ADDRESS off the list: the agent's next mail to it is attempted again. Prints
        {"agent", "address", "removed": true}; an address that is not listed is an error.
)";

int fail(const std::string& message) {
    std::cerr << "agentrelay: " << message << "\n";
    return 1;
}

}  // namespace

int cmd_suppression(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"agent"}, {"limit"}, {"reason"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kSuppressionHelp;
        return 0;
    }
    const auto& pos = args->positional();
    if (pos.empty() || (pos[0] != "list" && pos[0] != "add" && pos[0] != "remove"))
        throw UsageError{"suppression needs one action: list, add or remove"};
    const std::string& action = pos[0];
    bool list = action == "list";
    if (list && pos.size() != 1) throw UsageError{"suppression list takes no address"};
    if (!list && pos.size() != 2) throw UsageError{"suppression " + action + " takes one ADDRESS"};
    if (!args->has("data")) throw UsageError{"suppression " + action + " needs --data DIR"};
    if (!list && !args->has("agent")) throw UsageError{"suppression " + action + " needs --agent NAME"};
    if (args->has("limit") && !list) throw UsageError{"--limit goes with suppression list"};
    if (args->has("reason") && action != "add") throw UsageError{"--reason goes with suppression add"};
    int limit = args->positive("limit", 1000);
    std::string address;
    if (!list) {
        auto mb = mime::parse_address(pos[1]);
        if (!mb) throw UsageError{"'" + pos[1] + "' is not an email address: " + mb.error().message};
        address = mb->address();
    }

    auto data = store::DataDir::open(*args->get("data"));
    if (!data) return fail(data.error().message);
    auto agents = agents_to_visit(**data, args->get("agent"));
    if (!agents) return fail(agents.error().message);
    for (const auto& agent : *agents) {
        auto store = (*data)->agent_store(agent);
        if (!store) return fail(agent + ": " + store.error().message);
        if (action == "add") {
            auto added = (*store)->suppress(address, args->get("reason").value_or("added by the operator"),
                                            SystemClock().now_ms());
            if (!added) return fail(agent + ": " + added.error().message);
            std::cout << nlohmann::json{{"agent", agent}, {"address", address}, {"added", *added}}.dump() << "\n";
        } else if (action == "remove") {
            auto removed = (*store)->unsuppress(address);
            if (!removed) return fail(agent + ": " + removed.error().message);
            if (!*removed) return fail(address + " is not on " + agent + "'s suppression list");
            std::cout << nlohmann::json{{"agent", agent}, {"address", address}, {"removed", true}}.dump() << "\n";
        } else {
            auto rows = (*store)->suppressions(limit);
            if (!rows) return fail(agent + ": " + rows.error().message);
            for (const auto& r : *rows)
                std::cout << nlohmann::json{{"agent", agent},
                                            {"address", r.address},
                                            {"reason", r.reason},
                                            {"created_at", format_rfc3339(r.created_at)}}
                                 .dump()
                          << "\n";
        }
    }
    return 0;
}

}  // namespace ar::cli
