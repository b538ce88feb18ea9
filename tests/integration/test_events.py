"""The agent's event feed: every state change of its mail as a durable, ordered event, read
through REST (GET /v1/events) and the MCP tool list_events. Real delivery on loopback only:
--dns names a local dnsmasq whose MX for remote.test is 127.0.0.1, and --smtp-port points at
an aiosmtpd receiver that refuses unknown...@ (550 5.1.1) and defers defer...@ (451)."""
import json
import unittest
import uuid

from harness import DataDir, Dnsmasq, McpStdio, Receiver, Serve, SseStream, bearer, http, wait_for

DOMAIN = "agents.test"


class EventFeedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1"])
        cls.serve = Serve(cls.data, ["--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port),
                                     "--retry-initial", "1h", "--retry-max", "1h"])

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.receiver.stop()
        cls.data.close()

    def events(self, who, query=""):
        status, _, body = http("GET", self.serve.url("/v1/events" + query), headers=bearer(who))
        self.assertEqual(status, 200, body)
        return body

    def all_events(self, who, query=""):
        """Every event, following next_cursor page by page (2 a page)."""
        out, after = [], None
        while True:
            q = "?limit=2" + (f"&after={after}" if after else "") + query
            page = self.events(who, q)
            out += page["events"]
            after = page.get("next_cursor")
            if not after:
                return out

    def of_message(self, who, message_id):
        return [e for e in self.all_events(who) if e["message_id"] == message_id]

    def test_a_message_s_life_in_events(self):
        tag = uuid.uuid4().hex[:8]
        sent = self.serve.send(self.alice, to=[f"carol-{tag}@remote.test", f"unknown-{tag}@remote.test",
                                               f"defer-{tag}@remote.test", f"bob@{DOMAIN}"],
                               subject="life " + tag, text="hi")
        mid = sent["message_id"]

        def settled():
            evs = self.of_message(self.alice, mid)
            types = sorted(e["type"] for e in evs)
            return evs if len(evs) >= 5 and "message.deferred" in types and "message.bounced" in types else None

        evs = wait_for(settled, timeout=30, what="the message's events")
        by_type = {}
        for e in evs:
            by_type.setdefault(e["type"], []).append(e)
        queued = by_type["message.queued"]
        self.assertEqual(len(queued), 1, evs)
        self.assertEqual(queued[0]["detail"], "life " + tag)
        self.assertEqual(sorted(r["address"] for r in queued[0]["data"]["recipients"]),
                         sorted([f"carol-{tag}@remote.test", f"unknown-{tag}@remote.test",
                                 f"defer-{tag}@remote.test", f"bob@{DOMAIN}"]))
        delivered = {e["recipient"]: e for e in by_type["message.delivered"]}
        self.assertIn(f"carol-{tag}@remote.test", delivered)
        self.assertIn(f"bob@{DOMAIN}", delivered)
        self.assertEqual(delivered[f"carol-{tag}@remote.test"]["data"]["mx_host"], "mx.remote.test")
        self.assertEqual(delivered[f"carol-{tag}@remote.test"]["data"]["code"], 250)
        bounced = by_type["message.bounced"][0]
        self.assertEqual(bounced["recipient"], f"unknown-{tag}@remote.test")
        self.assertEqual(bounced["data"]["enhanced_code"], "5.1.1")
        self.assertEqual(bounced["data"]["bounce_kind"], "hard")
        deferred = by_type["message.deferred"][0]
        self.assertEqual(deferred["recipient"], f"defer-{tag}@remote.test")
        self.assertEqual(deferred["data"]["code"], 451)
        self.assertIn("next_attempt_at", deferred["data"])
        # The queued event comes first; ids order the feed.
        self.assertEqual(evs[0]["type"], "message.queued")
        ids = [int(e["id"][3:]) for e in self.all_events(self.alice)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), len(set(ids)))

        # bob's feed has the arrival, verified (sent by an agent of this relay).
        def arrived():
            got = [e for e in self.all_events(self.bob, "&types=message.received")
                   if e["data"].get("subject") == "life " + tag]
            return got or None

        received = wait_for(arrived, what="bob's message.received")[0]
        self.assertTrue(received["data"]["from_verified"], received)
        self.assertEqual(received["recipient"], f"bob@{DOMAIN}")
        status, _, msg = http("GET", self.serve.url("/v1/inbox/" + received["message_id"]), headers=bearer(self.bob))
        self.assertEqual(status, 200, msg)
        # Agents see only their own events.
        self.assertEqual([e for e in self.all_events(self.bob) if e["message_id"] == mid], [])

        # The bounced address is now suppressed: the next send to it is a message.suppressed event.
        again = self.serve.send(self.alice, to=[f"unknown-{tag}@remote.test"], subject="again " + tag, text="x")
        suppressed = wait_for(lambda: [e for e in self.of_message(self.alice, again["message_id"])
                                       if e["type"] == "message.suppressed"], what="message.suppressed")
        self.assertEqual(suppressed[0]["recipient"], f"unknown-{tag}@remote.test")

    def test_types_filter_and_after(self):
        tag = uuid.uuid4().hex[:8]
        first = self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject="f1 " + tag, text="x")
        wait_for(lambda: self.of_message(self.alice, first["message_id"])[-1]["type"] == "message.delivered",
                 what="the first delivered")
        last = self.events(self.alice, "?types=message.queued,message.delivered&limit=100")["events"]
        self.assertTrue(last)
        self.assertTrue(all(e["type"] in ("message.queued", "message.delivered") for e in last), last)
        mark = self.all_events(self.alice)[-1]["id"]
        second = self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject="f2 " + tag, text="x")
        newer = wait_for(lambda: (lambda evs: evs if len(evs) >= 2 else None)(
            self.events(self.alice, f"?after={mark}&limit=100")["events"]), what="events after the mark")
        self.assertEqual({e["message_id"] for e in newer}, {second["message_id"]})

    def test_bad_arguments_are_400(self):
        for query in ("?types=message.opened", "?after=42", "?after=ev_x", "?limit=0"):
            status, _, body = http("GET", self.serve.url("/v1/events" + query), headers=bearer(self.alice))
            self.assertEqual(status, 400, (query, body))
        status, _, _ = http("GET", self.serve.url("/v1/events"))
        self.assertEqual(status, 401)

    def test_the_event_stream(self):
        from http.client import HTTPConnection

        def open_stream(query="", headers=None):
            conn = HTTPConnection("127.0.0.1", self.serve.port, timeout=30)
            conn.request("GET", "/v1/events/stream" + query, headers={**bearer(self.alice), **(headers or {})})
            return conn, conn.getresponse()

        tag = uuid.uuid4().hex[:8]
        first = self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject="stream-a " + tag, text="x")["message_id"]
        wait_for(lambda: len(self.of_message(self.alice, first)) >= 2, timeout=30, what="the first message's events")
        backlog = [e for e in self.all_events(self.alice)]
        conn, resp = open_stream("?types=message.queued,message.delivered")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        stream = SseStream(resp)
        # Everything so far first (of those types), in order, each with its id and type.
        want = [e for e in backlog if e["type"] in ("message.queued", "message.delivered")]
        for e in want:
            ev = stream.next("the backlog")
            self.assertEqual((ev["id"], ev["event"]), (e["id"], e["type"]))
            self.assertEqual(json.loads(ev["data"]), e)
        # Then what happens, as it happens.
        second = self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject="stream-b " + tag, text="x")["message_id"]
        live = [stream.next("a live event") for _ in range(2)]
        self.assertEqual({json.loads(ev["data"])["message_id"] for ev in live}, {second})
        self.assertEqual(sorted(ev["event"] for ev in live), ["message.delivered", "message.queued"])
        conn.close()
        # Resumed with Last-Event-ID, as a reconnecting EventSource does: only what came after.
        conn, resp = open_stream("?types=message.queued,message.delivered", {"Last-Event-ID": live[0]["id"]})
        resumed = SseStream(resp).next("the resumed stream")
        self.assertEqual(resumed["id"], live[1]["id"])
        conn.close()
        for bad in ("?after=nonsense", "?types=message.nonsense"):
            status, _, body = http("GET", self.serve.url("/v1/events/stream" + bad), headers=bearer(self.alice))
            self.assertEqual(status, 400, (bad, body))
        status, _, _ = http("GET", self.serve.url("/v1/events/stream"))
        self.assertEqual(status, 401)

    def test_list_events_over_mcp_stdio(self):
        tag = uuid.uuid4().hex[:8]
        sent = self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject="mcp " + tag, text="x")
        mcp = McpStdio(self.data, api_key=self.alice["api_key"], extra_args=["--dns", self.dns.server])
        try:
            mcp.initialize()
            names = [t["name"] for t in mcp.request("tools/list")["result"]["tools"]]
            self.assertIn("list_events", names)

            def seen():
                res = mcp.call("list_events", {"types": ["message.queued"], "limit": 100})
                self.assertFalse(res.get("isError"), res)
                evs = res["structuredContent"]["events"]
                return [e for e in evs if e["message_id"] == sent["message_id"]] or None

            evs = wait_for(seen, what="the queued event over MCP")
            self.assertEqual(evs[0]["type"], "message.queued")
            bad = mcp.call("list_events", {"after": "nope"})
            self.assertTrue(bad.get("isError"), bad)
        finally:
            mcp.close()


if __name__ == "__main__":
    unittest.main()
