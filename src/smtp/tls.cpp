#include "smtp/tls.h"
#include "core/openssl_ptr.h"
#include "core/openssl_error.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

namespace ar::smtp {
namespace {

ar::Error tls_error(std::string message) {
    return ar::Error{ar::kErrInternal, std::move(message), ""};
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The host name goes into an OpenSSL config string ("DNS:<host>"), so only host name characters
// are allowed: a comma would add names the caller never asked for.
bool is_certificate_host(const std::string& host) {
    if (host.empty() || host.size() > 253) return false;
    if (is_ip_literal(host)) return true;
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '*';
        if (!ok) return false;
    }
    return true;
}

ar::Status add_extension(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509ExtensionPtr ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
        return tls_error("Cannot add certificate extension " + value + ": " + openssl_reason());
    return ar::Ok{};
}

ar::Result<X509Ptr> make_certificate(EVP_PKEY* key, const std::string& host,
                                                             std::chrono::hours validity) {
    X509Ptr cert(X509_new());
    BignumPtr serial(BN_new());
    if (!cert || !serial) return tls_error("Out of memory creating a certificate");
    // A random positive 127-bit serial: unique enough that browsers never see a repeat.
    if (X509_set_version(cert.get(), 2) != 1 ||
        BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
        return tls_error("Cannot set the certificate serial: " + openssl_reason());
    long seconds = static_cast<long>(std::chrono::seconds(validity).count());
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), seconds))
        return tls_error("Cannot set the certificate validity: " + openssl_reason());
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key) != 1)
        return tls_error("Cannot set the certificate names: " + openssl_reason());
    std::string san = (is_ip_literal(host) ? "IP:" : "DNS:") + host;
    for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                              {NID_ext_key_usage, "serverAuth"},
                              {NID_subject_key_identifier, "hash"}}) {
        if (auto st = add_extension(cert.get(), nid, value); !st) return st.error();
    }
    if (X509_sign(cert.get(), key, EVP_sha256()) <= 0)
        return tls_error("Cannot sign the certificate: " + openssl_reason());
    return cert;
}

// Writes data to path via a temporary file in the same directory and rename(2).
ar::Status write_file_atomically(const std::string& path, const std::string& data, mode_t mode) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return tls_error("Cannot create " + tmp + ": " + std::strerror(errno));
    ::fchmod(fd, mode); // O_CREAT's mode is ignored when the file already existed
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            std::string reason = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return tls_error("Cannot write " + tmp + ": " + reason);
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        std::string reason = std::strerror(errno);
        ::unlink(tmp.c_str());
        return tls_error("Cannot write " + tmp + ": " + reason);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string reason = std::strerror(errno);
        ::unlink(tmp.c_str());
        return tls_error("Cannot rename " + tmp + " to " + path + ": " + reason);
    }
    return ar::Ok{};
}

std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

} // namespace

ar::Result<std::shared_ptr<asio::ssl::context>>
make_server_tls_context(const std::string& cert_file, const std::string& key_file) {
    std::shared_ptr<asio::ssl::context> ctx;
    try {
        ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    } catch (const std::exception& e) {
        return tls_error(std::string("Cannot create a TLS context: ") + e.what());
    }
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    asio::error_code ec;
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) return tls_error("Cannot load TLS certificate " + cert_file + ": " + ec.message());
    ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
    if (ec) return tls_error("Cannot load TLS private key " + key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(native) != 1)
        return tls_error("TLS private key " + key_file + " does not match certificate " +
                         cert_file + ": " + openssl_reason());
    return ctx;
}

ar::Status generate_self_signed(const std::string& cert_file, const std::string& key_file,
                                const std::string& hostname, std::chrono::hours validity) {
    if (!is_certificate_host(hostname))
        return ar::invalid("hostname", "Cannot make a certificate for '" + hostname +
                                           "': use a host name of letters, digits, '-' and '.'");
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) return tls_error("Cannot generate a P-256 key: " + openssl_reason());
    auto cert = make_certificate(key.get(), hostname, validity);
    if (!cert) return cert.error();

    BioPtr key_pem(BIO_new(BIO_s_mem()));
    BioPtr cert_pem(BIO_new(BIO_s_mem()));
    if (!key_pem || !cert_pem ||
        PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1 ||
        PEM_write_bio_X509(cert_pem.get(), cert->get()) != 1)
        return tls_error("Cannot encode the key or certificate as PEM: " + openssl_reason());
    if (auto st = write_file_atomically(key_file, bio_contents(key_pem.get()), 0600); !st)
        return st;
    return write_file_atomically(cert_file, bio_contents(cert_pem.get()), 0644);
}

} // namespace ar::smtp
