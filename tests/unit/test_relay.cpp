#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "relay/relay.h"
#include "mime/parse.h"
#include "store/control_store.h"
#include "temp_dir.h"

using namespace ar;

namespace {

class FixedClock final : public Clock {
  public:
    SysTime now() const override { return from_ms(ms); }
    int64_t ms = 1'800'000'000'000;
};

struct World {
    TempDir dir;
    FixedClock clock;
    std::unique_ptr<store::DataDir> data;
    std::unique_ptr<Relay> relay;
    store::AgentRecord alice, bob;
    World() {
        data = store::DataDir::create(dir.path, "agents.test").value();
        relay = std::make_unique<Relay>(*data, clock);
        alice = *data->control().create_agent("alice", "alice@agents.test", store::hash_api_key("ka"), 1);
        bob = *data->control().create_agent("bob", "bob@agents.test", store::hash_api_key("kb"), 1);
    }
};

SendRequest simple(std::vector<std::string> to, std::string subject = "hello") {
    SendRequest r;
    r.to = std::move(to);
    r.subject = std::move(subject);
    r.text = "body";
    return r;
}

}  // namespace

TEST_CASE("API keys authenticate their own agent only", "[relay]") {
    World w;
    CHECK(w.relay->authenticate("ka")->name == "alice");
    CHECK(w.relay->authenticate("kb")->name == "bob");
    CHECK_FALSE(w.relay->authenticate("kc"));
    CHECK_FALSE(w.relay->authenticate(""));
}

TEST_CASE("local mail is delivered at once into the recipient's inbox", "[relay]") {
    World w;
    auto sent = w.relay->send(w.alice, simple({"Bob <bob@agents.test>"}, "Grüße"));
    REQUIRE(sent);
    REQUIRE(sent->recipients.size() == 1);
    CHECK(sent->recipients[0].status == "delivered");
    auto inbox = w.relay->inbox(w.bob, true, 10, std::nullopt);
    REQUIRE(inbox);
    REQUIRE(inbox->messages.size() == 1);
    CHECK(inbox->messages[0].subject == "Grüße");
    auto msg = w.relay->read(w.bob, inbox->messages[0].id, false);
    REQUIRE(msg);
    CHECK(msg->text.find("body") != std::string::npos);
    // An agent of this relay sent it: From is verified without any DNS check.
    auto auth = nlohmann::json::parse(msg->record.authentication);
    CHECK(auth["from_verified"] == true);
    CHECK(auth["local"] == true);
    CHECK(auth["summary"] == "sent by agent alice of this relay");
    // Read: no longer unread.
    CHECK(w.relay->inbox(w.bob, true, 10, std::nullopt)->messages.empty());
}

TEST_CASE("a subaddress is its agent's (RFC 5233)", "[relay]") {
    World w;
    CHECK(w.relay->local_agent_of("Bob+News@Agents.Test") == "bob");
    CHECK(w.relay->local_agent_of("bob@agents.test") == "bob");
    CHECK_FALSE(w.relay->local_agent_of("bob+x@other.test"));
    auto sent = w.relay->send(w.alice, simple({"bob+receipts@agents.test"}, "tagged"));
    REQUIRE(sent);
    CHECK(sent->recipients[0].status == "delivered");
    CHECK(w.relay->inbox(w.bob, true, 10, std::nullopt)->messages.at(0).subject == "tagged");
}

TEST_CASE("an unknown local agent bounces 5.1.1 and is suppressed", "[relay]") {
    World w;
    auto sent = w.relay->send(w.alice, simple({"carol@agents.test"}));
    REQUIRE(sent);
    CHECK(sent->recipients[0].status == "bounced");
    auto b = w.relay->bounces(w.alice, std::nullopt, 10, std::nullopt);
    REQUIRE(b);
    REQUIRE(b->bounces.size() == 1);
    CHECK(b->bounces[0].enhanced_code == "5.1.1");
    auto again = w.relay->send(w.alice, simple({"carol@agents.test"}));
    CHECK(again->recipients[0].status == "suppressed");
}

