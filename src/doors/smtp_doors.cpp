#include "doors/smtp_doors.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "auth/authenticate.h"
#include "core/await_callback.h"
#include "core/run_on_pool.h"
#include "core/ids.h"
#include "core/text.h"
#include "core/threads.h"
#include "delivery/config.h"
#include "delivery/engine.h"
#include "dns/resolver.h"
#include "mime/address.h"
#include "mime/compose.h"
#include "mime/dsn.h"
#include "mime/parse.h"
#include "smtp/server.h"
#include "smtp/tls.h"

namespace ar::doors {

namespace {

using smtp::ServerReply;


// The SMTP reply for a core error.
ServerReply reply_for(const Error& e) {
    if (e.code == kErrForbidden) return {550, "5.7.1", e.message};
    if (e.code == kErrTooLarge) return {552, "5.3.4", e.message};
    if (e.code == kErrRateLimited) return {450, "4.7.1", e.message};
    if (e.code == kErrInvalid) return {554, "5.6.0", e.message};
    if (e.code == kErrNotFound) return {550, "5.1.1", e.message};
    return {451, "4.3.0", "temporary failure, try again later: " + e.message};
}

class SubmissionHandler final : public smtp::Handler {
  public:
    SubmissionHandler(Relay& relay, asio::thread_pool& pool, std::vector<TrustedNetwork> trusted)
        : relay_(relay), pool_(pool), trusted_(std::move(trusted)) {}

    std::optional<std::string> authenticate(const smtp::ClientContext&, std::string_view user,
                                            std::string_view password) override {
        auto agent = relay_.authenticate(std::string(password));
        if (!agent) return std::nullopt;
        std::string u = ascii_lower(std::string(user));
        if (u != agent->name && u != ascii_lower(agent->address)) return std::nullopt;
        return agent->name;
    }

    bool trusted(const smtp::ClientContext& ctx) override { return trusted_agent(ctx) != nullptr; }

    ServerReply on_mail_from(smtp::ClientContext& ctx, std::string_view reverse_path) override {
        auto agent = sender(ctx);
        if (!agent) return {530, "5.7.0", "Authentication required"};
        auto from = mime::parse_address(reverse_path);
        mime::Mailbox self;
        self.local_part = agent->name;
        self.domain = relay_.domain();
        if (!from || !mime::same_address(*from, self))
            return {553, "5.7.1",
                    "Sender address rejected: you may send only as " + agent->address};
        ctx.transaction = std::move(*agent);  // the message is this transaction's: no second lookup
        return {250, "2.1.0", "Sender OK"};
    }

    // The server asks only within a transaction, which MAIL opened for a known sender (and the
    // message is checked against its sender again at DATA): no agent lookup here.
    ServerReply on_recipient(const smtp::ClientContext&, std::string_view forward_path) override {
        auto to = mime::parse_address(forward_path);
        if (!to) return {553, "5.1.3", "Bad recipient address syntax: " + to.error().message};
        return {250, "2.1.5", "Recipient OK"};
    }

    asio::awaitable<ServerReply> on_message(const smtp::ClientContext& ctx,
                                            smtp::AcceptedMessage message) override {
        const auto* agent = std::any_cast<store::AgentRecord>(&message.transaction);
        if (!agent) co_return ServerReply{530, "5.7.0", "Authentication required"};
        std::string client = (ctx.helo.empty() ? std::string("unknown") : ctx.helo) + " ([" +
                             ctx.remote.to_string() + "])" +
                             (ctx.tls_version.empty() ? "" : " (using " + ctx.tls_version + ")");
        // RFC 3848: S for TLS, A for an authenticated client (a trusted network is neither).
        std::string protocol =
            std::string("ESMTP") + (ctx.tls ? "S" : "") + (ctx.authenticated ? "A" : "");
        const store::AgentRecord& sender_agent = *agent;
        if (relay_.has_local_recipient(message.recipients)) {
            // Local recipients are delivered at once, into other stores: blocking work for the pool.
            auto submit = [&] {
                auto r = relay_.submit(sender_agent, message.reverse_path, message.recipients,
                                       strip_submission_headers(message.data), client, protocol);
                if (!r) return reply_for(r.error());
                return ServerReply{250, "2.0.0", "Ok: queued as " + r->message_id};
            };
            co_return co_await run_on_pool(pool_, submit, "ar-submit");
        }
        // Otherwise no thread waits for the commit: the store's writer posts the outcome back.
        auto submit_async = [&](std::function<void(Result<SendResult>)> done) {
            relay_.submit_async(sender_agent, message.reverse_path, message.recipients,
                                strip_submission_headers(message.data), client, protocol, std::move(done));
        };
        Result<SendResult> r = co_await await_callback<Result<SendResult>>(submit_async);
        if (!r) co_return reply_for(r.error());
        co_return ServerReply{250, "2.0.0", "Ok: queued as " + r->message_id};
    }

