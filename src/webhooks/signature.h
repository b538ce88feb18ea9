// signature.h: webhook payloads signed as the Standard Webhooks convention says, so any of
// its libraries (or ten lines of Python, see the README) can verify them.
//
// Each POST carries webhook-id (unique per event: receivers dedupe on it), webhook-timestamp
// (Unix seconds) and webhook-signature: "v1," + base64(HMAC-SHA256(key, id "." timestamp "."
// body)), where key is the base64-decoded part of the secret after "whsec_".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ar::webhooks {

// A fresh secret: "whsec_" + base64 of 24 random bytes.
std::string new_secret();

// The webhook-signature value for one delivery (an error for a secret not of the form above).
Result<std::string> sign(std::string_view secret, std::string_view id, int64_t timestamp, std::string_view body);

} // namespace ar::webhooks
