// text.h: small text and digest helpers shared by the core, stores and doors.
#pragma once

#include <string>
#include <string_view>

namespace ar {

// ASCII lowercase (domains, agent names, commands); bytes >= 0x80 are left alone.
std::string ascii_lower(std::string_view s);
// Lowercase hex of bytes.
std::string to_hex(const unsigned char* data, size_t size);
// SHA-256 of data, lowercase hex.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256 of data under key, lowercase hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace ar
