// await_callback.h: awaiting, in an Asio coroutine, a function that reports through a callback.
//
// The store's writer reports a commit by calling a callback on its own thread (write_async and
// what is built on it: Relay::submit_async, AgentStore::apply_async). await_callback turns
// that into a co_await that resumes on the coroutine's own executor, so no thread sleeps while
// the commit is made.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>

#include "core/callback_batch.h"

namespace ar {

// Calls start(done) and resumes with the value done(T) receives (exactly once, from any
// thread). start is a named local of the caller, taken by reference: GCC 12 destroys
// temporaries with non-trivial destructors twice when they appear in a co_await expression.
template <class T, class Start>
asio::awaitable<T> await_callback(Start& start) {
    auto initiate = [&start](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        std::function<void(T)> done = [h, ex](T value) {
            // Batched when the reporting thread completes many at once (see callback_batch.h).
            CallbackBatch::post_or_batch(ex, [h, value = std::move(value)]() mutable { (*h)(std::move(value)); });
        };
        start(std::move(done));
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(T)>(initiate, asio::use_awaitable);
}

}  // namespace ar
