#include "store/control_store.h"

#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "core/text.h"
#include "store/migrate.h"

namespace ar::store {

namespace {

const std::vector<const char*> kControlMigrations = {
    // 1: the first schema.
    R"sql(
    CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE agents(
        name TEXT PRIMARY KEY,
        address TEXT NOT NULL UNIQUE,
        key_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        rate_per_minute INTEGER,
        rate_per_day INTEGER);
    CREATE INDEX agents_key_hash ON agents(key_hash);
    CREATE TABLE dkim_keys(
        domain TEXT NOT NULL,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        private_pem TEXT NOT NULL,
        public_key TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY(domain, selector));
    )sql",
    // 2: webhooks (an agent's, or the operator's for every agent: agent ''), and how far each
    // has delivered each agent's event feed (webhooks/sender.h).
    R"sql(
    CREATE TABLE webhooks(
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        allow_private INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL);
    CREATE TABLE webhook_cursors(
        webhook_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        last_success_at INTEGER,
        PRIMARY KEY(webhook_id, agent));
    )sql",
};

AgentRecord agent_from_row(Stmt& s) {
    AgentRecord a;
    a.name = s.text(0);
    a.address = s.text(1);
    a.created_at = s.int64(2);
    a.revoked_at = s.opt_int64(3);
    a.rate_per_minute = s.opt_int64(4);
    a.rate_per_day = s.opt_int64(5);
    return a;
}

constexpr const char* kAgentCols = "name, address, created_at, revoked_at, rate_per_minute, rate_per_day";

}  // namespace

std::string hash_api_key(const std::string& key) { return sha256_hex(key); }

ControlStore::ControlStore(const std::string& path)
    : writer_(path, [](Db& db) { migrate(db, kControlMigrations, "control store"); }),
      cache_(std::make_unique<AgentCache>(path)) {}

Result<std::unique_ptr<ControlStore>> ControlStore::open(const std::string& data_dir) {
    try {
        return std::unique_ptr<ControlStore>(new ControlStore(data_dir + "/control.db"));
    } catch (const StoreError& e) {
        return Error{kErrInternal, e.what(), ""};
    }
}

std::optional<std::string> ControlStore::setting(const std::string& key) {
    auto r = writer_.read<std::optional<std::string>>([&](Db& db) {
        auto s = db.prepare("SELECT value FROM settings WHERE key = ?");
        s.bind(1, key);
        return s.step() ? std::optional<std::string>(s.text(0)) : std::nullopt;
    });
    return r ? *r : std::nullopt;
}

Status ControlStore::add_webhook(const WebhookRecord& w) {
    return writer_.write([&](Db& db) {
        db.prepare("INSERT INTO webhooks(id, agent, url, secret, allow_private, created_at) VALUES(?, ?, ?, ?, ?, ?)")
            .bind(1, w.id)
            .bind(2, w.agent)
            .bind(3, w.url)
            .bind(4, w.secret)
            .bind(5, w.allow_private ? 1 : 0)
            .bind(6, w.created_at)
            .run();
    });
}

std::vector<WebhookRecord> ControlStore::webhooks() {
    auto r = writer_.read<std::vector<WebhookRecord>>([&](Db& db) {
        std::vector<WebhookRecord> out;
        auto s = db.prepare("SELECT id, agent, url, secret, allow_private, created_at FROM webhooks ORDER BY created_at, id");
        while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4) != 0, s.int64(5)});
        return out;
    });
    return r ? *r : std::vector<WebhookRecord>{};
}

Result<bool> ControlStore::remove_webhook(const std::string& id) {
    return writer_.write_value<bool>([&](Db& db) {
        db.prepare("DELETE FROM webhooks WHERE id = ?").bind(1, id).run();
        bool removed = db.changes() > 0;
        db.prepare("DELETE FROM webhook_cursors WHERE webhook_id = ?").bind(1, id).run();
        return removed;
    });
}

std::vector<WebhookCursor> ControlStore::webhook_cursors(const std::string& webhook_id) {
    auto r = writer_.read<std::vector<WebhookCursor>>([&](Db& db) {
        std::vector<WebhookCursor> out;
        auto s = db.prepare("SELECT webhook_id, agent, last_seq, failures, next_attempt_at, last_error, "
                            "last_success_at FROM webhook_cursors WHERE webhook_id = ? ORDER BY agent");
        s.bind(1, webhook_id);
        while (s.step())
            out.push_back({s.text(0), s.text(1), s.int64(2), s.int64(3), s.int64(4), s.text(5), s.opt_int64(6)});
        return out;
    });
    return r ? *r : std::vector<WebhookCursor>{};
}

