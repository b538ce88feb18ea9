// answer.cpp: see answer.h. c-ares parses the records; the TTLs of MX and TXT records and the
// SOA of negative answers, which c-ares 1.18 does not report, come from our own walk over the
// reply's sections.
#include "dns/answer.h"

#include <algorithm>
#include <ares.h>
#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <optional>

namespace ar::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxReply = 65535; // the largest DNS message (TCP length prefix)
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kTypeMx = 15;
constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kTypeAaaa = 28;
constexpr int kRcodeNoError = 0;
constexpr int kRcodeNxDomain = 3;

uint16_t read16(const unsigned char* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t read32(const unsigned char* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// RFC 2181 section 8: a TTL with the most significant bit set is treated as zero.
uint32_t sane_ttl(uint32_t raw) {
    return (raw & 0x80000000u) ? 0 : raw;
}

// Moves `pos` past a domain name (labels, ending in the root label or a compression pointer).
bool skip_name(const unsigned char* d, std::size_t n, std::size_t& pos) {
    while (pos < n) {
        unsigned len = d[pos];
        if ((len & 0xC0) == 0xC0) {
            if (pos + 2 > n) return false;
            pos += 2;
            return true;
        }
        if (len & 0xC0) return false; // 0x40 and 0x80 label types are obsolete
        pos += 1 + len;
        if (len == 0) return true;
    }
    return false;
}

struct Record {
    uint16_t type;
    uint32_t ttl;
    std::size_t rdata; // offset of the RDATA
    uint16_t rdlength;
};

// Reads `count` resource records starting at `pos`.
bool read_records(const unsigned char* d, std::size_t n, std::size_t& pos, unsigned count,
                  std::vector<Record>& out) {
    for (unsigned i = 0; i < count; ++i) {
        if (!skip_name(d, n, pos) || pos + 10 > n) return false;
        Record r{read16(d + pos), sane_ttl(read32(d + pos + 4)), pos + 10, read16(d + pos + 8)};
        pos += 10;
        if (pos + r.rdlength > n) return false;
        pos += r.rdlength;
        out.push_back(r);
    }
    return true;
}

struct Sections {
    int rcode = 0;
    std::vector<Record> answers;
    std::vector<Record> authority; // best effort: what could be read
};

// Walks header, questions and answers strictly; the authority section as far as it goes.
std::optional<Sections> walk(const unsigned char* d, std::size_t n) {
    if (d == nullptr || n < kHeaderSize || n > kMaxReply) return std::nullopt;
    Sections s;
    s.rcode = d[3] & 0x0F;
    unsigned qdcount = read16(d + 4), ancount = read16(d + 6), nscount = read16(d + 8);
    std::size_t pos = kHeaderSize;
    for (unsigned i = 0; i < qdcount; ++i) {
        if (!skip_name(d, n, pos) || pos + 4 > n) return std::nullopt;
        pos += 4;
    }
    if (!read_records(d, n, pos, ancount, s.answers)) return std::nullopt;
    (void)read_records(d, n, pos, nscount, s.authority);
    return s;
}

// The smallest TTL among answer records of `type` and the CNAMEs that led to them.
uint32_t answer_ttl(const Sections& s, uint16_t type) {
    std::optional<uint32_t> ttl;
    for (const Record& r : s.answers) {
        if (r.type != type && r.type != kTypeCname) continue;
        ttl = ttl ? std::min(*ttl, r.ttl) : r.ttl;
    }
    return ttl.value_or(0);
}

// RFC 2308 section 5: a negative answer lives for min(SOA TTL, SOA MINIMUM); no SOA, no caching.
uint32_t negative_ttl(const Sections& s, const unsigned char* d) {
    for (const Record& r : s.authority) {
        if (r.type != kTypeSoa || r.rdlength < 22) continue; // two names (≥1 byte) + 5 × 32 bits
        uint32_t minimum = sane_ttl(read32(d + r.rdata + r.rdlength - 4));
        return std::min(r.ttl, minimum);
    }
    return 0;
}

std::size_t count_of(const Sections& s, uint16_t type) {
    return static_cast<std::size_t>(std::count_if(s.answers.begin(), s.answers.end(),
                                                  [&](const Record& r) { return r.type == type; }));
}

// Fills status, detail and ttl from the RCODE. Returns the walked sections when the caller
// should go on and read records (RCODE NOERROR), nothing when the answer is already decided.
template <class Answer>
std::optional<Sections> classify(const unsigned char* d, std::size_t n, Answer& out) {
    out.status = Status::TempFail;
    auto s = walk(d, n);
    if (!s) {
        out.detail = "malformed reply";
        return std::nullopt;
    }
    if (s->rcode == kRcodeNxDomain) {
        out.status = Status::NoSuchDomain;
        out.detail = "NXDOMAIN";
        out.ttl = negative_ttl(*s, d);
        return std::nullopt;
    }
    if (s->rcode != kRcodeNoError) {
        out.detail = rcode_name(s->rcode);
        return std::nullopt;
    }
    return s;
}

template <class Answer>
void no_data(Answer& out, const Sections& s, const unsigned char* d, const char* type) {
    out.status = Status::NoData;
    out.detail = std::string("no ") + type + " records";
    out.ttl = negative_ttl(s, d);
}

template <class Answer> void malformed(Answer& out, int ares_status) {
    out.status = Status::TempFail;
    out.detail = std::string("malformed reply (") + ares_strerror(ares_status) + ")";
}

bool is_root(const char* host) {
    return host == nullptr || host[0] == '\0' || (host[0] == '.' && host[1] == '\0');
}

} // namespace

std::string_view status_name(Status s) {
    switch (s) {
    case Status::Ok:
        return "ok";
    case Status::NoSuchDomain:
        return "no such domain";
    case Status::NoData:
        return "no data";
    case Status::TempFail:
        return "temporary failure";
    }
    return "unknown";
}

std::string rcode_name(int rcode) {
    static constexpr const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                             "NXDOMAIN", "NOTIMP",  "REFUSED"};
    if (rcode >= 0 && rcode < 6) return kNames[rcode];
    return "RCODE " + std::to_string(rcode);
}

