"""Who sent it: the inbound MX checks SPF, DKIM and DMARC for every message, against records a
local dnsmasq serves (--dns), for mail signed by dkimpy (an independent signer). An agent reads
the verdicts through read_message (authentication) and list_messages (from_verified); the stored
message is headed by the relay's own Authentication-Results field, and a forged one claiming
the relay's name is dropped. Loopback only."""
import os
import smtplib
import sqlite3
import unittest
import uuid

import dkim

from harness import DataDir, Dnsmasq, Serve, free_port, http, port_open, wait_for

DOMAIN = "agents.test"
HERE = os.path.dirname(os.path.abspath(__file__))
KEY_DIR = os.path.join(HERE, "..", "data", "dkim")


def rsa_key():
    """The RFC 8463 example RSA key (PKCS #1, which dkimpy reads) and its published p= value."""
    with open(os.path.join(KEY_DIR, "rfc8463-rsa.key"), "rb") as f:
        private = f.read()
    with open(os.path.join(KEY_DIR, "rfc8463.dns")) as f:
        record = next(line.split(" ", 1)[1].strip() for line in f if line.startswith("test._domainkey."))
    return private, record


def txt(name, value):
    """A dnsmasq TXT record option: each comma starts another character-string (quotes would be
    kept as data on dnsmasq's command line), so long values are split at 200 octets."""
    assert "," not in value
    chunks = [value[i:i + 200] for i in range(0, len(value), 200)]
    return "--txt-record=" + name + "," + ",".join(chunks)


PRIVATE, RECORD = rsa_key()


def message(sender, subject, body="Your code is 271828.\r\n", extra=""):
    return (f"From: {sender}\r\n"
            f"To: bot@{DOMAIN}\r\n"
            f"Subject: {subject}\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@remote.test>\r\n"
            f"{extra}"
            "\r\n"
            f"{body}").encode()


def signed(raw, domain, length=False):
    return dkim.sign(raw, b"sel", domain.encode(), PRIVATE, length=length) + raw


class InboundAuthenticationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.bot = cls.data.create_agent("bot")
        cls.dns = Dnsmasq([
            # remote.test: SPF allows loopback, DKIM key, DMARC reject.
            txt("remote.test", "v=spf1 ip4:127.0.0.1 -all"),
            txt("sel._domainkey.remote.test", RECORD),
            txt("_dmarc.remote.test", "v=DMARC1; p=reject"),
            # spoof.test: nobody may send as it (SPF -all), DMARC quarantine.
            txt("spoof.test", "v=spf1 -all"),
            txt("_dmarc.spoof.test", "v=DMARC1; p=quarantine"),
            # other.test: signs too, but is not the From domain of the mail it signs here.
            txt("sel._domainkey.other.test", RECORD),
        ])
        cls.inbound = free_port()
        cls.serve = Serve(cls.data, ["--inbound", f"127.0.0.1:{cls.inbound}", "--dns", cls.dns.server])
        wait_for(lambda: port_open(cls.inbound), what="the inbound listener")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.data.close()

    def deliver(self, mail_from, raw, helo="mx.remote.test"):
        with smtplib.SMTP("127.0.0.1", self.inbound, timeout=60) as s:
            s.ehlo(helo)
            s.sendmail(mail_from, [f"bot@{DOMAIN}"], raw)

    def arrived(self, subject):
        def find():
            status, _, page = http("GET", self.serve.url("/v1/inbox?limit=100"),
                                   headers={"Authorization": "Bearer " + self.bot["api_key"]})
            self.assertEqual(status, 200, page)
            return [m for m in page["messages"] if m["subject"] == subject]
        return wait_for(find, what=f"'{subject}' in the inbox")[0]

    def read(self, inbox_id):
        status, _, msg = http("GET", self.serve.url(f"/v1/inbox/{inbox_id}"),
                              headers={"Authorization": "Bearer " + self.bot["api_key"]})
        self.assertEqual(status, 200, msg)
        return msg

    def stored_raw(self, inbox_id):
        db = sqlite3.connect(f"file:{self.data.path}/agents/bot.db?mode=ro", uri=True)
        try:
            (raw,) = db.execute("SELECT raw FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
        finally:
            db.close()
        return raw.decode() if isinstance(raw, bytes) else raw

    def receive(self, mail_from, raw, subject):
        self.deliver(mail_from, raw)
        summary = self.arrived(subject)
        return summary, self.read(summary["id"])

    # --- tests ----------------------------------------------------------------------------

    def test_signed_mail_from_an_authorized_host_is_verified(self):
        subject = "verified " + uuid.uuid4().hex[:8]
        summary, msg = self.receive("carol@remote.test",
                                    signed(message("Carol <carol@remote.test>", subject), "remote.test"), subject)
        auth = msg["authentication"]
        self.assertTrue(summary["from_verified"], summary)
        self.assertTrue(auth["from_verified"], auth)
        self.assertEqual(auth["spf"]["result"], "pass", auth)
        self.assertEqual(auth["spf"]["domain"], "remote.test")
        self.assertEqual(len(auth["dkim"]), 1, auth)
        self.assertEqual(auth["dkim"][0]["result"], "pass", auth)
        self.assertEqual(auth["dkim"][0]["domain"], "remote.test")
        self.assertEqual(auth["dkim"][0]["selector"], "sel")
        self.assertEqual(auth["dmarc"]["result"], "pass", auth)
        self.assertEqual(auth["dmarc"]["policy"], "reject")
        self.assertIn("verified", auth["summary"])
        # The stored message starts with the relay's Authentication-Results field.
        raw = self.stored_raw(summary["id"])
        first = raw.split("\r\n\t")[0]
        self.assertEqual(first, f"Authentication-Results: {DOMAIN};", raw[:300])
        head = raw[:raw.index("\r\nReceived:")]
        self.assertIn("spf=pass smtp.mailfrom=remote.test", head)
        self.assertIn("dkim=pass header.d=remote.test header.s=sel header.a=rsa-sha256", head)
        self.assertIn("dmarc=pass (p=reject) header.from=remote.test", head)

    def test_forged_sender_is_not_verified(self):
        subject = "forged " + uuid.uuid4().hex[:8]
        summary, msg = self.receive("ceo@spoof.test", message("CEO <ceo@spoof.test>", subject), subject)
        auth = msg["authentication"]
        self.assertFalse(summary["from_verified"], summary)
        self.assertFalse(auth["from_verified"], auth)
        self.assertEqual(auth["spf"]["result"], "fail", auth)
        self.assertEqual(auth["dkim"], [])
        self.assertEqual(auth["dmarc"]["result"], "fail", auth)
        self.assertEqual(auth["dmarc"]["policy"], "quarantine")
        self.assertIn("not verified", auth["summary"])
        self.assertIn("no DKIM signature", auth["summary"])

    def test_a_body_changed_after_signing_fails_dkim(self):
        subject = "tampered " + uuid.uuid4().hex[:8]
        raw = signed(message("Carol <carol@remote.test>", subject), "remote.test")
        raw = raw.replace(b"271828", b"999999")
        # From a sender domain without SPF, so only DKIM could have verified it.
        summary, msg = self.receive("list@nospf.test", raw, subject)
        auth = msg["authentication"]
        self.assertFalse(auth["from_verified"], auth)
        self.assertEqual(auth["dkim"][0]["result"], "fail", auth)
        self.assertEqual(auth["dkim"][0]["reason"], "the body hash did not verify")
        self.assertEqual(auth["spf"]["result"], "none", auth)
        self.assertEqual(auth["dmarc"]["result"], "fail", auth)

    def test_text_appended_after_an_l_signature_does_not_verify_from(self):
        # RFC 6376 8.2: a signature with l= vouches for the first l octets only. A forger who
        # has one such message appends their own text (the "verification code") after them.
        subject = "l= tail " + uuid.uuid4().hex[:8]
        raw = signed(message("Carol <carol@remote.test>", subject, body="Hello.\r\n"), "remote.test",
                     length=True)
        tail = b"Your new code is 424242.\r\n"
        # From a host SPF does not cover, so only DKIM could verify it.
        summary, msg = self.receive("list@nospf.test", raw + tail, subject)
        auth = msg["authentication"]
        self.assertEqual(auth["dkim"][0]["result"], "pass", auth)
        self.assertEqual(auth["dkim"][0]["unsigned_body_octets"], len(tail), auth)
        self.assertFalse(summary["from_verified"], summary)
        self.assertFalse(auth["from_verified"], auth)
        self.assertEqual(auth["dmarc"]["result"], "fail", auth)
        self.assertIn("covers only the first part of the body (l=)", auth["summary"])
        self.assertIn(f"{len(tail)} octets after it are unsigned", auth["summary"])
        head = self.stored_raw(summary["id"])
        head = head[:head.index("\r\nReceived:")]
        self.assertIn("dkim=pass reason=", head)
        self.assertIn("the rest is unsigned", head)

    def test_an_l_signature_that_covers_the_whole_body_verifies_from(self):
        subject = "l= whole " + uuid.uuid4().hex[:8]
        raw = signed(message("Carol <carol@remote.test>", subject), "remote.test", length=True)
        self.assertIn(b" l=", raw.split(b"\r\n\r\n")[0])
        summary, msg = self.receive("list@nospf.test", raw, subject)
        auth = msg["authentication"]
        self.assertEqual(auth["dkim"][0]["result"], "pass", auth)
        self.assertNotIn("unsigned_body_octets", auth["dkim"][0])
        self.assertTrue(auth["from_verified"], auth)
        self.assertEqual(auth["dmarc"]["result"], "pass", auth)

    def test_a_signature_of_another_domain_does_not_verify_from(self):
        subject = "misaligned " + uuid.uuid4().hex[:8]
        raw = signed(message("Carol <carol@remote.test>", subject), "other.test")
        summary, msg = self.receive("bulk@nospf.test", raw, subject)
        auth = msg["authentication"]
        self.assertEqual(auth["dkim"][0]["result"], "pass", auth)
        self.assertEqual(auth["dkim"][0]["domain"], "other.test")
        self.assertFalse(auth["from_verified"], auth)
        self.assertEqual(auth["dmarc"]["result"], "fail", auth)
        self.assertIn("not of the From domain", auth["summary"])

    def test_a_forged_authentication_results_field_is_dropped(self):
        subject = "fake results " + uuid.uuid4().hex[:8]
        fake = (f"Authentication-Results: {DOMAIN}; dkim=pass header.d=spoof.test\r\n"
                f"Authentication-Results:\r\n {DOMAIN.upper()}; dmarc=pass\r\n"
                "Authentication-Results: mx.elsewhere.test; spf=pass\r\n")
        summary, msg = self.receive("ceo@spoof.test", message("ceo@spoof.test", subject, extra=fake), subject)
        self.assertFalse(msg["authentication"]["from_verified"])
        raw = self.stored_raw(summary["id"])
        header = raw[:raw.index("\r\n\r\n")]
        ours = [line for line in header.split("\r\n") if line.lower().startswith("authentication-results:")]
        self.assertEqual(len(ours), 2, header)  # the relay's, and the one of another authserv-id
        self.assertTrue(ours[0].startswith(f"Authentication-Results: {DOMAIN};"), header)
        self.assertIn("mx.elsewhere.test", ours[1])
        self.assertNotIn("header.d=spoof.test", header)
        self.assertNotIn(f"{DOMAIN.upper()}; dmarc=pass", header)

    def test_mail_between_agents_is_verified_without_dns(self):
        other = self.data.create_agent("peer")
        subject = "from a peer " + uuid.uuid4().hex[:8]
        status, _, body = http("POST", self.serve.url("/v1/messages"),
                               {"to": f"bot@{DOMAIN}", "subject": subject, "text": "hi"},
                               {"Authorization": "Bearer " + other["api_key"]})
        self.assertEqual(status, 202, body)
        summary = self.arrived(subject)
        self.assertTrue(summary["from_verified"], summary)
        auth = self.read(summary["id"])["authentication"]
        self.assertTrue(auth["local"], auth)
        self.assertEqual(auth["summary"], "sent by agent peer of this relay")


if __name__ == "__main__":
    unittest.main()
