#include "mime/date.h"

#include <array>
#include <string>
#include <vector>

#include "core/text.h"

namespace ar::mime {

namespace {

// The value with comments (nested, with quoted-pairs) replaced by a space; nullopt when a
// comment is not closed.
std::optional<std::string> without_comments(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    int depth = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (depth > 0) {
            if (c == '\\') ++i;
            else if (c == '(') ++depth;
            else if (c == ')' && --depth == 0) out += ' ';
            continue;
        }
        if (c == '(') depth = 1;
        else out += c;
    }
    if (depth > 0) return std::nullopt;
    return out;
}

// The words of the value: runs of letters, digits or sign characters, with ',' and ':' as
// words of their own; white space separates.
std::vector<std::string_view> tokens(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++i;
            continue;
        }
        if (c == ',' || c == ':') {
            out.push_back(s.substr(i, 1));
            ++i;
            continue;
        }
        size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' &&
               s[i] != ',' && s[i] != ':')
            ++i;
        out.push_back(s.substr(start, i - start));
    }
    return out;
}

std::optional<int> number(std::string_view t, size_t min_digits, size_t max_digits) {
    if (t.size() < min_digits || t.size() > max_digits) return std::nullopt;
    int n = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

std::optional<int> month_of(std::string_view t) {
    static constexpr std::array<std::string_view, 12> names = {
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    for (size_t i = 0; i < names.size(); ++i)
        if (iequals(t, names[i])) return static_cast<int>(i) + 1;
    return std::nullopt;
}

bool is_day_name(std::string_view t) {
    static constexpr std::array<std::string_view, 7> names = {"mon", "tue", "wed", "thu",
                                                              "fri", "sat", "sun"};
    for (auto n : names)
        if (iequals(t, n)) return true;
    return false;
}

// The zone's offset east of UTC in minutes.
std::optional<int> zone_of(std::string_view t) {
    if (t.size() == 5 && (t[0] == '+' || t[0] == '-')) {
        auto hh = number(t.substr(1, 2), 2, 2), mm = number(t.substr(3, 2), 2, 2);
        if (!hh || !mm || *mm > 59) return std::nullopt;
        int minutes = *hh * 60 + *mm;
        return t[0] == '-' ? -minutes : minutes;
    }
    struct Named {
        std::string_view name;
        int hours;
    };
    static constexpr std::array<Named, 10> named = {{{"ut", 0},
                                                     {"gmt", 0},
                                                     {"est", -5},
                                                     {"edt", -4},
                                                     {"cst", -6},
                                                     {"cdt", -5},
                                                     {"mst", -7},
                                                     {"mdt", -6},
                                                     {"pst", -8},
                                                     {"pdt", -7}}};
    for (const auto& z : named)
        if (iequals(t, z.name)) return z.hours * 60;
    // Military zones (RFC 5322 4.3: their sense was reversed in RFC 822; read them as -0000).
    if (t.size() == 1 && ((t[0] >= 'A' && t[0] <= 'I') || (t[0] >= 'K' && t[0] <= 'Z') ||
                          (t[0] >= 'a' && t[0] <= 'i') || (t[0] >= 'k' && t[0] <= 'z')))
        return 0;
    return std::nullopt;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
    static constexpr std::array<int, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[static_cast<size_t>(m - 1)];
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

} // namespace

std::optional<int64_t> parse_date(std::string_view value) {
    auto text = without_comments(value);
    if (!text) return std::nullopt;
    auto t = tokens(*text);
    size_t i = 0;
    auto next = [&]() -> std::string_view { return i < t.size() ? t[i++] : std::string_view(); };
    if (i < t.size() && is_day_name(t[i])) {
        ++i;
        if (next() != ",") return std::nullopt;
    }
    auto day = number(next(), 1, 2);
    auto month = month_of(next());
    std::string_view year_text = next();
    auto year = number(year_text, 2, 4);
    if (!day || !month || !year) return std::nullopt;
    if (year_text.size() == 2) *year += *year < 50 ? 2000 : 1900; // RFC 5322 4.3
    else if (year_text.size() == 3) *year += 1900;
    auto hour = number(next(), 2, 2);
    if (!hour || next() != ":") return std::nullopt;
    auto minute = number(next(), 2, 2);
    if (!minute) return std::nullopt;
    int second = 0;
    if (i < t.size() && t[i] == ":") {
        ++i;
        auto s = number(next(), 2, 2);
        if (!s) return std::nullopt;
        second = *s;
    }
    auto zone = zone_of(next());
    if (!zone || i != t.size()) return std::nullopt;
    if (*year < 1900 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23 ||
        *minute > 59 || second > 60)
        return std::nullopt;
    int64_t seconds = days_from_civil(*year, *month, *day) * 86400 + *hour * 3600 + *minute * 60 +
                      std::min(second, 59) - static_cast<int64_t>(*zone) * 60;
    return seconds * 1000;
}

} // namespace ar::mime
