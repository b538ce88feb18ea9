"""The delivery engine against real peers on loopback: dnsmasq for DNS, aiosmtpd receivers,
dkimpy verifying both DKIM signatures. Nothing here can reach past 127.0.0.1: --dns names the
local dnsmasq and every MX resolves to 127.0.0.1 on the receiver's port (--smtp-port)."""
import email
import unittest

from harness import BIN, DataDir, Dnsmasq, Receiver, Serve, dkim_records, dkim_verify_all, http, run, wait_for


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.records = dkim_records(run([BIN, "init", "--data", cls.data.path, "--domain", "agents.test"]))
        cls.alice = cls.data.create_agent("alice")
        cls.receiver = Receiver("--tls")
        cls.route_receiver = Receiver()
        cls.broken_tls_receiver = Receiver("--tls", "--mode", "broken-tls")
        cls.dns = Dnsmasq([
            "--mx-host=remote.test,mx1.remote.test,10",
            "--mx-host=remote.test,mx2.remote.test,20",
            "--host-record=mx1.remote.test,127.0.0.1",
            "--host-record=mx2.remote.test,127.0.0.1",
            "--host-record=implicit.test,127.0.0.1",
            "--mx-host=nullmx.test,.,0",
        ])
        cls.serve = Serve(cls.data, [
            "--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port),
            "--route", f"routed.test=127.0.0.1:{cls.route_receiver.port}",
            "--route", f"broken-tls.test=127.0.0.1:{cls.broken_tls_receiver.port}",
            "--retry-initial", "300ms", "--retry-max", "1s", "--max-age", "4s"])

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.receiver.stop()
        cls.route_receiver.stop()
        cls.broken_tls_receiver.stop()
        cls.data.close()

    def send(self, **args):
        return self.serve.send(self.alice, **args)

    def status(self, message_id):
        return self.serve.message_status(self.alice, message_id)

    def wait_status(self, message_id, want, timeout=20):
        return self.serve.wait_status(self.alice, message_id, want, timeout)

    def received(self, receiver, message_id_header):
        for env, data in receiver.messages():
            if message_id_header.encode() in data:
                return env, data
        return None

    def test_delivers_over_tls_with_two_dkim_signatures(self):
        sent = self.send(to=["carol@remote.test", "dave@remote.test"], subject="Signed mail ✓",
                         text="Hello from the relay.\n.leading dot line\n")
        st = self.wait_status(sent["message_id"], "delivered")
        mid = f"<{sent['message_id']}@agents.test>"
        env, data = wait_for(lambda: self.received(self.receiver, mid), what="the message at the receiver")
        # One transaction for both recipients of the domain, from a VERP return path.
        self.assertEqual(sorted(env["rcpt_tos"]), ["carol@remote.test", "dave@remote.test"])
        self.assertTrue(env["mail_from"].startswith("bounces+" + sent["message_id"] + "=alice="), env)
        self.assertTrue(env["mail_from"].endswith("@agents.test"))
        self.assertTrue(env.get("tls"), env)
        results = dkim_verify_all(data, self.records)
        algorithms = sorted(a for _, a, ok in results if ok)
        self.assertEqual(algorithms, ["ed25519-sha256", "rsa-sha256"], results)
        msg = email.message_from_bytes(data)
        self.assertIn(".leading dot line", msg.get_payload(decode=True).decode())
        details = " ".join(e["detail"] for e in st["events"])
        self.assertIn("mx1.remote.test", details)
        self.assertIn("TLSv1", details)
        for r in st["recipients"]:
            self.assertEqual(r["last_code"], 250)
            self.assertIn("delivered_at", r)

    def test_5xx_bounces_and_suppresses(self):
        sent = self.send(to="unknown-user@remote.test", subject="x", text="x")
        st = self.wait_status(sent["message_id"], "bounced")
        r = st["recipients"][0]
        self.assertEqual(r["last_code"], 550)
        self.assertEqual(r["last_enhanced_code"], "5.1.1")
        status, _, page = http("GET", self.serve.url("/v1/bounces?limit=100"),
                               headers={"Authorization": "Bearer " + self.alice["api_key"]})
        ours = [b for b in page["bounces"] if b["message_id"] == sent["message_id"]]
        self.assertEqual(len(ours), 1)
        self.assertEqual(ours[0]["kind"], "hard")
        again = self.send(to="unknown-user@remote.test", subject="again", text="x")
        self.assertEqual(again["recipients"][0]["status"], "suppressed")
        self.assertEqual(self.status(again["message_id"])["status"], "suppressed")

    def test_4xx_defers_with_backoff_then_expires(self):
        sent = self.send(to="defer-me@remote.test", subject="x", text="x")
        st = wait_for(lambda: (lambda s: s if s["recipients"][0]["attempts"] >= 2 else None)(
            self.status(sent["message_id"])), timeout=20, what="two attempts")
        self.assertIn(st["status"], ("deferred", "bounced"))
        st = self.wait_status(sent["message_id"], "bounced", timeout=30)
        self.assertEqual(st["recipients"][0]["last_enhanced_code"], "4.4.7")
        status, _, page = http("GET", self.serve.url("/v1/bounces?limit=100"),
                               headers={"Authorization": "Bearer " + self.alice["api_key"]})
        ours = [b for b in page["bounces"] if b["message_id"] == sent["message_id"]]
        self.assertEqual(ours[0]["kind"], "expired")

    def test_null_mx_and_missing_domain_bounce_at_once(self):
        null = self.send(to="x@nullmx.test", subject="x", text="x")
        st = self.wait_status(null["message_id"], "bounced")
        self.assertEqual(st["recipients"][0]["last_enhanced_code"], "5.1.10")
        gone = self.send(to="x@no-such-domain.test", subject="x", text="x")
        st = self.wait_status(gone["message_id"], "bounced")
        self.assertEqual(st["recipients"][0]["last_enhanced_code"], "5.1.2")

    def test_implicit_mx_and_routes(self):
        implicit = self.send(to="x@implicit.test", subject="implicit", text="x")
        self.wait_status(implicit["message_id"], "delivered")
        routed = self.send(to="x@routed.test", subject="routed", text="x")
        self.wait_status(routed["message_id"], "delivered")
        mid = f"<{routed['message_id']}@agents.test>"
        self.assertIsNotNone(wait_for(lambda: self.received(self.route_receiver, mid), what="routed mail"))

    def test_a_failed_opportunistic_handshake_falls_back_to_plain_text(self):
        sent = self.send(to="x@broken-tls.test", subject="plain fallback", text="x")
        st = self.wait_status(sent["message_id"], "delivered")
        mid = f"<{sent['message_id']}@agents.test>"
        env, _ = wait_for(lambda: self.received(self.broken_tls_receiver, mid), what="the plain-text delivery")
        self.assertFalse(env.get("tls"), env)
        self.assertEqual(st["recipients"][0]["attempts"], 1)

    def test_mixed_outcomes_are_partially_delivered(self):
        sent = self.send(to=["ok@remote.test", "unknown-2@remote.test"], subject="mixed", text="x")
        st = self.wait_status(sent["message_id"], "partially_delivered")
        by = {r["address"]: r["status"] for r in st["recipients"]}
        self.assertEqual(by, {"ok@remote.test": "delivered", "unknown-2@remote.test": "bounced"})


if __name__ == "__main__":
    unittest.main()
