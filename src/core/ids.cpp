#include "core/ids.h"

#include "core/text.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace ar {

namespace {
// OpenSSL's generator is asked for a block at a time and each thread hands its block out in
// pieces: an id costs a copy rather than a trip through the DRBG (its locks, its fork check).
// A forked child throws its inherited blocks away, so parent and child never share bytes.
std::atomic<uint64_t> fork_generation{0};
[[maybe_unused]] const bool fork_hook = [] {
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
    return true;
}();

struct RandomBlock {
    unsigned char bytes[512];
    size_t used = sizeof bytes;  // all used: fill first
    uint64_t generation = 0;
};

void fill_random(unsigned char* out, size_t n) {
    thread_local RandomBlock block;
    if (block.generation != fork_generation.load(std::memory_order_relaxed)) {
        block.used = sizeof block.bytes;
        block.generation = fork_generation.load(std::memory_order_relaxed);
    }
    while (n > 0) {
        if (block.used == sizeof block.bytes) {
            if (RAND_bytes(block.bytes, sizeof block.bytes) != 1)
                throw std::runtime_error("OpenSSL RAND_bytes failed");
            block.used = 0;
        }
        size_t take = std::min(n, sizeof block.bytes - block.used);
        std::memcpy(out, block.bytes + block.used, take);
        std::memset(block.bytes + block.used, 0, take);  // handed out once, kept nowhere
        block.used += take;
        out += take;
        n -= take;
    }
}

std::vector<unsigned char> random_bytes(size_t n) {
    std::vector<unsigned char> buf(n);
    fill_random(buf.data(), n);
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
