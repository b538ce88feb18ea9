// run_on_pool.h: running blocking work on a thread pool from an Asio coroutine.
#pragma once

#include <asio.hpp>
#include <type_traits>

#include "core/threads.h"

namespace ar {

// How a pool's threads run their work.
enum class PoolPriority {
    Foreground,  // a request waits for it
    Background,  // its store writes wait behind the requests' (mark_this_thread_background)
    Idle,        // Background, and at idle CPU priority (lower_this_thread_priority): for pure
                 // computation only, see threads.h
};

// Names the calling pool thread and sets it to `priority`: the first thing a pool's work does,
// through run_on_pool or, for work posted without a result, directly.
inline void enter_pool_thread(const char* thread_name, PoolPriority priority) {
    name_this_thread(thread_name);
    if (priority == PoolPriority::Background) mark_this_thread_background();
    if (priority == PoolPriority::Idle) lower_this_thread_priority();
}

// Runs f on pool and resumes the calling coroutine on its own executor with f's result. The
// pool thread is named thread_name (for top -H and perf) and runs at `priority`. f is a named
// local of the caller, taken by reference: GCC 12 destroys temporaries with non-trivial
// destructors twice when they appear in a co_await expression, so no capturing lambda is ever
// passed by value here.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> run_on_pool(asio::thread_pool& pool, F& f, const char* thread_name,
                                                      PoolPriority priority = PoolPriority::Foreground) {
    using R = std::invoke_result_t<F&>;
    F* fp = &f;
    co_return co_await asio::co_spawn(
        pool.get_executor(),
        [fp, thread_name, priority]() -> asio::awaitable<R> {
            enter_pool_thread(thread_name, priority);
            co_return (*fp)();
        },
        asio::use_awaitable);
}

}  // namespace ar
