#include "cli/args.h"

#include <charconv>

namespace ar::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs) {
    Args a;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& w = argv[i];
        if (w.size() < 3 || w.compare(0, 2, "--") != 0) {
            if (!w.empty() && w[0] == '-' && w != "-")
                return invalid(w, "unknown option '" + w + "' (see --help)");
            a.positional_.push_back(w);
            continue;
        }
        std::string name = w.substr(2);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const FlagSpec* spec = nullptr;
        for (const auto& s : specs)
            if (s.name == name) spec = &s;
        if (!spec) return invalid(name, "unknown option '--" + name + "' (see --help)");
        if (spec->takes_value && !value) {
            if (i + 1 >= argv.size()) return invalid(name, "option --" + name + " needs a value");
            value = argv[++i];
        }
        if (!spec->takes_value && value) return invalid(name, "option --" + name + " takes no value");
        if (!spec->repeatable && a.values_.count(name))
            return invalid(name, "option --" + name + " given twice");
        a.values_[name].push_back(value.value_or(""));
    }
    return a;
}

std::optional<std::string> Args::get(const std::string& flag) const {
    auto it = values_.find(flag);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::string Args::get_or(const std::string& flag, const std::string& fallback) const {
    return get(flag).value_or(fallback);
}

std::vector<std::string> Args::all(const std::string& flag) const {
    auto it = values_.find(flag);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int Args::positive(const std::string& flag, int fallback) const {
    auto v = get(flag);
    if (!v) return fallback;
    int n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n <= 0)
        throw UsageError{"--" + flag + " must be a positive number, got '" + *v + "'"};
    return n;
}

}  // namespace ar::cli
