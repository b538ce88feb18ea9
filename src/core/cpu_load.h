// cpu_load.h: how busy the machine's CPUs are, from /proc/stat.
//
// The delivery engine's "intake first" rule asks this, beside the intake's own busy share
// (intake_meter.h): deliveries wait only when mail is arriving and the CPUs have nothing left.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ar {

// The counters of /proc/stat's first ("cpu ") line that matter here, in clock ticks.
struct CpuTimes {
    uint64_t busy = 0;   // user, nice, system, irq, softirq
    uint64_t total = 0;  // busy + idle + iowait (steal, time the host gave others, is not ours)
};

// Parses /proc/stat's text; nullopt if it has no well-formed "cpu " line.
std::optional<CpuTimes> parse_proc_stat(std::string_view text);

class CpuLoad {
  public:
    static constexpr int64_t kMinIntervalUs = 100'000;

    // The busy share (0..1) of all CPUs between the last two samples, taking a new sample if
    // the last is at least kMinIntervalUs old (else the share already known). nullopt if
    // /proc/stat cannot be read, or before two samples exist.
    std::optional<double> busy_share(int64_t now_us);

  private:
    std::optional<CpuTimes> last_;
    int64_t last_at_ = 0;
    std::optional<double> share_;
};

}  // namespace ar
