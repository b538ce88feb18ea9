// result.h: errors travel as values from the core to the doors.
//
// A Result<T> holds either a T or an Error. The Error's `code` is a stable
// machine word (see kErr* below) that each door maps to its own vocabulary:
// a JSON-RPC error, an MCP tool result with isError, an HTTP status, or an
// SMTP reply. `field` names the offending input field when there is one.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace ar {

// Stable error codes shared by every door.
inline constexpr const char* kErrInvalid = "invalid_argument";   // HTTP 400, SMTP 501/550
inline constexpr const char* kErrNotFound = "not_found";         // HTTP 404
inline constexpr const char* kErrUnauthorized = "unauthorized";  // HTTP 401
inline constexpr const char* kErrForbidden = "forbidden";        // HTTP 403
inline constexpr const char* kErrTooLarge = "too_large";         // HTTP 413, SMTP 552
inline constexpr const char* kErrRateLimited = "rate_limited";   // HTTP 429, SMTP 451
inline constexpr const char* kErrConflict = "conflict";          // HTTP 409
inline constexpr const char* kErrInternal = "internal";          // HTTP 500, SMTP 451
inline constexpr const char* kErrUnavailable = "unavailable";    // HTTP 503

struct Error {
    std::string code;     // one of kErr*
    std::string message;  // a sentence a human or an agent can act on
    std::string field;    // the input field at fault, if any ("to[2]", "subject")
    int64_t retry_after_s = 0;  // kErrRateLimited/kErrUnavailable: when trying again makes sense
};

inline Error invalid(std::string field, std::string message) {
    return Error{kErrInvalid, std::move(message), std::move(field)};
}

template <class T> class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace ar
