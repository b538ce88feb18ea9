// resolver.cpp: see resolver.h.
//
// How c-ares runs on Asio: c-ares has no thread and no event loop. It tells us through
// ARES_OPT_SOCK_STATE_CB which of its sockets it wants to read or write; we watch each one
// with an asio::posix::stream_descriptor (async_wait, no I/O of our own) and call
// ares_process_fd when it is ready. Query timeouts are driven by one steady_timer set from
// ares_timeout after every call into c-ares. The sockets belong to c-ares: a descriptor is
// release()d, never closed, when c-ares says it is done with the socket.
#include "dns/resolver.h"

#include <algorithm>
#include <ares.h>
#include <arpa/inet.h>
#include <asio/experimental/awaitable_operators.hpp>
#include <cctype>
#include <mutex>
#include <random>
#include <unordered_map>

namespace ar::dns {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;

constexpr std::chrono::seconds kPositiveCap{3600};
constexpr std::chrono::seconds kNegativeCap{300};
constexpr std::size_t kCacheLimit = 10000; // entries per record type

// What c-ares handed to a query's callback.
struct RawReply {
    int status = ARES_SUCCESS;
    std::vector<unsigned char> bytes; // the reply, when there was one
    std::string error;                // why no query could be sent, when none was
};

void init_library_once() {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

// "Example.COM." → "example.com"
std::string canonical(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    std::string out(name);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string without_trailing_dot(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
}

// A query that ended without a reply to parse becomes an answer here.
template <class Answer> Answer from_ares_status(int status, const std::string& error) {
    Answer a;
    a.status = Status::TempFail;
    if (!error.empty()) {
        a.detail = error;
        return a;
    }
    switch (status) {
    case ARES_ENOTFOUND:
        a.status = Status::NoSuchDomain, a.detail = "NXDOMAIN";
        break;
    case ARES_ENODATA:
        a.status = Status::NoData, a.detail = "no records";
        break;
    case ARES_EBADNAME:
        a.status = Status::NoSuchDomain, a.detail = "not a valid name";
        break;
    case ARES_ETIMEOUT:
        a.detail = "timed out";
        break;
    // c-ares 1.18 also reports SERVFAIL/REFUSED/NOTIMP from every server this way.
    case ARES_ECONNREFUSED:
        a.detail = "no usable answer (connection refused, SERVFAIL or REFUSED)";
        break;
    case ARES_ESERVFAIL:
        a.detail = "SERVFAIL";
        break;
    case ARES_EREFUSED:
        a.detail = "REFUSED";
        break;
    case ARES_EFORMERR:
        a.detail = "FORMERR";
        break;
    case ARES_ENOTIMP:
        a.detail = "NOTIMP";
        break;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        a.detail = "resolver shut down";
        break;
    default:
        a.detail = ares_strerror(status);
        break;
    }
    return a;
}

// Answers by name within their TTL; expired entries are dropped when met.
template <class Answer> class Cache {
  public:
    const Answer* find(const std::string& key, SteadyClock::time_point now) {
        auto it = entries_.find(key);
        if (it == entries_.end()) return nullptr;
        if (now >= it->second.expires) {
            entries_.erase(it);
            return nullptr;
        }
        return &it->second.answer;
    }

    void put(const std::string& key, const Answer& answer, SteadyClock::time_point now) {
        std::chrono::seconds life{0};
        if (answer.status == Status::Ok) {
            life = std::min<std::chrono::seconds>(std::chrono::seconds(answer.ttl), kPositiveCap);
        } else if (answer.status == Status::NoSuchDomain || answer.status == Status::NoData) {
            life = std::min<std::chrono::seconds>(std::chrono::seconds(answer.ttl), kNegativeCap);
        }
        if (life.count() <= 0) return; // temporary failures and TTL 0 are not kept
        if (entries_.size() >= kCacheLimit) purge(now);
        if (entries_.size() >= kCacheLimit) entries_.clear();
        entries_.insert_or_assign(key, Entry{answer, now + life});
    }

    void clear() { entries_.clear(); }

  private:
    void purge(SteadyClock::time_point now) {
        std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.expires; });
    }

    struct Entry {
        Answer answer;
        SteadyClock::time_point expires;
    };
    std::unordered_map<std::string, Entry> entries_;
};

asio::ip::address to_asio(const IpAddress& a) {
    if (!a.v6) {
        asio::ip::address_v4::bytes_type b;
        std::copy_n(a.bytes.begin(), 4, b.begin());
        return asio::ip::address_v4(b);
    }
    asio::ip::address_v6::bytes_type b;
    std::copy_n(a.bytes.begin(), 16, b.begin());
    return asio::ip::address_v6(b);
}

} // namespace

