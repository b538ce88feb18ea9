// metrics.h: process-wide counters and gauges, rendered in the Prometheus text format.
//
// Any module may count; /metrics renders. Names follow Prometheus conventions
// (agentrelay_..._total for counters). Labels are given preformatted: {route="/mcp"}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace ar {

class Metrics {
  public:
    static Metrics& instance();

    void add(const std::string& name, const std::string& labels = "", int64_t delta = 1);
    // A gauge computed when /metrics is read.
    void gauge(const std::string& name, const std::string& help,
               std::function<std::map<std::string, int64_t>()> collect);
    void describe(const std::string& name, const std::string& type, const std::string& help);
    std::string render();

  private:
    struct Family {
        std::string type = "counter";
        std::string help;
        std::map<std::string, int64_t> values;  // labels -> value
        std::function<std::map<std::string, int64_t>()> collect;
    };
    std::mutex mu_;
    std::map<std::string, Family> families_;
};

}  // namespace ar
