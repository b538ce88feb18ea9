#include "core/metrics.h"

namespace ar {

Metrics& Metrics::instance() {
    static Metrics m;
    return m;
}

void Metrics::add(const std::string& name, const std::string& labels, int64_t delta) {
    std::lock_guard lk(mu_);
    families_[name].values[labels] += delta;
}

void Metrics::gauge(const std::string& name, const std::string& help,
                    std::function<std::map<std::string, int64_t>()> collect) {
    std::lock_guard lk(mu_);
    auto& f = families_[name];
    f.type = "gauge";
    f.help = help;
    f.collect = std::move(collect);
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
    std::lock_guard lk(mu_);
    auto& f = families_[name];
    f.type = type;
    f.help = help;
}

std::string Metrics::render() {
    std::map<std::string, Family> snapshot;
    {
        std::lock_guard lk(mu_);
        snapshot = families_;
    }
    std::string out;
    for (auto& [name, f] : snapshot) {
        if (f.collect) f.values = f.collect();
        if (!f.help.empty()) out += "# HELP " + name + " " + f.help + "\n";
        out += "# TYPE " + name + " " + f.type + "\n";
        if (f.values.empty() && f.type == "counter") out += name + " 0\n";
        for (const auto& [labels, v] : f.values) out += name + labels + " " + std::to_string(v) + "\n";
    }
    return out;
}

}  // namespace ar
