#include "auth/lookup.h"

#include "dns/resolver.h"

namespace ar::auth {

asio::awaitable<Answer> ResolverLookup::txt(std::string name) {
    dns::TxtResult r = co_await resolver_.resolve_txt(std::move(name));
    Answer a;
    a.status = r.status;
    a.values = std::move(r.records);
    a.detail = std::move(r.detail);
    if (a.status == dns::Status::Ok && a.values.empty()) a.status = dns::Status::NoData;
    co_return a;
}

asio::awaitable<Answer> ResolverLookup::addresses(std::string name) {
    dns::AddressResult r = co_await resolver_.resolve_addresses(std::move(name));
    Answer a;
    a.status = r.status;
    a.addresses = std::move(r.addresses);
    a.detail = std::move(r.detail);
    if (a.status == dns::Status::Ok && a.addresses.empty()) a.status = dns::Status::NoData;
    co_return a;
}

asio::awaitable<Answer> ResolverLookup::mx(std::string name) {
    dns::MxResult r = co_await resolver_.resolve_mx(std::move(name));
    Answer a;
    a.detail = r.detail;
    switch (r.kind) {
    case dns::MxResult::Hosts:
        if (r.implicit) {
            a.status = dns::Status::NoData; // SPF wants MX records, not the implicit MX
            break;
        }
        a.status = dns::Status::Ok;
        for (auto& h : r.hosts)
            a.values.push_back(std::move(h.host));
        break;
    case dns::MxResult::NullMx:
        a.status = dns::Status::NoData;
        break;
    case dns::MxResult::NoSuchDomain:
        a.status = dns::Status::NoSuchDomain;
        break;
    case dns::MxResult::TempFail:
        a.status = dns::Status::TempFail;
        break;
    }
    co_return a;
}

std::optional<Answer> BudgetLookup::spent(const std::string& name) const {
    if (std::chrono::steady_clock::now() < deadline_) return std::nullopt;
    Answer a;
    a.status = dns::Status::TempFail;
    a.detail = "not asked about " + name + ": the time for checking the sender ran out";
    return a;
}

asio::awaitable<Answer> BudgetLookup::txt(std::string name) {
    if (auto a = spent(name)) co_return *a;
    co_return co_await inner_.txt(std::move(name));
}

asio::awaitable<Answer> BudgetLookup::addresses(std::string name) {
    if (auto a = spent(name)) co_return *a;
    co_return co_await inner_.addresses(std::move(name));
}

asio::awaitable<Answer> BudgetLookup::mx(std::string name) {
    if (auto a = spent(name)) co_return *a;
    co_return co_await inner_.mx(std::move(name));
}

} // namespace ar::auth
