// intake_meter.h: how busy the intake is, for the delivery engine's "intake first" rule.
//
// Every message that enters the queue (an HTTP or MCP send, an SMTP submission) passes through
// Relay::enqueue or Relay::submit_async, which bracket its insert and the wait for the group
// commit with begin() and end(). The meter keeps, per window of kWindowUs, the share of the
// window during which at least one such insert was in progress. A share near 1 means senders
// were queueing at the door without a pause: the intake is saturated, and whatever else the
// machine does (signing, SMTP conversations with the next hop, the store's writes for them)
// slows it down. Light traffic gives a share near 0 however many clients are connected: a
// message's time at the door is the store's work, not the network's.
//
// Thread-safe; begin/end take a mutex held for a few instructions.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace ar {

class IntakeMeter {
  public:
    static constexpr int64_t kWindowUs = 100'000;

    // now_us: any monotonic microsecond clock, the same for every call (steady_now_us()).
    void begin(int64_t now_us);
    void end(int64_t now_us);
    // The busy share (0..1) of the last complete window; the windows since the last event
    // count as all busy or all idle, as the intake was.
    double busy_share(int64_t now_us);

    static int64_t steady_now_us() {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

    // begin() now, end() when it goes out of scope.
    class Scope {
      public:
        explicit Scope(IntakeMeter& m) : m_(m) { m_.begin(steady_now_us()); }
        ~Scope() { m_.end(steady_now_us()); }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

      private:
        IntakeMeter& m_;
    };

  private:
    // Brings the windows up to now (mu_ held).
    void advance(int64_t now_us);

    std::mutex mu_;
    int active_ = 0;              // inserts in progress
    int64_t mark_ = 0;            // busy time is counted up to here
    int64_t window_start_ = -1;   // -1: no event yet
    int64_t window_busy_ = 0;     // busy microseconds in the current window
    double last_share_ = 0;       // of the last complete window
};

}  // namespace ar
