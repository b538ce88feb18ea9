#include "webhooks/target.h"

#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "core/text.h"

namespace ar::webhooks {

namespace {

bool in_v4(uint32_t a, const char* net, int bits) {
    uint32_t n = asio::ip::make_address_v4(net).to_uint();
    uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    return (a & mask) == (n & mask);
}

} // namespace

Result<Target> parse_url(const std::string& url) {
    auto bad = [&](const std::string& why) {
        return invalid("url", "webhook URL '" + printable(url, 200) + "' " + why);
    };
    Target t;
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        t.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        rest = url.substr(7);
    } else {
        return bad("must start with https:// or http://");
    }
    size_t slash = rest.find_first_of("/?#");
    std::string authority = rest.substr(0, slash);
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    if (t.path[0] != '/') t.path = "/" + t.path;
    if (auto hash = t.path.find('#'); hash != std::string::npos) t.path.resize(hash);
    if (authority.find('@') != std::string::npos) return bad("must not hold a user name or password");
    std::string port_text;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return bad("has an unclosed [IPv6 address]");
        t.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return bad("has text after its [IPv6 address]");
            port_text = authority.substr(close + 2);
        }
    } else {
        size_t colon = authority.rfind(':');
        t.host = authority.substr(0, colon);
        if (colon != std::string::npos) port_text = authority.substr(colon + 1);
    }
    if (t.host.empty()) return bad("has no host");
    for (char c : t.host)
        if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '\\') return bad("has a bad host");
    t.port = t.tls ? 443 : 80;
    if (!port_text.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
        if (ec != std::errc() || p != port_text.data() + port_text.size() || v == 0 || v > 65535)
            return bad("has a bad port");
        t.port = static_cast<uint16_t>(v);
    }
    for (char c : t.path)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            return bad("holds a space or control character in its path");
    return t;
}

bool is_private_address(const asio::ip::address& address) {
    if (address.is_v6()) {
        auto v6 = address.to_v6();
        if (v6.is_v4_mapped()) return is_private_address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
        auto b = v6.to_bytes();
        return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (b[0] & 0xfe) == 0xfc ||
               (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);
    }
    uint32_t a = address.to_v4().to_uint();
    for (auto [net, bits] : {std::pair{"0.0.0.0", 8}, {"10.0.0.0", 8}, {"100.64.0.0", 10}, {"127.0.0.0", 8},
                             {"169.254.0.0", 16}, {"172.16.0.0", 12}, {"192.0.0.0", 24}, {"192.0.2.0", 24},
                             {"192.168.0.0", 16}, {"198.18.0.0", 15}, {"198.51.100.0", 24}, {"203.0.113.0", 24},
                             {"224.0.0.0", 4}, {"240.0.0.0", 4}})
        if (in_v4(a, net, bits)) return true;
    return false;
}

Result<std::vector<asio::ip::address>> check_target(const Target& t, bool allow_private) {
    std::vector<asio::ip::address> out;
    std::error_code ec;
    auto literal = asio::ip::make_address(t.host, ec);
    if (!ec) {
        out.push_back(literal);
    } else {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        int rc = getaddrinfo(t.host.c_str(), nullptr, &hints, &res);
        if (rc != 0)
            return Error{kErrUnavailable, "cannot resolve webhook host " + t.host + ": " + gai_strerror(rc), "url"};
        for (addrinfo* p = res; p; p = p->ai_next) {
            if (p->ai_family == AF_INET) {
                auto* sin = reinterpret_cast<sockaddr_in*>(p->ai_addr);
                out.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
            } else if (p->ai_family == AF_INET6) {
                auto* sin6 = reinterpret_cast<sockaddr_in6*>(p->ai_addr);
                asio::ip::address_v6::bytes_type bytes;
                std::memcpy(bytes.data(), &sin6->sin6_addr, 16);
                out.push_back(asio::ip::address_v6(bytes));
            }
        }
        freeaddrinfo(res);
        if (out.empty()) return Error{kErrUnavailable, "webhook host " + t.host + " has no address", "url"};
    }
    if (!allow_private)
        for (const auto& a : out)
            if (is_private_address(a))
                return invalid("url", "webhook host " + t.host + " is at " + a.to_string() +
                                          ", a private, loopback or reserved address: refused unless the "
                                          "operator allows it (--allow-private)");
    return out;
}

} // namespace ar::webhooks
