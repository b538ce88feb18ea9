// door_guard.h: the checks of the HTTP door's limits (door.h) that are plain functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ar::http {

// The largest request body for messages of up to max_message_bytes: base64 of attachments (4/3)
// and JSON escapes, with room for the rest of the request.
std::size_t body_limit_for(std::size_t max_message_bytes);

// Whether a Host header value names the door for a browser request: an IP literal ([v6] or v4),
// localhost, or one of `hosts` (case-insensitive), with any port. A DNS-rebinding attack needs
// a name the attacker controls, and no such name passes.
bool host_allowed(std::string_view host_header, const std::vector<std::string>& hosts);

} // namespace ar::http
