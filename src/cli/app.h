// app.h: one running agentrelay: the relay core, its doors and the delivery engine.
//
// `serve` and `mcp` both build an App from a data dir and delivery options; they
// differ only in which doors they open.
#pragma once

#include <asio.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "core/clock.h"
#include "relay/relay.h"
#include "delivery/config.h"
#include "delivery/engine.h"
#include "mcp/server.h"
#include "store/data_dir.h"
#include "tools/handlers.h"
#include "tools/mailbox_resources.h"
#include "tools/registry.h"

namespace ar::cli {

// The flags serve and mcp share (interface.md, "Delivery options").
std::vector<FlagSpec> delivery_flags();
// Builds the delivery configuration from --config FILE and the flags (flags win). The HELO
// name stays empty unless given: the caller fills in the hosted domain.
Result<delivery::DeliveryConfig> delivery_config(const Args& args);
// Relay limits from --config FILE ("max_recipients", "max_message_bytes", rate defaults).
Result<RelayConfig> relay_config(const Args& args);
// The SMTP listeners' session caps from --config FILE ("smtp_client_limit": sessions at once
// from one client address, "smtp_session_limit": in all) and the flags --smtp-client-limit and
// --smtp-session-limit (flags win); `per_client` and `total` keep their values when not given.
// The names the HTTP door answers to in browser requests (config "http_hosts", then every
// --http-host), beside localhost and IP literals (http/door_guard.h).
Result<std::vector<std::string>> http_hosts(const Args& args);
Status smtp_session_limits(const Args& args, size_t& per_client, size_t& total);

class App {
  public:
    App(std::unique_ptr<store::DataDir> data, RelayConfig relay_config, delivery::DeliveryConfig config);
    ~App();

    Relay& relay() { return relay_; }
    tools::ToolApi& api() { return api_; }
    tools::ToolRegistry& registry() { return registry_; }
    mcp::McpServer& mcp() { return mcp_; }
    // The SMTP listeners' event loop (its own thread, at normal priority).
    asio::io_context& doors_io() { return doors_io_; }
    store::DataDir& data() { return *data_; }

    // Runs the delivery engine's event loop on its own thread (at background priority, see
    // core/threads.h) and the doors' event loop on another.
    void start();
    void stop();

  private:
    SystemClock clock_;
    std::unique_ptr<store::DataDir> data_;
    Relay relay_;
    tools::ToolApi api_;
    tools::ToolRegistry registry_;
    tools::MailboxResources resources_{api_, relay_, api_.waiters()};
    mcp::McpServer mcp_;
    asio::io_context io_;  // the delivery engine
    asio::io_context doors_io_;
    using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;
    std::unique_ptr<WorkGuard> work_, doors_work_;
    bool background_delivery_;
    delivery::Engine engine_;
    std::thread io_thread_, doors_thread_;
};

}  // namespace ar::cli
