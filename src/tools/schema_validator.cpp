#include "tools/schema_validator.h"

#include <cmath>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace ar::tools {
namespace {

using json = nlohmann::json;
using MaybeError = std::optional<ar::Error>;

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A value quoted in a message, or nothing when it would be too long to help.
std::string shown(const json& v) {
    std::string s = dump(v);
    return s.size() <= 60 ? " " + s : "";
}

std::string member_path(const std::string& base, const std::string& key) {
    return base.empty() ? key : base + "." + key;
}

std::string index_path(const std::string& base, std::size_t i) {
    return base + "[" + std::to_string(i) + "]";
}

std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

bool is_integral(const json& v) {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    double d = v.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
}

bool matches_type(const std::string& type, const json& v) {
    if (type == "string") return v.is_string();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "number") return v.is_number();
    if (type == "integer") return is_integral(v);
    return false;
}

std::string type_phrase(const std::string& type) {
    if (type == "object" || type == "array" || type == "integer") return "an " + type;
    if (type == "null") return "null";
    return "a " + type;
}

std::string join_or(const std::vector<std::string>& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += i + 1 == parts.size() ? " or " : ", ";
        out += parts[i];
    }
    return out;
}

std::string plural(double n, const char* unit) {
    std::string s = dump(json(n));
    if (is_integral(json(n))) s = std::to_string(static_cast<long long>(n));
    return s + " " + unit + (n == 1 ? "" : "s");
}

class Validator {
  public:
    Validator(const json& root, std::string root_name)
        : root_(root), root_name_(std::move(root_name)) {}

    MaybeError check(const json& schema, const json& v, const std::string& path, int depth) const {
        if (depth > kMaxDepth) return fail(path, "is nested too deeply (more than 64 levels)");
        if (schema.is_boolean()) {
            if (schema.get<bool>()) return std::nullopt;
            return fail(path, "is not allowed here");
        }
        if (!schema.is_object()) return std::nullopt;
        if (auto ref = schema.find("$ref"); ref != schema.end()) {
            const json* target = resolve(*ref);
            if (!target) return broken(path, "has a $ref that does not resolve: " + dump(*ref));
            if (auto e = check(*target, v, path, depth + 1)) return e;
        }
        if (auto e = check_type(schema, v, path)) return e;
        if (auto e = check_value(schema, v, path)) return e;
        if (v.is_string())
            if (auto e = check_string(schema, v.get_ref<const std::string&>(), path)) return e;
        if (v.is_number())
            if (auto e = check_number(schema, v, path)) return e;
        if (v.is_array())
            if (auto e = check_array(schema, v, path, depth)) return e;
        if (v.is_object())
            if (auto e = check_object(schema, v, path, depth)) return e;
        if (auto e = check_any_of(schema, v, path, depth)) return e;
        return check_one_of(schema, v, path, depth);
    }

  private:
    ar::Error fail(const std::string& path, const std::string& what) const {
        return ar::invalid(path, (path.empty() ? root_name_ : path) + " " + what);
    }

    // The schema itself is wrong: not the caller's fault.
    ar::Error broken(const std::string& path, const std::string& what) const {
        return ar::Error{ar::kErrInternal, "schema error: " + what, path};
    }

    const json* resolve(const json& ref) const {
        if (!ref.is_string()) return nullptr;
        const auto& s = ref.get_ref<const std::string&>();
        if (s == "#") return &root_;
        static constexpr std::string_view kDefs = "#/$defs/";
        if (s.rfind(kDefs, 0) != 0) return nullptr;
        auto defs = root_.find("$defs");
        if (defs == root_.end() || !defs->is_object()) return nullptr;
        auto it = defs->find(s.substr(kDefs.size()));
        return it == defs->end() ? nullptr : &*it;
    }

    std::vector<std::string> types_of(const json& schema) const {
        std::vector<std::string> out;
        auto t = schema.find("type");
        if (t == schema.end()) return out;
        if (t->is_string()) out.push_back(t->get<std::string>());
        if (t->is_array())
            for (const auto& e : *t)
                if (e.is_string()) out.push_back(e.get<std::string>());
        return out;
    }

