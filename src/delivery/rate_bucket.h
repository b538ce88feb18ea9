// rate_bucket.h: a destination's message rate (messages_per_second) as a token bucket that
// holds at most one token: messages go out evenly spaced, 1/rate apart, so no one-second
// window ever sees a burst above the rate. Time is passed in; not thread-safe (a destination
// lives on the engine's event loop).
#pragma once

#include <algorithm>
#include <chrono>

namespace ar::delivery {

class RateBucket {
  public:
    using Clock = std::chrono::steady_clock;

    explicit RateBucket(Clock::time_point now = Clock::now()) : refilled_(now) {}

    // Takes the token if there is one (returns zero), else returns how long until there is
    // one; call again then. A rate of zero or less means no limit.
    Clock::duration take(double rate, Clock::time_point now) {
        if (rate <= 0) return Clock::duration::zero();
        double elapsed = std::chrono::duration<double>(now - refilled_).count();
        tokens_ = std::min(1.0, tokens_ + elapsed * rate);
        refilled_ = now;
        if (tokens_ >= 1) {
            tokens_ -= 1;
            return Clock::duration::zero();
        }
        return std::max(Clock::duration(1), std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>((1 - tokens_) / rate)));
    }

  private:
    double tokens_ = 1;
    Clock::time_point refilled_;
};

} // namespace ar::delivery
