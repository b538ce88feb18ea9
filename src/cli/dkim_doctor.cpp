// dkim_doctor.cpp: `dkim list|rotate|activate` and `doctor`.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio.hpp>
#include <iostream>

#include "cli/app.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "dkim/keys.h"
#include "dns/resolver.h"

namespace ar::cli {

namespace {

constexpr const char* kDkimHelp = R"(usage: agentrelay dkim list --data DIR
       agentrelay dkim rotate --data DIR
       agentrelay dkim activate SELECTOR --data DIR

list      the domain's DKIM keys: selector, algorithm, state (active: signing; pending: new,
          publish it first; published: kept in DNS, no longer signing)
rotate    makes a new ed25519 and rsa-2048 key pair in state pending and prints their DNS records
activate  once the pending records are published: signs with SELECTOR's pair from now on; the
          keys signing until now stay published so mail in flight still verifies
)";

constexpr const char* kDoctorHelp = R"(usage: agentrelay doctor --data DIR [--dns HOST:PORT[,...]]

Looks up the hosted domain's MX, SPF, DKIM and DMARC records and says what is missing or does
not match, printing the records to publish as zone-file lines. Exit status 0 when all is well.
)";

int fail(const Error& e) {
    std::cerr << "agentrelay: " << e.message << "\n";
    return 1;
}

// The selector suffix shared by one rotation's pair: "ar20261127e" and "ar20261127r" → "ar20261127".
std::string pair_of(const std::string& selector) { return selector.substr(0, selector.size() - 1); }

}  // namespace

int cmd_dkim(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kDkimHelp;
        return 0;
    }
    const auto& pos = args->positional();
    if (pos.empty()) throw UsageError{"dkim needs an action: list, rotate or activate"};
    if (!args->has("data")) throw UsageError{"dkim needs --data DIR"};
    if (pos[0] != "list" && pos[0] != "rotate" && pos[0] != "activate")
        throw UsageError{"unknown dkim action '" + pos[0] + "'"};
    if (pos[0] == "activate" && pos.size() != 2) throw UsageError{"dkim activate needs a SELECTOR"};
    if (pos[0] != "activate" && pos.size() != 1) throw UsageError{"dkim " + pos[0] + " takes no argument"};
    auto data = store::DataDir::open(*args->get("data"));
    if (!data) return fail(data.error());
    auto& control = (*data)->control();
    const std::string& domain = (*data)->domain();
    auto keys = control.dkim_keys(domain);

    if (pos[0] == "list") {
        for (const auto& k : keys)
            std::cout << nlohmann::json{{"selector", k.selector}, {"algorithm", k.algorithm}, {"state", k.state},
                                        {"created_at", format_rfc3339(k.created_at)}}
                             .dump()
                      << "\n";
        return 0;
    }
    if (pos[0] == "rotate") {
        SystemClock clock;
        std::string base = "ar" + std::to_string(clock.now_ms() / 1000);
        // Two rotations within one second: the second pair gets a letter ("ar1796000000b").
        auto taken = [&](const std::string& b) {
            auto keys = control.dkim_keys(domain);
            return std::any_of(keys.begin(), keys.end(), [&](const auto& k) { return pair_of(k.selector) == b; });
        };
        for (char c = 'b'; taken(base) && c <= 'z'; ++c) base = "ar" + std::to_string(clock.now_ms() / 1000) + c;
        if (taken(base)) return fail(Error{kErrConflict, "too many rotations within one second; try again", ""});
        std::cout << "; new DKIM keys for " << domain << ", pending: publish these records, then run\n"
                  << ";   agentrelay dkim activate " << base << "e --data " << *args->get("data") << "\n";
        for (auto alg : {dkim::Algorithm::Ed25519Sha256, dkim::Algorithm::RsaSha256}) {
            auto key = dkim::generate_key(alg);
            if (!key) return fail(key.error());
            store::DkimKeyRecord rec{domain, base + (alg == dkim::Algorithm::Ed25519Sha256 ? "e" : "r"),
                                     dkim::algorithm_tag(alg), key->private_pem, key->public_key_b64, "pending",
                                     clock.now_ms()};
            if (auto st = control.add_dkim_key(rec); !st) return fail(st.error());
            std::cout << dkim::zone_file_lines(domain, rec.selector, alg, rec.public_key) << "\n";
        }
        return 0;
    }
    // activate: the named selector's pair signs; the pair that signed until now stays published.
    std::string pair = pair_of(pos[1]);
    bool found = false;
    for (const auto& k : keys) found = found || k.selector == pos[1];
    if (!found) return fail(Error{kErrNotFound, "no DKIM key " + pos[1] + " for " + domain, ""});
    // The new pair first, then the old one stands down: a process signing in between signs
    // with both pairs, never with none.
    for (bool new_pair : {true, false}) {
        for (const auto& k : keys) {
            if ((pair_of(k.selector) == pair) != new_pair) continue;
            std::string state = new_pair ? "active" : (k.state == "active" ? "published" : k.state);
            if (state == k.state) continue;
            if (auto st = control.set_dkim_state(domain, k.selector, state); !st)
                return fail(st.error());
        }
    }
    std::cout << "signing with " << pair << "e and " << pair
              << "r from now on (running processes too, from their next message)\n";
    return 0;
}

