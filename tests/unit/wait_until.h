// wait_until.h: waiting on a condition with a deadline, never a fixed sleep.
#pragma once

#include <chrono>
#include <thread>

// Polls pred every 5 ms until it holds (true) or the timeout passes (false).
template <class Pred> bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}