    MaybeError check_type(const json& schema, const json& v, const std::string& path) const {
        auto types = types_of(schema);
        if (types.empty()) return std::nullopt;
        std::vector<std::string> phrases;
        for (const auto& t : types) {
            if (matches_type(t, v)) return std::nullopt;
            phrases.push_back(type_phrase(t));
        }
        return fail(path, "must be " + join_or(phrases) + ", not " + describe_type(v));
    }

    MaybeError check_value(const json& schema, const json& v, const std::string& path) const {
        if (auto c = schema.find("const"); c != schema.end() && *c != v)
            return fail(path, "must be " + dump(*c) + ", not" + shown(v));
        auto e = schema.find("enum");
        if (e == schema.end() || !e->is_array()) return std::nullopt;
        std::vector<std::string> allowed;
        for (const auto& option : *e) {
            if (option == v) return std::nullopt;
            allowed.push_back(dump(option));
        }
        std::string got = shown(v);
        return fail(path,
                    "must be one of " + join_or(allowed) + (got.empty() ? "" : ", not" + got));
    }

    MaybeError check_string(const json& schema, const std::string& s,
                            const std::string& path) const {
        std::size_t n = code_points(s);
        if (auto m = schema.find("minLength");
            m != schema.end() && m->is_number() && static_cast<double>(n) < m->get<double>()) {
            if (m->get<double>() == 1) return fail(path, "must not be empty");
            return fail(path, "must be at least " + plural(m->get<double>(), "character") +
                                  " long, not " + std::to_string(n));
        }
        if (auto m = schema.find("maxLength");
            m != schema.end() && m->is_number() && static_cast<double>(n) > m->get<double>())
            return fail(path, "must be at most " + plural(m->get<double>(), "character") +
                                  " long, not " + std::to_string(n));
        if (auto p = schema.find("pattern"); p != schema.end() && p->is_string())
            if (auto e = check_pattern(p->get<std::string>(), s, path)) return e;
        if (auto f = schema.find("format"); f != schema.end() && *f == "date-time") {
            int64_t ms = 0;
            if (!ar::parse_rfc3339(s, ms))
                return fail(path, "must be an RFC 3339 date-time like \"2026-01-31T09:30:00Z\", "
                                  "not" +
                                      shown(json(s)));
        }
        return std::nullopt;
    }

    MaybeError check_pattern(const std::string& pattern, const std::string& s,
                             const std::string& path) const {
        // libstdc++'s std::regex recurses per character: bound the subject.
        if (s.size() > kMaxPatternSubject)
            return fail(path, "is too long to check (" + std::to_string(s.size()) +
                                  " bytes; at most " + std::to_string(kMaxPatternSubject) + ")");
        try {
            std::regex re(pattern, std::regex::ECMAScript);
            if (std::regex_search(s, re)) return std::nullopt;
        } catch (const std::regex_error&) {
            return broken(path, "invalid pattern " + dump(json(pattern)));
        }
        return fail(path,
                    "must match the pattern " + dump(json(pattern)) + ", not" + shown(json(s)));
    }

    MaybeError check_number(const json& schema, const json& v, const std::string& path) const {
        double d = v.get<double>();
        if (auto m = schema.find("minimum");
            m != schema.end() && m->is_number() && d < m->get<double>())
            return fail(path, "must be at least " + dump(*m) + ", not " + dump(v));
        if (auto m = schema.find("maximum");
            m != schema.end() && m->is_number() && d > m->get<double>())
            return fail(path, "must be at most " + dump(*m) + ", not " + dump(v));
        return std::nullopt;
    }

    MaybeError check_array(const json& schema, const json& v, const std::string& path,
                           int depth) const {
        double n = static_cast<double>(v.size());
        if (auto m = schema.find("minItems");
            m != schema.end() && m->is_number() && n < m->get<double>())
            return fail(path, "must have at least " + plural(m->get<double>(), "item") + ", not " +
                                  std::to_string(v.size()));
        if (auto m = schema.find("maxItems");
            m != schema.end() && m->is_number() && n > m->get<double>())
            return fail(path, "must have at most " + plural(m->get<double>(), "item") + ", not " +
                                  std::to_string(v.size()));
        auto items = schema.find("items");
        if (items == schema.end()) return std::nullopt;
        for (std::size_t i = 0; i < v.size(); ++i)
            if (auto e = check(*items, v[i], index_path(path, i), depth + 1)) return e;
        return std::nullopt;
    }

