// ids.h: identifiers that must be unguessable (message ids, inbox ids, API keys).
#pragma once

#include <string>

namespace ar {

// `bytes` random bytes from OpenSSL's CSPRNG, as lowercase hex.
std::string random_hex(size_t bytes);
// `bytes` random bytes, base64url without padding.
std::string random_token(size_t bytes);

}  // namespace ar
