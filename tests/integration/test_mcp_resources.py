"""The mailbox as MCP resources and the notifications that follow mail, on the wire: over stdio
(`agentrelay mcp`, woken across processes when `serve` stores the mail), over Streamable HTTP
(notifications on the session's GET stream, text/event-stream), and in 2026-07-28 (ttlMs and
cacheScope on every list and read, -32602 for an unknown resource). Mail goes between agents
of the hosted domain: local delivery, no network."""
import json
import time
import unittest
import uuid
from http.client import HTTPConnection

from harness import McpStdio, ServeCase, SseStream, http

DOMAIN = "agents.test"
INBOX = "mailbox://inbox"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}}


class McpResourcesTest(ServeCase):
    AGENTS = ("sender", "alice", "bob")

    def send_to(self, agent, subject):
        return self.serve.send(self.sender, to=[agent["address"]], subject=subject, text="hello " + subject)

    def test_stdio_lists_reads_and_is_told_of_new_mail(self):
        mcp = McpStdio(self.data, api_key=self.alice["api_key"])
        try:
            init = mcp.initialize("2025-11-25")
            self.assertEqual(init["result"]["capabilities"]["resources"], {"subscribe": True, "listChanged": True})
            listed = mcp.request("resources/list")["result"]["resources"]
            self.assertEqual(listed[0]["uri"], INBOX)
            templates = mcp.request("resources/templates/list")["result"]["resourceTemplates"]
            self.assertEqual(templates[0]["uriTemplate"], "mailbox://inbox/{id}")
            self.assertEqual(mcp.request("resources/subscribe", {"uri": INBOX})["result"], {})
            # Any uri may be subscribed to (one that is not the mailbox's never changes);
            # something that is no uri may not.
            self.assertEqual(mcp.request("resources/subscribe", {"uri": "test://elsewhere"})["result"], {})
            self.assertEqual(mcp.request("resources/subscribe", {"uri": "inbox"})["error"]["code"], -32602)

            subject = "res-" + uuid.uuid4().hex[:8]
            self.send_to(self.alice, subject)  # stored by serve: another process
            seen = []
            deadline = time.monotonic() + 20
            while not ({"notifications/resources/updated", "notifications/resources/list_changed"} <= set(seen)):
                self.assertLess(time.monotonic(), deadline, f"notifications so far: {seen}")
                msg = mcp.read()
                self.assertNotIn("id", msg, msg)  # nothing but notifications was asked for
                seen.append(msg["method"])
                if msg["method"] == "notifications/resources/updated":
                    self.assertEqual(msg["params"], {"uri": INBOX})

            inbox = mcp.request("resources/read", {"uri": INBOX})["result"]["contents"][0]
            self.assertEqual(inbox["mimeType"], "application/json")
            mail = [m for m in json.loads(inbox["text"])["messages"] if m["subject"] == subject]
            self.assertEqual(len(mail), 1, inbox)
            uri = "mailbox://inbox/" + mail[0]["id"]
            self.assertIn(uri, [r["uri"] for r in mcp.request("resources/list")["result"]["resources"]])
            one = json.loads(mcp.request("resources/read", {"uri": uri})["result"]["contents"][0]["text"])
            self.assertEqual(one["subject"], subject)
            self.assertIn("hello " + subject, one["text"])
            missing = mcp.request("resources/read", {"uri": "mailbox://inbox/none"})
            self.assertEqual(missing["error"]["code"], -32002)

            # Unsubscribed: the next mail brings list_changed, but no update for the inbox.
            self.assertEqual(mcp.request("resources/unsubscribe", {"uri": INBOX})["result"], {})
            self.send_to(self.alice, "after-" + subject)
            msg = mcp.read()
            self.assertEqual(msg["method"], "notifications/resources/list_changed", msg)
            self.assertEqual(mcp.request("ping")["result"], {})
        finally:
            self.assertEqual(mcp.close(), 0)

    def mcp_post(self, body, sid=None):
        headers = {"Authorization": "Bearer " + self.bob["api_key"], "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-11-25"}
        if sid:
            headers["Mcp-Session-Id"] = sid
        return http("POST", self.serve.url("/mcp"), raw=json.dumps(body).encode(), headers=headers)

    def test_http_notifications_come_on_the_get_stream(self):
        status, hdrs, body = self.mcp_post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                                       "clientInfo": {"name": "t", "version": "1"}}})
        self.assertEqual(status, 200, body)
        sid = hdrs["Mcp-Session-Id"]
        self.assertEqual(self.mcp_post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)[0], 202)
        status, _, body = self.mcp_post({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                                         "params": {"uri": INBOX}}, sid)
        self.assertEqual((status, body["result"]), (200, {}))

        conn = HTTPConnection("127.0.0.1", self.serve.port, timeout=30)
        conn.request("GET", "/mcp", headers={"Authorization": "Bearer " + self.bob["api_key"],
                                             "Accept": "text/event-stream", "Mcp-Session-Id": sid,
                                             "MCP-Protocol-Version": "2025-11-25"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        events = SseStream(resp)
        subject = "sse-" + uuid.uuid4().hex[:8]
        self.send_to(self.bob, subject)
        got = {}
        while len(got) < 2:
            ev = events.json(f"the notifications (got {list(got)})")
            got[ev["method"]] = ev
        self.assertEqual(got["notifications/resources/updated"]["params"], {"uri": INBOX})
        self.assertIn("notifications/resources/list_changed", got)

        # A GET without a session is refused; so is one for another agent's session.
        status, _, _ = http("GET", self.serve.url("/mcp"), headers={"Authorization": "Bearer " + self.bob["api_key"],
                                                                     "Accept": "text/event-stream"})
        self.assertEqual(status, 400)
        status, _, _ = http("GET", self.serve.url("/mcp"), headers={"Authorization": "Bearer " + self.alice["api_key"],
                                                                     "Accept": "text/event-stream", "Mcp-Session-Id": sid})
        self.assertEqual(status, 404)
        # Ending the session ends its stream.
        status, _, _ = http("DELETE", self.serve.url("/mcp"), headers={"Authorization": "Bearer " + self.bob["api_key"],
                                                                        "Mcp-Session-Id": sid})
        self.assertEqual(status, 200)
        while events.next("the end of the GET stream with its session", timeout=10) is not None:
            pass
        conn.close()

    def test_modern_subscriptions_listen(self):
        def listen(notifications, rid="sub-1"):
            body = {"jsonrpc": "2.0", "id": rid, "method": "subscriptions/listen",
                    "params": {"notifications": notifications, "_meta": MODERN_META}}
            conn = HTTPConnection("127.0.0.1", self.serve.port, timeout=30)
            conn.request("POST", "/mcp", body=json.dumps(body),
                         headers={"Authorization": "Bearer " + self.alice["api_key"], "Content-Type": "application/json",
                                  "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                                  "Mcp-Method": "subscriptions/listen"})
            return conn, conn.getresponse()

        conn, resp = listen({"resourcesListChanged": True, "resourceSubscriptions": [INBOX], "toolsListChanged": True})
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        events = SseStream(resp)
        ack = events.json("the acknowledgement")
        self.assertEqual(ack["method"], "notifications/subscriptions/acknowledged")
        self.assertEqual(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "sub-1")
        self.assertEqual(ack["params"]["notifications"], {"resourcesListChanged": True, "resourceSubscriptions": [INBOX]})
        self.send_to(self.alice, "listen-" + uuid.uuid4().hex[:8])
        got = {}
        while len(got) < 2:
            ev = events.json(f"the notifications (got {list(got)})")
            self.assertEqual(ev["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "sub-1", ev)
            got[ev["method"]] = ev
        self.assertEqual(got["notifications/resources/updated"]["params"]["uri"], INBOX)
        self.assertIn("notifications/resources/list_changed", got)
        conn.close()

        # A filter that names what does not exist is refused as a JSON-RPC error, not a stream.
        for bad in ({"resourceSubscriptions": ["not a uri"]}, {"noSuchFilter": True},
                    {"resourcesListChanged": "yes"}):
            conn, resp = listen(bad, rid=7)
            body = json.loads(resp.read())
            self.assertEqual(body["error"]["code"], -32602, (bad, body))
            self.assertEqual(body["id"], 7)
            conn.close()

    def test_modern_listen_over_stdio(self):
        mcp = McpStdio(self.data, api_key=self.bob["api_key"])
        try:
            mcp.send({"jsonrpc": "2.0", "id": "L", "method": "subscriptions/listen",
                      "params": {"notifications": {"resourceSubscriptions": [INBOX]}, "_meta": MODERN_META}})
            ack = mcp.read()
            self.assertEqual(ack["method"], "notifications/subscriptions/acknowledged", ack)
            self.assertEqual(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "L")
            self.send_to(self.bob, "stdio-listen-" + uuid.uuid4().hex[:8])
            note = mcp.read()
            self.assertEqual(note["method"], "notifications/resources/updated", note)
            self.assertEqual(note["params"]["uri"], INBOX)
            self.assertEqual(note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "L")
            # Cancelled: no answer to it (the next message is the answer to a later request), and
            # the next mail brings nothing: the answer after it comes first.
            mcp.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "L"}})
            mcp.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": MODERN_META}})
            self.assertEqual(mcp.read().get("id"), 2)
            self.send_to(self.bob, "stdio-after-" + uuid.uuid4().hex[:8])
            mcp.send({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": MODERN_META}})
            reply = mcp.read()
            self.assertEqual(reply.get("id"), 4, reply)
            mcp.send({"jsonrpc": "2.0", "id": 3, "method": "subscriptions/listen",
                      "params": {"notifications": {"resourceSubscriptions": [42]}, "_meta": MODERN_META}})
            self.assertEqual(mcp.read()["error"]["code"], -32602)
        finally:
            self.assertEqual(mcp.close(), 0)

    def test_modern_era_resources(self):
        def call(method, params):
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": MODERN_META}}
            headers = {"Authorization": "Bearer " + self.alice["api_key"], "Accept": "application/json",
                       "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
            return http("POST", self.serve.url("/mcp"), raw=json.dumps(body).encode(), headers=headers)

        status, _, body = call("server/discover", {})
        self.assertIn("resources", body["result"]["capabilities"])
        for method, params in (("resources/list", {}), ("resources/templates/list", {}),
                               ("resources/read", {"uri": INBOX})):
            status, _, body = call(method, params)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["result"]["resultType"], "complete")
            self.assertEqual(body["result"]["cacheScope"], "private")
            self.assertIsInstance(body["result"]["ttlMs"], int)
        status, _, body = call("resources/read", {"uri": "mailbox://inbox/none"})
        self.assertEqual(body["error"]["code"], -32602, body)
        # No subscribe in this era (subscriptions/listen replaces it).
        status, _, body = call("resources/subscribe", {"uri": INBOX})
        self.assertEqual((status, body["error"]["code"]), (404, -32601))


if __name__ == "__main__":
    unittest.main()
