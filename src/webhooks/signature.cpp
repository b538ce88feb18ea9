#include "webhooks/signature.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "core/text.h"
#include "mime/encoding.h"

namespace ar::webhooks {

std::string new_secret() {
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for a webhook secret");
    return "whsec_" + mime::base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

Result<std::string> sign(std::string_view secret, std::string_view id, int64_t timestamp, std::string_view body) {
    constexpr std::string_view prefix = "whsec_";
    if (secret.substr(0, prefix.size()) != prefix) return invalid("secret", "a webhook secret starts with whsec_");
    auto key = mime::base64_decode(secret.substr(prefix.size()));
    if (!key || key->empty()) return invalid("secret", "the webhook secret is not base64 after whsec_");
    std::string signed_content = std::string(id) + "." + std::to_string(timestamp) + "." + std::string(body);
    return "v1," + mime::base64_encode(hmac_sha256(*key, signed_content));
}

} // namespace ar::webhooks
