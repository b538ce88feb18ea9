// deadline.h: the deadline of a connection's operation in progress, kept by one timer.
//
// A connection arms a deadline before each read or write and disarms it after. Cancelling the
// timer and starting a new wait every time costs a trip through Asio's timer queue and a
// cancelled handler to run, a dozen times a message. Deadline keeps one wait pending instead:
// when it fires before the current deadline, it waits again for what is left; when it fires
// past the deadline of an armed operation, it calls `expired` (which may arm again, say for a
// grace period). Only a deadline earlier than the pending wait's restarts the wait at once.
// Used by the SMTP server's sessions and the SMTP client's connections.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <functional>

namespace ar::smtp {

class Deadline {
  public:
    using Clock = std::chrono::steady_clock;

    // `expired` runs on the timer's executor, only while the Deadline exists.
    Deadline(const asio::any_io_executor& ex, std::function<void()> expired)
        : timer_(ex), expired_(std::move(expired)) {}
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;

    // The operation about to run must be over by `at`.
    void arm(Clock::time_point at);
    // The operation is over: a wait that fires now does nothing and is not renewed.
    void disarm() { armed_ = false; }
    // For good (the connection closes): the pending wait ends without calling `expired`.
    void cancel();

  private:
    void wait();
    void fired();

    asio::steady_timer timer_;
    std::function<void()> expired_;
    Clock::time_point at_;
    bool armed_ = false;    // an operation runs under at_
    bool waiting_ = false;  // a wait on timer_ is pending
};

}  // namespace ar::smtp
