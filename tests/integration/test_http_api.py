"""`agentrelay serve --http`: the REST API and MCP over Streamable HTTP, with bearer keys."""
import concurrent.futures
import subprocess
import unittest

from harness import BIN, ServeCase, http


class HttpApiTest(ServeCase):

    def auth(self, who):
        return {"Authorization": "Bearer " + who["api_key"]}

    def test_a_burst_of_new_connections_is_accepted(self):
        # cpp-httplib listens with a backlog of 5; serve raises it, or a burst of clients meets
        # SYN cookies and the odd reset.
        out = subprocess.run(["ss", "-Hltn", f"sport = :{self.serve.port}"], capture_output=True,
                             text=True, check=True).stdout.split()
        self.assertGreaterEqual(int(out[2]), 128, out)  # LISTEN Recv-Q Send-Q(=backlog) ...
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(lambda _: http("GET", self.serve.url("/healthz"))[0], range(512)))
        self.assertEqual(statuses, [200] * 512)

    def test_a_second_relay_cannot_take_the_same_port(self):
        p = subprocess.run([BIN, "serve", "--data", self.data.path, "--http", f"127.0.0.1:{self.serve.port}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot listen", p.stderr)

    def test_healthz_and_metrics_need_no_key(self):
        status, _, body = http("GET", self.serve.url("/healthz"))
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        http("POST", self.serve.url("/v1/messages"),
             {"to": "bob@agents.test", "subject": "metrics", "text": "x"}, self.auth(self.alice))
        status, hdrs, text = http("GET", self.serve.url("/metrics"))
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain"))
        self.assertIn("# TYPE agentrelay_http_requests_total counter", text)
        self.assertIn('tool="send_email"', text)

    def test_send_status_inbox_over_rest(self):
        status, _, sent = http("POST", self.serve.url("/v1/messages"),
                               {"to": ["bob@agents.test"], "subject": "rest", "text": "over REST"},
                               self.auth(self.alice))
        self.assertEqual(status, 202, sent)
        self.assertEqual(sent["status"], "queued")
        status, _, st = http("GET", self.serve.url("/v1/messages/" + sent["message_id"]), headers=self.auth(self.alice))
        self.assertEqual(status, 200)
        self.assertEqual(st["status"], "delivered")
        status, _, inbox = http("GET", self.serve.url("/v1/inbox?unread_only=true&limit=50"), headers=self.auth(self.bob))
        self.assertEqual(status, 200)
        ours = [m for m in inbox["messages"] if m["subject"] == "rest"]
        self.assertEqual(len(ours), 1)
        status, _, msg = http("GET", self.serve.url("/v1/inbox/" + ours[0]["id"]), headers=self.auth(self.bob))
        self.assertEqual(status, 200)
        self.assertIn("over REST", msg["text"])
        # Another agent's message is not found, not forbidden: ids reveal nothing.
        status, _, err = http("GET", self.serve.url("/v1/messages/" + sent["message_id"]), headers=self.auth(self.bob))
        self.assertEqual(status, 404)
        self.assertEqual(err["error"]["code"], "not_found")

    def test_errors_are_json_with_fitting_status(self):
        status, hdrs, err = http("POST", self.serve.url("/v1/messages"), {"to": "bob@agents.test"})
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
        self.assertIn("message", err["error"])
        status, _, err = http("POST", self.serve.url("/v1/messages"), raw=b"{oops", headers=self.auth(self.alice))
        self.assertEqual(status, 400)
        status, _, err = http("POST", self.serve.url("/v1/messages"),
                              {"to": "bob@agents.test", "subject": "x\nBcc: a@b.c", "text": "x"}, self.auth(self.alice))
        self.assertEqual(status, 400)
        self.assertEqual(err["error"]["field"], "subject")
        status, _, err = http("GET", self.serve.url("/v1/bounces?limit=abc"), headers=self.auth(self.alice))
        self.assertEqual(status, 400)
        status, _, err = http("GET", self.serve.url("/v1/bounces?cursor=zzz"), headers=self.auth(self.alice))
        self.assertEqual(status, 400)

    def test_bounce_pages_follow_the_cursor(self):
        for i in range(5):
            http("POST", self.serve.url("/v1/messages"),
                 {"to": f"ghost{i}@agents.test", "subject": "x", "text": "x"}, self.auth(self.alice))
        seen, cursor = [], None
        while True:
            q = "/v1/bounces?limit=2" + (f"&cursor={cursor}" if cursor else "")
            status, _, page = http("GET", self.serve.url(q), headers=self.auth(self.alice))
            self.assertEqual(status, 200)
            self.assertLessEqual(len(page["bounces"]), 2)
            seen += page["bounces"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        ghosts = {b["recipient"] for b in seen if b["recipient"].startswith("ghost")}
        self.assertEqual(ghosts, {f"ghost{i}@agents.test" for i in range(5)})

    def test_mcp_over_http(self):
        url = self.serve.url("/mcp")
        hdrs = dict(self.auth(self.alice), Accept="application/json, text/event-stream")
        status, h, body = http("POST", url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}, hdrs)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["protocolVersion"], "2025-11-25")
        session = h.get("Mcp-Session-Id")
        if session:
            hdrs["Mcp-Session-Id"] = session
        hdrs["MCP-Protocol-Version"] = "2025-11-25"
        status, _, body = http("POST", url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, hdrs)
        self.assertEqual(status, 202)
        status, _, body = http("POST", url, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "send_email", "arguments": {"to": "bob@agents.test", "subject": "via mcp http", "text": "x"}}}, hdrs)
        self.assertEqual(status, 200)
        self.assertEqual(body["result"]["structuredContent"]["recipients"][0]["status"], "delivered")
        status, h, _ = http("POST", url, {"jsonrpc": "2.0", "id": 3, "method": "ping"},
                            {"Accept": "application/json, text/event-stream"})
        self.assertEqual(status, 401)
        self.assertIn('realm="agentrelay"', h.get("WWW-Authenticate", ""))
        status, _, _ = http("POST", url, {"jsonrpc": "2.0", "id": 4, "method": "ping"},
                            dict(hdrs, Origin="https://evil.example"))
        self.assertEqual(status, 403)
        # GET opens the session's notification stream (text/event-stream), kept open.
        from http.client import HTTPConnection
        from urllib.parse import urlparse
        u = urlparse(url)
        conn = HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", u.path, headers=hdrs)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        conn.close()


if __name__ == "__main__":
    unittest.main()
