"""DKIM key operations and `doctor`, against a running relay, on loopback only: `dkim rotate`
makes a pending pair and prints its records while mail keeps its old selectors; after `dkim
activate` newly delivered mail carries the new selectors and verifies (dkimpy) against the new
records, while the old records stay in what `init` prints. `doctor` checks what a local dnsmasq
publishes for the domain."""
import email
import json
import re
import subprocess
import unittest

from harness import BIN, DataDir, Dnsmasq, Receiver, Serve, dkim_records, dkim_verify_all, http, run, wait_for


def selectors(message):
    """The s= of every DKIM-Signature of a message, sorted."""
    msg = email.message_from_bytes(message)
    out = []
    for sig in msg.get_all("DKIM-Signature") or []:
        m = re.search(r"(?:^|;)\s*s=([^;\s]+)", re.sub(r"\s+", " ", str(sig)))
        out.append(m.group(1))
    return sorted(out)


def dkim_list(data):
    return {k["selector"]: k["state"] for k in map(json.loads, run([BIN, "dkim", "list", "--data", data.path])
                                                   .splitlines())}


class DkimRotationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.alice = cls.data.create_agent("alice")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1"])
        cls.serve = Serve(cls.data, ["--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port)])

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.receiver.stop()
        cls.data.close()

    def deliver(self, subject):
        """Sends one message and returns it as the receiver got it."""
        status, _, sent = http("POST", self.serve.url("/v1/messages"),
                               {"to": "carol@remote.test", "subject": subject, "text": "x"},
                               {"Authorization": "Bearer " + self.alice["api_key"]})
        self.assertEqual(status, 202, sent)
        mid = f"<{sent['message_id']}@agents.test>".encode()
        return wait_for(lambda: next((d for _, d in self.receiver.messages() if mid in d), None),
                        timeout=30, what=f"'{subject}' at the receiver")

    def test_rotate_then_activate(self):
        old = dkim_records(run([BIN, "init", "--data", self.data.path, "--domain", "agents.test"]))
        self.assertEqual(len(old), 2)
        self.assertEqual(selectors(self.deliver("before rotation")), sorted(old))

        out = run([BIN, "dkim", "rotate", "--data", self.data.path])
        new = dkim_records(out)
        self.assertEqual(len(new), 2, out)
        self.assertFalse(set(new) & set(old))
        self.assertEqual({s[-1] for s in new}, {"e", "r"})
        self.assertTrue(any(v.startswith("v=DKIM1; k=ed25519;") for v in new.values()), new)
        self.assertTrue(any(v.startswith("v=DKIM1; k=rsa;") for v in new.values()), new)
        states = dkim_list(self.data)
        self.assertEqual({s: states[s] for s in new}, {s: "pending" for s in new})

        # Pending keys do not sign: the old selectors still do.
        pending = self.deliver("while pending")
        self.assertEqual(selectors(pending), sorted(old))
        self.assertTrue(all(ok for _, _, ok in dkim_verify_all(pending, old)))

        ed25519 = next(s for s in new if s.endswith("e"))
        out = run([BIN, "dkim", "activate", ed25519, "--data", self.data.path])
        self.assertIn("signing with", out)
        states = dkim_list(self.data)
        self.assertEqual({s: states[s] for s in new}, {s: "active" for s in new})
        self.assertEqual({s: states[s] for s in old}, {s: "published" for s in old})

        # The running relay signs the next message with the new pair; dkimpy checks it against
        # the new records only.
        after = self.deliver("after activation")
        self.assertEqual(selectors(after), sorted(new))
        results = dkim_verify_all(after, new)
        self.assertEqual(sorted(a for _, a, ok in results if ok), ["ed25519-sha256", "rsa-sha256"], results)

        # The old keys stay published: init still prints their records, next to the new ones.
        again = dkim_records(run([BIN, "init", "--data", self.data.path, "--domain", "agents.test"]))
        self.assertEqual(again, {**old, **new})

    def test_rotations_in_one_second_get_distinct_pairs(self):
        before = set(dkim_list(self.data))
        first = dkim_records(run([BIN, "dkim", "rotate", "--data", self.data.path]))
        second = dkim_records(run([BIN, "dkim", "rotate", "--data", self.data.path]))
        third = dkim_records(run([BIN, "dkim", "rotate", "--data", self.data.path]))
        self.assertEqual([len(first), len(second), len(third)], [2, 2, 2])
        self.assertEqual(len(set(first) | set(second) | set(third)), 6)
        states = dkim_list(self.data)
        self.assertEqual(set(states), before | set(first) | set(second) | set(third))
        self.assertEqual({states[s] for s in [*first, *second, *third]}, {"pending"})

    def test_activate_unknown_selector_fails(self):
        current = sorted(dkim_list(self.data))[0]
        # Neither an unknown name nor a near miss of a real one (its pair's prefix) is taken.
        for selector in ("nosuchselector", current[:-1] + "x"):
            p = subprocess.run([BIN, "dkim", "activate", selector, "--data", self.data.path],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(selector, p.stderr)
        self.assertEqual(set(dkim_list(self.data).values()), {"active"})


def txt_option(name, value):
    """A dnsmasq --txt-record option, the value split into character-strings of at most 255 bytes
    (comma-separated; on the command line, unlike in a config file, quotes would be kept)."""
    assert "," not in value
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
    return f"--txt-record={name}," + ",".join(chunks)


class DoctorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.records = dkim_records(run([BIN, "init", "--data", cls.data.path, "--domain", "agents.test"]))

    @classmethod
    def tearDownClass(cls):
        cls.data.close()

    def doctor(self, dmarc):
        zone = ["--mx-host=agents.test,agents.test,10", "--host-record=agents.test,127.0.0.1",
                txt_option("agents.test", "v=spf1 a mx -all")]
        zone += [txt_option(f"{sel}._domainkey.agents.test", value) for sel, value in self.records.items()]
        if dmarc:
            zone.append(txt_option("_dmarc.agents.test", "v=DMARC1; p=quarantine"))
        dns = Dnsmasq(zone)
        try:
            return subprocess.run([BIN, "doctor", "--data", self.data.path, "--dns", dns.server],
                                  capture_output=True, text=True, timeout=60)
        finally:
            dns.stop()

    def test_everything_published(self):
        self.assertTrue(any(len(v) > 255 for v in self.records.values()), "the RSA record needs two strings")
        p = self.doctor(dmarc=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("published", p.stdout)

    def test_missing_dmarc(self):
        p = self.doctor(dmarc=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("missing: DMARC", p.stdout)
        self.assertNotIn("missing: DKIM", p.stdout)
        self.assertNotIn("missing: SPF", p.stdout)
        self.assertRegex(p.stdout, r'(?m)^_dmarc\.agents\.test\. IN TXT "v=DMARC1; ')


if __name__ == "__main__":
    unittest.main()