  private:
    // The agent a client sends as: the one it authenticated as, else its trusted network's.
    std::optional<store::AgentRecord> sender(const smtp::ClientContext& ctx) {
        if (ctx.authenticated) return relay_.find_agent(*ctx.authenticated);
        if (const std::string* agent = trusted_agent(ctx)) return relay_.find_agent(*agent);
        return std::nullopt;
    }

    const std::string* trusted_agent(const smtp::ClientContext& ctx) const {
        for (const auto& t : trusted_)
            if (t.contains(ctx.remote)) return &t.agent;
        return nullptr;
    }

    Relay& relay_;
    asio::thread_pool& pool_;
    std::vector<TrustedNetwork> trusted_;
};

class InboundHandler final : public smtp::Handler {
    // How long one message's sender checks may keep asking DNS (see auth::BudgetLookup).
    static constexpr std::chrono::seconds kCheckBudget{10};

  public:
    InboundHandler(Relay& relay, asio::thread_pool& pool, auth::Lookup& dns)
        : relay_(relay), pool_(pool), dns_(dns),
          secret_(relay.data().control().setting("return_path_secret").value_or("")) {}

    std::optional<std::string> authenticate(const smtp::ClientContext&, std::string_view,
                                            std::string_view) override {
        return std::nullopt; // the MX offers no AUTH
    }

    ServerReply on_mail_from(smtp::ClientContext&, std::string_view) override {
        return {250, "2.1.0", "Sender OK"};
    }

    ServerReply on_recipient(const smtp::ClientContext&, std::string_view forward_path) override {
        auto to = mime::parse_address(forward_path);
        if (!to) return {553, "5.1.3", "Bad recipient address syntax"};
        if (to->domain_lower() != ascii_lower(relay_.domain()))
            return {554, "5.7.1",
                    "Relay access denied: this server accepts mail only for " + relay_.domain()};
        if (return_path_origin(to->local_part)) return {250, "2.1.5", "Recipient OK"};
        if (!relay_.mailbox_owner(to->address()))
            return {550, "5.1.1", "<" + std::string(forward_path) + ">: no such mailbox here"};
        return {250, "2.1.5", "Recipient OK"};
    }

    asio::awaitable<ServerReply> on_message(const smtp::ClientContext& ctx,
                                            smtp::AcceptedMessage message) override {
        std::string received = "Received: from " +
                               (ctx.helo.empty() ? std::string("unknown") : ctx.helo) + " ([" +
                               ctx.remote.to_string() + "])\r\n\tby " + relay_.domain() +
                               " (agentrelay) with " + (ctx.tls ? "ESMTPS" : "ESMTP") + ";\r\n\t" +
                               mime::format_date(relay_.clock().now_ms()) + "\r\n";
        // Who sent it (SPF, DKIM, DMARC), before anything is added to the message; the
        // result goes on top as Authentication-Results, replacing any that claims to be ours.
        auth::BudgetLookup budget(dns_, std::chrono::steady_clock::now() + kCheckBudget);
        auto results = co_await auth::authenticate(budget, ctx.remote, ctx.helo, message.reverse_path,
                                                   message.data, relay_.clock().now_ms(), &pool_);
        spdlog::info("inbound from <{}> [{}]: {}", message.reverse_path, ctx.remote.to_string(),
                     results.summary);
        std::string raw = results.header(relay_.domain()) + received +
                          auth::strip_forged_results(message.data, relay_.domain());
        std::string authentication = results.to_json().dump();
        auto store = [&] { return deliver(message, raw, authentication); };
        co_return co_await run_on_pool(pool_, store, "ar-submit");
    }

