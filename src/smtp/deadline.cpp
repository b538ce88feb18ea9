#include "smtp/deadline.h"

namespace ar::smtp {

void Deadline::arm(Clock::time_point at) {
    at_ = at;
    armed_ = true;
    if (!waiting_ || at_ < timer_.expiry()) wait();
}

void Deadline::cancel() {
    armed_ = false;
    timer_.cancel();
}

void Deadline::wait() {
    waiting_ = true;
    timer_.expires_at(at_);  // a wait still pending ends with operation_aborted
    // When the Deadline goes, its timer ends the pending wait with operation_aborted, and the
    // handler returns before it touches anything.
    timer_.async_wait([this](std::error_code ec) {
        if (!ec) fired();
    });
}

void Deadline::fired() {
    waiting_ = false;
    if (!armed_) return;  // no operation in progress: the next arm() waits anew
    if (Clock::now() < at_) return wait();
    expired_();
}

}  // namespace ar::smtp
