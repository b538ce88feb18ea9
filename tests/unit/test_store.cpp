#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "store/agent_store.h"
#include "store/control_store.h"
#include "core/threads.h"
#include "store/data_dir.h"
#include "store/group_commit.h"
#include "store/migrate.h"
#include "temp_dir.h"

using namespace ar::store;

namespace {
NewMessage make_message(const std::string& id, int64_t at, std::vector<std::string> rcpts = {"a@example.test"}) {
    NewMessage m;
    m.id = id;
    m.message_id_header = "<" + id + "@agents.test>";
    m.subject = "s";
    m.mail_from = "bot@agents.test";
    m.raw = "Subject: s\r\n\r\nhello\r\n";
    m.created_at = at;
    for (auto& r : rcpts) m.recipients.emplace_back(r, r.substr(r.find('@') + 1));
    return m;
}
}  // namespace

TEST_CASE("agent names are safe local parts", "[store]") {
    CHECK(valid_agent_name("bot"));
    CHECK(valid_agent_name("sales-bot.eu_1"));
    CHECK_FALSE(valid_agent_name(""));
    CHECK_FALSE(valid_agent_name("Bot"));
    CHECK_FALSE(valid_agent_name("-bot"));
    CHECK_FALSE(valid_agent_name("bot."));
    CHECK_FALSE(valid_agent_name("a..b"));
    CHECK_FALSE(valid_agent_name("../etc"));
    CHECK_FALSE(valid_agent_name(std::string(65, 'a')));
}

TEST_CASE("the control store keeps only key hashes and finds agents by them", "[store]") {
    TempDir dir;
    auto data = DataDir::create(dir.path, "agents.test");
    REQUIRE(data);
    auto& control = (*data)->control();
    REQUIRE(control.create_agent("bot", "bot@agents.test", hash_api_key("secret-key"), 1000));
    auto again = control.create_agent("bot", "bot@agents.test", hash_api_key("other"), 1000);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ar::kErrConflict);
    CHECK(control.find_agent_by_key_hash(hash_api_key("secret-key"))->name == "bot");
    CHECK_FALSE(control.find_agent_by_key_hash(hash_api_key("wrong")));
    REQUIRE(control.revoke_agent("bot", 2000));
    CHECK_FALSE(control.find_agent_by_key_hash(hash_api_key("secret-key")));
    CHECK(hash_api_key("x").size() == 64);

    // A second open of the same dir sees the same domain; a different domain is refused.
    auto reopened = DataDir::open(dir.path);
    REQUIRE(reopened);
    CHECK((*reopened)->domain() == "agents.test");
    auto other = DataDir::create(dir.path, "other.test");
    REQUIRE_FALSE(other);
    CHECK(other.error().code == ar::kErrConflict);
}

TEST_CASE("concurrent writes share commits and all land", "[store]") {
    TempDir dir;
    AgentStore store(dir.path + "/a.db");
    constexpr int kThreads = 16, kEach = 25;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                auto r = store.insert_message(make_message("m_" + std::to_string(t) + "_" + std::to_string(i), 1000),
                                              {}, 86400000);
                if (!r) ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    auto n = store.count_by_status(kQueued);
    REQUIRE(n);
    CHECK(*n == kThreads * kEach);
    // A reader on a fresh connection sees them: they were committed.
    AgentStore reopened(dir.path + "/a.db");
    CHECK(*reopened.count_by_status(kQueued) == kThreads * kEach);
}

TEST_CASE("an asynchronous insert reports once it is committed, and reports refusals", "[store]") {
    TempDir dir;
    AgentStore store(dir.path + "/a.db");
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ar::Result<InsertOutcome>> results;
    auto done = [&](ar::Result<InsertOutcome> r) {
        std::lock_guard lk(mu);
        results.push_back(std::move(r));
        cv.notify_one();
    };
    for (int i = 0; i < 20; ++i) store.insert_message_async(make_message("m_" + std::to_string(i), 1000), {}, 1, done);
    // Over the rate limit: refused, nothing stored.
    store.insert_message_async(make_message("m_over", 1000), RateLimit{5, std::nullopt}, 1, done);
    {
        std::unique_lock lk(mu);
        REQUIRE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return results.size() == 21; }));
    }
    int ok = 0, refused = 0;
    for (auto& r : results) {
        if (r) ++ok;
        else if (r.error().code == ar::kErrRateLimited) ++refused;
    }
    CHECK(ok == 20);
    CHECK(refused == 1);
    // Committed when reported: a fresh connection sees every accepted one.
    AgentStore reopened(dir.path + "/a.db");
    CHECK(*reopened.count_by_status(kQueued) == 20);
    CHECK_FALSE(reopened.message("m_over"));
}

