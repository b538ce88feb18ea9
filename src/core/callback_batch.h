// callback_batch.h: many completions handed to an event loop with one wake-up.
//
// The store's writer completes a whole group of asynchronous writes at once, each completion
// posting to the event loop that waits for it (await_callback). Posted one by one, each post
// can wake the loop again (an epoll_ctl on Asio's interrupter, a pass through epoll_wait).
// While a CallbackBatch is open on a thread, post_or_batch() gathers the functions by
// executor instead; when the batch closes, each executor gets one post that runs its
// functions in the order they came. Without an open batch, post_or_batch() posts at once.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <functional>
#include <utility>
#include <vector>

namespace ar {

class CallbackBatch {
  public:
    CallbackBatch() : outer_(current()) { current() = this; }
    ~CallbackBatch() {
        current() = outer_;
        for (auto& [ex, fns] : loops_) {
            try {
                asio::post(ex, [fns = std::move(fns)]() mutable {
                    for (auto& fn : fns) fn();
                });
            } catch (...) {  // only allocation can fail here; nothing better to do in a destructor
            }
        }
    }
    CallbackBatch(const CallbackBatch&) = delete;
    CallbackBatch& operator=(const CallbackBatch&) = delete;

    // Runs fn on ex: at the end of this thread's open batch, else posted now.
    static void post_or_batch(const asio::any_io_executor& ex, std::function<void()> fn) {
        CallbackBatch* batch = current();
        if (!batch) return asio::post(ex, std::move(fn));
        for (auto& [loop, fns] : batch->loops_)
            if (loop == ex) return fns.push_back(std::move(fn));
        batch->loops_.emplace_back(ex, std::vector<std::function<void()>>{});
        batch->loops_.back().second.push_back(std::move(fn));
    }

  private:
    static CallbackBatch*& current() {
        thread_local CallbackBatch* open = nullptr;
        return open;
    }
    CallbackBatch* outer_;
    std::vector<std::pair<asio::any_io_executor, std::vector<std::function<void()>>>> loops_;
};

}  // namespace ar
