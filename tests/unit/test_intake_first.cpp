// Intake first: the intake meter, the CPU sampler, the rule, and the delivery engine holding
// new deliveries while the intake is saturated (against a real receiver on loopback).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/cpu_load.h"
#include "core/intake_meter.h"
#include "core/metrics.h"
#include "relay/relay.h"
#include "delivery/engine.h"
#include "smtp_receiver.h"
#include "store/control_store.h"
#include "temp_dir.h"
#include "wait_until.h"

using namespace ar;
using namespace std::chrono_literals;

namespace {

constexpr int64_t W = IntakeMeter::kWindowUs;

int64_t holds_so_far() {
    const std::string name = "agentrelay_delivery_intake_holds_total ";
    auto text = Metrics::instance().render();
    auto at = text.find("\n" + name);
    if (at == std::string::npos) return 0;
    return std::stoll(text.substr(at + 1 + name.size()));
}

}  // namespace

TEST_CASE("the intake meter gives the share of each window with a message at the door", "[intake]") {
    IntakeMeter m;
    CHECK(m.busy_share(0) == 0);
    SECTION("idle windows are idle") { CHECK(m.busy_share(5 * W) == 0); }
    SECTION("a quarter of a window") {
        m.begin(W / 4);
        m.end(W / 2);
        CHECK(m.busy_share(W / 2) == 0);  // the window is not over yet
        CHECK(m.busy_share(W + 1) == Approx(0.25));
    }
    SECTION("overlapping inserts count once") {
        m.begin(0);
        m.begin(W / 10);
        m.end(W / 2);
        m.end(3 * W / 5);
        CHECK(m.busy_share(W) == Approx(0.6));
    }
    SECTION("an insert across windows counts in each") {
        m.begin(W / 2);
        CHECK(m.busy_share(W) == Approx(0.5));
        m.end(W + W / 5);
        CHECK(m.busy_share(2 * W) == Approx(0.2));
    }
    SECTION("whole windows pass as the intake was: busy or idle") {
        m.begin(0);
        CHECK(m.busy_share(7 * W + 3) == 1);
        m.end(7 * W + 3);
        CHECK(m.busy_share(20 * W) == 0);
    }
    SECTION("a time from another thread that is slightly behind does not count backwards") {
        m.begin(W / 2);
        m.end(W / 2 - 10);
        CHECK(m.busy_share(W) == 0);
    }
}

TEST_CASE("/proc/stat's cpu line gives busy and total ticks, steal left out", "[intake]") {
    auto t = parse_proc_stat("cpu  100 5 50 800 20 3 2 40 0 0\ncpu0 1 2 3 4 5 6 7\n");
    REQUIRE(t);
    CHECK(t->busy == 100 + 5 + 50 + 3 + 2);
    CHECK(t->total == t->busy + 800 + 20);
    CHECK(parse_proc_stat("cpu  1 2 3 4 5 6 7"));  // an old kernel's seven fields
    CHECK_FALSE(parse_proc_stat("cpu  1 2 3"));
    CHECK_FALSE(parse_proc_stat("cpu0 1 2 3 4 5 6 7 8"));
    CHECK_FALSE(parse_proc_stat("cpu  1 2 x 4 5 6 7 8"));
    CHECK_FALSE(parse_proc_stat(""));

    CpuLoad load;  // this machine's: a share once the ticks have moved between two samples
    int64_t now = 0;
    bool got = wait_until([&] {
        now += CpuLoad::kMinIntervalUs;
        return load.busy_share(now).has_value();
    });
    REQUIRE(got);
    CHECK(*load.busy_share(now) >= 0);
    CHECK(*load.busy_share(now) <= 1);
}

