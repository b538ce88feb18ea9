// ids.h: identifiers that must be unguessable (message ids, inbox ids, API keys).
#pragma once

#include <cstdint>
#include <string>

namespace ar {

// `bytes` random bytes from OpenSSL's CSPRNG, as lowercase hex.
std::string random_hex(size_t bytes);
// prefix + the time in ms (12 hex digits) + 8 random bytes (16 hex digits): unguessable, yet
// ordered by creation, so the stores' indexes on ids grow at their end (few pages touched by
// each commit) instead of at random places.
std::string ordered_id(const char* prefix, int64_t now_ms);
// `bytes` random bytes, base64url without padding.
std::string random_token(size_t bytes);

}  // namespace ar
