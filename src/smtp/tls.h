// tls.h: the TLS material of agentrelay's SMTP listeners.
//
// make_server_tls_context loads a certificate chain and its private key (PEM files) into an
// asio::ssl::context fit for a mail server: TLS 1.2 or newer, no compression, no
// renegotiation, the key checked against the certificate. generate_self_signed writes a fresh
// ECDSA P-256 key and a self-signed certificate for a host name (what `agentrelay init` does
// when no certificate is given). Errors come back as values naming the file and OpenSSL's
// reason; nothing here throws.
#pragma once

#include "core/result.h"

#include <asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace ar::smtp {

// Loads cert_file (PEM, leaf first then any intermediates) and key_file (PEM private key).
ar::Result<std::shared_ptr<asio::ssl::context>>
make_server_tls_context(const std::string& cert_file, const std::string& key_file);

// Writes a new P-256 private key to key_file (mode 0600) and a self-signed X.509 v3
// certificate for hostname to cert_file (CN and subjectAltName DNS = hostname, SHA-256,
// valid from one hour ago for `validity`). Each file is written to a temporary name and
// renamed into place, so a reader never sees half a file. Overwrites existing files.
ar::Status generate_self_signed(const std::string& cert_file, const std::string& key_file,
                                const std::string& hostname,
                                std::chrono::hours validity = std::chrono::hours(24 * 3650));

} // namespace ar::smtp
