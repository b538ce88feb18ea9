"""SMTP submission (--submission with STARTTLS, --submissions with implicit TLS) driven by
independent clients: swaks and Python's smtplib. A submitted message must come out of the
relay like one sent with send_email: queued under an id check_status knows, DKIM-signed twice,
with a Received header, from the message's VERP return path. Loopback only: --dns names a local
dnsmasq whose MX for remote.test is 127.0.0.1, and --smtp-port points at an aiosmtpd receiver."""
import base64
import email
import json
import os
import re
import smtplib
import sqlite3
import ssl
import subprocess
import tempfile
import unittest
import uuid

from harness import (BIN, DataDir, Dnsmasq, Receiver, Serve, dkim_records, dkim_verify_all, free_port, http,
                     port_open, run, wait_for)

DOMAIN = "agents.test"
MAX_MESSAGE_BYTES = 20000


def tls_context():
    """The relay's certificate is the data dir's self-signed one: encrypt, do not verify."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def swaks(*args):
    """Runs swaks; returns (exit status, its transcript)."""
    p = subprocess.run(["swaks", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def queued_id(text):
    m = re.search(r"queued as (m_[0-9a-f]+)", text)
    return m.group(1) if m else None


class SubmissionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.records = dkim_records(run([BIN, "init", "--data", cls.data.path, "--domain", DOMAIN]))
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10",
                           "--host-record=mx.remote.test,127.0.0.1"])
        cls.config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"max_message_bytes": MAX_MESSAGE_BYTES}, cls.config)
        cls.config.close()
        cls.submission, cls.submissions, cls.inbound = free_port(), free_port(), free_port()
        cls.serve = Serve(cls.data, [
            "--submission", f"127.0.0.1:{cls.submission}", "--submissions", f"127.0.0.1:{cls.submissions}",
            "--inbound", f"127.0.0.1:{cls.inbound}",
            "--dns", cls.dns.server, "--smtp-port", str(cls.receiver.port), "--config", cls.config.name])
        for port in (cls.submission, cls.submissions, cls.inbound):
            wait_for(lambda: port_open(port), what=f"SMTP listener on {port}")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.receiver.stop()
        os.unlink(cls.config.name)
        cls.data.close()

    # --- helpers --------------------------------------------------------------------------

    def status(self, message_id, who=None):
        return self.serve.message_status(who or self.alice, message_id)

    def wait_status(self, message_id, want):
        return self.serve.wait_status(self.alice, message_id, want, timeout=20)


    def inbox_with(self, who, subject):
        status, _, page = http("GET", self.serve.url("/v1/inbox?limit=100"),
                               headers={"Authorization": "Bearer " + who["api_key"]})
        self.assertEqual(status, 200, page)
        return [m for m in page["messages"] if m["subject"] == subject]


    def message(self, subject, sender=f"alice@{DOMAIN}", to="carol@remote.test", body="Hello.\r\n"):
        return (f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}").encode()

    def starttls_client(self):
        s = smtplib.SMTP("127.0.0.1", self.submission, timeout=30)
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        return s

    def check_delivered(self, message_id, marker):
        """The message is delivered to the receiver, DKIM-signed twice, with our Received header
        and the VERP return path."""
        st = self.wait_status(message_id, "delivered")
        env, data = wait_for(lambda: self.receiver.find(marker), what="the message at the receiver")
        self.assertTrue(env["mail_from"].startswith(f"bounces+{message_id}=alice="), env)
        self.assertTrue(env["mail_from"].endswith("@" + DOMAIN), env)
        results = dkim_verify_all(data, self.records)
        self.assertEqual(sorted(a for _, a, ok in results if ok), ["ed25519-sha256", "rsa-sha256"], results)
        msg = email.message_from_bytes(data)
        received = msg.get_all("Received") or []
        self.assertTrue(any(f"by {DOMAIN} (agentrelay)" in r and message_id in r for r in received), received)
        self.assertTrue(msg["Date"], "a Date header")
        self.assertTrue(msg["Message-ID"], "a Message-ID header")
        return st, env, msg

    # --- submission works -----------------------------------------------------------------

    def test_swaks_starttls_auth_plain_by_address(self):
        subject = "swaks plain " + uuid.uuid4().hex
        code, out = swaks("--server", "127.0.0.1", "--port", str(self.submission), "--tls",
                          "--auth", "PLAIN", "--auth-user", f"alice@{DOMAIN}",
                          "--auth-password", self.alice["api_key"],
                          "--from", f"alice@{DOMAIN}", "--to", "carol@remote.test",
                          "--header", f"Subject: {subject}", "--body", "Submitted by swaks.")
        self.assertEqual(code, 0, out)
        message_id = queued_id(out)
        self.assertIsNotNone(message_id, out)
        st, env, msg = self.check_delivered(message_id, subject)
        self.assertEqual(env["rcpt_tos"], ["carol@remote.test"])
        self.assertEqual(st["subject"], subject)
        self.assertTrue(any("ESMTPSA" in r for r in msg.get_all("Received")), msg.get_all("Received"))

    def test_swaks_auth_login_by_bare_name(self):
        subject = "swaks login " + uuid.uuid4().hex
        code, out = swaks("--server", "127.0.0.1", "--port", str(self.submission), "--tls",
                          "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", self.alice["api_key"],
                          "--from", f"alice@{DOMAIN}", "--to", "dave@remote.test",
                          "--header", f"Subject: {subject}", "--body", "AUTH LOGIN with the bare name.")
        self.assertEqual(code, 0, out)
        message_id = queued_id(out)
        self.assertIsNotNone(message_id, out)
        self.check_delivered(message_id, subject)

    def test_swaks_implicit_tls(self):
        subject = "swaks tlsc " + uuid.uuid4().hex
        code, out = swaks("--server", "127.0.0.1", "--port", str(self.submissions), "--tlsc",
                          "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", self.alice["api_key"],
                          "--from", f"alice@{DOMAIN}", "--to", "erin@remote.test",
                          "--header", f"Subject: {subject}", "--body", "Over implicit TLS.")
        self.assertEqual(code, 0, out)
        message_id = queued_id(out)
        self.assertIsNotNone(message_id, out)
        self.check_delivered(message_id, subject)

    def test_smtplib_starttls_and_check_status(self):
        subject = "smtplib " + uuid.uuid4().hex
        with self.starttls_client() as s:
            s.login(f"alice@{DOMAIN}", self.alice["api_key"])
            self.assertEqual(s.mail(f"alice@{DOMAIN}")[0], 250)
            self.assertEqual(s.rcpt("frank@remote.test")[0], 250)
            code, reply = s.data(self.message(subject, to="frank@remote.test", body="..leading dot\r\nbye\r\n"))
        self.assertEqual(code, 250, reply)
        message_id = queued_id(reply.decode())
        self.assertIsNotNone(message_id, reply)
        _, _, msg = self.check_delivered(message_id, subject)
        self.assertIn("..leading dot", msg.get_payload())

    def test_bcc_and_return_path_headers_are_not_passed_on(self):
        subject = "blind copy " + uuid.uuid4().hex
        raw = (f"From: alice@{DOMAIN}\r\nTo: carol@remote.test\r\nBcc: hidden@remote.test\r\n"
               f"Return-Path: <someone@else.test>\r\nSubject: {subject}\r\n\r\nBcc: body text stays\r\n")
        with self.starttls_client() as s:
            s.login("alice", self.alice["api_key"])
            s.mail(f"alice@{DOMAIN}")
            s.rcpt("carol@remote.test")
            s.rcpt("hidden@remote.test")
            code, reply = s.data(raw.encode())
        self.assertEqual(code, 250, reply)
        _, env, msg = self.check_delivered(queued_id(reply.decode()), subject)
        self.assertEqual(sorted(env["rcpt_tos"]), ["carol@remote.test", "hidden@remote.test"])
        self.assertIsNone(msg["Bcc"])
        self.assertIsNone(msg["Return-Path"])
        self.assertIn("Bcc: body text stays", msg.get_payload())

    def test_smtplib_implicit_tls_to_another_agent_lands_in_its_inbox(self):
        subject = "to bob " + uuid.uuid4().hex
        with smtplib.SMTP_SSL("127.0.0.1", self.submissions, context=tls_context(), timeout=30) as s:
            s.login("alice", self.alice["api_key"])
            s.mail(f"alice@{DOMAIN}")
            self.assertEqual(s.rcpt(f"bob@{DOMAIN}")[0], 250)
            code, reply = s.data(self.message(subject, to=f"bob@{DOMAIN}", body="Hi Bob.\r\n"))
        self.assertEqual(code, 250, reply)
        message_id = queued_id(reply.decode())
        self.wait_status(message_id, "delivered")
        ours = wait_for(lambda: self.inbox_with(self.bob, subject), what="the message in bob's inbox")
        self.assertEqual(ours[0]["from"], f"alice@{DOMAIN}")
        status, _, full = http("GET", self.serve.url("/v1/inbox/" + ours[0]["id"]),
                               headers={"Authorization": "Bearer " + self.bob["api_key"]})
        self.assertEqual(status, 200, full)
        self.assertIn("Hi Bob.", full["text"])
        self.assertIsNone(self.receiver.find(subject), "local mail never leaves the relay")

    def test_unknown_local_agent_bounces_like_send_email(self):
        subject = "to nobody " + uuid.uuid4().hex
        with self.starttls_client() as s:
            s.login("alice", self.alice["api_key"])
            s.mail(f"alice@{DOMAIN}")
            self.assertEqual(s.rcpt(f"nobody@{DOMAIN}")[0], 250)
            code, reply = s.data(self.message(subject, to=f"nobody@{DOMAIN}"))
        self.assertEqual(code, 250, reply)
        st = self.wait_status(queued_id(reply.decode()), "bounced")
        self.assertEqual(st["recipients"][0]["last_enhanced_code"], "5.1.1")

    # --- refusals -------------------------------------------------------------------------

    def test_auth_and_mail_need_tls_first(self):
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=30) as s:
            s.ehlo("client.test")
            self.assertNotIn("auth", s.esmtp_features, "AUTH is not offered before STARTTLS")
            plain = base64.b64encode(f"\0alice\0{self.alice['api_key']}".encode()).decode()
            code, reply = s.docmd("AUTH", "PLAIN " + plain)
            self.assertEqual(code, 538, reply)
            code, reply = s.docmd("MAIL", f"FROM:<alice@{DOMAIN}>")
            self.assertEqual(code, 530, reply)

    def test_wrong_password_is_535(self):
        with self.starttls_client() as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as caught:
                s.login("alice", "ar_wrong_" + "0" * 40)
            self.assertEqual(caught.exception.smtp_code, 535)
            # Another agent's key with alice's name is wrong too.
            plain = base64.b64encode(f"\0alice\0{self.bob['api_key']}".encode()).decode()
            code, reply = s.docmd("AUTH", "PLAIN " + plain)
            self.assertEqual(code, 535, reply)

    def test_mail_without_auth_is_530(self):
        with self.starttls_client() as s:
            code, reply = s.docmd("MAIL", f"FROM:<alice@{DOMAIN}>")
            self.assertEqual(code, 530, reply)
            code, reply = s.docmd("RCPT", "TO:<carol@remote.test>")
            self.assertEqual(code // 100, 5, reply)

    def test_sending_as_another_address_is_refused(self):
        with self.starttls_client() as s:
            s.login("alice", self.alice["api_key"])
            code, reply = s.docmd("MAIL", f"FROM:<bob@{DOMAIN}>")
            self.assertEqual((code, reply[:5]), (553, b"5.7.1"), reply)
            # The envelope is alice's, but the From header is someone else's: refused at DATA.
            subject = "forged from " + uuid.uuid4().hex
            s.rset()
            self.assertEqual(s.mail(f"alice@{DOMAIN}")[0], 250)
            self.assertEqual(s.rcpt("carol@remote.test")[0], 250)
            code, reply = s.data(self.message(subject, sender="ceo@bank.test"))
            self.assertEqual((code, reply[:5]), (550, b"5.7.1"), reply)
        self.assertNotIn(subject, self.data.sent_subjects("alice"))

    def test_over_long_command_line_is_500(self):
        with self.starttls_client() as s:
            code, reply = s.docmd("NOOP " + "x" * 1000)
            self.assertEqual(code, 500, reply)
            self.assertEqual(s.noop()[0], 250, "the session goes on")

    def test_oversized_message_is_552(self):
        subject = "too big " + uuid.uuid4().hex
        with self.starttls_client() as s:
            s.login("alice", self.alice["api_key"])
            self.assertIn(str(MAX_MESSAGE_BYTES), s.esmtp_features.get("size", ""), s.esmtp_features)
            code, reply = s.docmd("MAIL", f"FROM:<alice@{DOMAIN}> SIZE={MAX_MESSAGE_BYTES + 1}")
            self.assertEqual(code, 552, reply)
            self.assertEqual(s.mail(f"alice@{DOMAIN}")[0], 250)
            self.assertEqual(s.rcpt("carol@remote.test")[0], 250)
            code, reply = s.data(self.message(subject, body=("y" * 70 + "\r\n") * 400))
            self.assertEqual(code, 552, reply)
            self.assertEqual(s.noop()[0], 250, "the session goes on")
        self.assertNotIn(subject, self.data.sent_subjects("alice"))

    def test_client_gone_mid_data_stores_nothing(self):
        subject = "cut short " + uuid.uuid4().hex
        s = self.starttls_client()
        s.login("alice", self.alice["api_key"])
        s.mail(f"alice@{DOMAIN}")
        s.rcpt("carol@remote.test")
        code, _ = s.docmd("DATA")
        self.assertEqual(code, 354)
        s.send(self.message(subject) + b"and then the client goes away\r\n")
        s.sock.close()
        s.close()
        # A complete message on a new connection, afterwards: once it is delivered, the cut one
        # has had its chance to (wrongly) appear.
        after = "after the cut " + uuid.uuid4().hex
        with self.starttls_client() as s2:
            s2.login("alice", self.alice["api_key"])
            s2.mail(f"alice@{DOMAIN}")
            s2.rcpt("carol@remote.test")
            code, reply = s2.data(self.message(after))
        self.assertEqual(code, 250, reply)
        self.check_delivered(queued_id(reply.decode()), after)
        self.assertNotIn(subject, self.data.sent_subjects("alice"))
        self.assertIsNone(self.receiver.find(subject))

    def test_relaying_through_inbound_is_refused(self):
        with smtplib.SMTP("127.0.0.1", self.inbound, timeout=30) as s:
            s.ehlo("client.test")
            self.assertNotIn("auth", s.esmtp_features, "the MX offers no AUTH")
            self.assertEqual(s.mail(f"alice@{DOMAIN}")[0], 250)
            code, reply = s.rcpt("carol@remote.test")
            self.assertEqual((code, reply[:5]), (554, b"5.7.1"), reply)


class TrustedNetworkTest(unittest.TestCase):
    """--trusted-network 127.0.0.1/32=alice: loopback clients submit as alice without AUTH."""

    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")
        cls.submission = free_port()
        cls.serve = Serve(cls.data, ["--submission", f"127.0.0.1:{cls.submission}",
                                     "--trusted-network", "127.0.0.1/32=alice"])
        wait_for(lambda: port_open(cls.submission), what="the submission listener")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()

    def test_trusted_client_submits_without_auth(self):
        subject = "trusted " + uuid.uuid4().hex
        raw = f"From: alice@{DOMAIN}\r\nTo: bob@{DOMAIN}\r\nSubject: {subject}\r\n\r\nNo AUTH needed.\r\n"
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=30) as s:
            s.ehlo("app.internal")
            self.assertEqual(s.mail(f"alice@{DOMAIN}")[0], 250)
            self.assertEqual(s.rcpt(f"bob@{DOMAIN}")[0], 250)
            code, reply = s.data(raw.encode())
        self.assertEqual(code, 250, reply)
        message_id = queued_id(reply.decode())
        status, _, st = http("GET", self.serve.url("/v1/messages/" + message_id),
                             headers={"Authorization": "Bearer " + self.alice["api_key"]})
        self.assertEqual(status, 200, st)
        self.assertEqual(st["status"], "delivered")
        status, _, page = http("GET", self.serve.url("/v1/inbox"),
                               headers={"Authorization": "Bearer " + self.bob["api_key"]})
        self.assertEqual([m["from"] for m in page["messages"] if m["subject"] == subject], [f"alice@{DOMAIN}"])
        # Neither TLS nor AUTH: the Received header says plain ESMTP (RFC 3848).
        db = sqlite3.connect(f"file:{self.data.path}/agents/alice.db?mode=ro", uri=True, timeout=10)
        try:
            (raw,) = db.execute("SELECT raw FROM messages WHERE id = ?", (message_id,)).fetchone()
        finally:
            db.close()
        self.assertIn(f"by {DOMAIN} (agentrelay) with ESMTP id {message_id}", bytes(raw).decode())

    def test_trusted_client_still_sends_only_as_its_agent(self):
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=30) as s:
            s.ehlo("app.internal")
            code, reply = s.docmd("MAIL", f"FROM:<bob@{DOMAIN}>")
            self.assertEqual((code, reply[:5]), (553, b"5.7.1"), reply)

    def test_unknown_agent_for_trusted_network_is_refused_at_start(self):
        p = subprocess.run([BIN, "serve", "--data", self.data.path, "--submission", f"127.0.0.1:{free_port()}",
                            "--trusted-network", "127.0.0.1/32=nobody"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nobody", p.stderr)


if __name__ == "__main__":
    unittest.main()
