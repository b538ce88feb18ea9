// message.h: an HTTP request and its answer as the door's handlers see them, apart from the
// server that parsed them (door.h). Header names compare case-insensitively.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ar::http {

struct CaseInsensitiveLess {
    bool operator()(std::string_view a, std::string_view b) const;
    using is_transparent = void;
};

using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct Request {
    std::string method; // "GET", "POST", ...
    std::string path;   // the target's path, percent-decoding left to the handler
    std::string query;  // after '?', raw
    Headers headers;
    std::string body;
    std::string remote_addr;
    std::multimap<std::string, std::string> params; // the query, decoded
    std::vector<std::string> matches;               // the route pattern's capture groups

    bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
    // The first value of a header, or "".
    std::string get_header_value(std::string_view name) const;
    bool has_param(std::string_view name) const { return params.count(std::string(name)) != 0; }
    std::string get_param_value(std::string_view name) const;
};

// An answer that stays open: a text/event-stream (SSE) whose events are sent from any thread,
// in order, until either side ends it. Made by a handler, set as Response::stream; the door
// writes the events as they come and a comment line every 15 s (so that a dead peer or an idle
// proxy is noticed), and ends it when the client goes away or close() is called.
class EventStream {
  public:
    EventStream();
    ~EventStream();
    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;

    // Queues one event: `data` (each of its lines a data: line), with an event name and id
    // when given. False once the stream has ended.
    bool send(std::string_view data, std::string_view event = "", std::string_view id = "");
    void close();
    bool closed() const;
    // Runs once when the stream ends, whoever ends it (on the door's loop, or at once when it
    // already has).
    void on_close(std::function<void()> f);

    // For the door: takes what is queued; attach() is how queued events wake the writer;
    // finish() marks the end and runs the on_close functions.
    std::string take();
    void attach(std::function<void()> wake);
    void finish();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;
    std::string content_type; // empty: no body type (and, with an empty body, none sent)
    std::shared_ptr<EventStream> stream; // set: the answer is this event stream, not body

    void set_header(std::string name, std::string value);
    bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
    std::string get_header_value(std::string_view name) const;
    void set_content(std::string content, std::string type) {
        body = std::move(content);
        content_type = std::move(type);
    }
};

// Splits and percent-decodes a query string ("a=1&b=x%20y"; '+' is a space).
std::multimap<std::string, std::string> parse_query(std::string_view query);

// The standard reason phrase for a status ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

} // namespace ar::http
