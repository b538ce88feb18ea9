"""The inbound MX (--inbound) driven by an independent client (Python's smtplib): mail for an
agent lands in its inbox and reads back whole through read_message; mail for an unknown agent
or another domain is refused; delivery status notifications sent to a message's VERP return
path become asynchronous bounces (auto-replies to it land in the inbox); and wait_for_message
in an `agentrelay mcp` process wakes for mail that `serve` stored. Loopback only."""
import base64
import email.utils
import hashlib
import smtplib
import ssl
import time
import unittest
import uuid
from email.message import EmailMessage

from harness import (DataDir, Dnsmasq, McpStdio, Receiver, Serve, free_port, http, port_open,
                     wait_for)

DOMAIN = "agents.test"


def thread_id_of(root_message_id):
    """The thread id agentrelay derives from a conversation's first Message-ID."""
    return "t_" + hashlib.sha256(root_message_id.encode()).hexdigest()[:16]


def dsn(return_path, recipient, message_id_header, status="5.1.1", action="failed"):
    """A delivery status notification (RFC 3464) as a remote MTA would send it."""
    boundary = "dsn-" + uuid.uuid4().hex
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.remote.test>\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {email.utils.formatdate()}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.remote.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"Your message could not be delivered to <{recipient}>.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.remote.test\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; store.remote.test\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: user unknown in mailbox table\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"From: alice@{DOMAIN}\r\n"
        f"To: {recipient}\r\n"
        f"Message-ID: {message_id_header}\r\n"
        "\r\n"
        f"--{boundary}--\r\n").encode()


class InboundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(DOMAIN)
        cls.alice = cls.data.create_agent("alice")
        cls.bob = cls.data.create_agent("bob")
        cls.receiver = Receiver()
        cls.dns = Dnsmasq(["--mx-host=remote.test,mx.remote.test,10",
                           "--host-record=mx.remote.test,127.0.0.1"])
        cls.inbound = free_port()
        cls.serve = Serve(cls.data, ["--inbound", f"127.0.0.1:{cls.inbound}", "--dns", cls.dns.server,
                                     "--smtp-port", str(cls.receiver.port)])
        wait_for(lambda: port_open(cls.inbound), what="the inbound listener")

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dns.stop()
        cls.receiver.stop()
        cls.data.close()

    # --- helpers --------------------------------------------------------------------------

    def auth(self, who):
        return {"Authorization": "Bearer " + who["api_key"]}

    def mx(self, mail_from, rcpts, raw, starttls=False):
        """One SMTP transaction on the MX; returns (RCPT replies, DATA reply or None)."""
        with smtplib.SMTP("127.0.0.1", self.inbound, timeout=30) as s:
            s.ehlo("mx.remote.test")
            if starttls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s.starttls(context=ctx)
                s.ehlo("mx.remote.test")
            code, reply = s.mail(mail_from)
            self.assertEqual(code, 250, reply)
            rcpt_replies = [s.rcpt(r) for r in rcpts]
            if not any(code == 250 for code, _ in rcpt_replies):
                return rcpt_replies, None
            return rcpt_replies, s.data(raw)

    def deliver(self, rcpt, raw, mail_from="carol@remote.test", **kw):
        rcpts, (code, reply) = self.mx(mail_from, [rcpt], raw, **kw)
        self.assertEqual(code, 250, reply)

    def inbox_with(self, who, subject):
        status, _, page = http("GET", self.serve.url("/v1/inbox?limit=100"), headers=self.auth(who))
        self.assertEqual(status, 200, page)
        return [m for m in page["messages"] if m["subject"] == subject]

    def read(self, who, inbox_id, attachments=False):
        q = "?include_attachments=true" if attachments else ""
        status, _, msg = http("GET", self.serve.url(f"/v1/inbox/{inbox_id}{q}"), headers=self.auth(who))
        self.assertEqual(status, 200, msg)
        return msg

    def arrived(self, who, subject):
        return wait_for(lambda: self.inbox_with(who, subject), what=f"'{subject}' in the inbox")[0]

    def send(self, who, **args):
        return self.serve.send(who, **args)

    def status(self, who, message_id):
        return self.serve.message_status(who, message_id)

    def wait_status(self, who, message_id, want):
        return self.serve.wait_status(who, message_id, want, timeout=20)

    def sent_to_receiver(self, message_id):
        """Sends nothing: finds the envelope of our message at the receiver."""
        marker = f"<{message_id}@{DOMAIN}>".encode()
        for env, data in self.receiver.messages():
            if marker in data:
                return env
        return None

    # --- inbox ----------------------------------------------------------------------------

    def test_full_message_reads_back(self):
        subject = "Quarterly report ✓ " + uuid.uuid4().hex[:8]
        msg = EmailMessage()
        msg["From"] = "Carol Example <carol@remote.test>"
        msg["To"] = f"Alice <alice@{DOMAIN}>"
        msg["Cc"] = "dave@remote.test"
        msg["Subject"] = subject
        msg["Date"] = "Tue, 10 Mar 2026 14:02:08 +0100"
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@remote.test>"
        msg.set_content("Numbers attached.\nRégards, Carol\n")
        msg.add_alternative("<p>Numbers <b>attached</b>.</p>", subtype="html")
        pdf = b"%PDF-1.4 fake report\x00\x01\x02" * 50
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
        self.deliver(f"alice@{DOMAIN}", msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), starttls=True)

        summary = self.arrived(self.alice, subject)
        self.assertEqual(summary["from"], "carol@remote.test")
        self.assertTrue(summary["has_attachments"])
        self.assertTrue(summary["unread"])
        self.assertFalse(summary["auto_submitted"])
        full = self.read(self.alice, summary["id"])
        self.assertEqual(full["from"], "carol@remote.test")
        self.assertEqual(full["to"], [f"alice@{DOMAIN}"])
        self.assertEqual(full["cc"], ["dave@remote.test"])
        self.assertEqual(full["subject"], subject)
        self.assertEqual(full["date"], "2026-03-10T13:02:08.000Z")
        self.assertEqual(full["message_id"], msg["Message-ID"])
        self.assertEqual(full["text"].strip(), "Numbers attached.\nRégards, Carol")
        self.assertIn("<b>attached</b>", full["html"])
        self.assertEqual(full["attachments"], [{"filename": "report.pdf", "content_type": "application/pdf",
                                                "size": len(pdf)}])
        with_bytes = self.read(self.alice, summary["id"], attachments=True)
        self.assertEqual(base64.b64decode(with_bytes["attachments"][0]["content_base64"]), pdf)
        # Read now, and stored once: bob, not a recipient, saw nothing.
        self.assertFalse(self.inbox_with(self.alice, subject)[0]["unread"])
        self.assertEqual(self.inbox_with(self.bob, subject), [])

    def test_html_only_mail_has_derived_text_over_mcp(self):
        subject = "html only " + uuid.uuid4().hex[:8]
        raw = (f"From: carol@remote.test\r\nTo: bob@{DOMAIN}\r\nSubject: {subject}\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
               "<html><body><h1>Hello</h1><p>Second&nbsp;line &amp; more</p></body></html>\r\n").encode()
        self.deliver(f"bob@{DOMAIN}", raw)
        summary = self.arrived(self.bob, subject)
        mcp = McpStdio(self.data, agent="bob")
        try:
            mcp.initialize()
            result = mcp.call("read_message", {"id": summary["id"]})
        finally:
            mcp.close()
        self.assertFalse(result.get("isError"), result)
        full = result["structuredContent"]
        self.assertIn("Hello", full["text"])
        self.assertIn("Second line & more", full["text"])
        self.assertNotIn("<p>", full["text"])
        self.assertIn("<h1>Hello</h1>", full["html"])
        self.assertEqual(full["attachments"], [])

    def test_one_transaction_for_two_agents_stores_a_copy_each(self):
        subject = "to both " + uuid.uuid4().hex[:8]
        raw = (f"From: carol@remote.test\r\nTo: alice@{DOMAIN}, bob@{DOMAIN}\r\nSubject: {subject}\r\n"
               "\r\nHello both.\r\n").encode()
        rcpts, (code, reply) = self.mx("carol@remote.test", [f"alice@{DOMAIN}", f"BOB@{DOMAIN}"], raw)
        self.assertEqual([c for c, _ in rcpts], [250, 250])
        self.assertEqual(code, 250, reply)
        self.arrived(self.alice, subject)
        self.arrived(self.bob, subject)

    def test_replies_share_the_thread_of_the_message_they_answer(self):
        sent = self.send(self.alice, to="carol@remote.test", subject="Project kickoff", text="Shall we start?")
        self.wait_status(self.alice, sent["message_id"], "delivered")
        original = f"<{sent['message_id']}@{DOMAIN}>"
        first, second, unrelated = (f"<{uuid.uuid4().hex}@remote.test>" for _ in range(3))
        tag = uuid.uuid4().hex[:8]
        self.deliver(f"alice@{DOMAIN}", (
            f"From: carol@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: Re: Project kickoff {tag}\r\n"
            f"Message-ID: {first}\r\nIn-Reply-To: {original}\r\nReferences: {original}\r\n\r\nYes!\r\n").encode())
        self.deliver(f"alice@{DOMAIN}", (
            f"From: dave@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: Re: Re: Project kickoff {tag}\r\n"
            f"Message-ID: {second}\r\nIn-Reply-To: {first}\r\nReferences: {original} {first}\r\n\r\n"
            "Me too.\r\n").encode())
        # A client that writes only In-Reply-To still joins the thread.
        self.deliver(f"alice@{DOMAIN}", (
            f"From: erin@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: Re: kickoff (short) {tag}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@remote.test>\r\nIn-Reply-To: {original}\r\n\r\nCount me in.\r\n"
        ).encode())
        self.deliver(f"alice@{DOMAIN}", (
            f"From: carol@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: Something else {tag}\r\n"
            f"Message-ID: {unrelated}\r\n\r\nUnrelated.\r\n").encode())
        r1 = self.read(self.alice, self.arrived(self.alice, f"Re: Project kickoff {tag}")["id"])
        r2 = self.read(self.alice, self.arrived(self.alice, f"Re: Re: Project kickoff {tag}")["id"])
        r3 = self.read(self.alice, self.arrived(self.alice, f"Re: kickoff (short) {tag}")["id"])
        other = self.read(self.alice, self.arrived(self.alice, f"Something else {tag}")["id"])
        self.assertEqual(r1["in_reply_to"], original)
        self.assertEqual(r2["in_reply_to"], first)
        self.assertEqual(r1["thread_id"], thread_id_of(original))
        self.assertEqual(r2["thread_id"], r1["thread_id"])
        self.assertEqual(r3["thread_id"], r1["thread_id"])
        self.assertEqual(other["thread_id"], thread_id_of(unrelated))
        self.assertNotEqual(other["thread_id"], r1["thread_id"])

    # --- refusals -------------------------------------------------------------------------

    def test_unknown_agent_is_550_5_1_1(self):
        subject = "unknown " + uuid.uuid4().hex[:8]
        raw = f"From: carol@remote.test\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
        rcpts, data = self.mx("carol@remote.test", [f"nobody@{DOMAIN}", f"alice@{DOMAIN}"], raw)
        self.assertEqual(rcpts[0][0], 550)
        self.assertTrue(rcpts[0][1].startswith(b"5.1.1"), rcpts[0])
        self.assertEqual(rcpts[1][0], 250)
        self.assertEqual(data[0], 250, data)
        self.arrived(self.alice, subject)

    def test_subaddresses_reach_the_agent(self):
        subject = "subaddress " + uuid.uuid4().hex[:8]
        raw = f"From: carol@remote.test\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
        rcpts, data = self.mx("carol@remote.test", [f"alice+newsletters@{DOMAIN}", f"nobody+x@{DOMAIN}"], raw)
        self.assertEqual(rcpts[0][0], 250, rcpts[0])
        self.assertEqual(rcpts[1][0], 550, rcpts[1])
        self.assertEqual(data[0], 250, data)
        self.arrived(self.alice, subject)

    def test_postmaster_reaches_the_oldest_agent(self):
        # RFC 5321 4.5.1: postmaster@ must be accepted; without an agent of that name it goes
        # to the first agent created (alice), over the MX and from another agent alike.
        subject = "postmaster " + uuid.uuid4().hex[:8]
        raw = f"From: carol@remote.test\r\nSubject: {subject}\r\n\r\nabuse report\r\n".encode()
        rcpts, data = self.mx("carol@remote.test", [f"PostMaster@{DOMAIN}"], raw)
        self.assertEqual(rcpts[0][0], 250, rcpts[0])
        self.assertEqual(data[0], 250, data)
        self.arrived(self.alice, subject)
        self.assertEqual(self.inbox_with(self.bob, subject), [])
        local = "local postmaster " + uuid.uuid4().hex[:8]
        sent = self.send(self.bob, to=f"postmaster@{DOMAIN}", subject=local, text="hello")
        self.assertEqual(sent["recipients"][0]["status"], "delivered", sent)
        self.arrived(self.alice, local)

    def test_other_domains_are_refused(self):
        rcpts, data = self.mx("carol@remote.test", ["someone@remote.test", f"alice@sub.{DOMAIN}"], b"x\r\n")
        for code, reply in rcpts:
            self.assertEqual((code, reply[:5]), (554, b"5.7.1"), reply)
        self.assertIsNone(data)

    # --- return path: DSNs and auto-replies -----------------------------------------------

    def sent_and_delivered(self, to):
        sent = self.send(self.alice, to=to, subject="Hello " + to, text="Hi.")
        self.wait_status(self.alice, sent["message_id"], "delivered")
        env = wait_for(lambda: self.sent_to_receiver(sent["message_id"]), what="the message at the receiver")
        return sent["message_id"], env["mail_from"]

    def test_dsn_to_return_path_is_an_async_bounce(self):
        recipient = f"gone-{uuid.uuid4().hex[:6]}@remote.test"
        message_id, return_path = self.sent_and_delivered(recipient)
        self.assertTrue(return_path.startswith(f"bounces+{message_id}=alice="), return_path)
        rcpts, (code, reply) = self.mx("", [return_path], dsn(return_path, recipient, f"<{message_id}@{DOMAIN}>"))
        self.assertEqual(rcpts[0][0], 250, rcpts)
        self.assertEqual(code, 250, reply)

        st = self.wait_status(self.alice, message_id, "bounced")
        r = st["recipients"][0]
        self.assertEqual((r["address"], r["status"], r["last_enhanced_code"]), (recipient, "bounced", "5.1.1"))
        status, _, page = http("GET", self.serve.url("/v1/bounces?limit=100"), headers=self.auth(self.alice))
        ours = [b for b in page["bounces"] if b["message_id"] == message_id]
        self.assertEqual(len(ours), 1, page)
        self.assertEqual((ours[0]["kind"], ours[0]["recipient"], ours[0]["enhanced_code"], ours[0]["code"]),
                         ("async", recipient, "5.1.1", 550))
        self.assertIn("user unknown", ours[0]["diagnostic"])
        # The address is now known bad.
        again = self.send(self.alice, to=recipient, subject="again", text="x")
        self.assertEqual(again["recipients"][0]["status"], "suppressed")
        # A report is not mail: nothing in the inbox.
        self.assertEqual(self.inbox_with(self.alice, "Undelivered Mail Returned to Sender"), [])
        # The same report delivered again (its sender missed our 250) is not a second bounce.
        rcpts, (code, reply) = self.mx("", [return_path], dsn(return_path, recipient, f"<{message_id}@{DOMAIN}>"))
        self.assertEqual(code, 250, reply)
        status, _, page = http("GET", self.serve.url("/v1/bounces?limit=100"), headers=self.auth(self.alice))
        self.assertEqual(len([b for b in page["bounces"] if b["message_id"] == message_id]), 1, page)

    def test_dsn_names_the_right_recipient_of_several(self):
        tag = uuid.uuid4().hex[:6]
        ok, gone = f"ok-{tag}@remote.test", f"gone-{tag}@remote.test"
        sent = self.send(self.alice, to=[ok, gone], subject="two recipients " + tag, text="Hi.")
        message_id = sent["message_id"]
        self.wait_status(self.alice, message_id, "delivered")
        return_path = wait_for(lambda: self.sent_to_receiver(message_id), what="the message")["mail_from"]
        # Upper case on the way (some relays do that) is forgiven; a report on an address that
        # is not a recipient of the message (a forwarding target, say) changes nothing.
        for rcpt, reported in ((return_path.upper(), gone), (return_path, f"elsewhere-{tag}@remote.test")):
            rcpts, (code, reply) = self.mx("", [rcpt], dsn(return_path, reported, f"<{message_id}@{DOMAIN}>"))
            self.assertEqual(code, 250, reply)
        st = self.wait_status(self.alice, message_id, "partially_delivered")
        self.assertEqual({r["address"]: r["status"] for r in st["recipients"]}, {ok: "delivered", gone: "bounced"})
        status, _, page = http("GET", self.serve.url("/v1/bounces?limit=100"), headers=self.auth(self.alice))
        self.assertEqual([b["recipient"] for b in page["bounces"] if b["message_id"] == message_id], [gone])

    def test_delayed_dsn_changes_nothing(self):
        recipient = f"slow-{uuid.uuid4().hex[:6]}@remote.test"
        message_id, return_path = self.sent_and_delivered(recipient)
        rcpts, (code, reply) = self.mx("", [return_path], dsn(return_path, recipient, f"<{message_id}@{DOMAIN}>",
                                                               status="4.4.7", action="delayed"))
        self.assertEqual(code, 250, reply)
        self.assertEqual(self.status(self.alice, message_id)["status"], "delivered")

    def test_auto_reply_to_return_path_lands_in_inbox(self):
        message_id, return_path = self.sent_and_delivered("away@remote.test")
        subject = "Out of office " + uuid.uuid4().hex[:8]
        raw = (f"From: Away <away@remote.test>\r\nTo: {return_path}\r\nSubject: {subject}\r\n"
               f"Auto-Submitted: auto-replied\r\nIn-Reply-To: <{message_id}@{DOMAIN}>\r\n\r\n"
               "I am away until Monday.\r\n").encode()
        self.deliver(return_path, raw, mail_from="")
        summary = self.arrived(self.alice, subject)
        self.assertTrue(summary["auto_submitted"])
        self.assertEqual(summary["from"], "away@remote.test")
        self.assertEqual(self.read(self.alice, summary["id"])["thread_id"], thread_id_of(f"<{message_id}@{DOMAIN}>"))
        self.assertEqual(self.status(self.alice, message_id)["status"], "delivered")

    def test_forged_return_path_is_refused(self):
        message_id, return_path = self.sent_and_delivered("forge@remote.test")
        local, domain = return_path.rsplit("@", 1)
        mac = local.rsplit("=", 1)[1]
        forged_mac = local[: -len(mac)] + ("0" if mac[0] != "0" else "1") + mac[1:]
        other_agent = local.replace("=alice=", "=bob=")
        for forged in (forged_mac, other_agent, f"bounces+m_000000000000=alice={mac}"):
            rcpts, data = self.mx("", [f"{forged}@{domain}"], dsn(return_path, "forge@remote.test", ""))
            self.assertEqual(rcpts[0][0], 550, (forged, rcpts))
            self.assertIsNone(data)
        self.assertEqual(self.status(self.alice, message_id)["status"], "delivered")