TEST_CASE("intake first holds when mail pours in and the CPUs are full, until the intake calms", "[intake]") {
    using delivery::intake_first_holds;
    auto cpu = [](std::optional<double> share) { return [share] { return share; }; };
    CHECK(intake_first_holds(false, 0.5, cpu(0.95)));
    CHECK_FALSE(intake_first_holds(false, 0.5, cpu(0.6)));           // spare CPU: deliver alongside
    CHECK_FALSE(intake_first_holds(false, 0.5, cpu(std::nullopt)));  // unknown CPU: never hold
    CHECK_FALSE(intake_first_holds(false, 0.1, cpu(1.0)));           // light traffic: never hold
    CHECK(intake_first_holds(true, 0.5, cpu(0.2)));                  // a hold lasts while the intake is busy
    CHECK_FALSE(intake_first_holds(true, 0.1, cpu(1.0)));            // and ends when it calms
    int asked = 0;
    auto counted = [&] { ++asked; return std::optional<double>(1.0); };
    intake_first_holds(false, 0.1, counted);  // calm intake
    intake_first_holds(true, 0.5, counted);   // within a hold
    CHECK(asked == 0);                        // /proc/stat is not read for nothing

    using delivery::may_wait_longer;
    CHECK(may_wait_longer(std::nullopt, 1000, 10s));
    CHECK(may_wait_longer(1000, 10'999, 10s));
    CHECK_FALSE(may_wait_longer(1000, 11'000, 10s));
}

namespace {

// A relay with its delivery engine routing dest.test to a receiver, with the CPUs' busy
// share set by the test.
struct EngineWorld {
    TempDir dir;
    SystemClock clock;
    test_support::Receiver receiver{std::vector<std::string>{}};
    std::unique_ptr<store::DataDir> data;
    std::unique_ptr<Relay> relay;
    store::AgentRecord alice;
    std::atomic<double> cpu{1.0};
    asio::io_context io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::unique_ptr<delivery::Engine> engine;
    std::thread thread;
    std::string last_seen;  // the recipient's state at the last status(), for failure messages

    explicit EngineWorld(std::chrono::milliseconds intake_first) {
        data = store::DataDir::create(dir.path, "agents.test").value();
        relay = std::make_unique<Relay>(*data, clock);
        alice = *data->control().create_agent("alice", "alice@agents.test", store::hash_api_key("ka"), 1);
        delivery::DeliveryConfig cfg;
        cfg.routes.push_back({"dest.test", "127.0.0.1", receiver.endpoint().port(), std::nullopt});
        cfg.helo_name = "agents.test";
        cfg.default_policy.messages_per_second = 0;
        cfg.intake_first = intake_first;
        cfg.cpu_busy_share = [this](int64_t) { return std::optional<double>(cpu.load()); };
        engine = std::make_unique<delivery::Engine>(*relay, cfg, clock, io);
        relay->on_queued([this](const std::string& agent) { engine->notify(agent); });
    }
    ~EngineWorld() {
        if (thread.joinable()) {
            engine->stop();
            work.reset();
            io.stop();
            thread.join();
        }
        data->drain();
    }

    // Keeps a message at the door from now on, until calm(): the intake is saturated once a
    // whole window has passed so.
    void saturate() {
        relay->intake().begin(IntakeMeter::steady_now_us());
        REQUIRE(wait_until([&] { return relay->intake().busy_share(IntakeMeter::steady_now_us()) >= 0.99; }));
    }
    void calm() { relay->intake().end(IntakeMeter::steady_now_us()); }

    std::string send() {
        SendRequest r;
        r.to = {"someone@dest.test"};
        r.subject = "intake first";
        r.text = "body";
        auto sent = relay->send(alice, r);
        REQUIRE(sent);
        return sent->message_id;
    }
    std::string status(const std::string& id) {
        auto m = relay->status(alice, id);
        REQUIRE(m);
        REQUIRE(m->recipients.size() == 1);
        last_seen = m->recipients[0].status + " " + m->recipients[0].last_response;
        return m->recipients[0].status;
    }
    void start() {
        work.emplace(io.get_executor());
        engine->start();
        thread = std::thread([this] { io.run(); });
    }
};

}  // namespace

TEST_CASE("the engine holds new deliveries while the intake is saturated and sends them after",
          "[intake][engine]") {
    EngineWorld w(60s);
    w.saturate();
    auto id = w.send();
    int64_t holds = holds_so_far();
    w.start();
    // The engine looks before it claims: once it has held, the message has not been claimed.
    REQUIRE(wait_until([&] { return holds_so_far() > holds; }));
    CHECK(w.status(id) == "queued");
    CHECK(w.receiver.messages().empty());
    w.calm();
    bool delivered = wait_until([&] { return w.status(id) == "delivered"; });
    INFO("the recipient at the last look: " << w.last_seen);
    REQUIRE(delivered);
    CHECK(w.receiver.messages().size() == 1);
}

TEST_CASE("mail waits at most intake_first, however long the intake stays saturated", "[intake][engine]") {
    EngineWorld w(400ms);
    w.saturate();
    int64_t holds = holds_so_far();
    double sent_at = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto id = w.send();
    w.start();
    bool delivered = wait_until([&] { return w.status(id) == "delivered"; });
    INFO("the recipient at the last look: " << w.last_seen);
    REQUIRE(delivered);
    CHECK(holds_so_far() > holds);
    REQUIRE(w.receiver.messages().size() == 1);
    double arrived = w.receiver.messages()[0].envelope.at("received_at").get<double>();
    CHECK(arrived - sent_at >= 0.4);
    CHECK(w.relay->intake().busy_share(IntakeMeter::steady_now_us()) >= 0.99);  // saturated all along
}

TEST_CASE("with CPU to spare, or intake first off, delivery goes on beside a busy intake", "[intake][engine]") {
    bool spare_cpu = GENERATE(true, false);
    EngineWorld w(spare_cpu ? 60s : 0s);
    if (spare_cpu) w.cpu = 0.5;
    w.saturate();
    int64_t holds = holds_so_far();
    auto id = w.send();
    w.start();
    bool delivered = wait_until([&] { return w.status(id) == "delivered"; });
    INFO("the recipient at the last look: " << w.last_seen);
    REQUIRE(delivered);
    CHECK(holds_so_far() == holds);
}
