#include "mcp/resources.h"

#include <utility>

namespace ar::mcp {

void SessionChannel::set_sink(Sink sink) {
    std::lock_guard lock(mu_);
    sink_ = std::move(sink);
    ++token_;
}

void SessionChannel::clear_sink_if(uint64_t token) {
    std::lock_guard lock(mu_);
    if (token_ == token) sink_ = nullptr;
}

uint64_t SessionChannel::sink_token() const {
    std::lock_guard lock(mu_);
    return token_;
}

bool SessionChannel::has_sink() const {
    std::lock_guard lock(mu_);
    return static_cast<bool>(sink_);
}

void SessionChannel::send(const nlohmann::json& notification) {
    Sink sink;
    {
        std::lock_guard lock(mu_);
        sink = sink_;
    }
    if (sink) sink(notification);
}

bool SessionChannel::subscribe(const std::string& uri) {
    std::lock_guard lock(mu_);
    return subscribed_.emplace(uri, true).second;
}

bool SessionChannel::unsubscribe(const std::string& uri) {
    std::lock_guard lock(mu_);
    return subscribed_.erase(uri) > 0;
}

std::vector<std::string> SessionChannel::subscriptions() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [uri, _] : subscribed_)
        out.push_back(uri);
    return out;
}

void SessionChannel::keep_watch(std::shared_ptr<void> watch) {
    std::shared_ptr<void> old;
    {
        std::lock_guard lock(mu_);
        old = std::exchange(watch_, std::move(watch));
    }
}

bool SessionChannel::watching() const {
    std::lock_guard lock(mu_);
    return static_cast<bool>(watch_);
}

void SessionChannel::drop_watch() {
    keep_watch(nullptr);
}

} // namespace ar::mcp