std::string to_string(const IpAddress& address) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), text, sizeof text);
    return text;
}

bool in_network(const IpAddress& ip, const IpAddress& net, int prefix) {
    if (ip.v6 != net.v6) return false;
    int bits = prefix;
    for (size_t i = 0; bits > 0 && i < ip.bytes.size(); ++i, bits -= 8) {
        unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((ip.bytes[i] & mask) != (net.bytes[i] & mask)) return false;
    }
    return true;
}

MxAnswer parse_mx_answer(const unsigned char* d, std::size_t n) {
    MxAnswer out;
    auto s = classify(d, n, out);
    if (!s) return out;
    struct ares_mx_reply* mx = nullptr;
    int rc = ares_parse_mx_reply(d, static_cast<int>(n), &mx);
    if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && mx == nullptr)) {
        no_data(out, *s, d, "MX");
        return out;
    }
    if (rc != ARES_SUCCESS) {
        malformed(out, rc);
        return out;
    }
    bool saw_root = false;
    for (auto* r = mx; r != nullptr; r = r->next) {
        if (is_root(r->host)) {
            saw_root = true;
            continue;
        }
        out.hosts.push_back(MxHost{r->host, r->priority});
    }
    ares_free_data(mx);
    out.status = Status::Ok;
    out.null_mx = saw_root && out.hosts.empty();
    out.ttl = answer_ttl(*s, kTypeMx);
    return out;
}

AddressAnswer parse_a_answer(const unsigned char* d, std::size_t n) {
    AddressAnswer out;
    auto s = classify(d, n, out);
    if (!s) return out;
    std::vector<ares_addrttl> ttls(std::max<std::size_t>(1, count_of(*s, kTypeA)));
    int count = static_cast<int>(ttls.size());
    int rc = ares_parse_a_reply(d, static_cast<int>(n), nullptr, ttls.data(), &count);
    if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
        malformed(out, rc);
        return out;
    }
    if (count <= 0) {
        no_data(out, *s, d, "A");
        return out;
    }
    uint32_t ttl = UINT32_MAX;
    for (int i = 0; i < count; ++i) {
        IpAddress a;
        std::memcpy(a.bytes.data(), &ttls[i].ipaddr, 4);
        out.addresses.push_back(a);
        ttl = std::min(ttl, ttls[i].ttl < 0 ? 0u : static_cast<uint32_t>(ttls[i].ttl));
    }
    out.status = Status::Ok;
    out.ttl = ttl;
    return out;
}

AddressAnswer parse_aaaa_answer(const unsigned char* d, std::size_t n) {
    AddressAnswer out;
    auto s = classify(d, n, out);
    if (!s) return out;
    std::vector<ares_addr6ttl> ttls(std::max<std::size_t>(1, count_of(*s, kTypeAaaa)));
    int count = static_cast<int>(ttls.size());
    int rc = ares_parse_aaaa_reply(d, static_cast<int>(n), nullptr, ttls.data(), &count);
    if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
        malformed(out, rc);
        return out;
    }
    if (count <= 0) {
        no_data(out, *s, d, "AAAA");
        return out;
    }
    uint32_t ttl = UINT32_MAX;
    for (int i = 0; i < count; ++i) {
        IpAddress a;
        a.v6 = true;
        std::memcpy(a.bytes.data(), &ttls[i].ip6addr, 16);
        out.addresses.push_back(a);
        ttl = std::min(ttl, ttls[i].ttl < 0 ? 0u : static_cast<uint32_t>(ttls[i].ttl));
    }
    out.status = Status::Ok;
    out.ttl = ttl;
    return out;
}

TxtAnswer parse_txt_answer(const unsigned char* d, std::size_t n) {
    TxtAnswer out;
    auto s = classify(d, n, out);
    if (!s) return out;
    struct ares_txt_ext* txt = nullptr;
    int rc = ares_parse_txt_reply_ext(d, static_cast<int>(n), &txt);
    if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && txt == nullptr)) {
        no_data(out, *s, d, "TXT");
        return out;
    }
    if (rc != ARES_SUCCESS) {
        malformed(out, rc);
        return out;
    }
    // A record is one or more character-strings; c-ares marks where each record starts.
    for (auto* r = txt; r != nullptr; r = r->next) {
        if (r->record_start || out.records.empty()) out.records.emplace_back();
        out.records.back().append(reinterpret_cast<const char*>(r->txt), r->length);
    }
    ares_free_data(txt);
    out.status = Status::Ok;
    out.ttl = answer_ttl(*s, kTypeTxt);
    return out;
}

void order_mx(std::vector<MxHost>& hosts, const std::function<uint32_t()>& rng) {
    std::stable_sort(hosts.begin(), hosts.end(),
                     [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
    for (auto first = hosts.begin(); first != hosts.end();) {
        auto last = std::find_if(
            first, hosts.end(), [&](const MxHost& h) { return h.preference != first->preference; });
        // Fisher-Yates over the run of equal preference.
        for (auto i = last - first - 1; i > 0; --i)
            std::swap(first[i], first[rng() % (i + 1)]);
        first = last;
    }
}

} // namespace ar::dns
