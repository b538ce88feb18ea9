// relay/events.h: the feed's public words and ids.
#include <catch2/catch.hpp>

#include "relay/events.h"

TEST_CASE("event ids order the feed and read back", "[events]") {
    CHECK(ar::event_id(42) == "ev_42");
    auto seq = ar::parse_event_id("ev_42", "after");
    REQUIRE(seq);
    CHECK(*seq == 42);
    for (const char* bad : {"", "42", "ev_", "ev_-1", "ev_4x", "c42", "ev_99999999999999999999", "ev_9999999999999999999"}) {
        INFO(bad);
        auto r = ar::parse_event_id(bad, "after");
        REQUIRE_FALSE(r);
        CHECK(r.error().field == "after");
    }
}

TEST_CASE("public event types map to the store's rows and back", "[events]") {
    auto all = ar::store_event_types({});
    REQUIRE(all);
    for (const char* t : ar::kEventTypes) {
        auto one = ar::store_event_types({t});
        REQUIRE(one);
        REQUIRE_FALSE(one->empty());
        for (const auto& stored : *one) CHECK(ar::public_event_type(stored) == t);
    }
    auto bounced = ar::store_event_types({"message.bounced"});
    REQUIRE(bounced);
    CHECK(*bounced == std::vector<std::string>{"bounced", "expired"});
    CHECK(ar::public_event_type("attempt").empty());
    auto unknown = ar::store_event_types({"message.opened"});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("message.received") != std::string::npos);
}