// The inverse of to_asio (resolver.h).
IpAddress ip_address(const asio::ip::address& a) {
    IpAddress out;
    out.v6 = a.is_v6();
    if (out.v6) {
        auto b = a.to_v6().to_bytes();
        std::copy(b.begin(), b.end(), out.bytes.begin());
    } else {
        auto b = a.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), out.bytes.begin());
    }
    return out;
}

class Resolver::Engine : public std::enable_shared_from_this<Engine> {
  public:
    Engine(asio::any_io_executor ex, std::vector<std::string> servers,
           std::function<uint32_t()> rng, SteadyNow now)
        : ex_(std::move(ex)), timer_(ex_), rng_(std::move(rng)), now_(std::move(now)) {
        init_library_once();
        if (!rng_) {
            auto gen = std::make_shared<std::mt19937>(std::random_device{}());
            rng_ = [gen] { return static_cast<uint32_t>((*gen)()); };
        }
        if (!now_) now_ = [] { return SteadyClock::now(); };
        std::string csv;
        for (const auto& s : servers)
            csv += (csv.empty() ? "" : ",") + s;
        if (!csv.empty()) {
            auto parsed = parse_server_list(csv);
            if (!parsed) {
                unusable_ = parsed.error().message;
            } else {
                csv.clear();
                for (const auto& s : *parsed)
                    csv += (csv.empty() ? "" : ",") + s;
                server_count_ = parsed->size();
            }
        }
        servers_csv_ = csv;
        servers_text_ = csv.empty() ? "the system resolvers" : csv;
    }

    ~Engine() { shutdown(); }

    // Ends every query in flight (their callers get TempFail) and lets go of the sockets.
    void shutdown() {
        if (shut_down_) return;
        shut_down_ = true;
        destroy_channel();
        timer_.cancel();
        for (auto& [fd, watch] : watches_)
            (void)watch.descriptor->release();
        watches_.clear();
    }

    void set_timeout(std::chrono::milliseconds per_try, int tries) {
        per_try_ = std::max<std::chrono::milliseconds>(per_try, std::chrono::milliseconds(1));
        tries_ = std::max(tries, 1);
        settings_changed_ = true;
        if (in_flight_ == 0 && !shut_down_) rebuild_channel();
    }

    void clear_cache() {
        mx_cache_.clear();
        a_cache_.clear();
        aaaa_cache_.clear();
        txt_cache_.clear();
    }

    // The coroutines take the Engine by shared_ptr so it outlives a Resolver destroyed while
    // they are suspended.
    static asio::awaitable<MxResult> mx(std::shared_ptr<Engine> self, std::string domain);
    static asio::awaitable<AddressResult> addresses(std::shared_ptr<Engine> self, std::string host);
    static asio::awaitable<TxtResult> txt(std::shared_ptr<Engine> self, std::string name);

  private:
    template <class Answer> using Parser = Answer (*)(const unsigned char*, std::size_t);

