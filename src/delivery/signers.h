// signers.h: the hosted domain's DKIM signers, made from the control store's active keys.
//
// Private keys are parsed only when the set of active selectors changes (`dkim activate` or
// `rotate` in any process on the data dir); every message asks current() and so carries the
// selectors active when it is signed. A key that cannot be parsed is logged and left out;
// when no active key can be used, current() says why, and the engine then holds the mail
// back rather than send it unsigned. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "dkim/sign.h"
#include "store/control_store.h"

namespace ar::delivery {

class SignerCache {
  public:
    SignerCache(store::ControlStore& control, std::string domain);

    struct Signers {
        std::vector<dkim::Signer> signers; // empty with an empty error: no active key at all
        std::string error;                 // active keys exist, and none of them can be used
    };
    Signers current();

  private:
    void reload(const std::string& fingerprint);

    store::ControlStore& control_;
    std::string domain_;
    std::mutex mu_;
    std::string fingerprint_; // the active selectors the signers were made from
    std::vector<dkim::Signer> signers_;
    std::string errors_; // why active keys could not be used ("" when all could)
};

} // namespace ar::delivery
