// control_store.h: the data dir's control database (DIR/control.db).
//
// Holds what is shared by every agent: settings (hosted domain, host name,
// secrets), the agents with their API keys stored only as SHA-256 hashes, and
// the DKIM keys per domain and selector. Schema versions are kept in
// PRAGMA user_version and migrated forward on open.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/group_commit.h"

namespace ar::store {

struct AgentRecord {
    std::string name;
    std::string address;
    int64_t created_at = 0;
    std::optional<int64_t> revoked_at;
    std::optional<int64_t> rate_per_minute;  // null: the relay's default
    std::optional<int64_t> rate_per_day;
};

struct DkimKeyRecord {
    std::string domain;
    std::string selector;
    std::string algorithm;  // "ed25519-sha256" | "rsa-sha256"
    std::string private_pem;
    std::string public_key;  // the p= value
    std::string state;  // "active" (signing), "pending" (to publish, not yet signing),
                        // "published" (signed until a rotation, kept in DNS), "retired"
    int64_t created_at = 0;
};

// A webhook: where an agent's events (agent ""; the operator's: every agent's) are POSTed,
// signed with its secret (webhooks/signature.h). allow_private: the operator allowed a target
// on a private or loopback address.
struct WebhookRecord {
    std::string id;
    std::string agent;
    std::string url;
    std::string secret;
    bool allow_private = false;
    int64_t created_at = 0;
};

// How far a webhook has delivered one agent's event feed: every event up to last_seq was
// answered 2xx; the next is tried at next_attempt_at (after `failures` failures in a row).
struct WebhookCursor {
    std::string webhook_id;
    std::string agent;
    int64_t last_seq = 0;
    int64_t failures = 0;
    int64_t next_attempt_at = 0;
    std::string last_error;
    std::optional<int64_t> last_success_at;
};

class ControlStore {
  public:
    static Result<std::unique_ptr<ControlStore>> open(const std::string& data_dir);

    // Waits until every queued write is committed and its completion has run.
    void drain() { writer_.drain(); }

    std::optional<std::string> setting(const std::string& key);
    Status set_setting(const std::string& key, const std::string& value);

    Result<AgentRecord> create_agent(const std::string& name, const std::string& address,
                                     const std::string& key_hash, int64_t now_ms);
    std::vector<AgentRecord> list_agents(bool include_revoked = false);
    std::optional<AgentRecord> find_agent(const std::string& name);
    // Only agents that are not revoked.
    std::optional<AgentRecord> find_agent_by_key_hash(const std::string& key_hash);
    Status revoke_agent(const std::string& name, int64_t now_ms);
    Status set_key_hash(const std::string& name, const std::string& key_hash);
    Status set_agent_limits(const std::string& name, std::optional<int64_t> per_minute,
                            std::optional<int64_t> per_day);

    Status add_dkim_key(const DkimKeyRecord& key);
    std::vector<DkimKeyRecord> dkim_keys(const std::string& domain);
    // The selectors of the domain's active keys, in key order, comma-separated: a cheap check
    // (no private keys read) of whether the signing keys changed.
    std::string active_dkim_selectors(const std::string& domain);
    Status set_dkim_state(const std::string& domain, const std::string& selector,
                          const std::string& state);

    Status add_webhook(const WebhookRecord& w);
    std::vector<WebhookRecord> webhooks();
    Result<bool> remove_webhook(const std::string& id);  // false: no such webhook
    std::vector<WebhookCursor> webhook_cursors(const std::string& webhook_id);
    Status save_webhook_cursor(const WebhookCursor& c);

    ~ControlStore();

  private:
    explicit ControlStore(const std::string& path);
    // Agents looked up by name or key hash are kept in memory until the database changes
    // (PRAGMA data_version, which sees commits by any connection of any process), so an
    // authenticated request costs no query, and a revocation still takes effect at once.
    struct AgentCache;
    template <class Load>
    std::optional<AgentRecord> cached_agent(bool by_key, const std::string& key, const Load& load);
    GroupWriter writer_;
    std::unique_ptr<AgentCache> cache_;
};

// SHA-256 of an API key, hex: what the control store keeps instead of the key.
std::string hash_api_key(const std::string& key);

}  // namespace ar::store
