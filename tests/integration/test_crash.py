"""At-least-once delivery: kill -9 the relay mid-delivery, start it again, and every accepted
message still arrives (counted by Message-ID at a loopback receiver; duplicates are reported)."""
import collections
import concurrent.futures
import re
import signal
import unittest

from harness import DataDir, Dnsmasq, Receiver, Serve, http, wait_for

N = 300


class CrashTest(unittest.TestCase):
    def test_nothing_accepted_is_lost_after_kill_9(self):
        data = DataDir("agents.test")
        agent = data.create_agent("bulk")
        receiver = Receiver()
        dns = Dnsmasq(["--mx-host=sink.test,mx.sink.test,10", "--host-record=mx.sink.test,127.0.0.1"])
        args = ["--dns", dns.server, "--smtp-port", str(receiver.port),
                "--retry-initial", "200ms", "--retry-max", "1s"]
        serve = Serve(data, args)
        try:
            auth = {"Authorization": "Bearer " + agent["api_key"]}

            def send(i):
                status, _, body = http("POST", serve.url("/v1/messages"),
                                       {"to": f"user{i}@sink.test", "subject": f"crash {i}", "text": "x"}, auth)
                self.assertEqual(status, 202, body)
                return body["message_id"]

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                ids = list(pool.map(send, range(N)))
            self.assertEqual(len(set(ids)), N)
            # Kill as soon as delivery is under way, but before it is done.
            wait_for(lambda: len(receiver.messages()) >= 10, timeout=30, what="delivery to start")
            serve.process.proc.send_signal(signal.SIGKILL)
            serve.process.proc.wait()
            before = len(receiver.messages())
            serve.stop()
            serve = Serve(data, args)

            def arrived():
                seen = collections.Counter()
                for _, raw in receiver.messages():
                    m = re.search(rb"(?mi)^Message-ID:\s*<(m_[0-9a-f]+)@", raw)
                    if m:
                        seen[m.group(1).decode()] += 1
                return seen if set(ids) <= set(seen) else None

            seen = wait_for(arrived, timeout=120, what=f"all {N} messages at the receiver")
            duplicates = sum(c - 1 for c in seen.values())
            print(f"crash test: {N} accepted, {before} delivered before kill -9, all {N} arrived, "
                  f"{duplicates} duplicates")
            self.assertLessEqual(duplicates, N)
        finally:
            serve.stop()
            dns.stop()
            receiver.stop()
            data.close()


if __name__ == "__main__":
    unittest.main()
