#include "auth/org_domain.h"

#include <libpsl.h>

#include "core/text.h"

#include <cstdint>

namespace ar::auth {
namespace {

// Never freed: the process keeps it to the end, and freeing it at exit would race threads that
// still evaluate mail while static destructors run. psl_latest() falls back to the built-in
// list itself; psl_builtin() is asked again in case a libpsl build returns NULL there.
const psl_ctx_t* psl() {
    static const psl_ctx_t* const ctx = [] {
        const psl_ctx_t* c = psl_latest(nullptr);
        return c ? c : psl_builtin();
    }();
    return ctx;
}

} // namespace

std::string canonical_domain(std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    return ascii_lower(domain);
}

std::string organizational_domain(std::string_view domain) {
    std::string d = canonical_domain(domain);
    // libpsl reads C strings: a NUL inside would make it judge a different name.
    if (d.empty() || d.find('\0') != std::string::npos) return d;
    const psl_ctx_t* ctx = psl();
    if (!ctx) return d;
    const char* reg = psl_registrable_domain(ctx, d.c_str());
    if (!reg) return d; // a public suffix itself, or nothing libpsl can place
    // libpsl returns a pointer into its argument: the registrable domain is a suffix of d.
    auto start = reinterpret_cast<uintptr_t>(d.c_str());
    auto at = reinterpret_cast<uintptr_t>(reg);
    if (at < start || at >= start + d.size()) return d;
    return d.substr(at - start);
}

bool aligned(std::string_view identifier, std::string_view from_domain, bool strict) {
    std::string id = canonical_domain(identifier);
    std::string from = canonical_domain(from_domain);
    if (id.empty() || from.empty()) return false;
    if (id == from) return true;
    if (strict) return false;
    return organizational_domain(id) == organizational_domain(from);
}

} // namespace ar::auth