  private:
    // On the pool: every recipient's copy is stored before 250 is answered.
    ServerReply deliver(const smtp::AcceptedMessage& m, const std::string& raw,
                        const std::string& authentication) {
        std::string key_base = "inbound/" + random_hex(12) + "/";
        auto parsed = mime::parse_message(raw);
        if (parsed && !parsed->message_id.empty()) key_base = "inbound/" + parsed->message_id + "/";
        for (const auto& rcpt : m.recipients) {
            auto to = mime::parse_address(rcpt);
            if (!to) continue;
            if (auto origin = return_path_origin(to->local_part)) {
                if (auto st = report(origin->first, origin->second, rcpt, m.reverse_path, raw,
                                     key_base, authentication);
                    !st)
                    return reply_for(st.error());
                continue;
            }
            auto owner = relay_.mailbox_owner(to->address());
            std::string agent = owner ? owner->name : ascii_lower(to->local_part);
            auto stored = relay_.deliver_to_inbox(agent, m.reverse_path, rcpt, raw,
                                                  key_base + agent, authentication);
            if (!stored) return reply_for(stored.error());
        }
        return {250, "2.0.0", "Ok: delivered"};
    }

    // Mail to a return path: a DSN is an asynchronous bounce of the original message;
    // anything else (an auto-reply, a person answering the bounce address) goes to the
    // agent's inbox.
    Status report(const std::string& agent, const std::string& message_id, const std::string& rcpt,
                  const std::string& reverse_path, const std::string& raw,
                  const std::string& key_base, const std::string& authentication) {
        auto dsn = mime::parse_dsn(raw);
        if (dsn) {
            std::vector<Relay::AsyncReport> reports;
            for (const auto& r : dsn->recipients)
                reports.push_back(
                    {r.final_recipient.empty() ? r.original_recipient : r.final_recipient, r.action,
                     r.status, r.diagnostic_code,
                     r.remote_mta.empty() ? dsn->reporting_mta : r.remote_mta,
                     r.original_recipient});
            auto st = relay_.record_async_report(agent, message_id, reports);
            if (!st && st.error().code != kErrNotFound) return st;
            spdlog::info("DSN for {} of {}: {} recipient report(s)", message_id, agent,
                         reports.size());
            return Ok{};
        }
        auto stored = relay_.deliver_to_inbox(agent, reverse_path, rcpt, raw,
                                              key_base + ascii_lower(rcpt), authentication);
        if (!stored) return stored.error();
        return Ok{};
    }

    // The agent and message id of a return path (bounces+ID=AGENT=MAC), if its MAC is right.
    // Every part of it is lowercase, so a relay on the way that changed the case is forgiven.
    std::optional<std::pair<std::string, std::string>>
    return_path_origin(const std::string& local_part) const {
        return delivery::Engine::parse_return_path(secret_, ascii_lower(local_part));
    }

    Relay& relay_;
    asio::thread_pool& pool_;
    auth::Lookup& dns_;
    std::string secret_;
};

class Doors final : public SmtpDoors {
  public:
    // Store work blocks its thread until the group commit is on disk, so the pool's size is
    // how many messages can share one commit: two threads allowed two (~700 msg/s from 20
    // sessions on a 2-core host); sixteen let a commit carry what arrived meanwhile (~1200).
    asio::thread_pool pool{16};
    // The inbound MX's DNS questions (SPF, DKIM keys, DMARC), on the doors' event loop.
    std::unique_ptr<dns::Resolver> resolver;
    std::unique_ptr<auth::ResolverLookup> lookup;
    std::unique_ptr<SubmissionHandler> submission_handler;
    std::unique_ptr<InboundHandler> inbound_handler;
    std::vector<std::pair<std::string, std::unique_ptr<smtp::Server>>> servers;

