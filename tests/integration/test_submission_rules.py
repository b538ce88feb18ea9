"""Trust at the submission doors: nothing leaves signed by the hosted domain that the agent could
not have written. Each refusal is checked through the real door (Python's smtplib, and raw
sockets where smtplib would mend the input), with its reply code and the fact that nothing was
queued; a message the relay cannot sign is deferred, never sent unsigned; one client address
cannot take every SMTP session. Loopback only: --dns names a local dnsmasq whose MX for
remote.test is 127.0.0.1, and --smtp-port points at an aiosmtpd receiver."""
import email
import email.utils
import re
import socket
import smtplib
import sqlite3
import ssl
import subprocess
import unittest
import uuid

from harness import (BIN, DataDir, Dnsmasq, Receiver, Serve, bearer, dkim_records, dkim_verify_all, free_port,
                     http, port_open, run, wait_for)

DOMAIN = "agents.test"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def queued_id(text):
    m = re.search(r"queued as (m_[0-9a-f]+)", text)
    return m.group(1) if m else None




def stored_count(data, agent):
    db = sqlite3.connect(f"file:{data.path}/agents/{agent}.db?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


class Dialogue:
    """A plain SMTP session on a raw socket, for input smtplib would rewrite (it turns a bare
    CR or LF into CRLF): every byte goes out as given."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self):
        """(code, text) of the next reply, multi-line replies joined."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed by the server; read so far: %r" % (lines,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(l[4:] for l in lines)

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def send_data(self, raw):
        code, text = self.command("DATA")
        assert code == 354, (code, text)
        self.sock.sendall(raw + b"\r\n.\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()


class SubmissionRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.records = dkim_records(run([BIN, "init", "--data", cls.data.path, "--domain", DOMAIN]))
        cls.alice = cls.data.create_agent("alice")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1"])
        cls.submission = free_port()
        # alice sends without AUTH from loopback (a trusted network): the raw-socket dialogues
        # need no TLS; the same rules hold after STARTTLS and AUTH (checked once below).
        cls.trusted = free_port()
        cls.serve = Serve(cls.data, [
            "--submission", f"127.0.0.1:{cls.submission}",
            "--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port)])
        cls.serve_trusted = Serve(cls.data, [
            "--submission", f"127.0.0.1:{cls.trusted}", "--trusted-network", "127.0.0.1/32=alice",
            "--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port)])
        for port in (cls.submission, cls.trusted):
            wait_for(lambda: port_open(port), what=f"SMTP listener on {port}")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.serve_trusted.stop()
        cls.dns.stop()
        cls.receiver.stop()
        cls.data.close()


    def submit_raw(self, raw):
        """Submits raw bytes as alice over a trusted-network session: (code, text)."""
        d = Dialogue(self.trusted)
        try:
            self.assertEqual(d.command("EHLO client.test")[0], 250)
            self.assertEqual(d.command(f"MAIL FROM:<alice@{DOMAIN}>")[0], 250)
            self.assertEqual(d.command("RCPT TO:<carol@remote.test>")[0], 250)
            return d.send_data(raw)
        finally:
            d.close()

    def assert_refused(self, raw, code, enhanced, says):
        before = stored_count(self.data, "alice")
        got, text = self.submit_raw(raw)
        self.assertEqual((got, text[:5]), (code, enhanced), text)
        self.assertIn(says, text)
        self.assertEqual(stored_count(self.data, "alice"), before, "nothing was queued")

    def headers(self, subject, extra=""):
        return f"From: Alice <alice@{DOMAIN}>\r\nTo: carol@remote.test\r\nSubject: {subject}\r\n{extra}"

    # --- who sent it ------------------------------------------------------------------------

    def test_a_second_from_field_is_refused_after_auth_too(self):
        subject = "two froms " + uuid.uuid4().hex
        raw = (f"From: <alice@{DOMAIN}>\r\nFrom: <bob@{DOMAIN}>\r\nTo: carol@remote.test\r\n"
               f"Subject: {subject}\r\n\r\nI am bob.\r\n").encode()
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("alice", self.alice["api_key"])
            s.mail(f"alice@{DOMAIN}")
            s.rcpt("carol@remote.test")
            code, reply = s.data(raw)
        self.assertEqual((code, reply[:5]), (550, b"5.7.1"), reply)
        self.assertIn(b"2 From fields", reply)
        self.assertNotIn(subject, self.data.sent_subjects("alice"))

    def test_from_with_another_address_beside_ours_is_refused(self):
        raw = (f"From: alice@{DOMAIN}, bob@{DOMAIN}\r\nTo: carol@remote.test\r\nSubject: x\r\n\r\nhi\r\n")
        self.assert_refused(raw.encode(), 550, "5.7.1", "From field must be your own address")

    def test_sender_and_resent_from_must_be_ours(self):
        self.assert_refused((self.headers("s", f"Sender: bob@{DOMAIN}\r\n") + "\r\nhi\r\n").encode(),
                            550, "5.7.1", "Sender field must be your own address")
        self.assert_refused((self.headers("s", "Resent-From: ceo@bank.test\r\n") + "\r\nhi\r\n").encode(),
                            550, "5.7.1", "Resent-From field")

    def test_no_from_field_is_refused(self):
        self.assert_refused(b"To: carol@remote.test\r\nSubject: x\r\n\r\nhi\r\n", 550, "5.7.1", "0 From fields")

    # --- fields allowed once ----------------------------------------------------------------

    def test_fields_allowed_once_are_refused_twice(self):
        for field in ("Subject: again", "To: dave@remote.test", "Date: Mon, 07 Dec 2026 20:00:00 +0000",
                      "Message-ID: <twice@agents.test>", "Cc: erin@remote.test", "Reply-To: x@remote.test",
                      "In-Reply-To: <a@b.test>", "References: <a@b.test>", f"Sender: alice@{DOMAIN}"):
            with self.subTest(field=field):
                name = field.split(":")[0]
                raw = self.headers("twice " + uuid.uuid4().hex, f"{field}\r\n{field}\r\n")
                if name in ("Subject", "To"):  # the base already has one of these
                    raw = self.headers("twice " + uuid.uuid4().hex, f"{field}\r\n")
                self.assert_refused((raw + "\r\nhi\r\n").encode(), 554, "5.6.0", f"2 {name} fields")

    # --- the bytes themselves ---------------------------------------------------------------

    def test_bare_cr_is_refused_before_the_250(self):
        raw = (self.headers("bare cr") + "\r\nfirst\rsecond\r\n").encode()
        self.assert_refused(raw, 554, "5.6.0", "bare CR")

    def test_bare_lf_is_refused(self):
        raw = (self.headers("bare lf") + "\r\nfirst\nsecond\r\n").encode()
        got, text = self.submit_raw(raw)
        self.assertEqual((got, text[:5]), (550, "5.6.0"), text)

    def test_a_line_over_998_octets_is_refused(self):
        ok = (self.headers("long ok " + uuid.uuid4().hex) + "\r\n" + "x" * 998 + "\r\n").encode()
        code, text = self.submit_raw(ok)
        self.assertEqual(code, 250, text)
        self.assert_refused((self.headers("too long") + "\r\n" + "x" * 999 + "\r\n").encode(),
                            554, "5.6.0", "999 octets long")

    def test_a_stray_line_in_the_header_section_is_refused(self):
        raw = (f"From: alice@{DOMAIN}\r\nTo: carol@remote.test\r\nnot a header\r\nFrom: bob@{DOMAIN}\r\n"
               "\r\nhi\r\n").encode()
        self.assert_refused(raw, 554, "5.6.0", "not a header field")

    # --- Date and Message-ID ----------------------------------------------------------------

    def test_unusable_date_and_message_id_are_replaced(self):
        subject = "mended " + uuid.uuid4().hex
        raw = (self.headers(subject, "Date: yesterday at noon\r\nMessage-ID: not-an-id\r\n") +
               "\r\nhi\r\n").encode()
        code, text = self.submit_raw(raw)
        self.assertEqual(code, 250, text)
        message_id = queued_id(text)
        self.serve.wait_status(self.alice, message_id, "delivered", timeout=20)
        _, data = wait_for(lambda: self.receiver.find(subject), what="the message at the receiver")
        msg = email.message_from_bytes(data)
        self.assertEqual(len(msg.get_all("Date")), 1, msg.get_all("Date"))
        self.assertIsNotNone(email.utils.parsedate_to_datetime(msg["Date"]))
        self.assertEqual(msg.get_all("Message-ID"), [f"<{message_id}@{DOMAIN}>"])
        self.assertNotIn(b"yesterday at noon", data)
        results = dkim_verify_all(data, self.records)
        self.assertTrue(results and all(ok for _, _, ok in results), results)

    def test_good_date_and_message_id_are_kept(self):
        subject = "kept " + uuid.uuid4().hex
        own_id = f"<{uuid.uuid4().hex}@client.test>"
        raw = (self.headers(subject, f"Date: Mon, 07 Dec 2026 20:00:00 +0000\r\nMessage-ID: {own_id}\r\n") +
               "\r\nhi\r\n").encode()
        code, text = self.submit_raw(raw)
        self.assertEqual(code, 250, text)
        _, data = wait_for(lambda: self.receiver.find(subject), timeout=20, what="the message at the receiver")
        msg = email.message_from_bytes(data)
        self.assertEqual(msg.get_all("Message-ID"), [own_id])
        self.assertEqual(msg.get_all("Date"), ["Mon, 07 Dec 2026 20:00:00 +0000"])

    # --- send_email's headers ---------------------------------------------------------------

    def test_send_email_headers_given_twice_are_refused(self):
        status, _, body = http("POST", self.serve.url("/v1/messages"),
                               {"to": ["carol@remote.test"], "subject": "dup", "text": "hi",
                                "headers": {"Precedence": "bulk", "precedence": "list"}}, bearer(self.alice))
        self.assertEqual(status, 400, body)
        self.assertIn("given twice", body["error"]["message"])
        status, _, body = http("POST", self.serve.url("/v1/messages"),
                               {"to": ["carol@remote.test"], "subject": "dup", "text": "hi",
                                "headers": {"Subject": "a second subject"}}, bearer(self.alice))
        self.assertEqual(status, 400, body)
        self.assertIn("Subject", body["error"]["message"])


class SessionCapTest(unittest.TestCase):
    """--smtp-client-limit: one client address holds at most N sessions at once; past it, 421."""

    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.port = free_port()
        cls.serve = Serve(cls.data, ["--submission", f"127.0.0.1:{cls.port}", "--smtp-client-limit", "2"])
        wait_for(lambda: port_open(cls.port), what="the submission listener")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()

    def test_sessions_past_the_per_client_cap_get_421(self):
        first, second = Dialogue(self.port), Dialogue(self.port)
        self.assertEqual(first.greeting[0], 220)
        self.assertEqual(second.greeting[0], 220)
        third = Dialogue(self.port)
        self.assertEqual(third.greeting[0], 421, third.greeting)
        self.assertTrue(third.greeting[1].startswith("4.7.0"), third.greeting)
        self.assertIn("from your address", third.greeting[1])
        third.close()
        self.assertEqual(first.command("NOOP")[0], 250, "sessions under the cap go on")
        first.close()

        # Once one has ended, a new session is served again.
        def served():
            d = Dialogue(self.port)
            code = d.greeting[0]
            d.close()
            return code == 220

        wait_for(served, timeout=10, what="a session to be served after one ended")
        second.close()

    def test_bad_limit_is_a_usage_error(self):
        for bad in ("0", "zero"):
            r = subprocess.run([BIN, "serve", "--data", self.data.path, "--smtp-client-limit", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--smtp-client-limit must be a positive number", r.stderr)


class UnsignableTest(unittest.TestCase):
    """Active DKIM keys that cannot be used: mail is deferred, never sent unsigned; mended keys
    (and a restart) let it go, signed."""

    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.records = dkim_records(run([BIN, "init", "--data", cls.data.path, "--domain", DOMAIN]))
        cls.alice = cls.data.create_agent("alice")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1"])
        cls.args = ["--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port),
                    "--retry-initial", "300ms", "--retry-max", "300ms"]

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        cls.receiver.stop()
        cls.data.close()

    def keys(self, update=None):
        db = sqlite3.connect(f"{self.data.path}/control.db", timeout=10)
        try:
            rows = db.execute("SELECT selector, private_pem FROM dkim_keys WHERE state = 'active'").fetchall()
            if update:
                for selector, pem in rows:
                    db.execute("UPDATE dkim_keys SET private_pem = ? WHERE selector = ?", (update(pem), selector))
                db.commit()
            return rows
        finally:
            db.close()

    def test_unsignable_mail_is_deferred_then_sent_signed_once_mended(self):
        original = dict(self.keys(update=lambda pem: "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"))
        self.assertEqual(len(original), 2)
        serve = Serve(self.data, self.args)
        try:
            subject = "unsignable " + uuid.uuid4().hex
            sent = serve.send(self.alice, to=["carol@remote.test"], subject=subject, text="hi")
            st = wait_for(lambda: (lambda s: s if s["recipients"][0]["attempts"] >= 2 else None)(
                serve.message_status(self.alice, sent["message_id"])), timeout=20, what="two attempts")
            r = st["recipients"][0]
            self.assertEqual(r["status"], "deferred", st)
            self.assertIn("DKIM signing failed", r["last_response"])
            self.assertIn("not sent unsigned", r["last_response"])
            self.assertIsNone(self.receiver.find(subject), "nothing leaves unsigned")
            status, _, metrics = http("GET", serve.url("/metrics"))
            self.assertEqual(status, 200)
            m = re.search(r"^agentrelay_dkim_sign_failures_total (\d+)", metrics, re.M)
            self.assertTrue(m and int(m.group(1)) >= 2, metrics[-2000:])
        finally:
            serve.stop()
        db = sqlite3.connect(f"{self.data.path}/control.db", timeout=10)
        try:
            for selector, pem in original.items():
                db.execute("UPDATE dkim_keys SET private_pem = ? WHERE selector = ?", (pem, selector))
            db.commit()
        finally:
            db.close()
        serve = Serve(self.data, self.args)
        try:
            serve.wait_status(self.alice, sent["message_id"], "delivered", timeout=20)
            _, data = wait_for(lambda: self.receiver.find(subject), what="the message at the receiver")
            results = dkim_verify_all(data, self.records)
            self.assertEqual(sorted(a for _, a, ok in results if ok), ["ed25519-sha256", "rsa-sha256"], results)
        finally:
            serve.stop()



if __name__ == "__main__":
    unittest.main()
