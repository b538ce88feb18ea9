// fuzz_dns_answer: the DNS answer parsers (src/dns/answer.h) on arbitrary bytes, as a hostile
// or broken resolver could send them. Each parser must return a typed answer, never crash.
#include <cstddef>
#include <cstdint>

#include "dns/answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ar::dns;
    MxAnswer mx = parse_mx_answer(data, size);
    uint32_t state = size;
    order_mx(mx.hosts, [&] { return state = state * 1664525u + 1013904223u; });
    for (const auto& answer : {parse_a_answer(data, size), parse_aaaa_answer(data, size)}) {
        for (const auto& address : answer.addresses) (void)to_string(address);
    }
    TxtAnswer txt = parse_txt_answer(data, size);
    size_t total = 0;
    for (const auto& record : txt.records) total += record.size();
    // Every byte of a TXT record comes from the reply itself.
    if (total > size) __builtin_trap();
    return 0;
}
