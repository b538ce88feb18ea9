#include "http/message.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <utility>

namespace ar::http {

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
        return std::tolower(x) < std::tolower(y);
    });
}

std::string Request::get_header_value(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

std::string Request::get_param_value(std::string_view name) const {
    auto it = params.find(std::string(name));
    return it == params.end() ? std::string() : it->second;
}

void Response::set_header(std::string name, std::string value) {
    auto range = headers.equal_range(name);
    headers.erase(range.first, range.second);
    headers.emplace(std::move(name), std::move(value));
}

std::string Response::get_header_value(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

struct EventStream::State {
    std::mutex mu;
    std::string queued;
    bool ended = false;
    std::function<void()> wake;
    std::vector<std::function<void()>> on_close;
};

EventStream::EventStream() : state_(std::make_unique<State>()) {}
EventStream::~EventStream() = default;

bool EventStream::send(std::string_view data, std::string_view event, std::string_view id) {
    std::string text;
    if (!event.empty()) text.append("event: ").append(event).append("\n");
    if (!id.empty()) text.append("id: ").append(id).append("\n");
    std::size_t start = 0;
    for (;;) {
        std::size_t nl = data.find('\n', start);
        std::string_view line = data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        text.append("data: ").append(line).append("\n");
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    text.append("\n");
    std::function<void()> wake;
    {
        std::lock_guard lock(state_->mu);
        if (state_->ended) return false;
        state_->queued += text;
        wake = state_->wake;
    }
    if (wake) wake();
    return true;
}

void EventStream::close() {
    std::function<void()> wake;
    {
        std::lock_guard lock(state_->mu);
        if (state_->ended) return;
        state_->ended = true;
        wake = state_->wake;
    }
    if (wake)
        wake();
    else
        finish();
}

bool EventStream::closed() const {
    std::lock_guard lock(state_->mu);
    return state_->ended;
}

void EventStream::on_close(std::function<void()> f) {
    {
        std::lock_guard lock(state_->mu);
        if (!state_->ended || state_->wake) {
            state_->on_close.push_back(std::move(f));
            return;
        }
    }
    f(); // already over
}

std::string EventStream::take() {
    std::lock_guard lock(state_->mu);
    return std::exchange(state_->queued, std::string());
}

void EventStream::attach(std::function<void()> wake) {
    std::lock_guard lock(state_->mu);
    state_->wake = std::move(wake);
}

void EventStream::finish() {
    std::vector<std::function<void()>> fs;
    {
        std::lock_guard lock(state_->mu);
        state_->ended = true;
        state_->wake = nullptr;
        fs.swap(state_->on_close);
    }
    for (auto& f : fs)
        f();
}

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode_component(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

} // namespace

std::multimap<std::string, std::string> parse_query(std::string_view query) {
    std::multimap<std::string, std::string> out;
    std::size_t start = 0;
    while (start < query.size()) {
        std::size_t amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view pair = query.substr(start, amp - start);
        if (!pair.empty()) {
            std::size_t eq = pair.find('=');
            std::string key = decode_component(pair.substr(0, eq));
            std::string value = eq == std::string_view::npos ? "" : decode_component(pair.substr(eq + 1));
            if (!key.empty()) out.emplace(std::move(key), std::move(value));
        }
        start = amp + 1;
    }
    return out;
}

std::string_view reason_phrase(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

} // namespace ar::http
