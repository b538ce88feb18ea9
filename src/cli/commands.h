// commands.h: agentrelay's subcommands (README.md, "Command line").
//
// Each takes the words after its name and returns the process exit status:
// 0 success, 1 failure at run time, 2 a usage error (printed as one line).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/data_dir.h"

namespace ar::cli {

int cmd_init(const std::vector<std::string>& argv);
int cmd_agent(const std::vector<std::string>& argv);
int cmd_serve(const std::vector<std::string>& argv);
int cmd_mcp(const std::vector<std::string>& argv);
int cmd_dkim(const std::vector<std::string>& argv);
int cmd_doctor(const std::vector<std::string>& argv);
int cmd_queue(const std::vector<std::string>& argv);
int cmd_suppression(const std::vector<std::string>& argv);
int cmd_webhook(const std::vector<std::string>& argv);

// What `init` does, for serve's embedded default too: creates the data dir, its DKIM keys
// (ed25519 and rsa-2048), the return-path secret and a self-signed TLS certificate if none
// is there. Idempotent.
Result<std::unique_ptr<store::DataDir>> initialize(const std::string& dir, const std::string& domain);
// The DNS records to publish for the data dir's domain, as zone-file lines.
std::string dns_records(store::DataDir& data);
// The agents a command goes through: every one, or the one --agent names (an error when there
// is no such agent).
Result<std::vector<std::string>> agents_to_visit(store::DataDir& data, const std::optional<std::string>& agent);
// Creates an agent; returns {"name", "address", "api_key"} (the key is shown only here).
Result<nlohmann::json> create_agent(store::DataDir& data, const std::string& name);

}  // namespace ar::cli
