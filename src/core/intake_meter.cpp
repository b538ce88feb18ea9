#include "core/intake_meter.h"

#include <algorithm>

namespace ar {

void IntakeMeter::advance(int64_t now) {
    if (window_start_ < 0) {
        window_start_ = now;
        mark_ = now;
        return;
    }
    now = std::max(now, mark_);  // one clock for all callers, but not one thread: stay monotonic
    int64_t window_end = window_start_ + kWindowUs;
    if (now >= window_end) {
        if (active_ > 0) window_busy_ += window_end - mark_;
        last_share_ = static_cast<double>(window_busy_) / kWindowUs;
        // Whole windows since then were what the intake was all along: busy or idle.
        int64_t whole = (now - window_end) / kWindowUs;
        if (whole > 0) last_share_ = active_ > 0 ? 1.0 : 0.0;
        window_start_ = window_end + whole * kWindowUs;
        window_busy_ = 0;
        mark_ = window_start_;
    }
    if (active_ > 0) window_busy_ += now - mark_;
    mark_ = now;
}

void IntakeMeter::begin(int64_t now_us) {
    std::lock_guard lk(mu_);
    advance(now_us);
    ++active_;
}

void IntakeMeter::end(int64_t now_us) {
    std::lock_guard lk(mu_);
    advance(now_us);
    if (active_ > 0) --active_;
}

double IntakeMeter::busy_share(int64_t now_us) {
    std::lock_guard lk(mu_);
    advance(now_us);
    return std::min(1.0, last_share_);
}

}  // namespace ar
