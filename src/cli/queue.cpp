// queue.cpp: `agentrelay queue list|retry`, the delivery queue seen and nudged from the command
// line (Postfix's mailq and postqueue -f). Works beside a running relay on the same data dir.
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/clock.h"

namespace ar::cli {

namespace {

constexpr const char* kQueueHelp = R"(usage: agentrelay queue list --data DIR [--agent NAME] [--limit N]
       agentrelay queue retry --data DIR [--agent NAME]

list   prints every recipient still to be delivered, one JSON object a line: agent, message_id,
       recipient, status (queued or deferred), attempts, queued_at, next_attempt_at, the last
       reply (last_code, last_response) and in_flight (a delivery is under way). Deliveries in
       flight come first, then the waiting ones by their next attempt. At most N an agent
       (default 1000).
retry  makes every waiting recipient due now, as Postfix's postqueue -f does; a running relay
       tries them within a second. Prints {"agent", "due_now"} for each agent.
)";

}  // namespace

int cmd_queue(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"agent"}, {"limit"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kQueueHelp;
        return 0;
    }
    const auto& pos = args->positional();
    if (pos.size() != 1 || (pos[0] != "list" && pos[0] != "retry"))
        throw UsageError{"queue needs one action: list or retry"};
    if (!args->has("data")) throw UsageError{"queue " + pos[0] + " needs --data DIR"};
    if (args->has("limit") && pos[0] != "list") throw UsageError{"--limit goes with queue list"};
    int limit = args->positive("limit", 1000);
    auto data = store::DataDir::open(*args->get("data"));
    if (!data) {
        std::cerr << "agentrelay: " << data.error().message << "\n";
        return 1;
    }
    auto agents = agents_to_visit(**data, args->get("agent"));
    if (!agents) {
        std::cerr << "agentrelay: " << agents.error().message << "\n";
        return 1;
    }
    auto fail = [](const std::string& agent, const Error& e) {
        std::cerr << "agentrelay: " << agent << ": " << e.message << "\n";
        return 1;
    };
    SystemClock clock;
    auto opt_time = [](const std::optional<int64_t>& ms) -> nlohmann::json {
        return ms ? nlohmann::json(format_rfc3339(*ms)) : nlohmann::json(nullptr);
    };
    for (const auto& agent : *agents) {
        auto store = (*data)->agent_store(agent);
        if (!store) return fail(agent, store.error());
        if (pos[0] == "retry") {
            auto n = (*store)->retry_now(clock.now_ms());
            if (!n) return fail(agent, n.error());
            std::cout << nlohmann::json{{"agent", agent}, {"due_now", *n}}.dump() << "\n";
            continue;
        }
        auto rows = (*store)->pending(limit);
        if (!rows) return fail(agent, rows.error());
        for (const auto& r : *rows) {
            std::cout << nlohmann::json{{"agent", agent},
                                        {"message_id", r.message_id},
                                        {"recipient", r.address},
                                        {"status", r.status},
                                        {"attempts", r.attempts},
                                        {"queued_at", format_rfc3339(r.queued_at)},
                                        {"next_attempt_at", opt_time(r.next_attempt_at)},
                                        {"last_code", r.last_code ? nlohmann::json(*r.last_code) : nullptr},
                                        {"last_response", r.last_response},
                                        {"in_flight", r.in_flight}}
                             .dump()
                      << "\n";
        }
    }
    return 0;
}

}  // namespace ar::cli