TEST_CASE("the WAL is copied into the database file in the background", "[store]") {
    TempDir dir;
    std::string path = dir.path + "/a.db";
    AgentStore store(path);
    auto file_size = [&] {
        std::error_code ec;
        auto n = std::filesystem::file_size(path, ec);
        return ec ? 0 : n;
    };
    auto before = file_size();
    // ~6 MB of messages: well over the 1000-frame threshold.
    for (int i = 0; i < 1500; ++i) {
        auto m = make_message("m_" + std::to_string(i), 1000);
        m.raw = "Subject: s\r\n\r\n" + std::string(4000, 'x') + "\r\n";
        REQUIRE(store.insert_message(m, {}, 1));
    }
    // Without a checkpoint the pages would all still be in a.db-wal.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (file_size() < before + 4'000'000 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(file_size() >= before + 4'000'000);
    CHECK(*store.count_by_status(kQueued) == 1500);
}

TEST_CASE("an idempotency key returns the first message within the window", "[store]") {
    TempDir dir;
    AgentStore store(dir.path + "/a.db");
    auto m1 = make_message("m_1", 1000);
    m1.idempotency_key = "order-42";
    auto first = store.insert_message(m1, {}, 86400000);
    REQUIRE(first);
    CHECK_FALSE(first->duplicate);
    auto m2 = make_message("m_2", 2000);
    m2.idempotency_key = "order-42";
    auto second = store.insert_message(m2, {}, 86400000);
    REQUIRE(second);
    CHECK(second->duplicate);
    CHECK(second->id == "m_1");
    CHECK_FALSE(store.message("m_2"));
    // After the window the key is free again.
    auto m3 = make_message("m_3", 1000 + 86400000 + 1);
    m3.idempotency_key = "order-42";
    auto third = store.insert_message(m3, {}, 86400000);
    REQUIRE(third);
    CHECK_FALSE(third->duplicate);
    CHECK(third->id == "m_3");
}