int cmd_doctor(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {{"data"}, {"dns"}, {"help", false}});
    if (!args) throw UsageError{args.error().message};
    if (args->has("help")) {
        std::cout << kDoctorHelp;
        return 0;
    }
    if (!args->has("data")) throw UsageError{"doctor needs --data DIR"};
    std::vector<std::string> servers;
    if (auto d = args->get("dns")) {
        auto list = dns::parse_server_list(*d);
        if (!list) throw UsageError{"--dns: " + list.error().message};
        servers = *list;
    }
    auto data = store::DataDir::open(*args->get("data"));
    if (!data) return fail(data.error());
    const std::string domain = (*data)->domain();
    auto keys = (*data)->control().dkim_keys(domain);

    asio::io_context io;
    std::vector<std::string> problems, fixes;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            dns::Resolver resolver(io.get_executor(), servers);
            auto mx = co_await resolver.resolve_mx(domain);
            if (mx.kind != dns::MxResult::Hosts) {
                problems.push_back("MX: " + (mx.detail.empty() ? std::string("no MX record") : mx.detail));
                fixes.push_back(domain + ". IN MX 10 " + domain + ".");
            }
            auto txt = co_await resolver.resolve_txt(domain);
            bool spf = false;
            for (const auto& r : txt.records) spf = spf || r.rfind("v=spf1", 0) == 0;
            if (!spf) {
                problems.push_back("SPF: no v=spf1 TXT record at " + domain);
                fixes.push_back(domain + ". IN TXT \"v=spf1 a mx -all\"");
            }
            for (const auto& k : keys) {
                if (k.state == "retired") continue;
                std::string name = k.selector + "._domainkey." + domain;
                auto rec = co_await resolver.resolve_txt(name);
                bool ok = false;
                for (const auto& r : rec.records) {
                    std::string compact;
                    for (char c : r)
                        if (c != ' ' && c != '\t') compact += c;
                    ok = ok || compact.find("p=" + k.public_key) != std::string::npos;
                }
                if (!ok) {
                    problems.push_back("DKIM: " + name + (rec.records.empty() ? " is not published"
                                                                              : " does not carry this key"));
                    fixes.push_back(dkim::zone_file_lines(domain, k.selector, dkim::algorithm_from_tag(k.algorithm), k.public_key));
                }
            }
            auto dmarc = co_await resolver.resolve_txt("_dmarc." + domain);
            bool has_dmarc = false;
            for (const auto& r : dmarc.records) has_dmarc = has_dmarc || r.rfind("v=DMARC1", 0) == 0;
            if (!has_dmarc) {
                problems.push_back("DMARC: no v=DMARC1 record at _dmarc." + domain);
                fixes.push_back("_dmarc." + domain + ". IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@" +
                                domain + "\"");
            }
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    if (problems.empty()) {
        std::cout << domain << ": MX, SPF, DKIM (" << keys.size() << " keys) and DMARC records are published\n";
        return 0;
    }
    for (const auto& p : problems) std::cout << "missing: " << p << "\n";
    std::cout << "; publish:\n";
    for (const auto& f : fixes) std::cout << f << "\n";
    return 1;
}

}  // namespace ar::cli