    MaybeError check_object(const json& schema, const json& v, const std::string& path,
                            int depth) const {
        static const json kNoProperties = json::object();
        auto props_it = schema.find("properties");
        const json& props =
            props_it != schema.end() && props_it->is_object() ? *props_it : kNoProperties;
        auto extra = schema.find("additionalProperties");
        for (const auto& [key, value] : v.items()) {
            if (props.contains(key)) continue;
            if (extra == schema.end()) continue;
            if (*extra == false) return unknown_field(props, key, path);
            if (auto e = check(*extra, value, member_path(path, key), depth + 1)) return e;
        }
        if (auto req = schema.find("required"); req != schema.end() && req->is_array())
            for (const auto& name : *req)
                if (name.is_string() && !v.contains(name.get<std::string>()))
                    return ar::invalid(member_path(path, name.get<std::string>()),
                                       "missing required field \"" +
                                           member_path(path, name.get<std::string>()) + "\"");
        for (const auto& [key, sub] : props.items()) {
            auto it = v.find(key);
            if (it == v.end()) continue;
            if (auto e = check(sub, *it, member_path(path, key), depth + 1)) return e;
        }
        return std::nullopt;
    }

    ar::Error unknown_field(const json& props, const std::string& key,
                            const std::string& path) const {
        std::string allowed;
        for (const auto& [name, _] : props.items())
            allowed += (allowed.empty() ? "" : ", ") + name;
        std::string where = path.empty() ? root_name_ : path;
        return ar::invalid(
            member_path(path, key),
            "unknown field " + dump(json(key)) + " in " + where +
                (allowed.empty() ? "; no fields are allowed" : "; allowed fields: " + allowed));
    }

    // The branch to blame when no branch matched: the one whose type fits the value, so the
    // message talks about what the caller evidently meant.
    MaybeError no_branch(const json& branches, const json& v, const std::string& path,
                         int depth) const {
        std::vector<std::string> phrases;
        for (const auto& branch : branches) {
            const json* b = &branch;
            if (b->is_object() && b->contains("$ref") && !b->contains("type"))
                if (const json* t = resolve((*b)["$ref"])) b = t;
            if (!b->is_object()) continue;
            for (const auto& t : types_of(*b)) {
                if (matches_type(t, v)) return check(branch, v, path, depth + 1);
                phrases.push_back(type_phrase(t));
            }
        }
        if (phrases.empty()) return fail(path, "does not match any of the allowed forms");
        return fail(path, "must be " + join_or(phrases) + ", not " + describe_type(v));
    }

    MaybeError check_any_of(const json& schema, const json& v, const std::string& path,
                            int depth) const {
        auto any = schema.find("anyOf");
        if (any == schema.end() || !any->is_array()) return std::nullopt;
        for (const auto& branch : *any)
            if (!check(branch, v, path, depth + 1)) return std::nullopt;
        return no_branch(*any, v, path, depth);
    }

    MaybeError check_one_of(const json& schema, const json& v, const std::string& path,
                            int depth) const {
        auto one = schema.find("oneOf");
        if (one == schema.end() || !one->is_array()) return std::nullopt;
        int matched = 0;
        for (const auto& branch : *one)
            if (!check(branch, v, path, depth + 1)) ++matched;
        if (matched == 1) return std::nullopt;
        if (matched > 1) return fail(path, "matches more than one of the allowed forms");
        return no_branch(*one, v, path, depth);
    }

    const json& root_;
    std::string root_name_;
};

} // namespace

std::string describe_type(const nlohmann::json& value) {
    switch (value.type()) {
    case json::value_t::null:
        return "null";
    case json::value_t::boolean:
        return "a boolean";
    case json::value_t::string:
        return "a string";
    case json::value_t::array:
        return "an array";
    case json::value_t::object:
        return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
        return "an integer";
    case json::value_t::number_float:
        return is_integral(value) ? "an integer" : "a number";
    default:
        return "an unknown value";
    }
}

ar::Status validate(const nlohmann::json& schema, const nlohmann::json& value,
                    const std::string& root_name) {
    Validator validator(schema, root_name);
    if (auto e = validator.check(schema, value, "", 0)) return *e;
    return ar::Ok{};
}

} // namespace ar::tools
