"""`agentrelay suppression list|add|remove` beside a running relay: a hard bounce puts the address
on the agent's list, `remove` lets the next send be attempted again, `add` stops mail to an
address before any attempt. Loopback only: routed.test's next hop is a local aiosmtpd receiver
(it refuses RCPT TO unknown...@ with 550 5.1.1)."""
import json
import subprocess
import unittest

from harness import BIN, DataDir, Receiver, Serve


def suppression(*args):
    return subprocess.run([BIN, "suppression", *args], capture_output=True, text=True, timeout=60)


class SuppressionTest(unittest.TestCase):
    def setUp(self):
        self.data = DataDir("agents.test")
        self.alice = self.data.create_agent("alice")
        self.bob = self.data.create_agent("bob")
        self.receiver = Receiver()
        self.serve = Serve(self.data, ["--route", f"routed.test=127.0.0.1:{self.receiver.port}"])

    def tearDown(self):
        self.serve.stop()
        self.receiver.stop()
        self.data.close()

    def send(self, to):
        return self.serve.send(self.alice, to=to, subject="s", text="x")

    def status(self, message_id):
        return self.serve.message_status(self.alice, message_id)

    def wait_status(self, message_id, want):
        return self.serve.wait_status(self.alice, message_id, want)

    def run_ok(self, *args):
        p = suppression(*args, "--data", self.data.path)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [json.loads(line) for line in p.stdout.splitlines()]

    def test_a_hard_bounce_is_listed_removed_and_attempted_again(self):
        sent = self.send("unknown-user@routed.test")
        self.wait_status(sent["message_id"], "bounced")
        rows = self.run_ok("list")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual((rows[0]["agent"], rows[0]["address"]), ("alice", "unknown-user@routed.test"))
        self.assertIn("5.1.1", rows[0]["reason"])
        self.assertTrue(rows[0]["created_at"])
        self.assertEqual(self.run_ok("list", "--agent", "bob"), [])  # each agent has its own list
        self.assertEqual(self.send("unknown-user@routed.test")["recipients"][0]["status"], "suppressed")

        self.assertEqual(self.run_ok("remove", "Unknown-User@routed.test", "--agent", "alice"),
                         [{"agent": "alice", "address": "Unknown-User@routed.test", "removed": True}])
        self.assertEqual(self.run_ok("list"), [])
        # The next send is attempted again (and refused again by the receiver).
        again = self.send("unknown-user@routed.test")
        self.assertEqual(again["recipients"][0]["status"], "queued")
        st = self.wait_status(again["message_id"], "bounced")
        self.assertEqual(st["recipients"][0]["attempts"], 1)
        self.assertEqual(st["recipients"][0]["last_code"], 550)

    def test_only_bad_addresses_are_suppressed(self):
        from harness import bearer, http
        sent = self.send(["unknown-r@routed.test", "full-r@routed.test", "spam-r@routed.test"])
        self.wait_status(sent["message_id"], "bounced")
        status, _, page = http("GET", self.serve.url("/v1/bounces"), headers=bearer(self.alice))
        self.assertEqual(status, 200, page)
        got = {b["recipient"]: (b["reason"], b["suppressed"]) for b in page["bounces"]}
        self.assertEqual(got, {"unknown-r@routed.test": ("user_unknown", True),
                               "full-r@routed.test": ("mailbox_full", False),
                               "spam-r@routed.test": ("spam_blocked", False)})
        listed = [row["address"] for row in self.run_ok("list", "--agent", "alice")]
        self.assertEqual(listed, ["unknown-r@routed.test"])
        # A full mailbox or a spam block is tried again; the unknown user is not.
        again = self.send(["unknown-r@routed.test", "full-r@routed.test", "spam-r@routed.test"])
        final = self.wait_status(again["message_id"], "bounced")
        by = {r["address"]: r["status"] for r in final["recipients"]}
        self.assertEqual(by["unknown-r@routed.test"], "suppressed")
        self.assertEqual(by["full-r@routed.test"], "bounced")
        self.assertEqual(by["spam-r@routed.test"], "bounced")

    def test_an_added_address_gets_no_mail(self):
        self.assertEqual(self.run_ok("add", "carol@routed.test", "--agent", "alice", "--reason", "asked to stop"),
                         [{"agent": "alice", "address": "carol@routed.test", "added": True}])
        self.assertEqual(self.run_ok("add", "CAROL@routed.test", "--agent", "alice"),
                         [{"agent": "alice", "address": "CAROL@routed.test", "added": False}])
        rows = self.run_ok("list", "--agent", "alice")
        self.assertEqual([(r["address"], r["reason"]) for r in rows], [("carol@routed.test", "asked to stop")])
        sent = self.send("Carol@routed.test")
        self.assertEqual(sent["recipients"][0]["status"], "suppressed")
        st = self.status(sent["message_id"])
        self.assertEqual(st["status"], "suppressed")
        self.assertEqual(st["recipients"][0]["attempts"], 0)
        # Mail to another address goes through while carol's is held back.
        other = self.send("dave@routed.test")
        self.wait_status(other["message_id"], "delivered")
        self.assertEqual([env["rcpt_tos"] for env, _ in self.receiver.messages()], [["dave@routed.test"]])

    def test_bad_usage_is_refused(self):
        d = self.data.path
        for args, code, text in [((), 2, "list, add or remove"),
                                 (("list",), 2, "needs --data"),
                                 (("add", "x@routed.test", "--data", d), 2, "needs --agent"),
                                 (("add", "--data", d, "--agent", "alice"), 2, "takes one ADDRESS"),
                                 (("add", "not an address", "--data", d, "--agent", "alice"), 2,
                                  "is not an email address"),
                                 (("list", "--data", d, "--limit", "0"), 2, "positive"),
                                 (("remove", "x@routed.test", "--data", d, "--agent", "alice", "--limit", "3"), 2,
                                  "goes with suppression list"),
                                 (("list", "--data", d, "--reason", "r"), 2, "goes with suppression add"),
                                 (("list", "--data", d, "--agent", "nobody"), 1, "no agent named"),
                                 (("remove", "x@routed.test", "--data", d, "--agent", "alice"), 1,
                                  "is not on alice's suppression list")]:
            p = suppression(*args)
            self.assertEqual(p.returncode, code, (args, p.stderr))
            self.assertIn(text, p.stderr, args)


if __name__ == "__main__":
    unittest.main()
