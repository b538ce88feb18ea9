"""The HTTP door's limits and its JSON-RPC batches, through the real listener: answers are never
compressed (whatever Accept-Encoding says), an oversized body is refused with 413 from its headers
(the connection then closes and nothing is queued), a body without Content-Length with 411, a
browser request naming a foreign Host with 403 (DNS rebinding), and MCP 2025-03-26 batches are
answered over HTTP and stdio while later revisions refuse them. Loopback only; no delivery."""
import gzip
from http.client import HTTPConnection
import json
import socket
import time
import unittest
import uuid

from harness import DataDir, McpStdio, Serve, bearer, http

DOMAIN = "agents.test"


def raw_exchange(port, request, timeout=10):
    """Sends raw bytes; returns (everything the server sent until it closed, seconds to close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    start = time.monotonic()
    s.sendall(request)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return data, time.monotonic() - start


class HttpDoorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.alice = cls.data.create_agent("alice")
        # A 1 MiB message limit makes the body limit small enough to cross in a test.
        cls.config = cls.data.path + "/door.json"
        with open(cls.config, "w") as f:
            json.dump({"max_message_bytes": 1 << 20, "http_hosts": ["relay.example.net"]}, f)
        cls.serve = Serve(cls.data, ["--config", cls.config, "--http-host", "mcp.example.org",
                                     "--route", "*=127.0.0.1:9"])

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()

    def queued_count(self):
        n, after = 0, ""
        while True:
            status, _, body = http("GET", self.serve.url("/v1/events?types=message.queued&limit=100" + after),
                                   headers=bearer(self.alice))
            self.assertEqual(status, 200, body)
            n += len(body["events"])
            if not body.get("next_cursor"):
                return n
            after = "&after=" + body["next_cursor"]

    def conn(self):
        return HTTPConnection("127.0.0.1", self.serve.port, timeout=10)

    def test_answers_are_not_compressed(self):
        for path, method, body in [("/v1/messages", "POST",
                                    {"to": ["x@remote.test"], "subject": "gz", "text": "hi"}),
                                   ("/v1/events", "GET", None), ("/healthz", "GET", None),
                                   ("/metrics", "GET", None)]:
            c = self.conn()
            headers = {"Accept-Encoding": "gzip, deflate, br", **bearer(self.alice)}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=payload, headers=headers)
            r = c.getresponse()
            raw = r.read()
            self.assertIn(r.status, (200, 202), raw)
            self.assertIsNone(r.getheader("Content-Encoding"), path)
            if path != "/metrics":
                json.loads(raw)  # plain JSON, not gzip
            c.close()
        c = self.conn()
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}}
        c.request("POST", "/mcp", body=json.dumps(init),
                  headers={"Accept-Encoding": "gzip", "Content-Type": "application/json",
                           "Accept": "application/json, text/event-stream", **bearer(self.alice)})
        r = c.getresponse()
        raw = r.read()
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(json.loads(raw)["result"]["protocolVersion"], "2025-11-25")
        with self.assertRaises(OSError):
            gzip.decompress(raw)

    def test_oversized_body_is_refused_from_its_headers(self):
        before = self.queued_count()
        limit = None
        for path in ("/v1/messages", "/mcp"):
            # Headers only: the 400 MB body is never sent, so an answer proves it was not awaited.
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Authorization: Bearer {self.alice['api_key']}\r\nContent-Length: 400000000\r\n\r\n")
            # A request hidden where the body should be must never be served as the next one.
            smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            data, seconds = raw_exchange(self.serve.port, head.encode() + smuggled)
            self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
            self.assertLess(seconds, 5, "the connection was not closed after the 413")
            self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
            body = json.loads(data.split(b"\r\n\r\n", 1)[1])
            message = body["error"]["message"]
            self.assertIn("Payload Too Large", message)
            limit = int(message.split("at most ")[1].split()[0])
        # The limit follows max_message_bytes (1 MiB here, base64 and JSON room on top).
        self.assertGreater(limit, 1 << 20)
        self.assertLess(limit, 3 << 20)
        # A body just over the limit, sent whole through a normal client: 413 too.
        big = json.dumps({"to": ["x@remote.test"], "subject": "big", "text": "a" * (limit + 10)})
        status, _, answer = http("POST", self.serve.url("/v1/messages"), raw=big.encode(), headers=bearer(self.alice))
        self.assertEqual(status, 413, answer)
        self.assertEqual(self.queued_count(), before)

    def test_body_without_length_is_refused(self):
        chunked = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   f"Authorization: Bearer {self.alice['api_key']}\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\n{\"a\":\r\n0\r\n\r\n").encode()
        data, seconds = raw_exchange(self.serve.port, chunked)
        self.assertTrue(data.startswith(b"HTTP/1.1 411 "), data)
        self.assertLess(seconds, 5)
        data, _ = raw_exchange(self.serve.port, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 411 "), data)
        self.assertEqual(json.loads(data.split(b"\r\n\r\n", 1)[1])["jsonrpc"], "2.0")

    def test_browser_requests_must_name_this_server(self):
        origin = {"Origin": f"http://localhost:{self.serve.port}"}
        for host, want in [("evil.example", 403), (f"rebind.attacker.test:{self.serve.port}", 403),
                           (f"127.0.0.1:{self.serve.port}", 200), (f"localhost:{self.serve.port}", 200),
                           (f"[::1]:{self.serve.port}", 200), ("relay.example.net", 200),
                           (f"MCP.example.org:{self.serve.port}", 200)]:
            c = self.conn()
            c.putrequest("GET", "/v1/events", skip_host=True)
            c.putheader("Host", host)
            for k, v in {**origin, **bearer(self.alice)}.items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            raw = r.read()
            self.assertEqual(r.status, want, (host, raw))
            if want == 403:
                self.assertIn("Host", json.loads(raw)["error"]["message"])
            c.close()
        # Without Origin (not a browser) the Host is not checked: curl, SDKs, proxies.
        c = self.conn()
        c.putrequest("GET", "/healthz", skip_host=True)
        c.putheader("Host", "anything.example")
        c.endheaders()
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def mcp_post(self, body, session=None, version=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   **bearer(self.alice)}
        if session:
            headers["Mcp-Session-Id"] = session
        if version:
            headers["MCP-Protocol-Version"] = version
        return http("POST", self.serve.url("/mcp"), raw=json.dumps(body).encode(), headers=headers)

    def http_session(self, version):
        status, hdrs, body = self.mcp_post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                            "params": {"protocolVersion": version, "capabilities": {},
                                                       "clientInfo": {"name": "t", "version": "1"}}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["protocolVersion"], version)
        return hdrs["Mcp-Session-Id"]

    def test_batches_over_http(self):
        sid = self.http_session("2025-03-26")
        tag = uuid.uuid4().hex[:8]
        batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"},
                 {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
                 {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                  "params": {"name": "send_email",
                             "arguments": {"to": ["y@remote.test"], "subject": "batch " + tag, "text": "hi"}}},
                 {"jsonrpc": "2.0", "id": 8, "method": "no/such"},
                 {"jsonrpc": "2.0", "id": 9, "method": "initialize", "params": {"protocolVersion": "2025-03-26"}},
                 5]
        status, _, body = self.mcp_post(batch, sid, "2025-03-26")
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body, list)
        self.assertEqual(len(body), 5, body)  # the notification gets no response
        by_id = {json.dumps(r.get("id")): r for r in body}
        self.assertIn("send_email", [t["name"] for t in by_id['"a"']["result"]["tools"]])
        self.assertTrue(by_id["7"]["result"]["structuredContent"]["message_id"])
        self.assertEqual(by_id["8"]["error"]["code"], -32601)
        self.assertEqual(by_id["9"]["error"]["code"], -32600)
        self.assertEqual(by_id["null"]["error"]["code"], -32600)  # the element 5
        # Notifications only: 202 and no body.
        status, _, body = self.mcp_post([{"jsonrpc": "2.0", "method": "notifications/initialized"}], sid, "2025-03-26")
        self.assertEqual(status, 202, body)
        status, _, body = self.mcp_post([], sid, "2025-03-26")
        self.assertEqual(status, 400, body)
        # Later revisions removed batches: refused whole, nothing in them done.
        for version in ("2025-06-18", "2025-11-25"):
            sid2 = self.http_session(version)
            before = self.queued_count()
            status, _, body = self.mcp_post([{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                              "params": {"name": "send_email",
                                                         "arguments": {"to": ["z@remote.test"], "subject": "no",
                                                                       "text": "no"}}}], sid2, version)
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"]["code"], -32600)
            self.assertIn("batch", body["error"]["message"])
            self.assertEqual(self.queued_count(), before)

    def test_batches_over_stdio(self):
        for version, accepted in (("2025-03-26", True), ("2025-11-25", False)):
            mcp = McpStdio(self.data, api_key=self.alice["api_key"])
            try:
                mcp.initialize(version)
                mcp.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
                          {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}])
                answer = mcp.read()
                if accepted:
                    self.assertEqual([r["id"] for r in answer], [1, 2], answer)
                    self.assertEqual(answer[0]["result"], {})
                else:
                    self.assertIsInstance(answer, dict)
                    self.assertEqual(answer["error"]["code"], -32600)
                    self.assertIn("2025-11-25", answer["error"]["message"])
                # The process still answers single messages afterwards.
                self.assertEqual(mcp.request("ping")["result"], {})
            finally:
                self.assertEqual(mcp.close(), 0)


if __name__ == "__main__":
    unittest.main()
