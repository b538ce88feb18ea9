// authenticate.h: who really sent a message that arrived at the inbound MX: SPF (RFC 7208) for
// the connecting client and envelope sender, every DKIM signature (RFC 6376), and DMARC
// (RFC 7489) for the From domain; summed up for an agent as one question, "is From real?".
//
// Promises:
// - authenticate() never fails: every problem (DNS down, broken records, broken signatures)
//   is a verdict word (temperror, permerror...), and the message is stored either way. It
//   only reads; what to do with a failing message is the agent's choice (and the README's
//   advice: treat an unverified From as a claim).
// - from_verified is true exactly when DMARC's test passes: a DKIM signature that verified with
//   a d= aligned (relaxed) with the From domain, or SPF pass for an aligned envelope domain;
//   whether or not the domain publishes a DMARC record. A signature whose l= leaves part of
//   the body unsigned is reported as pass, with the unsigned tail in its reason and in
//   Authentication-Results, but counts for neither (RFC 6376 8.2: text could be appended).
// - header() is the Authentication-Results field (RFC 8601) for the relay's own authserv-id;
//   strip_forged_results() removes fields claiming that authserv-id from the message first
//   (RFC 8601 5), so an agent can trust the one the relay adds.
// - All lookups go through the Lookup given (the relay's resolver and its --dns servers).
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/dkim_check.h"
#include "auth/dmarc.h"
#include "auth/lookup.h"
#include "auth/spf.h"

namespace ar::auth {

struct AuthResults {
    SpfVerdict spf;
    std::vector<dkim::Verdict> dkim; // one per DKIM-Signature (at most dkim::kMaxSignatures)
    DmarcVerdict dmarc;
    std::string from_domain; // lowercase; empty without exactly one From mailbox
    bool from_verified = false;
    std::string summary; // one sentence for an agent: why From is, or is not, verified

    // "Authentication-Results: authserv-id;\r\n\tspf=... ;\r\n\tdkim=... ;\r\n\tdmarc=...\r\n"
    std::string header(std::string_view authserv_id) const;
    // {from_verified, summary, spf: {result, domain, detail}, dkim: [{result, domain, selector,
    // algorithm, reason}], dmarc: {result, domain, policy, detail}}
    nlohmann::json to_json() const;
};

// Everything, for a message from the client at `ip` that said EHLO `helo` and MAIL FROM
// `mail_from` (empty: the null sender). `message` as received (CRLF line ends), alive until
// the coroutine ends. DNS runs on the caller's executor; DKIM's hashing on `cpu` if given.
asio::awaitable<AuthResults> authenticate(Lookup& dns, asio::ip::address ip, std::string helo,
                                          std::string mail_from, std::string_view message,
                                          int64_t now_ms, asio::thread_pool* cpu = nullptr);

// The message without Authentication-Results fields whose authserv-id is `authserv_id`.
std::string strip_forged_results(std::string_view message, std::string_view authserv_id);

} // namespace ar::auth