TEST_CASE("agents are isolated: another agent's ids read as not found", "[relay]") {
    World w;
    auto sent = w.relay->send(w.alice, simple({"bob@agents.test"}));
    REQUIRE(sent);
    auto mine = w.relay->status(w.alice, sent->message_id);
    REQUIRE(mine);
    auto theirs = w.relay->status(w.bob, sent->message_id);
    REQUIRE_FALSE(theirs);
    CHECK(theirs.error().code == kErrNotFound);
    auto inbox = w.relay->inbox(w.bob, false, 10, std::nullopt);
    auto id = inbox->messages.at(0).id;
    auto read = w.relay->read(w.alice, id, false);
    REQUIRE_FALSE(read);
    CHECK(read.error().code == kErrNotFound);
}

TEST_CASE("bad input is refused with the field named and nothing stored", "[relay]") {
    World w;
    struct Case {
        SendRequest req;
        std::string field;
    };
    std::vector<Case> cases;
    cases.push_back({simple({"not an address"}), "to[0]"});
    auto inj = simple({"bob@agents.test"}, "hi\r\nBcc: victim@example.com");
    cases.push_back({inj, "subject"});
    auto hdr = simple({"bob@agents.test"});
    hdr.headers = {{"From", "ceo@bank.test"}};
    cases.push_back({hdr, "headers.From"});
    auto hdr2 = simple({"bob@agents.test"});
    hdr2.headers = {{"X-Tag", "a\r\nBcc: x@y.test"}};
    cases.push_back({hdr2, "headers.X-Tag"});
    auto empty = simple({"bob@agents.test"});
    empty.text.reset();
    cases.push_back({empty, "text"});
    auto many = simple({});
    for (int i = 0; i < 51; ++i) many.to.push_back("r" + std::to_string(i) + "@example.test");
    cases.push_back({many, "to"});
    auto att = simple({"bob@agents.test"});
    att.attachments.push_back({"a.bin", "application/octet-stream", "not*base64"});
    cases.push_back({att, "attachments[0].content_base64"});
    auto irt = simple({"bob@agents.test"});
    irt.in_reply_to = "<no closing";
    cases.push_back({irt, "in_reply_to"});
    for (const auto& c : cases) {
        auto r = w.relay->send(w.alice, c.req);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == kErrInvalid);
        CHECK(r.error().field == c.field);
        CHECK_FALSE(r.error().message.empty());
    }
    CHECK(w.relay->inbox(w.bob, false, 10, std::nullopt)->messages.empty());
    CHECK(*(*w.data->agent_store("alice"))->count_by_status("queued") == 0);
}

TEST_CASE("the composed message carries Bcc only in the envelope", "[relay]") {
    World w;
    auto req = simple({"bob@agents.test"});
    req.bcc = {"secret@remote.test"};
    auto sent = w.relay->send(w.alice, req);
    REQUIRE(sent);
    CHECK(sent->recipients.size() == 2);
    auto stored = (*w.data->agent_store("alice"))->stored_message(sent->message_id);
    REQUIRE(stored);
    CHECK(stored->raw.find("secret@remote.test") == std::string::npos);
    auto parsed = mime::parse_message(stored->raw);
    REQUIRE(parsed);
    CHECK(parsed->from == "alice@agents.test");
    CHECK(parsed->message_id == "<" + sent->message_id + "@agents.test>");
    CHECK_FALSE(parsed->date.empty());
}

TEST_CASE("a reply threads with the message it answers", "[relay]") {
    World w;
    auto first = w.relay->send(w.alice, simple({"bob@agents.test"}, "question"));
    REQUIRE(first);
    auto bob_inbox = w.relay->inbox(w.bob, false, 10, std::nullopt);
    auto original = bob_inbox->messages.at(0);
    auto reply = simple({"alice@agents.test"}, "Re: question");
    reply.in_reply_to = original.message_id;
    REQUIRE(w.relay->send(w.bob, reply));
    auto alice_inbox = w.relay->inbox(w.alice, false, 10, std::nullopt);
    CHECK(alice_inbox->messages.at(0).thread_id == original.thread_id);
}
