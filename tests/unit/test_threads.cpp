// Pool priorities: which threads' store writes are background work, and which run at idle
// CPU priority (core/threads.h, core/run_on_pool.h).
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <asio.hpp>

#include "core/run_on_pool.h"
#include "core/threads.h"

namespace {

struct Seen {
    bool background = false;
    int policy = -1;
    int nice = 0;
};

int own_nice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))); }

// What run_on_pool's thread looks like at `priority`, on a fresh pool.
Seen seen_at(ar::PoolPriority priority) {
    asio::io_context io;
    asio::thread_pool pool{1};
    Seen seen;
    auto probe = [] {
        Seen s;
        s.background = ar::this_thread_is_background();
        sched_param p{};
        pthread_getschedparam(pthread_self(), &s.policy, &p);
        s.nice = own_nice();
        return s;
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> { seen = co_await ar::run_on_pool(pool, probe, "ar-test", priority); },
        asio::detached);
    io.run();
    pool.join();
    return seen;
}

}  // namespace

TEST_CASE("a foreground pool thread is neither background nor lowered") {
    auto s = seen_at(ar::PoolPriority::Foreground);
    CHECK_FALSE(s.background);
    CHECK(s.policy == SCHED_OTHER);
    CHECK(s.nice == own_nice());
}

TEST_CASE("a background pool thread's writes are background work, at normal CPU priority") {
    // It takes the store's locks, which request threads need too: never at idle priority.
    auto s = seen_at(ar::PoolPriority::Background);
    CHECK(s.background);
    CHECK(s.policy == SCHED_OTHER);
    CHECK(s.nice == own_nice());
}

TEST_CASE("an idle pool thread is background work at idle CPU priority") {
    auto s = seen_at(ar::PoolPriority::Idle);
    CHECK(s.background);
    // SCHED_IDLE, or where that is refused, kBackgroundNice steps lower.
    CHECK((s.policy == SCHED_IDLE ||
           (s.policy == SCHED_OTHER && s.nice == std::min(19, own_nice() + ar::kBackgroundNice))));
}

TEST_CASE("marking a thread background leaves its CPU priority alone") {
    bool before = true, after = false;
    int policy = -1;
    std::thread t([&] {  // assertions stay on the test's thread
        before = ar::this_thread_is_background();
        ar::mark_this_thread_background();
        after = ar::this_thread_is_background();
        sched_param p{};
        pthread_getschedparam(pthread_self(), &policy, &p);
    });
    t.join();
    CHECK_FALSE(before);
    CHECK(after);
    CHECK(policy == SCHED_OTHER);
}
