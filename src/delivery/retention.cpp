#include "delivery/retention.h"

#include <spdlog/spdlog.h>

namespace ar::delivery {

bool purge_expired(store::DataDir& data, int64_t before_ms, int batch, int64_t days) {
    bool more = false;
    for (const auto& agent : data.agent_names()) {
        auto store = data.agent_store(agent);
        if (!store) continue;
        auto n = (*store)->purge_before(before_ms, batch);
        if (!n) {
            spdlog::warn("retention: purging {}: {}", agent, n.error().message);
            continue;
        }
        if (n->messages + n->inbox + n->bounces > 0)
            spdlog::info("retention: removed {} sent messages, {} inbox messages and {} bounces of {} "
                         "older than {} days",
                         n->messages, n->inbox, n->bounces, agent, days);
        more = more || n->more;
    }
    return more;
}

} // namespace ar::delivery