    // One record type for one name: from the cache, or from the network then into the cache.
    template <class Answer>
    static asio::awaitable<Answer> lookup(std::shared_ptr<Engine> self, std::string name, int type,
                                          Cache<Answer>* cache, Parser<Answer> parse) {
        std::string key = std::to_string(type) + ":" + canonical(name);
        if (const Answer* hit = cache->find(key, self->now_())) co_return *hit;
        RawReply reply = co_await self->async_query(std::move(name), type, asio::use_awaitable);
        Answer answer = reply.bytes.empty() ? from_ares_status<Answer>(reply.status, reply.error)
                                            : parse(reply.bytes.data(), reply.bytes.size());
        cache->put(key, answer, self->now_());
        co_return answer;
    }

    // "SERVFAIL for example.com MX from 127.0.0.1:5353"
    std::string describe(const std::string& why, const std::string& name,
                         std::string_view type) const {
        return why + " for " + name + " " + std::string(type) + " from " + servers_text_;
    }

    // --- queries: c-ares callback → Asio completion handler ---

    struct PendingQuery {
        virtual ~PendingQuery() = default;
        virtual void complete(RawReply reply) = 0;
        Engine* engine = nullptr;
    };

    template <class Handler> struct PendingQueryFor final : PendingQuery {
        PendingQueryFor(Handler h, asio::any_io_executor fallback)
            : handler(std::move(h)), fallback(std::move(fallback)) {}
        // Posted, never called in place: c-ares may call back from inside ares_query.
        void complete(RawReply reply) override {
            auto ex = asio::get_associated_executor(handler, fallback);
            asio::post(ex, [h = std::move(handler), r = std::move(reply)]() mutable {
                std::move(h)(std::move(r));
            });
        }
        Handler handler;
        asio::any_io_executor fallback;
    };

    template <class Token> auto async_query(std::string name, int type, Token&& token) {
        return asio::async_initiate<Token, void(RawReply)>(
            [this](auto handler, std::string name, int type) {
                start_query(std::move(handler), name, type);
            },
            token, std::move(name), type);
    }

    template <class Handler> void start_query(Handler handler, const std::string& name, int type) {
        auto* pending = new PendingQueryFor<Handler>(std::move(handler), ex_);
        pending->engine = this;
        if (!shut_down_ && (channel_ == nullptr || (settings_changed_ && in_flight_ == 0)))
            rebuild_channel();
        if (shut_down_ || channel_ == nullptr) {
            std::unique_ptr<PendingQuery> owned(pending);
            RawReply reply{shut_down_ ? ARES_EDESTRUCTION : init_status_, {}, {}};
            if (!shut_down_) reply.error = "resolver not usable: " + init_error_;
            owned->complete(std::move(reply));
            return;
        }
        ++in_flight_;
        ares_query(channel_, name.c_str(), kClassIn, type, &Engine::on_reply, pending);
        arm_timer();
    }

