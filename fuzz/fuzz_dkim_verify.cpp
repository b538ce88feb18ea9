// Fuzzes DKIM verification of received mail: the input is a key record, a NUL byte, then a
// message. The message's DKIM-Signature fields are parsed and each is verified against the
// record: no crash, and every verdict is one of the RFC 8601 words with a reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dkim/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t nul = input.find('\0');
    std::string_view record = input.substr(0, nul);
    std::string_view message = nul == std::string_view::npos ? input : input.substr(nul + 1);

    (void)ar::dkim::parse_tag_list(record);
    std::string body = ar::dkim::simple_body(message);
    if (body.size() < 2 || body.substr(body.size() - 2) != "\r\n") abort();

    auto verifier = ar::dkim::Verifier::parse(message);
    if (verifier.count() > ar::dkim::kMaxSignatures) abort();
    for (size_t i = 0; i < verifier.count(); ++i) {
        (void)verifier.key_name(i);
        for (auto status : {ar::dns::Status::Ok, ar::dns::Status::NoData, ar::dns::Status::TempFail}) {
            auto v = verifier.verify(i, status, {std::string(record)}, 1'800'000'000);
            bool known = v.result == "pass" || v.result == "fail" || v.result == "temperror" ||
                         v.result == "permerror";
            if (!known || v.reason.empty()) abort();
        }
    }
    return 0;
}
