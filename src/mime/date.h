// date.h: reads the date-time of a Date field (RFC 5322 section 3.3).
//
// parse_date takes any header value, however malformed, and returns the instant it names in
// milliseconds since the epoch, or nullopt when it is not a date-time. It accepts what section
// 3.3 allows and what section 4.3 calls obsolete but still to be read: comments anywhere, an
// optional day of the week, two- and three-digit years, the zone names UT, GMT, EST, EDT,
// CST, CDT, MST, MDT, PST, PDT and the military letters (read as -0000, as 4.3 says). Fields
// are range-checked: a day that the month does not have, hour 24, minute 60 or a zone of
// +0099 are not dates. No exceptions; time linear in the input.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ar::mime {

std::optional<int64_t> parse_date(std::string_view value);

} // namespace ar::mime