    static void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
        std::unique_ptr<PendingQuery> pending(static_cast<PendingQuery*>(arg));
        --pending->engine->in_flight_;
        RawReply reply{status, {}, {}};
        if (abuf != nullptr && alen > 0) reply.bytes.assign(abuf, abuf + alen);
        pending->complete(std::move(reply));
    }

    // --- the c-ares channel ---

    void destroy_channel() {
        if (channel_ == nullptr) return;
        ares_channel doomed = channel_;
        channel_ = nullptr;
        ares_destroy(doomed); // calls back pending queries with ARES_EDESTRUCTION
    }

    void rebuild_channel() {
        settings_changed_ = false;
        destroy_channel();
        if (!unusable_.empty()) {
            init_status_ = ARES_EBADSTR;
            init_error_ = unusable_;
            return;
        }
        ares_options options{};
        options.sock_state_cb = &Engine::on_sock_state;
        options.sock_state_cb_data = this;
        options.timeout = static_cast<int>(per_try_.count());
        options.tries = tries_;
        int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
        // With several servers c-ares moves on to the next one after SERVFAIL/REFUSED, but
        // 1.18 then reports only "connection refused". With one server there is nowhere to
        // move on to, so take the reply itself and report its RCODE.
        if (server_count_ == 1) {
            options.flags = ARES_FLAG_NOCHECKRESP;
            mask |= ARES_OPT_FLAGS;
        }
        ares_channel channel = nullptr;
        init_status_ = ares_init_options(&channel, &options, mask);
        if (init_status_ != ARES_SUCCESS) {
            init_error_ =
                std::string("c-ares initialisation failed: ") + ares_strerror(init_status_);
            return;
        }
        if (!servers_csv_.empty()) {
            init_status_ = ares_set_servers_ports_csv(channel, servers_csv_.c_str());
            if (init_status_ != ARES_SUCCESS) {
                init_error_ = "c-ares refused the servers " + servers_csv_ + ": " +
                              ares_strerror(init_status_);
                ares_destroy(channel);
                return;
            }
        }
        channel_ = channel;
    }

    // --- sockets and the timer ---

    struct Watch {
        std::unique_ptr<asio::posix::stream_descriptor> descriptor;
        uint64_t generation = 0; // tells this socket from an earlier one with the same fd
        bool want_read = false, want_write = false;
        bool read_pending = false, write_pending = false;
    };

    static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
        static_cast<Engine*>(data)->watch(fd, readable != 0, writable != 0);
    }

    void watch(ares_socket_t fd, bool readable, bool writable) {
        if (!readable && !writable) {
            unwatch(fd);
            return;
        }
        auto it = watches_.find(fd);
        if (it == watches_.end()) {
            Watch w;
            w.descriptor = std::make_unique<asio::posix::stream_descriptor>(ex_);
            asio::error_code ec;
            w.descriptor->assign(fd, ec);
            if (ec) return; // cannot be watched; the query will time out
            w.generation = ++generations_;
            it = watches_.emplace(fd, std::move(w)).first;
        }
        it->second.want_read = readable;
        it->second.want_write = writable;
        start_waits(fd, it->second);
    }

    // c-ares is about to close the socket: stop watching it without closing it. release()
    // aborts the waits in flight; their handlers see a newer generation or none and stop.
    void unwatch(ares_socket_t fd) {
        auto it = watches_.find(fd);
        if (it == watches_.end()) return;
        (void)it->second.descriptor->release();
        watches_.erase(it);
    }

    void start_waits(ares_socket_t fd, Watch& w) {
        std::weak_ptr<Engine> weak = weak_from_this();
        if (w.want_read && !w.read_pending) {
            w.read_pending = true;
            w.descriptor->async_wait(asio::posix::descriptor_base::wait_read,
                                     [weak, fd, gen = w.generation](asio::error_code ec) {
                                         if (auto self = weak.lock())
                                             self->on_ready(fd, gen, true, ec);
                                     });
        }
        if (w.want_write && !w.write_pending) {
            w.write_pending = true;
            w.descriptor->async_wait(asio::posix::descriptor_base::wait_write,
                                     [weak, fd, gen = w.generation](asio::error_code ec) {
                                         if (auto self = weak.lock())
                                             self->on_ready(fd, gen, false, ec);
                                     });
        }
    }

    void on_ready(ares_socket_t fd, uint64_t generation, bool read, asio::error_code ec) {
        auto it = watches_.find(fd);
        if (it == watches_.end() || it->second.generation != generation) return;
        (read ? it->second.read_pending : it->second.write_pending) = false;
        if (ec == asio::error::operation_aborted || channel_ == nullptr) return;
        if (read ? it->second.want_read : it->second.want_write) {
            ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
        }
        // ares_process_fd may have closed the socket, or closed it and opened another.
        it = watches_.find(fd);
        if (it != watches_.end() && it->second.generation == generation)
            start_waits(fd, it->second);
        arm_timer();
    }

    void arm_timer() {
        timeval tv{};
        if (channel_ == nullptr || ares_timeout(channel_, nullptr, &tv) == nullptr) {
            timer_.cancel();
            return;
        }
        timer_.expires_after(std::chrono::seconds(tv.tv_sec) +
                             std::chrono::microseconds(tv.tv_usec));
        std::weak_ptr<Engine> weak = weak_from_this();
        timer_.async_wait([weak](asio::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->channel_ == nullptr) return;
            ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            self->arm_timer();
        });
    }

    asio::any_io_executor ex_;
    asio::steady_timer timer_;
    std::function<uint32_t()> rng_;
    SteadyNow now_;
    std::string servers_csv_;      // normalised, for ares_set_servers_ports_csv; empty = system
    std::string servers_text_;     // for details
    std::string unusable_;         // why the server list was refused, if it was
    std::size_t server_count_ = 0; // 0: the system's

    ares_channel channel_ = nullptr;
    int init_status_ = ARES_ENOTINITIALIZED;
    std::string init_error_;
    std::chrono::milliseconds per_try_{2000};
    int tries_ = 2;
    bool settings_changed_ = false;
    bool shut_down_ = false;
    int in_flight_ = 0;
    std::unordered_map<ares_socket_t, Watch> watches_;
    uint64_t generations_ = 0;

    Cache<MxAnswer> mx_cache_;
    Cache<AddressAnswer> a_cache_;
    Cache<AddressAnswer> aaaa_cache_;
    Cache<TxtAnswer> txt_cache_;
};

