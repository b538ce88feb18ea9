#include "delivery/leases.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/ids.h"

namespace ar::delivery {

std::string make_lease_owner(const std::string& host) {
    return host + "/" + std::to_string(getpid()) + "/" + random_hex(4);
}

bool lease_owner_is_dead(const std::string& lease_owner, const std::string& self, const std::string& host) {
    if (lease_owner == self) return false;
    auto slash = lease_owner.find('/');
    if (slash == std::string::npos || lease_owner.substr(0, slash) != host) return false;
    auto rest = lease_owner.substr(slash + 1);
    pid_t pid = static_cast<pid_t>(std::atoll(rest.substr(0, rest.find('/')).c_str()));
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

void release_dead_leases(store::DataDir& data, const std::string& self, const std::string& host) {
    for (const auto& agent : data.agent_names()) {
        auto store = data.agent_store(agent);
        if (!store) continue;
        auto st = (*store)->release_leases_if(
            [&](const std::string& lease_owner) { return lease_owner_is_dead(lease_owner, self, host); });
        if (!st) spdlog::warn("delivery: releasing stale leases of {}: {}", agent, st.error().message);
    }
}

} // namespace ar::delivery
