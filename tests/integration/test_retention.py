"""Retention: the relay deletes finished mail older than --retention (sent messages, inbox
messages), keeps what is still pending, and keeps everything with --retention 0d. Messages are
aged by moving their dates back in the agents' databases while the relay is stopped."""
import os
import sqlite3
import subprocess
import unittest

from harness import BIN, DataDir, RefusingPort, Serve, http, wait_for

DAY_MS = 86_400_000


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.data = DataDir("agents.test")
        self.alice = self.data.create_agent("alice")
        self.bob = self.data.create_agent("bob")
        # far.test's next hop refuses connections: mail there stays deferred (loopback only).
        self.refusing = RefusingPort()
        self.args = ["--route", f"far.test=127.0.0.1:{self.refusing.port}", "--retry-initial", "1h",
                     "--retry-max", "1h"]
        self.serve = None

    def tearDown(self):
        if self.serve:
            self.serve.stop()
        self.refusing.close()
        self.data.close()

    def auth(self, who):
        return {"Authorization": "Bearer " + who["api_key"]}

    def send(self, to, subject):
        return self.serve.send(self.alice, to=to, subject=subject, text="x")["message_id"]

    def status_of(self, message_id):
        status, _, body = http("GET", self.serve.url("/v1/messages/" + message_id), headers=self.auth(self.alice))
        return status, body

    def attempted(self, message_id):
        status, body = self.status_of(message_id)
        return status == 200 and body["recipients"][0]["attempts"] >= 1

    def bob_inbox(self):
        status, _, page = http("GET", self.serve.url("/v1/inbox?limit=100"), headers=self.auth(self.bob))
        self.assertEqual(status, 200, page)
        return page["messages"]

    def age(self, agent, days):
        """Moves every date in an agent's database `days` back (the relay is stopped)."""
        db = sqlite3.connect(os.path.join(self.data.path, "agents", agent + ".db"))
        shift = days * DAY_MS
        with db:
            db.execute("UPDATE messages SET created_at = created_at - ?", (shift,))
            db.execute("UPDATE recipients SET queued_at = queued_at - ?", (shift,))
            db.execute("UPDATE inbox SET received_at = received_at - ?", (shift,))
        db.close()

    def test_old_finished_mail_goes_pending_mail_stays(self):
        self.serve = Serve(self.data, self.args)
        local = self.send("bob@agents.test", "delivered at once")
        pending = self.send("someone@far.test", "stays deferred")
        wait_for(lambda: self.status_of(local)[1].get("status") == "delivered", what="local delivery")
        wait_for(lambda: self.attempted(pending), timeout=30, what="the first attempt at far.test")
        self.assertEqual(len(self.bob_inbox()), 1)
        self.serve.stop()
        self.age("alice", 40)
        self.age("bob", 40)

        # --retention 0d: nothing is deleted. A new message's first attempt shows the engine has
        # scanned the stores (the retention check comes first in every scan).
        self.serve = Serve(self.data, self.args + ["--retention", "0d"])
        probe = self.send("probe@far.test", "probe")
        wait_for(lambda: self.attempted(probe), timeout=30, what="the probe's first attempt")
        self.assertEqual(self.status_of(local)[0], 200)
        self.assertEqual(len(self.bob_inbox()), 1)
        self.serve.stop()

        # The default (30d): the 40-day-old delivered message and inbox message go; the
        # deferred one and the new probe stay.
        self.serve = Serve(self.data, self.args)
        wait_for(lambda: self.status_of(local)[0] == 404, timeout=30, what="the old message to be purged")
        wait_for(lambda: not self.bob_inbox(), timeout=30, what="bob's old inbox message to be purged")
        status, body = self.status_of(pending)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "deferred")
        self.assertEqual(self.status_of(probe)[0], 200)
        self.assertIn("retention: removed 1 sent messages", self.serve.process.log_text())

    def test_a_retention_under_a_day_is_refused(self):
        p = subprocess.run([BIN, "serve", "--data", self.data.path, "--retention", "12h"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--retention must be at least 1d", p.stderr)


if __name__ == "__main__":
    unittest.main()
