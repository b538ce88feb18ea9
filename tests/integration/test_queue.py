"""`agentrelay queue list|retry` beside a running relay: the deferred recipient is listed with its
last reply, and `retry` makes the relay try it again at once (retry-initial is an hour).
Loopback only: far.test's next hop is a local port nobody listens on."""
import json
import subprocess
import unittest

from harness import BIN, DataDir, RefusingPort, Serve, wait_for


def queue(*args):
    return subprocess.run([BIN, "queue", *args], capture_output=True, text=True, timeout=60)


class QueueTest(unittest.TestCase):
    def setUp(self):
        self.data = DataDir("agents.test")
        self.alice = self.data.create_agent("alice")
        self.refusing = RefusingPort()  # far.test's next hop refuses every connection
        self.serve = Serve(self.data, ["--route", f"far.test=127.0.0.1:{self.refusing.port}",
                                       "--retry-initial", "1h", "--retry-max", "1h"])

    def tearDown(self):
        self.serve.stop()
        self.refusing.close()
        self.data.close()

    def attempts(self, message_id):
        return self.serve.message_status(self.alice, message_id)["recipients"][0]["attempts"]

    def test_list_shows_the_deferred_recipient_and_retry_makes_it_due_now(self):
        mid = self.serve.send(self.alice, to="someone@far.test", subject="s", text="x")["message_id"]
        wait_for(lambda: self.attempts(mid) >= 1, timeout=30, what="the first attempt")

        def listed():
            p = queue("list", "--data", self.data.path)
            self.assertEqual(p.returncode, 0, p.stderr)
            rows = [json.loads(line) for line in p.stdout.splitlines()]
            return rows if rows and not rows[0]["in_flight"] and rows[0]["status"] == "deferred" else None

        rows = wait_for(listed, timeout=30, what="the deferred recipient in queue list")
        self.assertEqual(len(rows), 1)
        row = rows[0]
        self.assertEqual((row["agent"], row["message_id"], row["recipient"]), ("alice", mid, "someone@far.test"))
        self.assertEqual(row["attempts"], 1)
        self.assertTrue(row["next_attempt_at"])
        self.assertTrue(row["last_response"])

        p = queue("retry", "--data", self.data.path, "--agent", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"agent": "alice", "due_now": 1})
        # Without the retry the next attempt would be an hour away.
        wait_for(lambda: self.attempts(mid) >= 2, timeout=30, what="the second attempt after queue retry")

    def test_bad_usage_is_refused(self):
        for args, code, text in [((), 2, "list or retry"),
                                 (("list",), 2, "needs --data"),
                                 (("list", "--data", self.data.path, "--limit", "0"), 2, "positive"),
                                 (("retry", "--data", self.data.path, "--limit", "5"), 2, "goes with queue list"),
                                 (("list", "--data", self.data.path, "--agent", "nobody"), 1, "no agent named")]:
            p = queue(*args)
            self.assertEqual(p.returncode, code, (args, p.stderr))
            self.assertIn(text, p.stderr, args)


if __name__ == "__main__":
    unittest.main()
