// openssl_ptr.h: OpenSSL objects owned by std::unique_ptr, each freed by its own *_free.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace ar {

template <auto Free> struct OpensslFree {
    template <class T> void operator()(T* p) const { Free(p); }
};

using BioPtr = std::unique_ptr<BIO, OpensslFree<&BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslFree<&BN_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslFree<&EVP_MD_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree<&EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslFree<&X509_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpensslFree<&X509_EXTENSION_free>>;

}  // namespace ar