Status ControlStore::save_webhook_cursor(const WebhookCursor& c) {
    return writer_.write([&](Db& db) {
        db.prepare("INSERT INTO webhook_cursors(webhook_id, agent, last_seq, failures, next_attempt_at, last_error, "
                   "last_success_at) VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(webhook_id, agent) DO UPDATE SET "
                   "last_seq = excluded.last_seq, failures = excluded.failures, "
                   "next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, "
                   "last_success_at = excluded.last_success_at")
            .bind(1, c.webhook_id)
            .bind(2, c.agent)
            .bind(3, c.last_seq)
            .bind(4, c.failures)
            .bind(5, c.next_attempt_at)
            .bind(6, c.last_error)
            .bind(7, c.last_success_at)
            .run();
    });
}

Status ControlStore::set_setting(const std::string& key, const std::string& value) {
    return writer_.write([&](Db& db) {
        db.prepare("INSERT INTO settings(key, value) VALUES(?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(1, key)
            .bind(2, value)
            .run();
    });
}

Result<AgentRecord> ControlStore::create_agent(const std::string& name, const std::string& address,
                                               const std::string& key_hash, int64_t now_ms) {
    return writer_.write_value<AgentRecord>([&](Db& db) {
        auto q = db.prepare("SELECT 1 FROM agents WHERE name = ? OR address = ?");
        q.bind(1, name).bind(2, address);
        if (q.step())
            throw Error{kErrConflict, "an agent named '" + name + "' already exists", "name"};
        db.prepare("INSERT INTO agents(name, address, key_hash, created_at) VALUES(?, ?, ?, ?)")
            .bind(1, name)
            .bind(2, address)
            .bind(3, key_hash)
            .bind(4, now_ms)
            .run();
        AgentRecord a;
        a.name = name;
        a.address = address;
        a.created_at = now_ms;
        return a;
    });
}

std::vector<AgentRecord> ControlStore::list_agents(bool include_revoked) {
    auto r = writer_.read<std::vector<AgentRecord>>([&](Db& db) {
        std::string sql = std::string("SELECT ") + kAgentCols + " FROM agents";
        if (!include_revoked) sql += " WHERE revoked_at IS NULL";
        sql += " ORDER BY name";
        auto s = db.prepare(sql);
        std::vector<AgentRecord> out;
        while (s.step()) out.push_back(agent_from_row(s));
        return out;
    });
    return r ? *r : std::vector<AgentRecord>{};
}

namespace {
// Whether the control store may have changed, for the price of one ioctl instead of a read
// transaction (PRAGMA data_version: file locks, a stat, the WAL index). Any process's commit
// writes the WAL (a checkpoint, the database file): the kernel queues an inotify event on the
// directory during that write, before the commit returns. The commit becomes visible a little
// later (after its fsync), so after an event the store counts as changing for kSettle and is
// probed on every lookup; and at least once every kProbeEvery in any case. Without inotify
// (no instance left for the user), every lookup probes, as before.
class ChangeWatch {
  public:
    static constexpr auto kSettle = std::chrono::seconds(2);
    static constexpr auto kProbeEvery = std::chrono::seconds(1);

    explicit ChangeWatch(const std::string& db_path) {
        fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd_ < 0) return;
        auto dir = std::filesystem::path(db_path).parent_path();
        if (dir.empty()) dir = ".";
        // Direct children only: the agents' databases (agents/) make no events here.
        if (inotify_add_watch(fd_, dir.c_str(), IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~ChangeWatch() {
        if (fd_ >= 0) ::close(fd_);
    }
    ChangeWatch(const ChangeWatch&) = delete;
    ChangeWatch& operator=(const ChangeWatch&) = delete;

    // Called under the cache's lock before each lookup; true: ask SQLite.
    bool must_probe() {
        auto now = std::chrono::steady_clock::now();
        int pending = 0;
        if (fd_ < 0 || ioctl(fd_, FIONREAD, &pending) != 0) return true;
        if (pending > 0) {
            char buf[4096];
            while (::read(fd_, buf, sizeof buf) > 0) {
            }
            changing_until_ = now + kSettle;
        }
        if (now < changing_until_ || now - last_probe_ >= kProbeEvery) {
            last_probe_ = now;
            return true;
        }
        return false;
    }

  private:
    int fd_ = -1;
    std::chrono::steady_clock::time_point changing_until_{};
    std::chrono::steady_clock::time_point last_probe_{};
};
}  // namespace

struct ControlStore::AgentCache {
    explicit AgentCache(const std::string& path) : probe(path, true), watch(path) {}
    std::mutex mu;
    Db probe;  // only ever asked PRAGMA data_version
    ChangeWatch watch;
    int64_t version = -1;
    std::unordered_map<std::string, AgentRecord> by_name, by_key_hash;
};

ControlStore::~ControlStore() = default;

template <class Load>
std::optional<AgentRecord> ControlStore::cached_agent(bool by_key, const std::string& key, const Load& load) {
    // The lock is held across a miss's load, so a record read before a commit can never be
    // cached under the version after it.
    std::lock_guard lk(cache_->mu);
    if (cache_->version < 0 || cache_->watch.must_probe()) {
        int64_t version = -1;
        try {
            auto v = cache_->probe.prepare("PRAGMA data_version");
            if (v.step()) version = v.int64(0);
        } catch (const StoreError&) {
            version = -1;
        }
        if (version < 0 || version != cache_->version) {
            cache_->by_name.clear();
            cache_->by_key_hash.clear();
            cache_->version = version;
        }
    }
    auto& map = by_key ? cache_->by_key_hash : cache_->by_name;
    if (auto it = map.find(key); it != map.end()) return it->second;
    auto r = writer_.read<std::optional<AgentRecord>>(load);
    if (!r || !*r) return std::nullopt;  // misses are not kept: unknown keys cost memory
    if (cache_->version >= 0 && map.size() < 10000) map.emplace(key, **r);
    return *r;
}

std::optional<AgentRecord> ControlStore::find_agent(const std::string& name) {
    return cached_agent(false, name, [&](Db& db) {
        auto s = db.prepare(std::string("SELECT ") + kAgentCols + " FROM agents WHERE name = ?");
        s.bind(1, name);
        return s.step() ? std::optional<AgentRecord>(agent_from_row(s)) : std::nullopt;
    });
}

std::optional<AgentRecord> ControlStore::find_agent_by_key_hash(const std::string& key_hash) {
    return cached_agent(true, key_hash, [&](Db& db) {
        auto s = db.prepare(std::string("SELECT ") + kAgentCols +
                            " FROM agents WHERE key_hash = ? AND revoked_at IS NULL");
        s.bind(1, key_hash);
        return s.step() ? std::optional<AgentRecord>(agent_from_row(s)) : std::nullopt;
    });
}

Status ControlStore::revoke_agent(const std::string& name, int64_t now_ms) {
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE agents SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
        s.bind(1, now_ms).bind(2, name).run();
        if (db.changes() == 0) throw Error{kErrNotFound, "no active agent named '" + name + "'", "name"};
    });
}

Status ControlStore::set_key_hash(const std::string& name, const std::string& key_hash) {
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE agents SET key_hash = ? WHERE name = ? AND revoked_at IS NULL");
        s.bind(1, key_hash).bind(2, name).run();
        if (db.changes() == 0) throw Error{kErrNotFound, "no active agent named '" + name + "'", "name"};
    });
}

