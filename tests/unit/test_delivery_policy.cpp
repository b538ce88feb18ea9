#include <catch2/catch.hpp>

#include "delivery/config.h"
#include "delivery/engine.h"
#include "delivery/outcome.h"

using namespace ar::delivery;
using ar::smtp::Reply;

TEST_CASE("durations, routes and host:port values are parsed strictly", "[delivery]") {
    CHECK(parse_duration("500ms")->count() == 500);
    CHECK(parse_duration("30s")->count() == 30000);
    CHECK(parse_duration("5m")->count() == 300000);
    CHECK(parse_duration("4h")->count() == 4 * 3600000);
    CHECK(parse_duration("5d")->count() == 5LL * 86400000);
    CHECK_FALSE(parse_duration("5"));
    CHECK_FALSE(parse_duration("fast"));
    CHECK_FALSE(parse_duration("-1s"));
    auto r = parse_route("Example.COM=127.0.0.1:2525");
    REQUIRE(r);
    CHECK(r->domain == "example.com");
    CHECK(r->port == 2525);
    CHECK(parse_route("*=[::1]:25")->host == "::1");
    CHECK_FALSE(parse_route("example.com"));
    CHECK_FALSE(parse_route("example.com=host:99999"));
    DeliveryConfig cfg;
    cfg.routes = {*parse_route("a.test=127.0.0.1:1"), *parse_route("*=127.0.0.1:2")};
    CHECK(cfg.route_for("a.test")->port == 1);
    CHECK(cfg.route_for("b.test")->port == 2);
}

TEST_CASE("delivery runs in the background unless configured to compete with the doors", "[delivery]") {
    DeliveryConfig cfg;
    CHECK(cfg.background_priority);
    REQUIRE(apply_json(cfg, nlohmann::json{{"delivery_priority", "normal"}}));
    CHECK_FALSE(cfg.background_priority);
    REQUIRE(apply_json(cfg, nlohmann::json{{"delivery_priority", "background"}}));
    CHECK(cfg.background_priority);
    auto bad = apply_json(cfg, nlohmann::json{{"delivery_priority", "high"}});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().field == "delivery_priority");
    CHECK(bad.error().message.find("\"background\" or \"normal\"") != std::string::npos);
}

TEST_CASE("retention is 30 days unless configured: 0d keeps everything, less than a day is refused", "[delivery]") {
    using namespace std::chrono;
    DeliveryConfig cfg;
    CHECK(cfg.retention == hours(24 * 30));
    REQUIRE(apply_json(cfg, nlohmann::json{{"retention", "7d"}}));
    CHECK(cfg.retention == hours(24 * 7));
    REQUIRE(apply_json(cfg, nlohmann::json{{"retention", "0d"}}));
    CHECK(cfg.retention.count() == 0);
    auto bad = apply_json(cfg, nlohmann::json{{"retention", "12h"}});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().field == "retention");
    CHECK(bad.error().message.find("at least 1d") != std::string::npos);
    CHECK(cfg.retention.count() == 0);  // unchanged by the refused value
}

TEST_CASE("intake first holds deliveries at most 10 s unless configured; 0s turns it off", "[delivery]") {
    using namespace std::chrono;
    DeliveryConfig cfg;
    CHECK(cfg.intake_first == seconds(10));
    REQUIRE(apply_json(cfg, nlohmann::json{{"intake_first", "2s"}}));
    CHECK(cfg.intake_first == seconds(2));
    REQUIRE(apply_json(cfg, nlohmann::json{{"intake_first", "0s"}}));
    CHECK(cfg.intake_first.count() == 0);
    auto bad = apply_json(cfg, nlohmann::json{{"intake_first", "soon"}});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().field == "intake_first");
    CHECK(bad.error().message.find("not a duration") != std::string::npos);
}

