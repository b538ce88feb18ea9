#include "relay/events.h"

#include <algorithm>
#include <utility>

#include "store/agent_store.h"

namespace ar {

namespace {

// Public type, store types.
const std::vector<std::pair<std::string, std::vector<std::string>>>& mapping() {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> m = {
        {"message.queued", {store::kEventSubmitted}},
        {"message.delivered", {"delivered"}},
        {"message.deferred", {"deferred"}},
        {"message.bounced", {"bounced", "expired"}},
        {"message.suppressed", {"suppressed"}},
        {"message.received", {store::kEventReceived}},
    };
    return m;
}

} // namespace

Result<std::vector<std::string>> store_event_types(const std::vector<std::string>& public_types) {
    std::vector<std::string> out;
    const auto& m = mapping();
    for (const auto& t : public_types) {
        auto it = std::find_if(m.begin(), m.end(), [&](const auto& p) { return p.first == t; });
        if (it == m.end()) {
            std::string known;
            for (const auto& [name, _] : m) known += (known.empty() ? "" : ", ") + name;
            return invalid("types", "unknown event type '" + t + "'; the types are " + known);
        }
        out.insert(out.end(), it->second.begin(), it->second.end());
    }
    if (public_types.empty())  // every type the feed shows
        for (const auto& [name, stored] : m) out.insert(out.end(), stored.begin(), stored.end());
    return out;
}

std::string public_event_type(const std::string& store_type) {
    for (const auto& [name, stored] : mapping())
        if (std::find(stored.begin(), stored.end(), store_type) != stored.end()) return name;
    return "";
}

std::string event_id(int64_t seq) {
    return "ev_" + std::to_string(seq);
}

Result<int64_t> parse_event_id(const std::string& id, const char* field) {
    auto bad = [&] {
        return invalid(field, std::string(field) + " must be an event id like ev_42 (one this server returned), got '" +
                                  id + "'");
    };
    if (id.size() < 4 || id.size() > 21 || id.compare(0, 3, "ev_") != 0) return bad();  // at most 18 digits
    if (!std::all_of(id.begin() + 3, id.end(), [](char c) { return c >= '0' && c <= '9'; })) return bad();
    return std::stoll(id.substr(3));
}

} // namespace ar
