"""MCP over stdio, end to end: the handshake, every tool, errors, isolation between agents."""
import json
import unittest

from harness import DataDir, McpStdio


class McpStdioTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")

    @classmethod
    def tearDownClass(cls):
        cls.data.close()

    def setUp(self):
        self.mcp = McpStdio(self.data, api_key=self.alice["api_key"])

    def tearDown(self):
        self.assertEqual(self.mcp.close(), 0, self.mcp.stderr_text())

    def test_handshake_and_tools(self):
        r = self.mcp.initialize()["result"]
        self.assertEqual(r["protocolVersion"], "2025-11-25")
        self.assertEqual(r["serverInfo"]["name"], "agentrelay")
        self.assertIn("tools", r["capabilities"])
        self.assertEqual(self.mcp.request("ping")["result"], {})
        tools = self.mcp.request("tools/list")["result"]["tools"]
        names = {t["name"] for t in tools}
        self.assertTrue({"send_email", "check_status", "list_bounces", "list_messages",
                         "read_message", "wait_for_message"} <= names, names)
        for t in tools:
            self.assertEqual(t["inputSchema"]["type"], "object", t["name"])
            self.assertEqual(t["outputSchema"]["type"], "object", t["name"])

    def test_older_revisions_are_echoed_and_unknown_ones_get_the_latest(self):
        self.assertEqual(self.mcp.initialize("2025-03-26")["result"]["protocolVersion"], "2025-03-26")
        other = McpStdio(self.data, api_key=self.alice["api_key"])
        try:
            self.assertEqual(other.initialize("1999-01-01")["result"]["protocolVersion"], "2025-11-25")
        finally:
            self.assertEqual(other.close(), 0)

    def test_send_to_a_local_agent_then_read_it(self):
        self.mcp.initialize()
        sent = self.mcp.call("send_email", {"to": "bob@agents.test", "subject": "Grüße from alice",
                                            "text": "Hello Bob,\nhow are you?", "html": "<p>Hello <b>Bob</b></p>"})
        self.assertFalse(sent.get("isError"), sent)
        out = sent["structuredContent"]
        self.assertEqual(json.loads(sent["content"][0]["text"]), out)
        self.assertEqual(out["status"], "queued")
        self.assertEqual(out["recipients"], [{"address": "bob@agents.test", "status": "delivered"}])
        status = self.mcp.call("check_status", {"message_id": out["message_id"]})["structuredContent"]
        self.assertEqual(status["status"], "delivered")
        self.assertEqual(status["recipients"][0]["status"], "delivered")
        self.assertTrue(any(e["type"] == "delivered" for e in status["events"]))

        bob = McpStdio(self.data, agent="bob")
        try:
            bob.initialize()
            listed = bob.call("list_messages", {"unread_only": True})["structuredContent"]["messages"]
            mine = [m for m in listed if m["subject"] == "Grüße from alice"]
            self.assertEqual(len(mine), 1, listed)
            self.assertIn("alice@agents.test", mine[0]["from"])
            self.assertTrue(mine[0]["unread"])
            msg = bob.call("read_message", {"id": mine[0]["id"]})["structuredContent"]
            self.assertIn("how are you?", msg["text"])
            self.assertIn("<b>Bob</b>", msg["html"])
            self.assertEqual(msg["thread_id"], mine[0]["thread_id"])
            # Bob's reply threads with the original.
            reply = bob.call("send_email", {"to": "alice@agents.test", "subject": "Re: Grüße",
                                            "text": "fine", "in_reply_to": msg["message_id"]})
            self.assertFalse(reply.get("isError"), reply)
            unread = bob.call("list_messages", {"unread_only": True})["structuredContent"]["messages"]
            self.assertFalse(any(m["id"] == mine[0]["id"] for m in unread))
        finally:
            self.assertEqual(bob.close(), 0)
        inbox = self.mcp.call("list_messages", {})["structuredContent"]["messages"]
        answer = [m for m in inbox if m["subject"] == "Re: Grüße"]
        self.assertEqual(len(answer), 1)
        self.assertEqual(answer[0]["thread_id"], mine[0]["thread_id"])

    def test_unknown_local_address_bounces_5_1_1(self):
        self.mcp.initialize()
        out = self.mcp.call("send_email", {"to": ["nobody@agents.test"], "subject": "x", "text": "x"})
        self.assertEqual(out["structuredContent"]["recipients"][0]["status"], "bounced")
        bounces = self.mcp.call("list_bounces", {})["structuredContent"]["bounces"]
        ours = [b for b in bounces if b["message_id"] == out["structuredContent"]["message_id"]]
        self.assertEqual(len(ours), 1)
        self.assertEqual(ours[0]["enhanced_code"], "5.1.1")
        self.assertEqual(ours[0]["code"], 550)

    def test_bad_arguments_are_tool_errors_naming_the_field(self):
        self.mcp.initialize()
        cases = [
            ({"to": "not-an-address", "subject": "x", "text": "x"}, "to"),
            ({"to": "a@b.test", "subject": "x\r\nBcc: victim@example.com", "text": "x"}, "subject"),
            ({"to": "a@b.test", "subject": "x", "text": "x", "headers": {"From": "ceo@bank.test"}}, "From"),
            ({"to": "a@b.test", "subject": "x"}, "text"),
            ({"subject": "x", "text": "x"}, "to"),
            ({"to": "a@b.test", "subject": "x", "text": "x", "attachments": [
                {"filename": "a.bin", "content_type": "application/octet-stream", "content_base64": "!!!"}]},
             "content_base64"),
            ({"to": [f"r{i}@b.test" for i in range(51)], "subject": "x", "text": "x"}, "recipients"),
        ]
        for args, word in cases:
            r = self.mcp.call("send_email", args)
            self.assertTrue(r.get("isError"), (args, r))
            self.assertIn(word.lower(), r["content"][0]["text"].lower(), (args, r))

    def test_json_rpc_errors(self):
        self.mcp.initialize()
        self.mcp.send_raw("{not json")
        r = self.mcp.read()
        self.assertEqual(r["error"]["code"], -32700)
        self.assertIsNone(r["id"])
        self.assertEqual(self.mcp.request("no/such/method")["error"]["code"], -32601)
        r = self.mcp.request("tools/call", {"name": "launch_rockets", "arguments": {}})
        self.assertEqual(r["error"]["code"], -32602)
        self.mcp.send({"jsonrpc": "2.0", "id": 99})
        self.assertEqual(self.mcp.read()["error"]["code"], -32600)

    def test_another_agents_message_reads_as_not_found(self):
        self.mcp.initialize()
        out = self.mcp.call("send_email", {"to": "bob@agents.test", "subject": "private", "text": "x"})
        mid = out["structuredContent"]["message_id"]
        bob = McpStdio(self.data, api_key=self.bob["api_key"])
        try:
            bob.initialize()
            r = bob.call("check_status", {"message_id": mid})
            self.assertTrue(r.get("isError"))
            self.assertIn("no message", r["content"][0]["text"])
            listed = bob.call("list_bounces", {})["structuredContent"]["bounces"]
            self.assertFalse(any(b["message_id"] == mid for b in listed))
        finally:
            bob.close()

    def test_idempotency_key_sends_once(self):
        self.mcp.initialize()
        args = {"to": "bob@agents.test", "subject": "once", "text": "x", "idempotency_key": "k-123"}
        first = self.mcp.call("send_email", args)["structuredContent"]
        second = self.mcp.call("send_email", args)["structuredContent"]
        self.assertEqual(first["message_id"], second["message_id"])
        bob = McpStdio(self.data, agent="bob")
        try:
            bob.initialize()
            msgs = bob.call("list_messages", {"limit": 100})["structuredContent"]["messages"]
            self.assertEqual(len([m for m in msgs if m["subject"] == "once"]), 1)
        finally:
            bob.close()

    def test_wait_for_message_returns_when_mail_arrives(self):
        self.mcp.initialize()
        bob = McpStdio(self.data, agent="bob")
        try:
            bob.initialize()
            mid = bob.next_id
            bob.next_id += 1
            bob.send({"jsonrpc": "2.0", "id": mid, "method": "tools/call",
                      "params": {"name": "wait_for_message",
                                 "arguments": {"subject_contains": "code", "timeout_seconds": 30}}})
            self.mcp.call("send_email", {"to": "bob@agents.test", "subject": "unrelated", "text": "x"})
            self.mcp.call("send_email", {"to": "bob@agents.test", "subject": "Your code is 123456",
                                         "text": "123456"})
            r = bob.read()
            self.assertEqual(r["id"], mid)
            out = r["result"]["structuredContent"]
            self.assertFalse(out["timed_out"])
            self.assertIn("123456", out["message"]["subject"])
            timed = bob.call("wait_for_message", {"subject_contains": "never", "timeout_seconds": 1})
            self.assertTrue(timed["structuredContent"]["timed_out"])
            self.assertIsNone(timed["structuredContent"]["message"])
        finally:
            bob.close()

    def test_stdout_carries_only_mcp_messages(self):
        self.mcp.initialize()
        self.mcp.call("send_email", {"to": "bob@agents.test", "subject": "x", "text": "x"})
        self.mcp.proc.stdin.close()
        rest = self.mcp.proc.stdout.read().decode()
        for line in rest.splitlines():
            json.loads(line)
        self.assertEqual(self.mcp.proc.wait(timeout=20), 0)


if __name__ == "__main__":
    unittest.main()
