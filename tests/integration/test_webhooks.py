"""Webhooks: an agent's events POSTed to a local receiver, signed in the Standard Webhooks
convention, in order, at least once, through a receiver that answers 500 for a while and a
kill -9 of the relay; the SSRF guard refuses private targets unless the operator allows them.
Loopback only (the receiver is an http.server on 127.0.0.1)."""
import base64
import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time
import unittest
import uuid

from harness import BIN, DataDir, Serve, bearer, http as http_call, run, wait_for

DOMAIN = "agents.test"


def verify(secret, headers, body):
    """Standard Webhooks: v1,base64(HMAC-SHA256(base64-decoded secret, id.timestamp.body))."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == "v1," + expected for sig in headers["webhook-signature"].split())


class Hook:
    """An HTTP receiver on 127.0.0.1: answers 500 to the first `fail_first` POSTs, then 200;
    records every POST (headers, body) in arrival order."""

    def __init__(self, fail_first=0, delay=0.0):
        self.posts = []
        self.fail_first = fail_first
        self.delay = delay
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if hook.delay:
                    time.sleep(hook.delay)  # a slow receiver, not a wait in the test
                with hook.lock:
                    hook.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(hook.posts) <= hook.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def unique(self):
        """The events received, deduplicated on webhook-id, in first-arrival order."""
        seen, out = set(), []
        with self.lock:
            posts = list(self.posts)
        for headers, body in posts:
            if headers["webhook-id"] in seen:
                continue
            seen.add(headers["webhook-id"])
            out.append((headers, json.loads(body)))
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookTest(unittest.TestCase):
    def setUp(self):
        self.data = DataDir(DOMAIN)
        self.alice = self.data.create_agent("alice")
        self.bob = self.data.create_agent("bob")
        self.serve = None
        self.hooks = []

    def tearDown(self):
        if self.serve:
            self.serve.stop()
        for h in self.hooks:
            h.stop()
        self.data.close()

    def hook(self, **kw):
        h = Hook(**kw)
        self.hooks.append(h)
        return h

    def add(self, url, *flags):
        return json.loads(run([BIN, "webhook", "add", url, "--data", self.data.path, *flags]))

    def feed(self, who):
        out, after = [], None
        while True:
            q = "?limit=100" + (f"&after={after}" if after else "")
            status, _, page = http_call("GET", self.serve_url("/v1/events" + q), headers=bearer(who))
            self.assertEqual(status, 200, page)
            out += page["events"]
            after = page.get("next_cursor")
            if not after:
                return out

    def serve_url(self, path):
        return self.serve.url(path)

    def send_to_bob(self, n, tag):
        return [self.serve.send(self.alice, to=[f"bob@{DOMAIN}"], subject=f"{tag} {i}", text="x")["message_id"]
                for i in range(n)]

    def test_events_arrive_signed_in_order_through_failures(self):
        receiver = self.hook(fail_first=3)
        added = self.add(receiver.url, "--agent", "alice", "--allow-private")
        self.assertTrue(added["secret"].startswith("whsec_"))
        self.serve = Serve(self.data)
        ids = self.send_to_bob(3, "hooked " + uuid.uuid4().hex[:6])
        # 3 queued + 3 delivered events of alice's.
        got = wait_for(lambda: (lambda u: u if len(u) >= 6 else None)(receiver.unique()), timeout=30,
                       what="six events at the receiver")
        with receiver.lock:
            posts = list(receiver.posts)
        self.assertGreater(len(posts), 6, "the 500s were retried")
        for headers, raw in posts:
            self.assertTrue(verify(added["secret"], headers, raw), headers)
            self.assertLessEqual(abs(int(headers["webhook-timestamp"]) - time.time()), 300)
        seqs = [int(h["webhook-id"].rsplit("_", 1)[1]) for h, _ in got]
        self.assertEqual(seqs, sorted(seqs), "in order")
        types = [b["type"] for _, b in got]
        self.assertEqual(types.count("message.queued"), 3)
        self.assertEqual(types.count("message.delivered"), 3)
        self.assertEqual({b["data"]["message_id"] for _, b in got}, set(ids))
        self.assertTrue(all(b["data"]["agent"] == "alice" for _, b in got))
        # The feed and the webhook agree, event for event.
        feed_ids = [f"alice_{e['id']}" for e in self.feed(self.alice)]
        self.assertEqual([h["webhook-id"] for h, _ in got], feed_ids)
        # webhook list shows the failures it went through.
        listed = [json.loads(line) for line in run([BIN, "webhook", "list", "--data", self.data.path]).splitlines()]
        self.assertEqual(len(listed), 1)
        feeds = {f["agent"]: f for f in listed[0]["feeds"]}
        self.assertIn("HTTP 500", feeds["alice"]["last_error"])
        self.assertEqual(feeds["alice"]["failures"], 0)
        self.assertEqual(feeds["alice"]["last_delivered"], feed_ids[-1])

    def test_every_event_once_across_a_kill_9(self):
        receiver = self.hook(delay=0.1)
        added = self.add(receiver.url, "--all", "--allow-private")
        self.serve = Serve(self.data)
        tag = "killed " + uuid.uuid4().hex[:6]
        self.send_to_bob(8, tag)
        wait_for(lambda: len(receiver.unique()) >= 4, timeout=30, what="a first few events")
        self.serve.process.proc.kill()  # kill -9, mid-delivery
        self.serve.process.proc.wait()
        self.serve = Serve(self.data)
        # alice: 8 queued + 8 delivered; bob: 8 received.
        expected = [f"alice_{e['id']}" for e in self.feed(self.alice)] + [f"bob_{e['id']}" for e in self.feed(self.bob)]
        self.assertEqual(len(expected), 24)
        wait_for(lambda: len(receiver.unique()) >= 24, timeout=60, what="every event after the restart")
        got = receiver.unique()
        self.assertEqual(sorted(h["webhook-id"] for h, _ in got), sorted(expected))
        for agent in ("alice", "bob"):
            seqs = [int(h["webhook-id"].rsplit("_", 1)[1]) for h, _ in got if h["webhook-id"].startswith(agent + "_")]
            self.assertEqual(seqs, sorted(seqs), agent)
        received = [b for _, b in got if b["type"] == "message.received"]
        self.assertEqual(len(received), 8)
        self.assertTrue(all(b["data"]["from_verified"] for b in received))
        with receiver.lock:
            posts = list(receiver.posts)
        self.assertTrue(all(verify(added["secret"], h, raw) for h, raw in posts))

    def test_private_targets_are_refused_unless_allowed(self):
        for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]:9/x", "http://169.254.169.254/"):
            p = subprocess.run([BIN, "webhook", "add", url, "--agent", "alice", "--data", self.data.path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, (url, p.stderr))
            self.assertIn("--allow-private", p.stderr)
        for bad in ("ftp://example.com/", "http:///x", "http://user@example.com/"):
            p = subprocess.run([BIN, "webhook", "add", bad, "--agent", "alice", "--data", self.data.path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
        p = subprocess.run([BIN, "webhook", "add", "http://127.0.0.1:9/", "--data", self.data.path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(run([BIN, "webhook", "list", "--data", self.data.path]), "")

    def test_test_and_remove(self):
        receiver = self.hook()
        added = self.add(receiver.url, "--agent", "alice", "--allow-private")
        out = json.loads(run([BIN, "webhook", "test", added["id"], "--data", self.data.path]))
        self.assertEqual(out["status"], 200)
        headers, body = receiver.posts[-1]
        self.assertTrue(verify(added["secret"], headers, body))
        self.assertEqual(json.loads(body)["type"], "webhook.test")
        run([BIN, "webhook", "remove", added["id"], "--data", self.data.path])
        self.assertEqual(run([BIN, "webhook", "list", "--data", self.data.path]), "")
        p = subprocess.run([BIN, "webhook", "remove", added["id"], "--data", self.data.path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)


    def test_an_agent_registers_its_own_webhooks_over_rest(self):
        receiver = self.hook()
        # Without --webhook-allow-private the loopback receiver is refused.
        self.serve = Serve(self.data)
        status, _, body = http_call("POST", self.serve_url("/v1/webhooks"), {"url": receiver.url}, bearer(self.alice))
        self.assertEqual(status, 400, body)
        self.assertIn("127.0.0.1", body["error"]["message"])
        self.serve.stop()
        self.serve = Serve(self.data, ["--webhook-allow-private"])
        for bad in ({"url": "ftp://x.example/"}, {"uri": receiver.url}, {"url": 5}):
            status, _, body = http_call("POST", self.serve_url("/v1/webhooks"), bad, bearer(self.alice))
            self.assertEqual(status, 400, (bad, body))
        status, _, made = http_call("POST", self.serve_url("/v1/webhooks"), {"url": receiver.url}, bearer(self.alice))
        self.assertEqual(status, 201, made)
        self.assertEqual(made["agent"], "alice")
        self.assertTrue(made["secret"].startswith("whsec_"))
        tag = "rest-hook " + uuid.uuid4().hex[:6]
        self.send_to_bob(1, tag)
        wait_for(lambda: len(receiver.unique()) >= 2, timeout=30, what="alice's events at her webhook")
        with receiver.lock:
            posts = list(receiver.posts)
        for headers, raw in posts:
            self.assertTrue(verify(made["secret"], headers, raw), headers)
            self.assertEqual(json.loads(raw)["data"]["agent"], "alice")
        # Listed for alice (no secret), invisible to bob, removable only by alice.
        status, _, mine = http_call("GET", self.serve_url("/v1/webhooks"), headers=bearer(self.alice))
        self.assertEqual([w["id"] for w in mine["webhooks"]], [made["id"]])
        self.assertNotIn("secret", mine["webhooks"][0])
        status, _, theirs = http_call("GET", self.serve_url("/v1/webhooks"), headers=bearer(self.bob))
        self.assertEqual(theirs["webhooks"], [])
        status, _, _ = http_call("DELETE", self.serve_url("/v1/webhooks/" + made["id"]), headers=bearer(self.bob))
        self.assertEqual(status, 404)
        status, _, body = http_call("DELETE", self.serve_url("/v1/webhooks/" + made["id"]), headers=bearer(self.alice))
        self.assertEqual((status, body["removed"]), (200, True))
        listed = [json.loads(line) for line in run([BIN, "webhook", "list", "--data", self.data.path]).splitlines() if line]
        self.assertEqual(listed, [])
        status, _, _ = http_call("GET", self.serve_url("/v1/webhooks"))
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
