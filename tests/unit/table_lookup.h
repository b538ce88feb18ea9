// table_lookup.h: an auth::Lookup answering from a table, for unit tests of SPF, DKIM and DMARC
// evaluation (the integration tests ask dnsmasq instead). A name not in the table is NXDOMAIN;
// every question is counted.
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "auth/lookup.h"

namespace ar::test {

class TableLookup final : public auth::Lookup {
  public:
    TableLookup& txt_record(const std::string& name, std::string value) {
        auto& a = table_[{"TXT", lower(name)}];
        a.status = dns::Status::Ok;
        a.values.push_back(std::move(value));
        return *this;
    }
    TableLookup& address(const std::string& name, const std::string& ip) {
        auto& a = table_[{"ADDR", lower(name)}];
        a.status = dns::Status::Ok;
        a.addresses.push_back(asio::ip::make_address(ip));
        return *this;
    }
    TableLookup& mx_host(const std::string& name, std::string host) {
        auto& a = table_[{"MX", lower(name)}];
        a.status = dns::Status::Ok;
        a.values.push_back(std::move(host));
        return *this;
    }
    // The name exists but has no records of the type (NODATA).
    TableLookup& no_data(const std::string& type, const std::string& name) {
        table_[{type, lower(name)}] = auth::Answer{dns::Status::NoData, {}, {}, "no records"};
        return *this;
    }
    // Every question of this type about this name fails temporarily (SERVFAIL).
    TableLookup& servfail(const std::string& type, const std::string& name) {
        table_[{type, lower(name)}] = auth::Answer{dns::Status::TempFail, {}, {}, "SERVFAIL"};
        return *this;
    }

    asio::awaitable<auth::Answer> txt(std::string name) override { co_return ask("TXT", name); }
    asio::awaitable<auth::Answer> addresses(std::string name) override {
        co_return ask("ADDR", name);
    }
    asio::awaitable<auth::Answer> mx(std::string name) override { co_return ask("MX", name); }

    int queries() const { return queries_; }
    // How often a question was asked ("TXT", "ADDR" or "MX"; the name in any case).
    int asked(const std::string& type, const std::string& name) const {
        auto it = asked_.find({type, lower(name)});
        return it == asked_.end() ? 0 : it->second;
    }

  private:
    static std::string lower(std::string s) {
        if (!s.empty() && s.back() == '.') s.pop_back();
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return s;
    }
    auth::Answer ask(const std::string& type, const std::string& name) {
        ++queries_;
        ++asked_[{type, lower(name)}];
        auto it = table_.find({type, lower(name)});
        if (it != table_.end()) return it->second;
        // The name exists if any record type has it: then this type is NODATA.
        for (const auto& [key, answer] : table_)
            if (key.second == lower(name))
                return auth::Answer{dns::Status::NoData, {}, {}, "no records"};
        return auth::Answer{dns::Status::NoSuchDomain, {}, {}, "NXDOMAIN"};
    }
    std::map<std::pair<std::string, std::string>, auth::Answer> table_;
    std::map<std::pair<std::string, std::string>, int> asked_;
    int queries_ = 0;
};

// Runs a coroutine to its end on a fresh io_context and returns its value.
template <class T> T run_awaitable(asio::awaitable<T> a) {
    asio::io_context io;
    auto f = asio::co_spawn(io, std::move(a), asio::use_future);
    io.run();
    return f.get();
}

} // namespace ar::test
