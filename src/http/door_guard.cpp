#include "http/door_guard.h"

#include <algorithm>
#include <cctype>

#include <arpa/inet.h>

#include "core/text.h"

namespace ar::http {
std::size_t body_limit_for(std::size_t max_message_bytes) {
    return max_message_bytes / 3 * 4 + max_message_bytes / 16 + (1u << 20);
}

bool host_allowed(std::string_view host_header, const std::vector<std::string>& hosts) {
    std::string h = ascii_lower(host_header);
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.pop_back();
    if (h.empty()) return false;
    std::string name;
    if (h[0] == '[') {
        auto close = h.find(']');
        if (close == std::string::npos) return false;
        name = h.substr(1, close - 1);
        std::string rest = h.substr(close + 1);
        if (!rest.empty() && rest[0] != ':') return false;
        in6_addr v6{};
        return inet_pton(AF_INET6, name.c_str(), &v6) == 1;
    }
    name = h.substr(0, h.find(':'));
    if (name.empty()) return false;
    in_addr v4{};
    if (inet_pton(AF_INET, name.c_str(), &v4) == 1) return true;
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name == "localhost") return true;
    return std::any_of(hosts.begin(), hosts.end(), [&](const std::string& allowed) { return ascii_lower(allowed) == name; });
}

} // namespace ar::http
