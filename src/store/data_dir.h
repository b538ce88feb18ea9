// data_dir.h: a data dir on disk and the stores in it.
//
//   DIR/control.db         agents, hashed API keys, settings, DKIM keys (ControlStore)
//   DIR/agents/NAME.db     one database per agent (AgentStore)
//   DIR/tls/cert.pem, key.pem   the certificate the SMTP listeners offer
//
// Several processes may open the same data dir at once; SQLite's locking and the
// delivery leases keep them from stepping on each other.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"
#include "store/agent_store.h"
#include "store/control_store.h"

namespace ar::store {

class DataDir {
  public:
    // Opens an initialised data dir (see `agentrelay init`).
    static Result<std::unique_ptr<DataDir>> open(const std::string& path);
    // Creates the directory and control store if missing and records the hosted domain.
    // Idempotent; a different domain on an existing data dir is an error.
    static Result<std::unique_ptr<DataDir>> create(const std::string& path, const std::string& domain);

    const std::string& path() const { return path_; }
    const std::string& domain() const { return domain_; }
    std::string tls_cert_path() const { return path_ + "/tls/cert.pem"; }
    std::string tls_key_path() const { return path_ + "/tls/key.pem"; }

    ControlStore& control() { return *control_; }
    // The agent's store, opened on first use and kept open.
    Result<AgentStore*> agent_store(const std::string& agent_name);

    // Names of the agent databases present (for the delivery engine's scan): the stores this
    // process opened, and those on disk as last listed (the directory is read at most once
    // every kAgentListInterval, so a scan after every send costs no directory listing).
    std::vector<std::string> agent_names();
    static constexpr std::chrono::milliseconds kAgentListInterval{1000};

    // Waits until every store opened here has committed what was queued and run its
    // completions: called once the event loops those completions post to have stopped, and
    // before they are destroyed.
    void drain();

  private:
    DataDir(std::string path, std::unique_ptr<ControlStore> control, std::string domain);
    std::string path_;
    std::unique_ptr<ControlStore> control_;
    std::string domain_;
    std::mutex mu_;
    std::map<std::string, std::unique_ptr<AgentStore>> agents_;
    std::vector<std::string> listed_;  // the agents directory's databases, as last read
    std::chrono::steady_clock::time_point listed_at_{};
};

// Agent names: 1-64 of a-z 0-9 . _ - starting with a letter or digit (they are local parts).
bool valid_agent_name(const std::string& name);

}  // namespace ar::store