TEST_CASE("the per-agent rate limit refuses and stores nothing", "[store]") {
    TempDir dir;
    AgentStore store(dir.path + "/a.db");
    RateLimit limit{2, std::nullopt};
    REQUIRE(store.insert_message(make_message("m_1", 10'000), limit, 1));
    REQUIRE(store.insert_message(make_message("m_2", 20'000), limit, 1));
    auto third = store.insert_message(make_message("m_3", 30'000), limit, 1);
    REQUIRE_FALSE(third);
    CHECK(third.error().code == ar::kErrRateLimited);
    CHECK(third.error().retry_after_s == 40);  // the first send leaves the window at 70 s
    CHECK_FALSE(store.message("m_3"));
    CHECK(store.insert_message(make_message("m_4", 71'000), limit, 1));
}

TEST_CASE("due recipients are claimed once, under a lease", "[store]") {
    TempDir dir;
    AgentStore a(dir.path + "/a.db");
    AgentStore b(dir.path + "/a.db");  // a second process on the same file
    REQUIRE(a.insert_message(make_message("m_1", 1000, {"x@one.test", "y@one.test"}), {}, 1));
    auto first = a.claim_due("p1", 2000, 60000, 100);
    REQUIRE(first);
    CHECK(first->size() == 2);
    auto second = b.claim_due("p2", 2000, 60000, 100);
    REQUIRE(second);
    CHECK(second->empty());
    // A lease that ran out is claimable again.
    auto later = b.claim_due("p2", 70000, 60000, 100);
    REQUIRE(later);
    CHECK(later->size() == 2);
    // A dead owner's leases are released at once.
    REQUIRE(b.release_leases_if([](const std::string& owner) { return owner == "p2"; }));
    auto third = a.claim_due("p1", 70001, 60000, 100);
    REQUIRE(third);
    CHECK(third->size() == 2);
}

TEST_CASE("agents found once are remembered until any connection changes the control store", "[store]") {
    TempDir dir;
    auto data = DataDir::create(dir.path, "agents.test");
    REQUIRE(data);
    auto& control = (*data)->control();
    REQUIRE(control.create_agent("bot", "bot@agents.test", hash_api_key("k1"), 1000));
    REQUIRE(control.find_agent_by_key_hash(hash_api_key("k1")));  // now cached
    REQUIRE(control.find_agent("bot"));
    // Another process (here: another open of the same dir) rotates the key, then revokes.
    auto other = DataDir::open(dir.path);
    REQUIRE(other);
    REQUIRE((*other)->control().set_key_hash("bot", hash_api_key("k2")));
    CHECK_FALSE(control.find_agent_by_key_hash(hash_api_key("k1")));
    CHECK(control.find_agent_by_key_hash(hash_api_key("k2"))->name == "bot");
    REQUIRE((*other)->control().revoke_agent("bot", 2000));
    CHECK_FALSE(control.find_agent_by_key_hash(hash_api_key("k2")));
    CHECK(control.find_agent("bot")->revoked_at == 2000);
}

TEST_CASE("the next due time counts free recipients and the end of leases", "[store]") {
    TempDir dir;
    AgentStore s(dir.path + "/a.db");
    CHECK_FALSE(s.next_due_at());
    REQUIRE(s.insert_message(make_message("m_1", 1000, {"x@one.test"}), {}, 1));
    REQUIRE(s.insert_message(make_message("m_2", 5000, {"y@one.test"}), {}, 1));
    CHECK(s.next_due_at() == 1000);
    auto claimed = s.claim_due("p1", 2000, 60000, 100);  // only m_1 is due at 2 s
    REQUIRE(claimed);
    REQUIRE(claimed->size() == 1);
    CHECK(claimed->front().message_id == "m_1");
    CHECK(s.next_due_at() == 5000);  // m_2; m_1's lease ends at 62 s
    auto rest = s.claim_due("p1", 6000, 60000, 100);
    REQUIRE(rest);
    REQUIRE(rest->size() == 1);
    CHECK(s.next_due_at() == 62000);  // both leased: the first lease to run out
    // Expired leases are taken over before free recipients, within the limit.
    REQUIRE(s.insert_message(make_message("m_3", 7000, {"z@one.test"}), {}, 1));
    auto over = s.claim_due("p2", 70000, 60000, 2);
    REQUIRE(over);
    REQUIRE(over->size() == 2);
    CHECK(over->at(0).message_id != "m_3");
    CHECK(over->at(1).message_id != "m_3");
    auto last = s.claim_due("p2", 70000, 60000, 2);
    REQUIRE(last);
    REQUIRE(last->size() == 1);
    CHECK(last->front().message_id == "m_3");
}

TEST_CASE("outcomes update recipients, bounces and the suppression list", "[store]") {
    TempDir dir;
    AgentStore s(dir.path + "/a.db");
    REQUIRE(s.insert_message(make_message("m_1", 1000, {"ok@one.test", "gone@one.test", "later@one.test"}), {}, 1));
    std::vector<RecipientUpdate> ups(3);
    for (auto& u : ups) {
        u.message_id = "m_1";
        u.at = 5000;
    }
    ups[0].address = "ok@one.test";
    ups[0].status = kDelivered;
    ups[0].code = 250;
    ups[0].event_type = "delivered";
    ups[1].address = "gone@one.test";
    ups[1].status = kBounced;
    ups[1].code = 550;
    ups[1].enhanced_code = "5.1.1";
    ups[1].response = "550 5.1.1 no such user";
    ups[1].bounce_kind = "hard";
    ups[1].suppress = true;
    ups[1].event_type = "bounced";
    ups[2].address = "later@one.test";
    ups[2].status = kDeferred;
    ups[2].code = 451;
    ups[2].next_attempt_at = 9000;
    ups[2].event_type = "deferred";
    REQUIRE(s.apply(ups));
    auto m = s.message("m_1");
    REQUIRE(m);
    CHECK(message_status(m->recipients) == kDeferred);
    CHECK(m->recipients[0].delivered_at == 5000);
    CHECK(m->recipients[1].attempts == 1);
    CHECK(m->recipients[2].next_attempt_at == 9000);
    auto bounces = s.bounces(std::nullopt, std::nullopt, 10);
    REQUIRE(bounces);
    REQUIRE(bounces->size() == 1);
    CHECK((*bounces)[0].recipient == "gone@one.test");
    CHECK((*bounces)[0].enhanced_code == "5.1.1");
    CHECK(s.is_suppressed("GONE@one.test"));
    // A later send to the suppressed address is not attempted.
    auto again = s.insert_message(make_message("m_2", 6000, {"gone@one.test"}), {}, 1);
    REQUIRE(again);
    CHECK(again->recipients[0].second == kSuppressed);
    auto m2 = s.message("m_2");
    CHECK(message_status(m2->recipients) == kSuppressed);
    // History: each recipient's queued event (from its row), then the outcomes in order.
    std::vector<std::string> history;
    for (const auto& e : m->events) history.push_back(e.type + " " + e.recipient + " " + std::to_string(e.at));
    CHECK(history == std::vector<std::string>{"queued ok@one.test 1000", "queued gone@one.test 1000",
                                              "queued later@one.test 1000", "delivered ok@one.test 5000",
                                              "bounced gone@one.test 5000", "deferred later@one.test 5000"});
    REQUIRE(m2->events.size() == 1);
    CHECK(m2->events[0].type == kSuppressed);
    CHECK(m2->events[0].detail.find("suppression list") != std::string::npos);
}

TEST_CASE("the operator lists, adds and removes suppressed addresses", "[store]") {
    TempDir dir;
    AgentStore s(dir.path + "/a.db");
    auto added = s.suppress("stop@one.test", "asked to stop", 2000);
    REQUIRE(added);
    CHECK(*added);
    // Listed already (in another case): not added again, the first reason stays.
    added = s.suppress("STOP@one.test", "again", 3000);
    REQUIRE(added);
    CHECK_FALSE(*added);
    REQUIRE(s.suppress("older@one.test", "5.1.1 no such user", 1000));
    auto list = s.suppressions(10);
    REQUIRE(list);
    REQUIRE(list->size() == 2);
    CHECK((*list)[0].address == "stop@one.test");  // newest first
    CHECK((*list)[0].reason == "asked to stop");
    CHECK((*list)[0].created_at == 2000);
    CHECK((*list)[1].address == "older@one.test");
    auto one = s.suppressions(1);
    REQUIRE(one);
    CHECK(one->size() == 1);

    // A send to a suppressed address is not attempted; once removed, it is queued again.
    auto first = s.insert_message(make_message("m_1", 4000, {"Stop@one.test"}), {}, 1);
    REQUIRE(first);
    CHECK(first->recipients[0].second == kSuppressed);
    auto removed = s.unsuppress("stop@ONE.test");
    REQUIRE(removed);
    CHECK(*removed);
    removed = s.unsuppress("stop@one.test");
    REQUIRE(removed);
    CHECK_FALSE(*removed);
    CHECK_FALSE(s.is_suppressed("stop@one.test"));
    auto second = s.insert_message(make_message("m_2", 5000, {"stop@one.test"}), {}, 1);
    REQUIRE(second);
    CHECK(second->recipients[0].second == kQueued);
    list = s.suppressions(10);
    REQUIRE(list);
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].address == "older@one.test");
}

TEST_CASE("a version 2 agent store is migrated: stored queued events become the rows' own", "[store]") {
    TempDir dir;
    std::string path = dir.path + "/old.db";
    {
        // A store as schema version 2 wrote it: a stored queued event per recipient, then outcomes.
        Db db(path);
        const auto& all = agent_store_migrations();
        REQUIRE(all.size() >= 3);
        migrate(db, {all[0], all[1]}, "old agent store");
        db.exec("INSERT INTO messages(id, message_id_header, subject, mail_from, raw, size, created_at) "
                "VALUES('m_old', '<m_old@agents.test>', 's', 'bot@agents.test', 'x', 1, 1000);"
                "INSERT INTO recipients(message_id, address, domain, status, queued_at, next_attempt_at) "
                "VALUES('m_old', 'a@one.test', 'one.test', 'delivered', 1000, NULL),"
                "      ('m_old', 'b@one.test', 'one.test', 'queued', 1000, 1000);"
                "INSERT INTO events(message_id, recipient, at, type, detail) VALUES"
                "  ('m_old', 'a@one.test', 1000, 'queued', ''), ('m_old', 'b@one.test', 1000, 'queued', ''),"
                "  ('m_old', 'a@one.test', 2000, 'delivered', '250 ok');");
        REQUIRE(db.user_version() == 2);
    }
    AgentStore s(path);
    auto m = s.message("m_old");
    REQUIRE(m);
    std::vector<std::string> history;
    for (const auto& e : m->events) history.push_back(e.type + " " + e.recipient + " " + e.detail);
    CHECK(history == std::vector<std::string>{"queued a@one.test ", "queued b@one.test ", "delivered a@one.test 250 ok"});
    // New events follow the old ones, and new sends store no queued event.
    RecipientUpdate u;
    u.message_id = "m_old";
    u.address = "b@one.test";
    u.at = 3000;
    u.status = kDelivered;
    u.event_type = "delivered";
    REQUIRE(s.apply({u}));
    REQUIRE(s.insert_message(make_message("m_new", 4000), {}, 1));
    m = s.message("m_old");
    REQUIRE(m->events.size() == 4);
    CHECK(m->events[3].recipient == "b@one.test");
    CHECK(m->events[3].at == 3000);
    Db db(path, true);
    CHECK(db.user_version() == static_cast<int>(agent_store_migrations().size()));
    auto stored = db.prepare("SELECT COUNT(*) FROM events WHERE type = 'queued'");
    REQUIRE(stored.step());
    CHECK(stored.int64(0) == 0);
}

TEST_CASE("a message's status follows its recipients", "[store]") {
    auto r = [](const char* s) {
        RecipientRecord x;
        x.status = s;
        return x;
    };
    CHECK(message_status({r(kQueued), r(kDelivered)}) == kQueued);
    CHECK(message_status({r(kDeferred), r(kQueued)}) == kDeferred);
    CHECK(message_status({r(kDelivered), r(kDelivered)}) == kDelivered);
    CHECK(message_status({r(kDelivered), r(kBounced)}) == "partially_delivered");
    CHECK(message_status({r(kBounced), r(kSuppressed)}) == kBounced);
    CHECK(message_status({r(kSuppressed)}) == kSuppressed);
}

TEST_CASE("background writes wait behind the requests' writes", "[store]") {
    TempDir dir;
    GroupWriter w(dir.path + "/g.db", [](Db& db) { db.exec("CREATE TABLE IF NOT EXISTS t(v TEXT)"); });
    std::mutex mu;
    std::condition_variable cv;
    bool holding = false, release = false;
    std::vector<std::string> order;  // appended on the writer's thread
    int completions = 0;
    auto completed = [&](ar::Status st) {
        CHECK(st);
        std::lock_guard lk(mu);
        ++completions;
        cv.notify_all();
    };
    auto insert = [&](const char* lane) {
        return [&, lane](Db& db) {
            db.prepare("INSERT INTO t VALUES(?)").bind(1, lane).run();
            order.push_back(lane);
        };
    };
    // The writer is held inside a first group while the others queue up.
    std::thread holder([&] {
        auto st = w.write([&](Db&) {
            std::unique_lock lk(mu);
            holding = true;
            cv.notify_all();
            cv.wait(lk, [&] { return release; });
        });
        CHECK(st);
    });
    {
        std::unique_lock lk(mu);
        REQUIRE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return holding; }));
    }
    constexpr int kBackground = 200;
    std::thread engine([&] {  // a delivery-engine thread: its writes are background work
        ar::lower_this_thread_priority();
        REQUIRE(ar::this_thread_is_background());
        for (int i = 0; i < kBackground; ++i) w.write_async(insert("background"), completed);
    });
    engine.join();
    w.write_async(insert("foreground"), completed);  // queued after every background one
    {
        std::lock_guard lk(mu);
        release = true;
    }
    cv.notify_all();
    holder.join();
    std::unique_lock lk(mu);
    REQUIRE(cv.wait_for(lk, std::chrono::seconds(20), [&] { return completions == kBackground + 1; }));
    REQUIRE(order.size() == kBackground + 1);
    CHECK(order.front() == "foreground");
    CHECK(std::count(order.begin(), order.end(), "background") == kBackground);
}

TEST_CASE("under steady writes the WAL starts over instead of growing", "[store]") {
    TempDir dir;
    std::string path = dir.path + "/g.db";
    GroupWriter w(path, [](Db& db) { db.exec("CREATE TABLE IF NOT EXISTS t(v BLOB)"); });
    // The WAL header's checkpoint sequence number (big-endian u32 at offset 12) goes
    // up each time SQLite starts writing the WAL from its beginning again.
    auto restarts = [&] {
        std::ifstream f(path + "-wal", std::ios::binary);
        unsigned char h[16] = {};
        if (!f.read(reinterpret_cast<char*>(h), sizeof h)) return 0u;
        return (unsigned(h[12]) << 24) | (unsigned(h[13]) << 16) | (unsigned(h[14]) << 8) | unsigned(h[15]);
    };
    // A feeder keeps 256 writes queued at all times, so the writer never pauses between
    // groups (a pause would let the background checkpointer finish on its own).
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    long writes = 0;
    bool stop = false;
    const std::string blob(3000, 'x');
    std::thread feeder([&] {
        std::unique_lock lk(mu);
        while (!stop) {
            cv.wait(lk, [&] { return stop || outstanding < 256; });
            if (stop) break;
            ++outstanding;
            lk.unlock();
            w.write_async([&](Db& db) { db.prepare("INSERT INTO t VALUES(?)").bind_blob(1, blob).run(); },
                          [&](ar::Status st) {
                              std::lock_guard g(mu);
                              --outstanding;
                              if (st) ++writes;
                              cv.notify_all();
                          });
            lk.lock();
        }
        cv.wait(lk, [&] { return outstanding == 0; });
    });
    unsigned first = restarts();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    uintmax_t largest = 0;
    while (restarts() < first + 3 && std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        largest = std::max(largest, std::filesystem::file_size(path + "-wal", ec));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    unsigned seen = restarts();
    {
        std::lock_guard lk(mu);
        stop = true;
    }
    cv.notify_all();
    feeder.join();
    INFO("writes: " << writes << ", WAL restarts: " << seen - first << ", largest WAL: " << largest);
    CHECK(seen >= first + 3);
    // Started over every few thousand frames, or at the latest at the writer's own limit
    // (~200 MB) when the background pass is starved (with two CPU hogs on this machine the
    // niced pass never finished, and the WAL grew to 7 GB in a minute before the writer took
    // over at its limit).
    CHECK(largest < 256u * 1024 * 1024);
}

TEST_CASE("the engine's agent list has this process's stores at once and others' within a second", "[store]") {
    TempDir dir;
    auto dd = DataDir::create(dir.path, "agents.test");
    REQUIRE(dd);
    auto has = [](const std::vector<std::string>& names, const std::string& n) {
        return std::find(names.begin(), names.end(), n) != names.end();
    };
    CHECK((*dd)->agent_names().empty());
    REQUIRE((*dd)->agent_store("alpha"));
    CHECK(has((*dd)->agent_names(), "alpha"));  // opened here: no directory listing needed
    // Another process (here another DataDir) creates an agent's database.
    auto other = DataDir::open(dir.path);
    REQUIRE(other);
    REQUIRE((*other)->agent_store("beta"));
    auto deadline = std::chrono::steady_clock::now() + DataDir::kAgentListInterval + std::chrono::seconds(5);
    while (!has((*dd)->agent_names(), "beta") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto names = (*dd)->agent_names();
    CHECK(has(names, "beta"));
    CHECK(has(names, "alpha"));
    CHECK(names.size() == 2);
}

TEST_CASE("drain returns once every queued write has committed and completed", "[store]") {
    TempDir dir;
    GroupWriter w(dir.path + "/g.db", [](Db& db) { db.exec("CREATE TABLE IF NOT EXISTS t(v INTEGER)"); });
    std::atomic<int> completed{0};
    constexpr int kWrites = 300;
    auto queue_half = [&] {
        for (int i = 0; i < kWrites / 2; ++i)
            w.write_async([i](Db& db) { db.prepare("INSERT INTO t VALUES(?)").bind(1, int64_t{i}).run(); },
                          [&](ar::Status st) { if (st) ++completed; });
    };
    std::thread engine([&] {  // half from a background thread: they may wait behind the others
        ar::lower_this_thread_priority();
        queue_half();
    });
    queue_half();
    engine.join();
    w.drain();
    CHECK(completed == kWrites);  // no wait: drain itself is the condition
}

namespace {
// Queues `writes` writes behind one that holds the writer until all are queued, so that they
// share a group; write i runs `body(db, i)`. Returns each write's outcome, in any order.
std::vector<std::pair<int, bool>> write_in_one_group(GroupWriter& w, int writes,
                                                     const std::function<void(Db&, int)>& body) {
    std::promise<void> all_queued;
    auto queued = all_queued.get_future().share();
    w.write_async([queued](Db&) { queued.wait(); }, [](ar::Status) {});
    std::mutex mu;
    std::vector<std::pair<int, bool>> outcomes;
    for (int i = 0; i < writes; ++i)
        w.write_async([i, &body](Db& db) { body(db, i); },
                      [&, i](ar::Status st) {
                          std::lock_guard lk(mu);
                          outcomes.emplace_back(i, static_cast<bool>(st));
                      });
    all_queued.set_value();
    w.drain();
    return outcomes;
}
}  // namespace

TEST_CASE("a failing write in a group undoes only its own writes, and each write lands once", "[store]") {
    TempDir dir;
    GroupWriter w(dir.path + "/g.db", [](Db& db) { db.exec("CREATE TABLE IF NOT EXISTS t(v INTEGER)"); });
    constexpr int kWrites = 200;
    auto refuses = [](int i) { return i % 11 == 5; };             // before writing anything
    auto fails = [&](int i) { return !refuses(i) && i % 7 == 3; };  // after writing its row
    auto outcomes = write_in_one_group(w, kWrites, [&](Db& db, int i) {
        if (refuses(i)) throw ar::Error{ar::kErrRateLimited, "write " + std::to_string(i) + " refused", ""};
        db.prepare("INSERT INTO t VALUES(?)").bind(1, int64_t{i}).run();
        if (fails(i)) throw ar::Error{ar::kErrInvalid, "write " + std::to_string(i) + " failed", ""};
    });
    REQUIRE(outcomes.size() == kWrites);
    int lost = 0, expected_lost = 0;
    for (const auto& [i, ok] : outcomes) {
        CHECK(ok == !(refuses(i) || fails(i)));
        lost += ok ? 0 : 1;
        expected_lost += (refuses(i) || fails(i)) ? 1 : 0;
    }
    CHECK(lost == expected_lost);
    auto rows = w.read<std::vector<int64_t>>([](Db& db) {
        auto s = db.prepare("SELECT COUNT(*), COUNT(DISTINCT v), SUM(v % 7 = 3 OR v % 11 = 5) FROM t");
        s.step();
        return std::vector<int64_t>{s.int64(0), s.int64(1), s.int64(2)};
    });
    REQUIRE(rows);
    CHECK((*rows)[0] == kWrites - lost);  // every accepted write, once: none ran into the commit twice
    CHECK((*rows)[1] == kWrites - lost);
    CHECK((*rows)[2] == 0);               // nothing of the failed ones
}

TEST_CASE("a write refused before it changes anything costs its group no second run", "[store]") {
    TempDir dir;
    GroupWriter w(dir.path + "/g.db", [](Db& db) { db.exec("CREATE TABLE IF NOT EXISTS t(v INTEGER)"); });
    constexpr int kWrites = 50;
    std::vector<std::atomic<int>> runs(kWrites);
    auto outcomes = write_in_one_group(w, kWrites, [&](Db& db, int i) {
        ++runs[static_cast<size_t>(i)];
        if (i % 5 == 0) throw ar::Error{ar::kErrRateLimited, "over the limit", ""};
        db.prepare("INSERT INTO t VALUES(?)").bind(1, int64_t{i}).run();
    });
    REQUIRE(outcomes.size() == kWrites);
    for (const auto& [i, ok] : outcomes) CHECK(ok == (i % 5 != 0));
    for (int i = 0; i < kWrites; ++i) CHECK(runs[static_cast<size_t>(i)] == 1);
    auto count = w.read<int64_t>([](Db& db) {
        auto s = db.prepare("SELECT COUNT(*) FROM t");
        s.step();
        return s.int64(0);
    });
    REQUIRE(count);
    CHECK(*count == kWrites - kWrites / 5);
}

TEST_CASE("retention removes what is old and finished, in batches, and keeps what is pending", "[store]") {
    TempDir dir;
    AgentStore s(dir.path + "/a.db");
    // Old and delivered, old and still pending, old with an idempotency key, and new.
    for (int i = 0; i < 5; ++i)
        REQUIRE(s.insert_message(make_message("m_old" + std::to_string(i), 1000 + i), {}, 1));
    REQUIRE(s.insert_message(make_message("m_pending", 1000), {}, 1));
    auto keyed = make_message("m_keyed", 1500);
    keyed.idempotency_key = "k1";
    REQUIRE(s.insert_message(keyed, {}, 1));
    REQUIRE(s.insert_message(make_message("m_new", 9000), {}, 1));
    std::vector<RecipientUpdate> ups;
    for (std::string id : {"m_old0", "m_old1", "m_old2", "m_old3", "m_old4", "m_keyed", "m_new"}) {
        RecipientUpdate u;
        u.message_id = id;
        u.address = "a@example.test";
        u.at = 2000;
        u.status = id == "m_old1" ? kBounced : kDelivered;
        u.code = id == "m_old1" ? 550 : 250;
        u.event_type = id == "m_old1" ? "bounced" : "delivered";
        if (id == "m_old1") u.bounce_kind = "hard";
        ups.push_back(u);
    }
    REQUIRE(s.apply(ups));
    for (int i = 0; i < 3; ++i) {
        InboxRecord r;
        r.id = "i_" + std::to_string(i);
        r.delivery_key = "d" + std::to_string(i);
        r.received_at = i < 2 ? 1000 + i : 9000;
        REQUIRE(s.insert_inbox(r));
    }
    // Batches of 4: the first leaves more behind, the next finishes.
    auto first = s.purge_before(5000, 4);
    REQUIRE(first);
    CHECK(first->messages == 4);
    CHECK(first->more);
    auto second = s.purge_before(5000, 4);
    REQUIRE(second);
    CHECK(first->messages + second->messages == 6);  // five old ones and the keyed one
    CHECK(first->inbox + second->inbox == 2);
    CHECK(first->bounces + second->bounces == 1);
    CHECK_FALSE(second->more);
    for (std::string id : {"m_old0", "m_old1", "m_old4", "m_keyed"}) CHECK_FALSE(s.message(id));
    REQUIRE(s.message("m_pending"));
    CHECK(s.message("m_pending")->recipients.size() == 1);
    REQUIRE(s.message("m_new"));
    CHECK(s.message("m_new")->events.size() == 2);  // queued, delivered
    auto inbox = s.inbox(false, std::nullopt, 10);
    REQUIRE(inbox);
    REQUIRE(inbox->size() == 1);
    CHECK((*inbox)[0].id == "i_2");
    auto bounces = s.bounces(std::nullopt, std::nullopt, 10);
    REQUIRE(bounces);
    CHECK(bounces->empty());
    // Nothing of the removed messages is left in any table.
    Db db(dir.path + "/a.db", true);
    for (const char* sql : {"SELECT COUNT(*) FROM recipients WHERE message_id LIKE 'm_old%' OR message_id = 'm_keyed'",
                            "SELECT COUNT(*) FROM events WHERE message_id LIKE 'm_old%' OR message_id = 'm_keyed'",
                            "SELECT COUNT(*) FROM idempotency"}) {
        auto q = db.prepare(sql);
        REQUIRE(q.step());
        CHECK(q.int64(0) == 0);
    }
    // Another pass finds nothing more.
    auto third = s.purge_before(5000, 4);
    REQUIRE(third);
    CHECK(third->messages + third->inbox + third->bounces == 0);
}

TEST_CASE("the queue lists recipients in flight first, then by next attempt, and retry makes them due", "[store]") {
    TempDir dir;
    AgentStore s(dir.path + "/a.db");
    REQUIRE(s.insert_message(make_message("m_a", 1000, {"a@one.test", "b@one.test"}), {}, 1));
    REQUIRE(s.insert_message(make_message("m_b", 2000, {"c@two.test"}), {}, 1));
    // b is deferred to 9000, c is claimed (in flight), a waits from 1000.
    RecipientUpdate u;
    u.message_id = "m_a";
    u.address = "b@one.test";
    u.at = 3000;
    u.status = kDeferred;
    u.code = 451;
    u.response = "451 4.7.1 try later";
    u.next_attempt_at = 9000;
    u.event_type = "deferred";
    REQUIRE(s.apply({u}));
    auto claimed = s.claim_due("me", 2500, 60'000, 10);
    REQUIRE(claimed);
    REQUIRE(claimed->size() == 2);  // a and c are due at 2500
    REQUIRE(s.release("me", {(*claimed)[0]}));  // a goes back to waiting
    auto q = s.pending(10);
    REQUIRE(q);
    REQUIRE(q->size() == 3);
    CHECK((*q)[0].address == (*claimed)[1].address);
    CHECK((*q)[0].in_flight);
    CHECK((*q)[1].address == (*claimed)[0].address);
    CHECK_FALSE((*q)[1].in_flight);
    CHECK((*q)[2].address == "b@one.test");
    CHECK((*q)[2].status == kDeferred);
    CHECK((*q)[2].last_code == 451);
    CHECK((*q)[2].last_response == "451 4.7.1 try later");
    CHECK((*q)[2].next_attempt_at == 9000);
    auto two = s.pending(2);
    REQUIRE(two);
    CHECK(two->size() == 2);
    // retry: the waiting ones not yet due become due now; the one in flight is left alone.
    auto n = s.retry_now(4000);
    REQUIRE(n);
    CHECK(*n == 1);  // b (a was already due at 1000)
    q = s.pending(10);
    CHECK((*q)[2].next_attempt_at == 4000);
    auto due = s.claim_due("me", 4000, 60'000, 10);
    REQUIRE(due);
    CHECK(due->size() == 2);  // a and b; c is still leased
}

TEST_CASE("an inbox message keeps its sender's authentication; older stores gain the column",
          "[store]") {
    TempDir dir;
    std::string path = dir.path + "/v3.db";
    {
        Db db(path);
        const auto& all = agent_store_migrations();
        REQUIRE(all.size() >= 4);
        migrate(db, {all[0], all[1], all[2]}, "schema 3 agent store");
        db.exec("INSERT INTO inbox(id, delivery_key, received_at, mail_from, rcpt_to, from_header, "
                "to_header, cc_header, subject, date_header, message_id, in_reply_to, thread_id, raw) "
                "VALUES('i_old', 'k_old', 1000, 'a@x.test', 'bot@agents.test', 'a@x.test', "
                "'bot@agents.test', '', 's', '', '', '', 't', 'raw old')");
    }
    AgentStore s(path);
    auto old = s.inbox_message("i_old", false);
    REQUIRE(old);
    CHECK(old->authentication.empty()); // not checked: stored before
    CHECK(old->raw == "raw old");

    InboxRecord r;
    r.id = "i_new";
    r.delivery_key = "k_new";
    r.received_at = 2000;
    r.raw = "raw new";
    r.authentication = R"({"from_verified":true,"summary":"x"})";
    REQUIRE(s.insert_inbox(r));
    auto back = s.inbox_message("i_new", true);
    REQUIRE(back);
    CHECK(back->authentication == r.authentication);
    CHECK(back->raw == "raw new");
    auto listed = s.inbox(false, std::nullopt, 10);
    REQUIRE(listed);
    REQUIRE(listed->size() == 2);
    CHECK((*listed)[1].authentication == r.authentication);
}
