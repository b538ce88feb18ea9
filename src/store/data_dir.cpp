#include "store/data_dir.h"

#include <set>

#include <filesystem>
#include <system_error>

namespace ar::store {

namespace fs = std::filesystem;

bool valid_agent_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum) continue;
        if (i == 0 || i + 1 == name.size()) return false;
        if (c != '.' && c != '_' && c != '-') return false;
        if (c == '.' && name[i - 1] == '.') return false;
    }
    return true;
}

DataDir::DataDir(std::string path, std::unique_ptr<ControlStore> control, std::string domain)
    : path_(std::move(path)), control_(std::move(control)), domain_(std::move(domain)) {}

Result<std::unique_ptr<DataDir>> DataDir::open(const std::string& path) {
    if (!fs::exists(path + "/control.db"))
        return Error{kErrNotFound,
                     "data dir " + path + " is not initialised: run `agentrelay init --data " + path +
                         " --domain DOMAIN` first",
                     "data"};
    auto control = ControlStore::open(path);
    if (!control) return control.error();
    auto domain = (*control)->setting("domain");
    if (!domain) return Error{kErrInternal, "data dir " + path + " has no hosted domain set", "data"};
    std::error_code ec;
    fs::create_directories(path + "/agents", ec);
    return std::unique_ptr<DataDir>(new DataDir(path, std::move(*control), *domain));
}

Result<std::unique_ptr<DataDir>> DataDir::create(const std::string& path, const std::string& domain) {
    std::error_code ec;
    fs::create_directories(path + "/agents", ec);
    if (ec) return Error{kErrInternal, "cannot create " + path + ": " + ec.message(), "data"};
    fs::create_directories(path + "/tls", ec);
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace, ec);
    auto control = ControlStore::open(path);
    if (!control) return control.error();
    auto existing = (*control)->setting("domain");
    if (existing && *existing != domain)
        return Error{kErrConflict,
                     "data dir " + path + " already hosts domain " + *existing + ", not " + domain,
                     "domain"};
    if (!existing) {
        auto st = (*control)->set_setting("domain", domain);
        if (!st) return st.error();
    }
    return std::unique_ptr<DataDir>(new DataDir(path, std::move(*control), domain));
}

Result<AgentStore*> DataDir::agent_store(const std::string& agent_name) {
    if (!valid_agent_name(agent_name))
        return Error{kErrInvalid, "invalid agent name '" + agent_name + "'", "agent"};
    std::lock_guard lk(mu_);
    auto it = agents_.find(agent_name);
    if (it != agents_.end()) return it->second.get();
    try {
        auto store = std::make_unique<AgentStore>(path_ + "/agents/" + agent_name + ".db");
        auto* p = store.get();
        agents_.emplace(agent_name, std::move(store));
        return p;
    } catch (const StoreError& e) {
        return Error{kErrInternal, e.what(), ""};
    }
}

std::vector<std::string> DataDir::agent_names() {
    std::lock_guard lk(mu_);
    auto now = std::chrono::steady_clock::now();
    if (listed_at_ == std::chrono::steady_clock::time_point{} || now - listed_at_ >= kAgentListInterval) {
        listed_.clear();
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(path_ + "/agents", ec)) {
            auto p = entry.path();
            if (p.extension() != ".db") continue;
            auto name = p.stem().string();
            if (valid_agent_name(name)) listed_.push_back(name);
        }
        listed_at_ = now;
    }
    std::set<std::string> names(listed_.begin(), listed_.end());
    for (const auto& [name, store] : agents_) names.insert(name);
    return {names.begin(), names.end()};
}

void DataDir::drain() {
    std::vector<AgentStore*> stores;
    {
        std::lock_guard lk(mu_);
        for (auto& [name, store] : agents_) stores.push_back(store.get());
    }
    for (auto* s : stores) s->drain();
    control_->drain();
}

}  // namespace ar::store
