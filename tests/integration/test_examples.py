"""The examples in examples/agents/ work against a real relay."""
import os
import subprocess
import unittest

from harness import BIN, DataDir, Serve

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "agents")


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.localhost")
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")

    @classmethod
    def tearDownClass(cls):
        cls.data.close()

    def test_stdio_agent(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLES, "stdio_agent.py"), "--binary", BIN,
                            "--data", self.data.path, "--key", self.alice["api_key"], "--to", "bob@agents.localhost"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("status: delivered", p.stdout)

    def test_rest_agent(self):
        serve = Serve(self.data)
        try:
            env = dict(os.environ, AGENTRELAY_API_KEY=self.bob["api_key"])
            p = subprocess.run(["bash", os.path.join(EXAMPLES, "rest_agent.sh"), "alice@agents.localhost",
                                serve.url("")], capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("status: delivered", p.stdout)
        finally:
            serve.stop()

    def test_http_mcp_agents_confirmation_code(self):
        serve = Serve(self.data)
        try:
            p = subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLES, "http_mcp_agents.py"),
                                "--url", serve.url("/mcp"),
                                "--waiter", "alice@agents.localhost", "--waiter-key", self.alice["api_key"],
                                "--sender", "bob@agents.localhost", "--sender-key", self.bob["api_key"]],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("verified: True", p.stdout)
            self.assertRegex(p.stdout, r"waiter: code \d{6} ")
        finally:
            serve.stop()


if __name__ == "__main__":
    unittest.main()
