// clock.h: time and randomness are passed in, so tests can control them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ar {

using SysTime = std::chrono::system_clock::time_point;

// Milliseconds since the Unix epoch: the unit every store column uses.
inline int64_t to_ms(SysTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SysTime from_ms(int64_t ms) { return SysTime(std::chrono::milliseconds(ms)); }

class Clock {
  public:
    virtual ~Clock() = default;
    virtual SysTime now() const = 0;
    int64_t now_ms() const { return to_ms(now()); }
};

class SystemClock final : public Clock {
  public:
    SysTime now() const override { return std::chrono::system_clock::now(); }
};

// RFC 3339 UTC with milliseconds: "2026-11-27T21:30:00.123Z".
std::string format_rfc3339(int64_t ms);
// Parses RFC 3339 ("...Z" or "+hh:mm"); returns false on bad input.
bool parse_rfc3339(const std::string& s, int64_t& ms_out);

}  // namespace ar
