#include "core/cpu_load.h"

#include <charconv>
#include <fstream>
#include <string>

namespace ar {

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
    if (text.substr(0, 4) != "cpu ") return std::nullopt;
    auto end = text.find('\n');
    std::string_view line = text.substr(4, end == std::string_view::npos ? text.size() - 4 : end - 4);
    // user nice system idle iowait irq softirq steal ...: the first seven are required.
    uint64_t v[8] = {};
    int n = 0;
    size_t i = 0;
    while (n < 8) {
        while (i < line.size() && line[i] == ' ') ++i;
        if (i >= line.size()) break;
        auto [p, ec] = std::from_chars(line.data() + i, line.data() + line.size(), v[n]);
        if (ec != std::errc()) return std::nullopt;
        i = static_cast<size_t>(p - line.data());
        if (i < line.size() && line[i] != ' ') return std::nullopt;
        ++n;
    }
    if (n < 7) return std::nullopt;
    CpuTimes t;
    t.busy = v[0] + v[1] + v[2] + v[5] + v[6];
    t.total = t.busy + v[3] + v[4];
    return t;
}

std::optional<double> CpuLoad::busy_share(int64_t now_us) {
    if (last_ && now_us - last_at_ < kMinIntervalUs) return share_;
    std::ifstream in("/proc/stat");
    std::string first;
    if (!in || !std::getline(in, first)) return std::nullopt;
    auto t = parse_proc_stat(first);
    if (!t) return std::nullopt;
    if (last_ && t->total > last_->total && t->busy >= last_->busy)
        share_ = static_cast<double>(t->busy - last_->busy) / static_cast<double>(t->total - last_->total);
    last_ = t;
    last_at_ = now_us;
    return share_;
}

}  // namespace ar
