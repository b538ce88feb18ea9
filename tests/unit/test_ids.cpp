#include <catch2/catch.hpp>

#include <set>

#include "core/ids.h"

TEST_CASE("ordered ids sort by creation time and stay unguessable", "[ids]") {
    auto a = ar::ordered_id("m_", 1'700'000'000'000);
    auto b = ar::ordered_id("m_", 1'700'000'000'001);
    CHECK(a.size() == 2 + 12 + 16);
    CHECK(a.rfind("m_", 0) == 0);
    CHECK(a.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
    CHECK(a < b);
    CHECK(a.substr(2, 12) == "018bcfe56800");  // 1700000000000 ms in hex, 12 digits
    // The same millisecond: still distinct ids (the random half).
    std::set<std::string> same;
    for (int i = 0; i < 1000; ++i) same.insert(ar::ordered_id("i_", 42));
    CHECK(same.size() == 1000);
}
