// The delivery engine's side jobs, each in a file of its own: the rate bucket and the lease
// owners whose leases are reaped.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "delivery/leases.h"
#include "delivery/rate_bucket.h"

using namespace std::chrono_literals;
using ar::delivery::RateBucket;

TEST_CASE("the rate bucket spaces messages 1/rate apart and never bursts", "[delivery][rate]") {
    auto t0 = RateBucket::Clock::now();
    RateBucket b(t0);
    CHECK(b.take(10, t0) == RateBucket::Clock::duration::zero()); // the first goes at once
    auto wait = b.take(10, t0);                                   // the second waits 100 ms
    CHECK(wait > 99ms);
    CHECK(wait <= 100ms);
    CHECK(b.take(10, t0 + 50ms) > 49ms); // half-way: half the wait is left
    CHECK(b.take(10, t0 + 100ms) == RateBucket::Clock::duration::zero());
    // A long idle spell leaves one token, not a burst of them.
    CHECK(b.take(10, t0 + 10s) == RateBucket::Clock::duration::zero());
    CHECK(b.take(10, t0 + 10s) > 99ms);
    // No rate, no limit.
    for (int i = 0; i < 5; ++i)
        CHECK(b.take(0, t0) == RateBucket::Clock::duration::zero());
}

TEST_CASE("only leases of this host's dead processes are reaped", "[delivery][leases]") {
    std::string self = ar::delivery::make_lease_owner("h1");
    CHECK(self.rfind("h1/" + std::to_string(getpid()) + "/", 0) == 0);
    CHECK_FALSE(ar::delivery::lease_owner_is_dead(self, self, "h1"));            // our own
    CHECK_FALSE(ar::delivery::lease_owner_is_dead("h1/1/ab", self, "h1"));       // init runs
    CHECK_FALSE(ar::delivery::lease_owner_is_dead("h2/999999999/ab", self, "h1")); // another host
    CHECK_FALSE(ar::delivery::lease_owner_is_dead("garbage", self, "h1"));
    // A pid no process has (beyond the kernel's pid_max) is dead.
    CHECK(ar::delivery::lease_owner_is_dead("h1/2147483000/ab", self, "h1"));
    // A live process other than us (our parent) is not.
    CHECK_FALSE(ar::delivery::lease_owner_is_dead("h1/" + std::to_string(getppid()) + "/cd", self, "h1"));
}
