// openssl_error.h: OpenSSL's reason for the latest failure, for error messages.
#pragma once

#include <string>

namespace ar {

// The reason of the most recent OpenSSL error ("unknown OpenSSL error" if none); clears the
// error queue, so a later failure does not report a stale reason.
std::string openssl_reason();

}  // namespace ar