class WaitForMessageTest(unittest.TestCase):
    """wait_for_message in an `agentrelay mcp` process returns for mail that `serve`'s inbound
    MX (another process) stored."""

    def setUp(self):
        self.data = DataDir(DOMAIN)
        self.alice = self.data.create_agent("alice")
        self.inbound = free_port()
        # The MX checks each sender (SPF, DKIM, DMARC): its questions go to dnsmasq, never out.
        self.dns = Dnsmasq([])
        self.serve = Serve(self.data, ["--inbound", f"127.0.0.1:{self.inbound}", "--dns", self.dns.server],
                           http=False)
        wait_for(lambda: port_open(self.inbound), what="the inbound listener")
        self.mcp = McpStdio(self.data, api_key=self.alice["api_key"])
        self.mcp.initialize()

    def tearDown(self):
        self.mcp.close()
        self.serve.stop()
        self.dns.stop()
        self.data.close()

    def test_waiter_wakes_for_mail_stored_by_serve(self):
        quiet = self.mcp.call("wait_for_message", {"timeout_seconds": 1})
        self.assertTrue(quiet["structuredContent"]["timed_out"], quiet)

        subject = "wake up " + uuid.uuid4().hex[:8]
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        started = time.monotonic()
        self.mcp.send({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                       "params": {"name": "wait_for_message",
                                  "arguments": {"timeout_seconds": 30, "subject_contains": subject,
                                                "since": since}}})
        # Unrelated mail first: the waiter must keep waiting past it.
        for s in ("noise " + uuid.uuid4().hex[:8], subject):
            with smtplib.SMTP("127.0.0.1", self.inbound, timeout=30) as c:
                c.sendmail("carol@remote.test", [f"alice@{DOMAIN}"],
                           f"From: carol@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: {s}\r\n\r\nx\r\n")
        reply = self.mcp.read()
        self.assertEqual(reply["id"], 99, reply)
        result = reply["result"]["structuredContent"]
        self.assertFalse(result["timed_out"], result)
        self.assertEqual(result["message"]["subject"], subject)
        self.assertEqual(result["message"]["from"], "carol@remote.test")
        self.assertLess(time.monotonic() - started, 25, "woke well before the timeout")


if __name__ == "__main__":
    unittest.main()
