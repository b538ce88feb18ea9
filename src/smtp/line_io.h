// line_io.h: CRLF lines over a TCP connection that may be upgraded to TLS in place (STARTTLS),
// every read and write bounded by a timeout; and the DATA body transformation (dot-stuffing).
//
// Promises:
// - LineIo holds one small read buffer (at most kMaxLineBuffer octets): a line longer than
//   that is an error, not a reason to grow. Lines are returned without their line end; a bare
//   LF is accepted as a line end from a sloppy server.
// - start_tls discards whatever was read before the handshake (RFC 3207 5: nothing the server
//   sent in plain text may be taken as said under TLS), sets SNI for host names, and checks the
//   certificate chain and host name only when asked to.
// - On a timeout the pending operation is cancelled and timed_out() is true; the connection
//   is then in an unknown state and should be closed.
// - DotStuffer produces the transparent body of RFC 5321 4.5.2 in bounded pieces, never a
//   copy of the whole message.
#pragma once

#include "core/result.h"
#include "smtp/deadline.h"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ar::smtp {

inline constexpr size_t kMaxLineBuffer = 4096;
inline constexpr size_t kDataChunk = 64 * 1024;

// Completion token: an awaitable that yields (error_code, ...) instead of throwing.
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Runs op unless the timeout passes first, in which case op is cancelled and nullopt returned.
template <class T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op,
                                               std::chrono::milliseconds timeout) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto first = co_await (std::move(op) || timer.async_wait(use_tuple));
    if (first.index() == 1) co_return std::nullopt;
    co_return std::get<0>(std::move(first));
}

// The transparent DATA body: line ends normalized to CRLF (a bare LF or a bare CR counts as a
// line end, so no "<LF>.<CR><LF>" can smuggle an early end of data), a '.' doubled at the start
// of each line, a final CRLF added if missing, then the end-of-data line ".".
class DotStuffer {
  public:
    explicit DotStuffer(std::string_view message) : message_(message) {}
    // Replaces out with the next piece of the body, about max_octets long (at least one line
    // end's worth more is never added). Returns false, leaving out empty, when all is produced.
    bool next(std::string& out, size_t max_octets = kDataChunk);

  private:
    std::string_view message_;
    size_t pos_ = 0;
    bool line_start_ = true;
    bool finished_ = false;
};

class LineIo {
  public:
    using Duration = std::chrono::milliseconds;

    explicit LineIo(asio::ip::tcp::socket socket)
        : socket_(std::move(socket)), deadline_(socket_.get_executor(), [this] { on_deadline(); }) {}
    LineIo(const LineIo&) = delete; // the TLS stream refers to socket_
    LineIo& operator=(const LineIo&) = delete;

    // The next line without its line end; the view is valid until the next call.
    asio::awaitable<ar::Result<std::string_view>> read_line(Duration timeout);
    asio::awaitable<ar::Status> write(std::string_view data, Duration timeout);
    // TLS client handshake on the same connection. verify: check the chain against the
    // context's trust store and the certificate against server_name.
    asio::awaitable<ar::Status> start_tls(asio::ssl::context& context,
                                          const std::string& server_name, bool verify,
                                          Duration timeout);

    bool timed_out() const { return timed_out_; } // the last failed operation timed out
    bool tls() const { return tls_ != nullptr; }
    std::string tls_version() const; // "TLSv1.3", or "" before TLS
    std::string tls_cipher() const;
    asio::ip::tcp::socket& socket() { return socket_; }
    void close();

  private:
    // The cause of a failed read or write, in words ("connection closed by the server").
    static ar::Error failure(const std::error_code& ec);

    // Reads and writes run under one Deadline for the whole connection (smtp/deadline.h);
    // past it, the socket's operation in progress is cancelled (expired_).
    void on_deadline();
    // After an operation: a timeout when it was cancelled because the deadline passed.
    bool expired(const std::error_code& ec) const { return expired_ && ec == asio::error::operation_aborted; }

    asio::ip::tcp::socket socket_;
    Deadline deadline_;
    bool expired_ = false;  // the deadline passed while armed: the socket was cancelled
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
    std::string buffer_;  // bytes read and not yet returned, starting with the last line
    size_t consumed_ = 0; // length of the line returned last, with its line end
    bool timed_out_ = false;
};

} // namespace ar::smtp
