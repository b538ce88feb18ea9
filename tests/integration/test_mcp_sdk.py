"""MCP conformance as the official TypeScript SDK clients see it: runs the node scripts in
tests/integration/node against the real binary, over stdio and Streamable HTTP.

  conformance.mjs         @modelcontextprotocol/sdk 1.32.2 (the handshake era, 2025-11-25)
  conformance-modern.mjs  @modelcontextprotocol/client 2.4.0 (2026-07-28: auto and pinned
                          negotiation, plus its legacy mode)
  subscribe.mjs           @modelcontextprotocol/sdk 1.32.2: the mailbox as resources, a
                          subscription to mailbox://inbox and its notifications (stdio, HTTP)

Each script lists the tools, calls every tool with the SDK checking structuredContent against
the outputSchema, and exits 0 only when every check passed. The packages come from
`scripts/install-deps --test` (npm ci in tests/integration/node); without them the test fails
and says so rather than passing without having checked anything.
"""
import os
import shutil
import subprocess
import unittest

from harness import BIN, HERE

NODE_DIR = os.path.join(HERE, "node")
PACKAGES = ("@modelcontextprotocol/sdk", "@modelcontextprotocol/client")


class McpSdkConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = shutil.which("node")
        if cls.node is None:
            raise AssertionError("node is not on PATH: run scripts/install-deps --test")
        missing = [p for p in PACKAGES
                   if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", p, "package.json"))]
        if missing:
            raise AssertionError(f"{', '.join(missing)} not installed in {NODE_DIR}: "
                                 "run scripts/install-deps --test")

    def run_script(self, script):
        env = dict(os.environ, AGENTRELAY_BIN=os.path.abspath(BIN))
        p = subprocess.run([self.node, script], cwd=NODE_DIR, env=env, capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, 0, f"{script} failed:\n{p.stderr}\n{p.stdout}")
        self.assertIn("all checks passed", p.stderr)
        return p.stderr

    def test_sdk_1_handshake_era(self):
        self.run_script("conformance.mjs")

    def test_sdk_3_subscriptions(self):
        out = self.run_script("subscribe.mjs")
        for transport in ("stdio", "http"):
            self.assertIn(f"{transport}: passed", out)

    def test_client_2_modern_era(self):
        out = self.run_script("conformance-modern.mjs")
        for mode in ("auto", "pin", "legacy"):
            self.assertIn(f"{mode}: passed over stdio and Streamable HTTP", out)


if __name__ == "__main__":
    unittest.main()
