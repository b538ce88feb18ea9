// fuzz_spf: the SPF record parser and macro expansion on arbitrary bytes, checking what
// spf_record.h promises: a record that parses re-parses from its terms as written to the same
// record; a domain-spec the parser accepts always expands; an expanded query name is cut to
// 253 octets unless it is a single label; the TXT selection keeps at most one record.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "auth/spf_record.h"

namespace {

using namespace ar::auth;

void require(bool ok) {
    if (!ok) std::abort();
}

bool same(const SpfMechanism& a, const SpfMechanism& b) {
    return a.qualifier == b.qualifier && a.kind == b.kind && a.domain_spec == b.domain_spec &&
           a.network == b.network && a.cidr4 == b.cidr4 && a.cidr6 == b.cidr6 && a.text == b.text;
}

void check_record(std::string_view in) {
    auto r = parse_spf_record(in);
    if (!r) {
        require(!r.error().message.empty());
        return;
    }
    require(is_spf_record(in));
    std::string again = "v=spf1";
    for (const SpfMechanism& m : r->mechanisms) {
        require(!m.text.empty() && m.text.find(' ') == std::string::npos);
        require(m.cidr4 >= 0 && m.cidr4 <= 32 && m.cidr6 >= 0 && m.cidr6 <= 128);
        if (m.kind == SpfMechanismKind::Ip4) require(!m.network.v6);
        if (m.kind == SpfMechanismKind::Ip6) require(m.network.v6);
        again += " " + m.text;
    }
    if (r->redirect) again += " redirect=" + *r->redirect;
    if (r->exp) again += " exp=" + *r->exp;
    auto r2 = parse_spf_record(again);
    require(r2.ok() && r2->mechanisms.size() == r->mechanisms.size());
    for (size_t i = 0; i < r->mechanisms.size(); ++i)
        require(same(r->mechanisms[i], r2->mechanisms[i]));
    require(r2->redirect == r->redirect && r2->exp == r->exp);
}

void check_expansion(std::string_view in, const SpfMacroContext& ctx) {
    (void)expand_spf_macros(in, ctx, true);
    auto plain = expand_spf_macros(in, ctx, false);
    auto name = expand_spf_domain(in, ctx);
    require(plain.ok() == name.ok());
    if (name) {
        require(name->size() <= 253 || name->find('.') == std::string::npos);
        if (is_valid_query_name(*name)) require(!name->empty() && name->size() <= 253);
        if (is_valid_spf_domain(*name)) require(is_valid_query_name(*name));
    }
    // The parser's idea of a domain-spec and the expander's agree.
    if (in.size() < 1000 && in.find(' ') == std::string_view::npos) {
        auto r = parse_spf_record("v=spf1 exists:" + std::string(in));
        if (r) require(name.ok());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_record(in);

    std::vector<std::string> txt;
    size_t start = 0;
    for (size_t i = 0; i <= in.size(); ++i) {
        if (i == in.size() || in[i] == '\n') {
            txt.emplace_back(in.substr(start, i - start));
            start = i + 1;
        }
    }
    auto chosen = select_spf_record(txt);
    if (chosen && *chosen) require(is_spf_record(**chosen));

    SpfMacroContext ctx;
    ctx.sender = "strong-bad@email.example.com";
    ctx.local_part = "strong-bad";
    ctx.sender_domain = "email.example.com";
    ctx.domain = "email.example.com";
    ctx.helo = "mx.example.org";
    ctx.ip.bytes = {192, 0, 2, 3};
    check_expansion(in, ctx);
    ctx.ip.v6 = true;
    ctx.ip.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcb, 0x01};
    check_expansion(in, ctx);
    return 0;
}
