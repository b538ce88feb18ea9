#include <catch2/catch.hpp>

#include "core/clock.h"

TEST_CASE("RFC 3339 timestamps round-trip") {
    int64_t ms = 0;
    REQUIRE(ar::parse_rfc3339("2026-11-27T21:30:00.123Z", ms));
    CHECK(ar::format_rfc3339(ms) == "2026-11-27T21:30:00.123Z");
    REQUIRE(ar::parse_rfc3339("2026-11-27T22:30:00+01:00", ms));
    CHECK(ar::format_rfc3339(ms) == "2026-11-27T21:30:00.000Z");
    CHECK_FALSE(ar::parse_rfc3339("2026-13-27T21:30:00Z", ms));
    CHECK_FALSE(ar::parse_rfc3339("yesterday", ms));
}
