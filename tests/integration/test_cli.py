"""The command line: init, agent management, usage errors (interface.md, "Command line")."""
import json
import os
import subprocess
import unittest

from harness import BIN, DataDir, run


def exit_code(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


class InitTest(unittest.TestCase):
    def setUp(self):
        self.data = DataDir("example.test")

    def tearDown(self):
        self.data.close()

    def test_init_prints_every_record_and_is_idempotent(self):
        out = run([BIN, "init", "--data", self.data.path, "--domain", "example.test"])
        self.assertIn("example.test. IN MX 10 example.test.", out)
        self.assertIn('"v=spf1', out)
        self.assertIn("_dmarc.example.test. IN TXT", out)
        dkim = [l for l in out.splitlines() if "._domainkey.example.test." in l]
        self.assertEqual(len(dkim), 2, out)
        self.assertTrue(any("k=ed25519" in l for l in dkim))
        self.assertTrue(any("k=rsa" in l for l in dkim))
        again = run([BIN, "init", "--data", self.data.path, "--domain", "example.test"])
        self.assertEqual(out, again)
        for f in ("control.db", "tls/cert.pem", "tls/key.pem"):
            self.assertTrue(os.path.exists(os.path.join(self.data.path, f)), f)

    def test_init_refuses_another_domain_on_the_same_dir(self):
        code, _, err = exit_code([BIN, "init", "--data", self.data.path, "--domain", "other.test"])
        self.assertEqual(code, 1)
        self.assertIn("already hosts domain example.test", err)

    def test_agent_lifecycle(self):
        bot = self.data.create_agent("bot")
        self.assertEqual(bot["address"], "bot@example.test")
        self.assertTrue(bot["api_key"].startswith("ar_"))
        code, _, err = exit_code([BIN, "agent", "create", "bot", "--data", self.data.path])
        self.assertEqual(code, 1)
        self.assertIn("already exists", err)
        listed = [json.loads(l) for l in run([BIN, "agent", "list", "--data", self.data.path]).splitlines()]
        self.assertEqual([a["name"] for a in listed], ["bot"])
        # The key is stored only as a hash: it appears nowhere in the data dir.
        for root, _, files in os.walk(self.data.path):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(bot["api_key"].encode(), fh.read(), f)
        rotated = json.loads(run([BIN, "agent", "rotate", "bot", "--data", self.data.path]))
        self.assertNotEqual(rotated["api_key"], bot["api_key"])
        run([BIN, "agent", "revoke", "bot", "--data", self.data.path])
        listed = [json.loads(l) for l in run([BIN, "agent", "list", "--data", self.data.path]).splitlines()]
        self.assertTrue(listed[0]["revoked"])
        code, _, err = exit_code([BIN, "agent", "revoke", "bot", "--data", self.data.path])
        self.assertEqual(code, 1)

    def test_bad_agent_names_are_refused(self):
        for name in ("Bot", "../x", "a b", "-x"):
            code, _, err = exit_code([BIN, "agent", "create", name, "--data", self.data.path])
            self.assertNotEqual(code, 0, name)


class UsageTest(unittest.TestCase):
    def test_usage_errors_are_one_line_and_exit_2(self):
        cases = [
            [BIN, "serve", "--bogus"],
            [BIN, "frobnicate"],
            [BIN, "init", "--data"],
            [BIN, "init", "--domain", "x.test"],
            [BIN, "agent", "--data", "/tmp"],
            [BIN, "mcp", "--data", "/nonexistent", "--retry-initial", "soon", "--agent", "x"],
            [BIN, "serve", "--data", "/nonexistent", "--http", "nowhere"],
            [BIN, "serve", "--data", "/nonexistent", "--intake-first", "soon"],
            [BIN, "queue", "--data", "/tmp"],
            [BIN, "queue", "list", "--bogus"],
        ]
        for argv in cases:
            code, out, err = exit_code(argv)
            self.assertEqual(code, 2, f"{argv}: {err}")
            self.assertEqual(len(err.strip().splitlines()), 1, f"{argv}: {err!r}")
            self.assertTrue(err.startswith("agentrelay: "), err)

    def test_help_on_every_command(self):
        for cmd in (["init"], ["agent"], ["serve"], ["mcp"], ["dkim"], ["doctor"], ["queue"]):
            code, out, _ = exit_code([BIN, *cmd, "--help"])
            self.assertEqual(code, 0, cmd)
            self.assertIn("usage: agentrelay " + cmd[0], out)

    def test_mcp_needs_an_agent(self):
        data = DataDir()
        try:
            env = {k: v for k, v in os.environ.items() if k != "AGENTRELAY_API_KEY"}
            p = subprocess.run([BIN, "mcp", "--data", data.path], capture_output=True, text=True,
                               env=env, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("AGENTRELAY_API_KEY", p.stderr)
            env["AGENTRELAY_API_KEY"] = "ar_wrong"
            p = subprocess.run([BIN, "mcp", "--data", data.path], capture_output=True, text=True,
                               env=env, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(p.stdout, "")
        finally:
            data.close()


if __name__ == "__main__":
    unittest.main()