asio::awaitable<MxResult> Resolver::Engine::mx(std::shared_ptr<Engine> self, std::string domain) {
    domain = without_trailing_dot(std::move(domain));
    MxAnswer answer = co_await lookup(self, domain, kTypeMx, &self->mx_cache_, &parse_mx_answer);
    switch (answer.status) {
    case Status::Ok:
        if (answer.null_mx) {
            co_return MxResult{
                MxResult::NullMx, {}, "null MX (RFC 7505): " + domain + " accepts no mail"};
        }
        order_mx(answer.hosts, self->rng_);
        co_return MxResult{MxResult::Hosts, std::move(answer.hosts), {}};
    case Status::NoSuchDomain:
        co_return MxResult{MxResult::NoSuchDomain, {}, self->describe(answer.detail, domain, "MX")};
    case Status::TempFail:
        co_return MxResult{MxResult::TempFail, {}, self->describe(answer.detail, domain, "MX")};
    case Status::NoData:
        break;
    }
    // RFC 5321 section 5.1: no MX records, so the domain's own address is the implicit MX.
    AddressResult address = co_await addresses(self, domain);
    if (address.status == Status::Ok) {
        MxResult implicit{MxResult::Hosts,
                          {MxHost{domain, 0}},
                          "no MX records; implicit MX (RFC 5321 5.1): " + domain + " itself"};
        implicit.implicit = true;
        co_return implicit;
    }
    if (address.status == Status::TempFail)
        co_return MxResult{MxResult::TempFail, {}, address.detail};
    co_return MxResult{MxResult::NoSuchDomain,
                       {},
                       "no MX and no A/AAAA records for " + domain + " from " +
                           self->servers_text_};
}

asio::awaitable<AddressResult> Resolver::Engine::addresses(std::shared_ptr<Engine> self,
                                                           std::string host) {
    using namespace asio::experimental::awaitable_operators;
    host = without_trailing_dot(std::move(host));
    auto [v4, v6] =
        co_await (lookup(self, host, kTypeA, &self->a_cache_, &parse_a_answer) &&
                  lookup(self, host, kTypeAaaa, &self->aaaa_cache_, &parse_aaaa_answer));
    AddressResult out{Status::NoData, {}, {}};
    for (const auto& a : v4.addresses)
        out.addresses.push_back(to_asio(a));
    for (const auto& a : v6.addresses)
        out.addresses.push_back(to_asio(a));
    if (!out.addresses.empty()) {
        out.status = Status::Ok;
    } else if (v4.status == Status::TempFail || v6.status == Status::TempFail) {
        out.status = Status::TempFail;
        out.detail = v4.status == Status::TempFail ? self->describe(v4.detail, host, "A")
                                                   : self->describe(v6.detail, host, "AAAA");
    } else if (v4.status == Status::NoSuchDomain || v6.status == Status::NoSuchDomain) {
        out.status = Status::NoSuchDomain;
        out.detail = self->describe("NXDOMAIN", host, "A/AAAA");
    } else {
        out.detail = self->describe("no A or AAAA records", host, "A/AAAA");
    }
    co_return out;
}

