#include "delivery/signers.h"

#include <spdlog/spdlog.h>

namespace ar::delivery {

SignerCache::SignerCache(store::ControlStore& control, std::string domain)
    : control_(control), domain_(std::move(domain)) {}

SignerCache::Signers SignerCache::current() {
    std::lock_guard lk(mu_);
    // Only the active selectors are read each time (no private keys).
    std::string fingerprint = control_.active_dkim_selectors(domain_);
    if (fingerprint != fingerprint_) reload(fingerprint);
    return {signers_, signers_.empty() ? errors_ : std::string()};
}

void SignerCache::reload(const std::string& fingerprint) {
    fingerprint_ = fingerprint;
    signers_.clear();
    errors_.clear();
    for (const auto& k : control_.dkim_keys(domain_)) {
        if (k.state != "active") continue;
        auto s = dkim::Signer::create(k.domain, k.selector, dkim::algorithm_from_tag(k.algorithm), k.private_pem);
        if (s) {
            signers_.push_back(std::move(*s));
            continue;
        }
        spdlog::error("DKIM key {} unusable: {}", k.selector, s.error().message);
        errors_ += (errors_.empty() ? "" : "; ") + ("active DKIM key " + k.selector + " is unusable: " +
                                                    s.error().message);
    }
    spdlog::info("delivery: signing with DKIM selectors {}", fingerprint.empty() ? "(none)" : fingerprint);
}

} // namespace ar::delivery