    ~Doors() override {
        stop();
        pool.join();
    }
    void stop() override {
        for (auto& [name, s] : servers)
            s->stop();
    }
    std::optional<uint16_t> port(const std::string& which) const override {
        for (const auto& [name, s] : servers)
            if (name == which) return s->port();
        return std::nullopt;
    }
};

} // namespace

std::string strip_submission_headers(std::string_view raw) {
    static const std::string_view dropped[] = {"bcc", "resent-bcc", "return-path"};
    return mime::remove_header_fields(raw, [](std::string_view name) {
        return std::any_of(std::begin(dropped), std::end(dropped),
                           [&](std::string_view d) { return iequals(name, d); });
    });
}

bool TrustedNetwork::contains(const asio::ip::address& a) const {
    if (a.is_v6() && a.to_v6().is_v4_mapped() && network.is_v4())
        return contains(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
    return dns::in_network(dns::ip_address(a), dns::ip_address(network), prefix);
}

Result<TrustedNetwork> parse_trusted_network(const std::string& s) {
    auto eq = s.find('=');
    auto bad = [&] {
        return invalid("trusted-network",
                       "--trusted-network takes CIDR=AGENT like 10.0.0.0/8=billing, got '" + s +
                           "'");
    };
    if (eq == std::string::npos || eq + 1 == s.size()) return bad();
    std::string cidr = s.substr(0, eq);
    TrustedNetwork t;
    t.agent = s.substr(eq + 1);
    auto slash = cidr.find('/');
    std::error_code ec;
    t.network = asio::ip::make_address(cidr.substr(0, slash), ec);
    if (ec) return bad();
    int max = t.network.is_v4() ? 32 : 128;
    t.prefix = max;
    if (slash != std::string::npos) {
        std::string_view bits = std::string_view(cidr).substr(slash + 1);
        auto [end, err] = std::from_chars(bits.data(), bits.data() + bits.size(), t.prefix);
        if (err != std::errc() || end != bits.data() + bits.size() || bits.empty()) return bad();
    }
    if (t.prefix < 0 || t.prefix > max) return bad();
    return t;
}

Result<std::unique_ptr<SmtpDoors>> start_smtp_doors(asio::io_context& io, Relay& relay,
                                                    const SmtpOptions& options) {
    auto doors = std::make_unique<Doors>();
    if (!options.submission && !options.submissions && !options.inbound)
        return std::unique_ptr<SmtpDoors>(std::move(doors));

    std::vector<TrustedNetwork> trusted;
    for (const auto& t : options.trusted_networks) {
        auto parsed = parse_trusted_network(t);
        if (!parsed) return parsed.error();
        if (!relay.find_agent(parsed->agent))
            return invalid("trusted-network",
                           "--trusted-network names no active agent '" + parsed->agent + "'");
        trusted.push_back(*parsed);
    }
    auto tls = smtp::make_server_tls_context(options.tls_cert, options.tls_key);
    if (!tls) return tls.error();
    doors->submission_handler = std::make_unique<SubmissionHandler>(relay, doors->pool, trusted);
    if (options.inbound) { // only the MX asks DNS (its sender checks)
        doors->resolver = std::make_unique<dns::Resolver>(io.get_executor(), options.dns_servers);
        doors->lookup = std::make_unique<auth::ResolverLookup>(*doors->resolver);
        doors->inbound_handler = std::make_unique<InboundHandler>(relay, doors->pool, *doors->lookup);
    }

    smtp::ServerLimits limits;
    limits.single_thread = true;  // App runs the doors' io_context on one thread
    limits.max_message_bytes = options.max_message_bytes;
    limits.max_recipients = options.max_recipients;
    limits.max_sessions_per_client = options.max_sessions_per_client;
    limits.max_sessions = options.max_sessions;
    struct Listener {
        const char* name;
        const std::optional<std::string>& addr;
        smtp::ListenerKind kind;
        smtp::Handler* handler;
    };
    for (const Listener& l :
         {Listener{"submission", options.submission, smtp::ListenerKind::Submission,
                   doors->submission_handler.get()},
          Listener{"submissions", options.submissions, smtp::ListenerKind::Submissions,
                   doors->submission_handler.get()},
          Listener{"inbound", options.inbound, smtp::ListenerKind::Inbound,
                   doors->inbound_handler.get()}}) {
        if (!l.addr) continue;
        auto hp = delivery::parse_host_port(*l.addr);
        if (!hp) return invalid(l.name, std::string("--") + l.name + ": " + hp.error().message);
        std::error_code ec;
        auto address = asio::ip::make_address(hp->first, ec);
        if (ec)
            return invalid(l.name, std::string("--") + l.name + " needs an IP address, got '" +
                                       hp->first + "'");
        auto server = std::make_unique<smtp::Server>(
            io.get_executor(), asio::ip::tcp::endpoint(address, hp->second), l.kind, relay.domain(),
            *tls, *l.handler, limits);
        try {
            server->start();
        } catch (const std::system_error& e) {
            return Error{kErrUnavailable,
                         std::string("cannot listen on ") + *l.addr + " for --" + l.name + ": " +
                             e.what(),
                         l.name};
        }
        spdlog::info("SMTP {} listening on {}:{}", l.name, hp->first, server->port());
        doors->servers.emplace_back(l.name, std::move(server));
    }
    return std::unique_ptr<SmtpDoors>(std::move(doors));
}

} // namespace ar::doors