Status ControlStore::set_agent_limits(const std::string& name, std::optional<int64_t> per_minute,
                                      std::optional<int64_t> per_day) {
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE agents SET rate_per_minute = ?, rate_per_day = ? WHERE name = ?");
        s.bind(1, per_minute).bind(2, per_day).bind(3, name).run();
        if (db.changes() == 0) throw Error{kErrNotFound, "no agent named '" + name + "'", "name"};
    });
}

Status ControlStore::add_dkim_key(const DkimKeyRecord& k) {
    return writer_.write([&](Db& db) {
        db.prepare("INSERT INTO dkim_keys(domain, selector, algorithm, private_pem, public_key, state, "
                   "created_at) VALUES(?, ?, ?, ?, ?, ?, ?)")
            .bind(1, k.domain)
            .bind(2, k.selector)
            .bind(3, k.algorithm)
            .bind(4, k.private_pem)
            .bind(5, k.public_key)
            .bind(6, k.state)
            .bind(7, k.created_at)
            .run();
    });
}

std::vector<DkimKeyRecord> ControlStore::dkim_keys(const std::string& domain) {
    auto r = writer_.read<std::vector<DkimKeyRecord>>([&](Db& db) {
        auto s = db.prepare("SELECT domain, selector, algorithm, private_pem, public_key, state, "
                            "created_at FROM dkim_keys WHERE domain = ? ORDER BY created_at, selector");
        s.bind(1, domain);
        std::vector<DkimKeyRecord> out;
        while (s.step()) {
            DkimKeyRecord k;
            k.domain = s.text(0);
            k.selector = s.text(1);
            k.algorithm = s.text(2);
            k.private_pem = s.text(3);
            k.public_key = s.text(4);
            k.state = s.text(5);
            k.created_at = s.int64(6);
            out.push_back(std::move(k));
        }
        return out;
    });
    return r ? *r : std::vector<DkimKeyRecord>{};
}

std::string ControlStore::active_dkim_selectors(const std::string& domain) {
    auto r = writer_.read<std::string>([&](Db& db) {
        auto s = db.prepare("SELECT selector FROM dkim_keys WHERE domain = ? AND state = 'active' "
                            "ORDER BY created_at, selector");
        s.bind(1, domain);
        std::string out;
        while (s.step()) out += (out.empty() ? "" : ",") + s.text(0);
        return out;
    });
    return r ? *r : std::string();
}

Status ControlStore::set_dkim_state(const std::string& domain, const std::string& selector,
                                    const std::string& state) {
    return writer_.write([&](Db& db) {
        auto s = db.prepare("UPDATE dkim_keys SET state = ? WHERE domain = ? AND selector = ?");
        s.bind(1, state).bind(2, domain).bind(3, selector).run();
        if (db.changes() == 0)
            throw Error{kErrNotFound, "no DKIM key " + selector + " for " + domain, "selector"};
    });
}

}  // namespace ar::store
