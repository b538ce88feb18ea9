"""MCP edge cases by hand, raw HTTP and raw stdio lines: what the SDK clients never send but a
server must still answer right (status codes, headers, sessions, the 2026-07-28 rules)."""
import unittest

from harness import DataDir, McpStdio, Serve, http

MODERN = "2026-07-28"
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPS = "io.modelcontextprotocol/clientCapabilities"
ACCEPT = "application/json, text/event-stream"


def modern_params(version=MODERN, **params):
    return dict(params, _meta={META_VERSION: version, META_CAPS: {}})


class McpHttpEdgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")
        cls.serve = Serve(cls.data)
        cls.url = cls.serve.url("/mcp")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()

    def headers(self, who=None, **extra):
        h = {"Accept": ACCEPT, "Authorization": "Bearer " + (who or self.alice)["api_key"]}
        h.update({k.replace("_", "-"): v for k, v in extra.items()})
        return h

    def open_session(self, who=None):
        """initialize + notifications/initialized; returns headers carrying the session."""
        status, h, body = http("POST", self.url, {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "edge", "version": "1"}}}, self.headers(who))
        self.assertEqual(status, 200, body)
        self.assertIn("Mcp-Session-Id", h, "initialize issued no session id")
        hdrs = self.headers(who, Mcp_Session_Id=h["Mcp-Session-Id"], MCP_Protocol_Version="2025-11-25")
        status, _, body = http("POST", self.url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, hdrs)
        self.assertEqual(status, 202, body)
        return hdrs

    def ping(self, hdrs, rid=7):
        return http("POST", self.url, {"jsonrpc": "2.0", "id": rid, "method": "ping"}, hdrs)

    # --- handshake era -------------------------------------------------------------------

    def test_a_session_answers_then_delete_ends_it(self):
        hdrs = self.open_session()
        status, _, body = self.ping(hdrs)
        self.assertEqual((status, body["result"]), (200, {}))
        status, _, _ = http("DELETE", self.url, headers=hdrs)
        self.assertEqual(status, 200)
        status, _, body = self.ping(hdrs)
        self.assertEqual(status, 404, body)
        self.assertIn("error", body)
        status, _, _ = http("DELETE", self.url, headers=hdrs)
        self.assertEqual(status, 404)

    def test_unknown_or_missing_session_id(self):
        hdrs = self.open_session()
        status, _, body = self.ping(dict(hdrs, **{"Mcp-Session-Id": "0" * 32}))
        self.assertEqual(status, 404, body)
        del hdrs["Mcp-Session-Id"]
        status, _, body = self.ping(hdrs)
        self.assertEqual(status, 400, body)

    def test_another_agents_session_reads_as_unknown(self):
        hdrs = self.open_session(self.alice)
        stolen = dict(hdrs, Authorization="Bearer " + self.bob["api_key"])
        status, _, _ = self.ping(stolen)
        self.assertEqual(status, 404)
        status, _, _ = http("DELETE", self.url, headers=stolen)
        self.assertEqual(status, 404)
        status, _, _ = self.ping(hdrs)
        self.assertEqual(status, 200, "bob's DELETE ended alice's session")

    def test_unsupported_protocol_version_header_is_400(self):
        hdrs = self.open_session()
        status, _, body = self.ping(dict(hdrs, **{"MCP-Protocol-Version": "1999-01-01"}))
        self.assertEqual(status, 400, body)
        self.assertIn("1999-01-01", body["error"]["message"])
        # Absent means 2025-03-26, which is supported.
        del hdrs["MCP-Protocol-Version"]
        self.assertEqual(self.ping(hdrs)[0], 200)

    def test_notifications_and_responses_get_202_and_no_body(self):
        hdrs = self.open_session()
        for message in ({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": 3, "reason": "edge"}},
                        {"jsonrpc": "2.0", "id": 5, "result": {}}):
            status, h, body = http("POST", self.url, message, hdrs)
            self.assertEqual(status, 202, message)
            self.assertIsNone(body, message)
            self.assertIn(h.get("Content-Length", "0"), ("0", None))

    def test_get_opens_the_session_s_notification_stream(self):
        from http.client import HTTPConnection
        from urllib.parse import urlparse
        hdrs = self.open_session()
        u = urlparse(self.url)
        conn = HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", u.path, headers=dict(hdrs, Accept="text/event-stream"))
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        conn.close()
        # Not an event-stream client: 406; no session: 400.
        status, _, _ = http("GET", self.url, headers=dict(hdrs, Accept="application/json"))
        self.assertEqual(status, 406)
        no_session = {k: v for k, v in hdrs.items() if k != "Mcp-Session-Id"}
        status, _, _ = http("GET", self.url, headers=dict(no_session, Accept="text/event-stream"))
        self.assertEqual(status, 400)

    def test_foreign_origin_is_403_and_local_ones_pass(self):
        status, _, _ = self.ping(self.headers(Origin="https://evil.example"))
        self.assertEqual(status, 403)
        status, _, _ = self.ping(self.headers(Origin="http://localhost.evil.example"))
        self.assertEqual(status, 403)
        status, _, body = http("POST", self.url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e", "version": "1"}}},
            self.headers(Origin=f"http://127.0.0.1:{self.serve.port}"))
        self.assertEqual(status, 200, body)

    def test_missing_or_wrong_key_is_401_with_the_realm(self):
        for hdrs in ({"Accept": ACCEPT}, {"Accept": ACCEPT, "Authorization": "Bearer wrong"},
                     {"Accept": ACCEPT, "Authorization": "Basic YTpi"}):
            for method in ("POST", "GET", "DELETE"):
                body = {"jsonrpc": "2.0", "id": 1, "method": "ping"} if method == "POST" else None
                status, h, _ = http(method, self.url, body, hdrs)
                self.assertEqual(status, 401, (method, hdrs))
                self.assertTrue(h.get("WWW-Authenticate", "").startswith('Bearer realm="agentrelay"'),
                                (method, hdrs, h.get("WWW-Authenticate")))

    # --- 2026-07-28 ----------------------------------------------------------------------

    def modern(self, method, params, rid=1, **extra):
        hdrs = dict(self.headers(), **{"MCP-Protocol-Version": MODERN, "Mcp-Method": method})
        hdrs.update(extra)
        return http("POST", self.url, {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, hdrs)

    def test_modern_discover_and_list_are_stateless_and_cacheable(self):
        status, h, body = self.modern("server/discover", modern_params())
        self.assertEqual(status, 200, body)
        self.assertNotIn("Mcp-Session-Id", h)
        result = body["result"]
        self.assertIn(MODERN, result["supportedVersions"])
        self.assertEqual(result["resultType"], "complete")
        status, h, body = self.modern("tools/list", modern_params(),
                                      **{"Mcp-Session-Id": "stray-id-from-an-old-client"})
        self.assertEqual(status, 200, body)
        self.assertNotIn("Mcp-Session-Id", h)
        result = body["result"]
        self.assertEqual(result["resultType"], "complete")
        self.assertIsInstance(result["ttlMs"], int)
        self.assertIn(result["cacheScope"], ("public", "private"))

    def test_modern_tool_call_needs_matching_headers(self):
        params = modern_params(name="list_bounces", arguments={})
        status, _, body = self.modern("tools/call", params, **{"Mcp-Name": "list_bounces"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["resultType"], "complete")
        self.assertIn("bounces", body["result"]["structuredContent"])
        status, _, body = self.modern("tools/call", params, **{"Mcp-Name": "=?base64?bGlzdF9ib3VuY2Vz?="})
        self.assertEqual(status, 200, body)
        for extra in ({}, {"Mcp-Name": "send_email"}, {"Mcp-Name": "list_bounces", "Mcp-Method": "tools/list"},
                      {"Mcp-Name": "list_bounces", "MCP-Protocol-Version": "2025-11-25"}):
            status, _, body = self.modern("tools/call", params, **extra)
            self.assertEqual(status, 400, (extra, body))
            self.assertEqual(body["error"]["code"], -32020, (extra, body))
            self.assertEqual(body["id"], 1)

    def test_modern_unsupported_version_is_32022_with_the_supported_list(self):
        status, _, body = self.modern("tools/list", modern_params("2099-01-01"),
                                      **{"MCP-Protocol-Version": "2099-01-01"})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], -32022)
        self.assertIn(MODERN, body["error"]["data"]["supported"])

    def test_modern_unknown_method_is_404(self):
        status, _, body = self.modern("prompts/list", modern_params())
        self.assertEqual(status, 404, body)
        self.assertEqual(body["error"]["code"], -32601)

    def test_modern_get_and_delete_are_405(self):
        hdrs = dict(self.headers(), **{"MCP-Protocol-Version": MODERN})
        for method in ("GET", "DELETE"):
            status, h, _ = http(method, self.url, headers=hdrs)
            self.assertEqual(status, 405, method)
            self.assertIn("POST", h.get("Allow", ""), method)


class McpStdioModernTest(unittest.TestCase):
    """2026-07-28 over stdio: no handshake, _meta on every request, -32022 for other revisions."""

    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.alice = cls.data.create_agent("alice")

    @classmethod
    def tearDownClass(cls):
        cls.data.close()

    def setUp(self):
        self.mcp = McpStdio(self.data, api_key=self.alice["api_key"])

    def tearDown(self):
        self.assertEqual(self.mcp.close(), 0, self.mcp.stderr_text())
        self.mcp.proc.stdout.close()
        self.mcp.stderr.close()

    def test_discover_list_call_without_a_handshake(self):
        r = self.mcp.request("server/discover", modern_params())["result"]
        self.assertIn(MODERN, r["supportedVersions"])
        self.assertEqual(r["resultType"], "complete")
        r = self.mcp.request("tools/list", modern_params())["result"]
        self.assertEqual(r["resultType"], "complete")
        self.assertIsInstance(r["ttlMs"], int)
        self.assertIn(r["cacheScope"], ("public", "private"))
        r = self.mcp.request("tools/call", modern_params(name="list_messages", arguments={}))["result"]
        self.assertEqual(r["resultType"], "complete")
        self.assertIn("messages", r["structuredContent"])

    def test_unsupported_version_is_32022_and_missing_capabilities_32602(self):
        r = self.mcp.request("tools/list", modern_params("2099-01-01"))
        self.assertEqual(r["error"]["code"], -32022)
        self.assertIn(MODERN, r["error"]["data"]["supported"])
        r = self.mcp.request("tools/list", {"_meta": {META_VERSION: MODERN}})
        self.assertEqual(r["error"]["code"], -32602)


if __name__ == "__main__":
    unittest.main()
