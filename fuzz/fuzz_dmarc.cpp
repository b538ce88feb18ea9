// fuzz_dmarc: the DMARC record parser and the choice among TXT records (src/auth/dmarc_record.h)
// on arbitrary bytes, as anyone's DNS could publish them. The whole input is one record; split
// at newlines it is also the TXT records of one name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dmarc_record.h"

namespace {

void check_record(std::string_view txt) {
    using namespace ar::auth;
    auto r = parse_dmarc_record(txt);
    if (!r.ok()) {
        // Errors quote a shortened piece of the record, whatever its size.
        if (r.error().message.size() > 400) __builtin_trap();
        return;
    }
    if (!is_dmarc_record(txt)) __builtin_trap();
    if (r->percent < 0 || r->percent > 100) __builtin_trap();
    // p= is only ever assumed for a record that has somewhere to send reports.
    if (r->policy_assumed && (r->rua.empty() || r->policy != DmarcPolicy::None)) __builtin_trap();
    for (const auto& uri : r->rua)
        if (uri.empty() || uri.size() > txt.size()) __builtin_trap();
    (void)dmarc_policy_name(r->policy);
    (void)dmarc_policy_name(r->subdomain_policy);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_record(in);

    std::vector<std::string> values;
    size_t dmarc = 0;
    while (true) {
        size_t nl = in.find('\n');
        values.emplace_back(in.substr(0, nl));
        if (ar::auth::is_dmarc_record(values.back())) ++dmarc;
        check_record(values.back());
        if (nl == std::string_view::npos) break;
        in.remove_prefix(nl + 1);
    }
    auto s = ar::auth::select_dmarc_record(values);
    if (s.count != dmarc) __builtin_trap();
    if ((s.count == 1) != !s.record.empty()) __builtin_trap();
    return 0;
}
