#include "core/ids.h"

#include "core/text.h"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace ar {

namespace {
std::vector<unsigned char> random_bytes(size_t n) {
    std::vector<unsigned char> buf(n);
    if (RAND_bytes(buf.data(), static_cast<int>(n)) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed");
    return buf;
}
}  // namespace

std::string random_hex(size_t bytes) {
    auto b = random_bytes(bytes);
    return to_hex(b.data(), b.size());
}

std::string ordered_id(const char* prefix, int64_t now_ms) {
    static const char* digits = "0123456789abcdef";
    std::string out(prefix);
    auto t = static_cast<uint64_t>(now_ms);
    for (int shift = 44; shift >= 0; shift -= 4) out += digits[(t >> shift) & 15];
    return out + random_hex(8);
}

std::string random_token(size_t bytes) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto b = random_bytes(bytes);
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : b) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            out += alphabet[(buffer >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
    return out;
}

}  // namespace ar