TEST_CASE("backoff doubles from retry-initial up to retry-max, with jitter", "[delivery]") {
    DeliveryConfig cfg;
    cfg.retry_initial = std::chrono::seconds(60);
    cfg.retry_max = std::chrono::seconds(3600);
    std::mt19937 rng(7);
    for (int attempt = 1; attempt <= 12; ++attempt) {
        int64_t d = backoff_ms(attempt, cfg, rng);
        double nominal = std::min(60000.0 * (1 << (attempt - 1)), 3600000.0);
        CHECK(d >= std::max(60000.0, nominal * 0.8) - 1);
        CHECK(d <= std::min(3600000.0, nominal * 1.2) + 1);
    }
}

TEST_CASE("replies decide delivered, deferred, bounced and expired", "[delivery]") {
    DeliveryConfig cfg;
    cfg.retry_initial = std::chrono::seconds(1);
    cfg.retry_max = std::chrono::seconds(10);
    cfg.max_age = std::chrono::seconds(100);
    std::mt19937 rng(1);
    ar::store::DueRecipient r;
    r.queued_at = 0;
    r.attempts = 0;
    CHECK(classify(Reply{250, "2.0.0", {"ok"}}, r, 1000, cfg, rng).kind == OutcomeKind::Delivered);
    auto d = classify(Reply{451, "4.3.0", {"later"}}, r, 1000, cfg, rng);
    CHECK(d.kind == OutcomeKind::Deferred);
    CHECK(d.next_attempt_at > 1000);
    CHECK(classify(Reply{550, "5.1.1", {"no"}}, r, 1000, cfg, rng).kind == OutcomeKind::Bounced);
    CHECK(classify(Reply{451, "4.3.0", {"later"}}, r, 100000, cfg, rng).kind == OutcomeKind::Expired);
    // The last retry is never scheduled past the maximum age.
    CHECK(classify(Reply{451, "4.3.0", {"later"}}, r, 99500, cfg, rng).next_attempt_at == 100000);

    auto bounced = to_update({OutcomeKind::Bounced}, r, "m_1", Reply{550, "5.1.1", {"user unknown"}}, "mx", "mx", 5);
    CHECK(bounced.suppress);
    CHECK(*bounced.bounce_kind == "hard");
    auto policy = to_update({OutcomeKind::Bounced}, r, "m_1", Reply{550, "5.7.1", {"spam"}}, "mx", "mx", 5);
    CHECK_FALSE(policy.suppress);
    auto expired = to_update({OutcomeKind::Expired}, r, "m_1", Reply{451, "4.3.0", {"later"}}, "mx", "mx", 5);
    CHECK(expired.status == "bounced");
    CHECK(expired.enhanced_code == "4.4.7");
    CHECK(*expired.bounce_kind == "expired");
}

TEST_CASE("a transaction's replies map to each recipient", "[delivery]") {
    ar::smtp::TransactionResult t;
    t.mail_reply = Reply{250, "2.1.0", {"ok"}};
    t.recipient_replies = {Reply{250, "2.1.5", {"ok"}}, Reply{550, "5.1.1", {"unknown"}}, std::nullopt};
    t.data_reply = Reply{250, "2.0.0", {"queued"}};
    CHECK(reply_for_recipient(t, 0).code == 250);
    CHECK(reply_for_recipient(t, 1).code == 550);
    CHECK(reply_for_recipient(t, 2).code == 451);
    t.local_failure = Reply{451, "4.4.2", {"connection lost"}};
    CHECK(reply_for_recipient(t, 0).code == 451);
}

TEST_CASE("return paths carry the message and agent under a MAC", "[delivery]") {
    auto rp = Engine::return_path("s3cret", "agents.test", "bot.eu", "m_0123");
    CHECK(rp.rfind("bounces+m_0123=bot.eu=", 0) == 0);
    CHECK(rp.size() > rp.find('@'));
    auto local = rp.substr(0, rp.find('@'));
    auto parsed = Engine::parse_return_path("s3cret", local);
    REQUIRE(parsed);
    CHECK(parsed->first == "bot.eu");
    CHECK(parsed->second == "m_0123");
    CHECK_FALSE(Engine::parse_return_path("other", local));
    std::string forged = local;
    forged.back() = forged.back() == '0' ? '1' : '0';
    CHECK_FALSE(Engine::parse_return_path("s3cret", forged));
    CHECK_FALSE(Engine::parse_return_path("s3cret", "bot"));
}