asio::awaitable<TxtResult> Resolver::Engine::txt(std::shared_ptr<Engine> self, std::string name) {
    name = without_trailing_dot(std::move(name));
    TxtAnswer answer = co_await lookup(self, name, kTypeTxt, &self->txt_cache_, &parse_txt_answer);
    TxtResult out{answer.status, std::move(answer.records), {}};
    if (answer.status != Status::Ok) out.detail = self->describe(answer.detail, name, "TXT");
    co_return out;
}

Resolver::Resolver(asio::any_io_executor ex, std::vector<std::string> servers,
                   std::function<uint32_t()> rng, SteadyNow now)
    : engine_(std::make_shared<Engine>(std::move(ex), std::move(servers), std::move(rng),
                                       std::move(now))) {}

Resolver::~Resolver() {
    engine_->shutdown();
}

// Not coroutines themselves: the Engine's coroutine holds the shared_ptr from the start, so a
// Resolver destroyed before the awaitable first runs leaves nothing dangling.
asio::awaitable<MxResult> Resolver::resolve_mx(std::string domain) {
    return Engine::mx(engine_, std::move(domain));
}

asio::awaitable<AddressResult> Resolver::resolve_addresses(std::string host) {
    return Engine::addresses(engine_, std::move(host));
}

asio::awaitable<TxtResult> Resolver::resolve_txt(std::string name) {
    return Engine::txt(engine_, std::move(name));
}

void Resolver::set_timeout(std::chrono::milliseconds per_try, int tries) {
    engine_->set_timeout(per_try, tries);
}

void Resolver::clear_cache() {
    engine_->clear_cache();
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

bool parse_port(std::string_view text, unsigned& port) {
    if (text.empty() || text.size() > 5) return false;
    port = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    return port >= 1 && port <= 65535;
}

bool is_ip(std::string_view text, int family) {
    unsigned char buf[16];
    return inet_pton(family, std::string(text).c_str(), buf) == 1;
}

// One entry of the list, normalised to "a.b.c.d:port" or "[v6]:port"; empty when invalid.
std::string parse_server(std::string_view item) {
    std::string_view host = item, port = "53";
    bool v6 = false;
    if (item.starts_with('[')) {
        auto close = item.find(']');
        if (close == std::string_view::npos) return {};
        host = item.substr(1, close - 1);
        std::string_view rest = item.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return {};
            port = rest.substr(1);
        }
        v6 = true;
    } else if (std::count(item.begin(), item.end(), ':') > 1) {
        v6 = true; // a bare IPv6 literal: the port can only be the default
    } else if (auto colon = item.find(':'); colon != std::string_view::npos) {
        host = item.substr(0, colon);
        port = item.substr(colon + 1);
    }
    unsigned number = 0;
    if (!parse_port(port, number) || !is_ip(host, v6 ? AF_INET6 : AF_INET)) return {};
    std::string h(host);
    return (v6 ? "[" + h + "]" : h) + ":" + std::to_string(number);
}

} // namespace

ar::Result<std::vector<std::string>> parse_server_list(std::string_view csv) {
    constexpr const char* kAllowed =
        "expected IP:PORT[,IP:PORT...] with IP literals, like 127.0.0.1:53 or [::1]:5353";
    std::vector<std::string> out;
    if (trim(csv).empty()) return ar::invalid("dns", std::string("no resolver given: ") + kAllowed);
    while (true) {
        auto comma = csv.find(',');
        std::string_view item = trim(csv.substr(0, comma));
        std::string server = parse_server(item);
        if (server.empty()) {
            return ar::invalid("dns", "bad resolver \"" + std::string(item) + "\": " + kAllowed);
        }
        out.push_back(std::move(server));
        if (comma == std::string_view::npos) break;
        csv.remove_prefix(comma + 1);
    }
    return out;
}

} // namespace ar::dns
