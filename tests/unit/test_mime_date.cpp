// parse_date: RFC 5322 3.3 date-times, the obsolete forms of 4.3, and what is not a date.
#include <catch2/catch.hpp>

#include "mime/compose.h"
#include "mime/date.h"

using ar::mime::parse_date;

namespace {
// 2026-12-07 20:00:00 UTC
constexpr int64_t kDec7 = 1796673600LL * 1000;
} // namespace

TEST_CASE("parse_date reads RFC 5322 date-times", "[mime][date]") {
    CHECK(parse_date("Mon, 07 Dec 2026 20:00:00 +0000") == kDec7);
    CHECK(parse_date("7 Dec 2026 20:00:00 +0000") == kDec7);         // no day of the week
    CHECK(parse_date("Mon, 7 Dec 2026 20:00 +0000") == kDec7);       // no seconds
    CHECK(parse_date("Mon, 07 Dec 2026 21:30:00 +0130") == kDec7);   // zones east of UTC
    CHECK(parse_date("Mon, 07 Dec 2026 15:00:00 -0500") == kDec7);
    CHECK(parse_date("  Mon ,  07  Dec  2026  20:00:00  +0000  ") == kDec7);
    CHECK(parse_date("Mon, 07 Dec 2026 20:00:00 +0000 (UTC)") == kDec7); // comments
    CHECK(parse_date("Mon, 07 Dec 2026 20:00:00 (a (nested) comment) +0000") == kDec7);
    CHECK(parse_date("Thu, 29 Feb 2024 00:00:00 +0000").has_value()); // a leap day
    CHECK(parse_date(ar::mime::format_date(kDec7 + 999)) == kDec7);   // what we write
}

TEST_CASE("parse_date reads the obsolete forms", "[mime][date]") {
    CHECK(parse_date("Mon, 07 Dec 26 20:00:00 GMT") == kDec7);  // two-digit year: 2026
    CHECK(parse_date("07 Dec 126 20:00:00 UT") == kDec7);       // three digits: + 1900
    CHECK(parse_date("Mon, 07 Dec 2026 15:00:00 EST") == kDec7);
    CHECK(parse_date("Mon, 07 Dec 2026 12:00:00 PST") == kDec7);
    CHECK(parse_date("Mon, 07 Dec 2026 20:00:00 Z") == kDec7);  // military: read as -0000
    CHECK(parse_date("mon, 07 dec 2026 20:00:00 gmt") == kDec7); // names in any case
    auto y99 = parse_date("1 Jan 99 00:00:00 +0000");
    auto y1999 = parse_date("1 Jan 1999 00:00:00 +0000");
    REQUIRE(y99);
    CHECK(y99 == y1999);
}

TEST_CASE("parse_date refuses what is not a date", "[mime][date]") {
    for (const char* bad : {"", "yesterday", "now", "2026-12-07T20:00:00Z", "Mon, 07 Dec 2026",
                            "Mon 07 Dec 2026 20:00:00 +0000",   // day name without its comma
                            "Mon, 32 Dec 2026 20:00:00 +0000",  // no 32nd
                            "Mon, 29 Feb 2026 20:00:00 +0000",  // 2026 is no leap year
                            "Mon, 07 Foo 2026 20:00:00 +0000", "Mon, 07 Dec 2026 24:00:00 +0000",
                            "Mon, 07 Dec 2026 20:60:00 +0000", "Mon, 07 Dec 2026 20:00:61 +0000",
                            "Mon, 07 Dec 2026 20:00:00 +0099", "Mon, 07 Dec 2026 20:00:00",
                            "Mon, 07 Dec 2026 20:00:00 +0000 extra", "Mon, 07 Dec 2026 20:00:00 (open",
                            "Mon, 07 Dec 12026 20:00:00 +0000", "Mon, 07 Dec 2026 2:00:00 +0000"})
        CHECK_FALSE(parse_date(bad).has_value());
}
