"""Submission from a trusted network (--trusted-network CIDR=AGENT): a client whose address is
in the network sends MAIL without STARTTLS or AUTH, as the agent named, and its mail is relayed;
a client outside every trusted network still has to start TLS and authenticate first."""
import smtplib
import unittest

from harness import DataDir, Receiver, Serve, free_port, port_open, wait_for

MESSAGE = (b"From: alice@agents.test\r\nTo: bob@routed.test\r\nSubject: trusted\r\n"
           b"Message-ID: <trusted-1@agents.test>\r\n\r\nhello from a trusted network\r\n")


def serve_submission(data, receiver, trusted):
    port = free_port()
    serve = Serve(data, ["--submission", f"127.0.0.1:{port}", "--trusted-network", trusted,
                         "--route", f"routed.test=127.0.0.1:{receiver.port}"], http=False)
    wait_for(lambda: serve._alive() and port_open(port), timeout=20, what="the submission listener")
    return serve, port


class TrustedSubmissionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = DataDir("agents.test")
        cls.data.create_agent("alice")
        cls.receiver = Receiver()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.stop()
        cls.data.close()

    def test_trusted_client_submits_without_tls_or_auth(self):
        serve, port = serve_submission(self.data, self.receiver, "127.0.0.1/32=alice")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
                s.ehlo("client.test")
                code, reply = s.mail("alice@agents.test")
                self.assertEqual(code, 250, reply)
                code, reply = s.rcpt("bob@routed.test")
                self.assertEqual(code, 250, reply)
                code, reply = s.data(MESSAGE)
                self.assertEqual(code, 250, reply)
                # The trusted network speaks for alice only.
                s.rset()
                code, reply = s.mail("mallory@agents.test")
                self.assertEqual(code, 553, reply)
            got = wait_for(lambda: [d for _, d in self.receiver.messages() if b"<trusted-1@agents.test>" in d],
                           timeout=20, what="the message at the receiver")
            self.assertIn(b"hello from a trusted network", got[0])
        finally:
            serve.stop()

    def test_untrusted_client_must_start_tls_first(self):
        serve, port = serve_submission(self.data, self.receiver, "10.0.0.0/8=alice")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
                s.ehlo("client.test")
                code, reply = s.mail("alice@agents.test")
                self.assertEqual(code, 530, reply)
                self.assertIn(b"STARTTLS", reply)
        finally:
            serve.stop()


if __name__ == "__main__":
    unittest.main()
