// webhook.cpp: `agentrelay webhook add|list|remove|test`, the operator's webhooks: where an
// agent's events (or every agent's) are POSTed, signed (webhooks/). Works beside a running
// relay on the same data dir: its sender sees a new webhook at its next look.
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/ids.h"
#include "webhooks/registry.h"
#include "webhooks/sender.h"
#include "webhooks/target.h"

namespace ar::cli {

namespace {

constexpr const char* kWebhookHelp = R"(usage: agentrelay webhook add URL (--agent NAME | --all) --data DIR [--allow-private]
       agentrelay webhook list --data DIR
       agentrelay webhook remove ID --data DIR
       agentrelay webhook test ID --data DIR

A webhook receives an agent's events (--agent NAME), or every agent's (--all), as signed
POSTs in the Standard Webhooks convention (webhook-id, webhook-timestamp, webhook-signature):
message.queued, message.delivered, message.deferred, message.bounced, message.suppressed,
message.received. Each event is retried until answered 2xx, in order, at least once.

add     prints {"id", "url", "agent", "secret"}: the secret (whsec_...) is shown only now.
        A URL whose host is at a private, loopback or reserved address is refused unless
        --allow-private says the operator means it.
list    prints each webhook, one JSON object a line: id, url, agent ("*" for --all),
        created_at, and per agent its last delivered event, failures in a row, next attempt,
        last error and last success.
remove  deletes the webhook and its progress.
test    POSTs one webhook.test event now and prints {"id", "status"} (exit 1 unless 2xx).
)";

int fail(const std::string& message) {
    std::cerr << "agentrelay: " << message << "\n";
    return 1;
}

std::optional<store::WebhookRecord> find_webhook(store::ControlStore& control, const std::string& id) {
    for (auto& w : control.webhooks())
        if (w.id == id) return w;
    return std::nullopt;
}

}  // namespace

int cmd_webhook(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"agent"}, {"all", false}, {"allow-private", false}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kWebhookHelp;
        return 0;
    }
    const auto& pos = args->positional();
    static const std::vector<std::string> actions = {"add", "list", "remove", "test"};
    if (pos.empty() || std::find(actions.begin(), actions.end(), pos[0]) == actions.end())
        throw UsageError{"webhook needs one action: add, list, remove or test"};
    const std::string& action = pos[0];
    if (action == "list" ? pos.size() != 1 : pos.size() != 2)
        throw UsageError{"webhook " + action + (action == "list" ? " takes no argument" : action == "add" ? " takes one URL" : " takes one ID")};
    if (!args->has("data")) throw UsageError{"webhook " + action + " needs --data DIR"};
    if (action == "add" && args->has("agent") == args->has("all"))
        throw UsageError{"webhook add needs --agent NAME or --all (every agent's events)"};
    if (action != "add" && (args->has("agent") || args->has("all") || args->has("allow-private")))
        throw UsageError{"--agent, --all and --allow-private go with webhook add"};

    auto data = store::DataDir::open(*args->get("data"));
    if (!data) return fail(data.error().message);
    auto& control = (*data)->control();
    SystemClock clock;

    if (action == "add") {
        if (!webhooks::parse_url(pos[1])) throw UsageError{webhooks::parse_url(pos[1]).error().message};
        auto hook = webhooks::create(control, pos[1], args->get("agent").value_or(""), args->has("allow-private"),
                                     clock.now_ms());
        if (!hook) return fail(hook.error().message);
        std::cout << webhooks::created(*hook).dump() << "\n";
        return 0;
    }
    if (action == "list") {
        for (const auto& w : control.webhooks())
            std::cout << webhooks::describe(control, w).dump() << "\n";
        return 0;
    }
    if (action == "remove") {
        auto removed = control.remove_webhook(pos[1]);
        if (!removed) return fail(removed.error().message);
        if (!*removed) return fail("no webhook with id '" + pos[1] + "'");
        std::cout << nlohmann::json{{"id", pos[1]}, {"removed", true}}.dump() << "\n";
        return 0;
    }
    auto hook = find_webhook(control, pos[1]);
    if (!hook) return fail("no webhook with id '" + pos[1] + "'");
    std::string id = "test_" + random_hex(8);
    std::string body = nlohmann::json{{"type", "webhook.test"},
                                      {"timestamp", format_rfc3339(clock.now_ms())},
                                      {"data", {{"webhook_id", hook->id}}}}.dump();
    auto status = webhooks::post(*hook, id, body, clock.now_ms());
    if (!status) return fail(status.error().message);
    std::cout << nlohmann::json{{"id", id}, {"status", *status}}.dump() << "\n";
    return *status >= 200 && *status < 300 ? 0 : 1;
}

}  // namespace ar::cli
