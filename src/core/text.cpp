#include "core/text.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace ar {

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string to_hex(const unsigned char* data, size_t size) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        out += hex[data[i] >> 4];
        out += hex[data[i] & 15];
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    // Fetched once: EVP_sha256() makes every EVP_Digest look the algorithm up again.
    static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (!sha256 || EVP_Digest(data.data(), data.size(), md, &len, sha256, nullptr) != 1)
        throw std::runtime_error("OpenSSL SHA-256 failed");
    return to_hex(md, len);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    std::string md = hmac_sha256(key, data);
    return to_hex(reinterpret_cast<const unsigned char*>(md.data()), md.size());
}

}  // namespace ar
