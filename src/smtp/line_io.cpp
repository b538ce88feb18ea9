// line_io.cpp: timed CRLF line I/O over plain TCP or TLS, and DATA dot-stuffing.
#include "smtp/line_io.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <tuple>

namespace ar::smtp {

bool DotStuffer::next(std::string& out, size_t max_octets) {
    out.clear();
    if (finished_) return false;
    while (out.size() < max_octets && pos_ < message_.size()) {
        if (line_start_ && message_[pos_] == '.') out += '.';
        line_start_ = false;
        const size_t eol = message_.find_first_of("\r\n", pos_);
        const size_t end = eol == std::string_view::npos ? message_.size() : eol;
        const size_t room = max_octets > out.size() ? max_octets - out.size() : 0;
        const size_t take = std::min(end - pos_, room);
        out.append(message_.substr(pos_, take));
        pos_ += take;
        if (pos_ < end || eol == std::string_view::npos) break; // piece full, or no line end
        const bool crlf =
            message_[pos_] == '\r' && pos_ + 1 < message_.size() && message_[pos_ + 1] == '\n';
        pos_ += crlf ? 2 : 1;
        out += "\r\n";
        line_start_ = true;
    }
    if (pos_ < message_.size()) return true;
    if (!line_start_) out += "\r\n";
    out += ".\r\n";
    finished_ = true;
    return true;
}

ar::Error LineIo::failure(const std::error_code& ec) {
    std::string message;
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        message = "connection closed by the server";
    else if (ec == asio::error::not_found)
        message = "line longer than " + std::to_string(kMaxLineBuffer) + " octets";
    else
        message = ec.message();
    return ar::Error{ar::kErrUnavailable, std::move(message), ""};
}

void LineIo::on_deadline() {
    expired_ = true;
    std::error_code ignored;
    socket_.cancel(ignored);  // the pending read or write (under TLS too) ends with operation_aborted
}

asio::awaitable<ar::Result<std::string_view>> LineIo::read_line(Duration timeout) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
    size_t end = buffer_.find('\n');
    if (end == std::string::npos) {
        auto buffer = asio::dynamic_buffer(buffer_, kMaxLineBuffer);
        expired_ = false;
        deadline_.arm(std::chrono::steady_clock::now() + timeout);
        std::error_code ec;
        size_t n = 0;
        // Two statements, not a conditional expression: GCC 12 miscompiles co_await inside ?:.
        if (tls_)
            std::tie(ec, n) = co_await asio::async_read_until(*tls_, buffer, '\n', use_tuple);
        else
            std::tie(ec, n) = co_await asio::async_read_until(socket_, buffer, '\n', use_tuple);
        deadline_.disarm();
        timed_out_ = expired(ec);
        if (timed_out_) co_return ar::Error{ar::kErrUnavailable, "timeout", ""};
        if (ec) co_return failure(ec);
        end = n - 1;
    }
    consumed_ = end + 1;
    std::string_view line(buffer_.data(), end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    co_return line;
}

asio::awaitable<ar::Status> LineIo::write(std::string_view data, Duration timeout) {
    expired_ = false;
    deadline_.arm(std::chrono::steady_clock::now() + timeout);
    std::error_code ec;
    size_t n = 0;
    if (tls_)
        std::tie(ec, n) = co_await asio::async_write(*tls_, asio::buffer(data), use_tuple);
    else
        std::tie(ec, n) = co_await asio::async_write(socket_, asio::buffer(data), use_tuple);
    (void)n;
    deadline_.disarm();
    timed_out_ = expired(ec);
    if (timed_out_) co_return ar::Error{ar::kErrUnavailable, "timeout", ""};
    if (ec) co_return failure(ec);
    co_return ar::Ok{};
}

asio::awaitable<ar::Status> LineIo::start_tls(asio::ssl::context& context,
                                              const std::string& server_name, bool verify,
                                              Duration timeout) {
    buffer_.clear();
    consumed_ = 0;
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
    std::error_code literal_ec;
    asio::ip::make_address(server_name, literal_ec);
    // SNI carries host names only (RFC 6066 3), never address literals.
    if (literal_ec && !server_name.empty())
        SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str());
    if (verify) {
        tls_->set_verify_mode(asio::ssl::verify_peer);
        tls_->set_verify_callback(asio::ssl::host_name_verification(server_name));
    } else {
        tls_->set_verify_mode(asio::ssl::verify_none);
    }
    auto done = co_await with_timeout(
        tls_->async_handshake(asio::ssl::stream_base::client, use_tuple), timeout);
    timed_out_ = !done;
    if (!done) co_return ar::Error{ar::kErrUnavailable, "timeout", ""};
    auto [ec] = *done;
    if (!ec) co_return ar::Ok{};
    std::string message = "TLS handshake failed: " + ec.message();
    if (long v = SSL_get_verify_result(tls_->native_handle()); verify && v != X509_V_OK)
        message += std::string(" (") + X509_verify_cert_error_string(v) + ")";
    co_return ar::Error{ar::kErrUnavailable, std::move(message), ""};
}

std::string LineIo::tls_version() const {
    return tls_ ? SSL_get_version(tls_->native_handle()) : "";
}

std::string LineIo::tls_cipher() const {
    if (!tls_) return "";
    const char* name = SSL_get_cipher_name(tls_->native_handle());
    return name ? name : "";
}

void LineIo::close() {
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

} // namespace ar::smtp
