"""The delivery engine's policies end to end, on loopback only: per-destination connection
limits and message rates, connection reuse, per-agent send quotas, SMTPUTF8, a smarthost with
AUTH, TLS policies and MX fallover. Every relay here resolves through a local dnsmasq (--dns)
and reaches aiosmtpd receivers through --smtp-port or a route; the receivers record how many
connections they saw at once and when each message arrived."""
import json
import os
import sqlite3
import subprocess
import unittest

from harness import BIN, DataDir, Dnsmasq, Receiver, Serve, http, run, wait_for


def sessions(receiver):
    """{"connections", "active", "peak"} as the receiver counted them."""
    with open(os.path.join(receiver.dir, "sessions.json")) as f:
        return json.load(f)


def mx_records(domain, address="127.0.0.1"):
    return [f"--mx-host={domain},mx.{domain},10", f"--host-record=mx.{domain},{address}"]


class Relay:
    """A fresh data dir with agent alice, and `agentrelay serve` on it with delivery options."""

    def __init__(self, dns, smtp_port, config=None, extra_args=()):
        self.data = DataDir("agents.test")
        self.alice = self.data.create_agent("alice")
        args = ["--dns", dns.server, "--smtp-port", str(smtp_port), *extra_args]
        if config is not None:
            path = os.path.join(self.data.path, "relay-config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            args += ["--config", path]
        self.serve = Serve(self.data, args)

    def auth(self, agent=None):
        return {"Authorization": "Bearer " + (agent or self.alice)["api_key"]}

    def post(self, agent=None, **message):
        return http("POST", self.serve.url("/v1/messages"), message, self.auth(agent))

    def send(self, agent=None, **message):
        return self.serve.send(agent or self.alice, **message)["message_id"]

    def status(self, message_id, agent=None):
        return self.serve.message_status(agent or self.alice, message_id)

    def wait_status(self, message_id, want, timeout=30):
        return self.serve.wait_status(self.alice, message_id, want, timeout)

    def wait_attempted(self, message_id, timeout=30):
        """The status once every recipient had at least one attempt."""
        return wait_for(lambda: (lambda s: s if all(r["attempts"] >= 1 for r in s["recipients"]) else None)(
            self.status(message_id)), timeout=timeout, what=f"an attempt at {message_id}")

    def stored_messages(self, agent="alice"):
        """How many messages the agent's store holds (read straight from its database)."""
        db = sqlite3.connect(os.path.join(self.data.path, "agents", agent + ".db"))
        try:
            return db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            db.close()

    def close(self):
        self.serve.stop()
        self.data.close()


class PolicyTest(unittest.TestCase):
    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for stop in reversed(self.cleanups):
            stop()

    def receiver(self, *options, port=0):
        r = Receiver(*options, port=port)
        self.cleanups.append(lambda: r.stop())
        return r

    def dnsmasq(self, records):
        d = Dnsmasq(records)
        self.cleanups.append(d.stop)
        return d

    def relay(self, dns, smtp_port, config=None, extra_args=()):
        r = Relay(dns, smtp_port, config, extra_args)
        self.cleanups.append(r.close)
        return r

    def send_burst(self, relay, domain, n, subject):
        ids = [relay.send(to=f"user{i}@{domain}", subject=f"{subject} {i}", text="x") for i in range(n)]
        for mid in ids:
            relay.wait_status(mid, "delivered", timeout=60)
        return ids


class ConnectionLimitTest(PolicyTest):
    def peak_for(self, config):
        receiver = self.receiver("--delay-data", "0.4")
        dns = self.dnsmasq(mx_records("slow.test"))
        relay = self.relay(dns, receiver.port, config)
        self.send_burst(relay, "slow.test", 10, "slow")
        wait_for(lambda: len(receiver.messages()) == 10, what="10 messages at the receiver")
        return sessions(receiver)["peak"]

    def test_max_connections_caps_simultaneous_sessions(self):
        peak = self.peak_for({"destinations": {"slow.test": {"max_connections": 2}}})
        self.assertGreaterEqual(peak, 1)
        self.assertLessEqual(peak, 2)

    def test_default_limit_opens_more_than_two(self):
        # The same load without a limit of its own: proves the test above can fail.
        self.assertGreater(self.peak_for(None), 2)


    def test_a_stalled_transaction_does_not_hold_up_the_next_message(self):
        receiver = self.receiver()
        dns = self.dnsmasq(mx_records("stall.test"))
        relay = self.relay(dns, receiver.port)
        # The receiver never answers RCPT for stall@: that connection stays busy for minutes.
        stalled = relay.send(to="stall@stall.test", subject="stalls", text="x")
        wait_for(lambda: sessions(receiver)["active"] == 1, what="the stalled connection")
        # A second connection (the limit is 10) carries the next message at once.
        relay.wait_status(relay.send(to="ok@stall.test", subject="goes", text="x"), "delivered", timeout=20)
        self.assertEqual(sessions(receiver)["peak"], 2)
        self.assertEqual(relay.status(stalled)["recipients"][0]["attempts"], 0)


class MessageRateTest(PolicyTest):
    def spread(self, rate):
        receiver = self.receiver()
        dns = self.dnsmasq(mx_records("rate.test"))
        relay = self.relay(dns, receiver.port, {"destinations": {"rate.test": {"messages_per_second": rate}}})
        self.send_burst(relay, "rate.test", 10, "rate")
        times = sorted(env["received_at"] for env, _ in wait_for(
            lambda: (lambda m: m if len(m) == 10 else None)(receiver.messages()), what="10 messages"))
        return times[-1] - times[0]

    def test_messages_per_second_spaces_arrivals(self):
        # 5 a second: 10 messages need at least 9 gaps of 0.2 s (some slack for timers).
        self.assertGreaterEqual(self.spread(5), 1.6)

    def test_high_rate_is_faster(self):
        self.assertLess(self.spread(1000), 1.6)


class ConnectionReuseTest(PolicyTest):
    def test_queued_messages_share_connections(self):
        receiver = self.receiver()
        dns = self.dnsmasq(mx_records("reuse.test"))
        relay = self.relay(dns, receiver.port, {"destinations": {"reuse.test": {"max_connections": 2}}})
        self.send_burst(relay, "reuse.test", 8, "burst")
        seen = sessions(receiver)
        self.assertLessEqual(seen["peak"], 2)
        # Without reuse each of the 8 messages would have had a connection of its own.
        self.assertLess(seen["connections"], 8, seen)

    def test_idle_connection_carries_the_next_message(self):
        receiver = self.receiver()
        dns = self.dnsmasq(mx_records("reuse.test"))
        relay = self.relay(dns, receiver.port)
        for i in range(3):
            relay.wait_status(relay.send(to=f"seq{i}@reuse.test", subject=f"seq {i}", text="x"), "delivered")
        got = wait_for(lambda: (lambda m: m if len(m) == 3 else None)(receiver.messages()), what="3 messages")
        # Each message was queued while the previous connection idled (2 s): one connection.
        self.assertEqual({env["connection"] for env, _ in got}, {1}, [env for env, _ in got])
        self.assertEqual(sessions(receiver)["connections"], 1)


class AgentQuotaTest(PolicyTest):
    def setUp(self):
        super().setUp()
        self.receiver_ = self.receiver()
        self.dns = self.dnsmasq(mx_records("quota.test"))
        self.relay_ = self.relay(self.dns, self.receiver_.port, {"rate_per_minute": 3})

    def test_fourth_send_in_a_minute_gets_429(self):
        relay = self.relay_
        for i in range(3):
            relay.send(to=f"q{i}@quota.test", subject=f"q {i}", text="x")
        status, headers, body = relay.post(to="q3@quota.test", subject="q 3", text="x")
        self.assertEqual(status, 429, body)
        retry_after = int(headers["Retry-After"])
        self.assertTrue(1 <= retry_after <= 60, retry_after)
        self.assertEqual(body["error"]["code"], "rate_limited")
        self.assertIn("3 messages per minute", body["error"]["message"])
        self.assertIn(f"retry in {retry_after} s", body["error"]["message"])
        # Nothing was stored for the refused send.
        self.assertEqual(relay.stored_messages(), 3)

    def test_agent_limits_win_over_the_default(self):
        relay = self.relay_
        bob = relay.data.create_agent("bob")
        out = json.loads(run([BIN, "agent", "limits", "alice", "--per-minute", "5", "--data", relay.data.path]))
        self.assertEqual(out, {"name": "alice", "rate_per_minute": 5, "rate_per_day": None})
        out = json.loads(run([BIN, "agent", "limits", "bob", "--per-minute", "1", "--per-day", "10",
                              "--data", relay.data.path]))
        self.assertEqual(out, {"name": "bob", "rate_per_minute": 1, "rate_per_day": 10})
        listed = [json.loads(line) for line in run([BIN, "agent", "list", "--data", relay.data.path]).splitlines()]
        self.assertEqual({a["name"]: a["rate_per_minute"] for a in listed}, {"alice": 5, "bob": 1})
        # A higher limit of alice's own lets her past the default of 3 ...
        for i in range(5):
            relay.send(to=f"a{i}@quota.test", subject=f"a {i}", text="x")
        status, _, body = relay.post(to="a5@quota.test", subject="a 5", text="x")
        self.assertEqual(status, 429, body)
        self.assertIn("5 messages per minute", body["error"]["message"])
        # ... and a lower one of bob's stops him at 1.
        relay.send(bob, to="b0@quota.test", subject="b 0", text="x")
        status, _, body = relay.post(bob, to="b1@quota.test", subject="b 1", text="x")
        self.assertEqual(status, 429, body)
        self.assertEqual(relay.stored_messages("bob"), 1)
        # "default" hands alice back to the relay's default.
        out = json.loads(run([BIN, "agent", "limits", "alice", "--per-minute", "default", "--data",
                              relay.data.path]))
        self.assertIsNone(out["rate_per_minute"])

    def test_agent_limits_usage_errors(self):
        path = self.relay_.data.path
        for argv in (["agent", "limits", "alice", "--per-minute", "0"],
                     ["agent", "limits", "alice", "--per-day", "many"],
                     ["agent", "create", "carol", "--per-minute", "3"]):
            p = subprocess.run([BIN, *argv, "--data", path], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, (argv, p.stderr))
            self.assertTrue(p.stderr.startswith("agentrelay: "), p.stderr)
        p = subprocess.run([BIN, "agent", "limits", "nobody", "--per-minute", "3", "--data", path],
                                         capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nobody", p.stderr)


class Smtputf8Test(PolicyTest):
    def test_international_address_to_a_server_without_smtputf8_bounces_5_6_7(self):
        receiver = self.receiver("--no-smtputf8")
        dns = self.dnsmasq(mx_records("ascii.test"))
        relay = self.relay(dns, receiver.port)
        mid = relay.send(to="jürgen@ascii.test", subject="utf8", text="x")
        st = relay.wait_status(mid, "bounced")
        self.assertEqual(st["recipients"][0]["last_enhanced_code"], "5.6.7", st)
        self.assertEqual(receiver.messages(), [])
        # The address is fine, the server is not: it is not suppressed.
        status, _, again = relay.post(to="jürgen@ascii.test", subject="again", text="x")
        self.assertEqual(status, 202, again)
        self.assertEqual(again["recipients"][0]["status"], "queued")


class SmarthostTest(PolicyTest):
    def smarthost(self, password):
        receiver = self.receiver("--tls", "--auth", "relayuser:s3cret")
        dns = self.dnsmasq([])
        route = {"domain": "*", "next_hop": f"127.0.0.1:{receiver.port}", "username": "relayuser",
                 "password": password}
        relay = self.relay(dns, receiver.port, {"routes": [route]}, ["--retry-initial", "1m"])
        return receiver, relay

    def test_auth_over_tls_to_the_smarthost(self):
        receiver, relay = self.smarthost("s3cret")
        mid = relay.send(to="anyone@elsewhere.test", subject="via smarthost", text="x")
        relay.wait_status(mid, "delivered")
        env, _ = wait_for(lambda: (receiver.messages() or [None])[0], what="the message at the smarthost")
        self.assertEqual(env["login"], "relayuser")
        self.assertTrue(env["tls"])
        self.assertEqual(env["rcpt_tos"], ["anyone@elsewhere.test"])

    def test_wrong_password_defers_rather_than_bounces(self):
        receiver, relay = self.smarthost("wrong")
        mid = relay.send(to="anyone@elsewhere.test", subject="refused", text="x")
        st = relay.wait_attempted(mid)
        self.assertEqual(st["status"], "deferred", st)
        r = st["recipients"][0]
        self.assertEqual(r["last_code"] // 100, 4, r)
        self.assertIn("535", r["last_response"])
        self.assertIn("next_attempt_at", r)
        self.assertEqual(receiver.messages(), [])


class TlsPolicyTest(PolicyTest):
    def test_required_never_falls_back_to_plain_text(self):
        receiver = self.receiver()  # no STARTTLS
        dns = self.dnsmasq(mx_records("tls.test"))
        relay = self.relay(dns, receiver.port, {"destinations": {"tls.test": {"tls": "required"}}},
                           ["--retry-initial", "1m"])
        mid = relay.send(to="x@tls.test", subject="secret", text="x")
        st = relay.wait_attempted(mid)
        self.assertEqual(st["status"], "deferred", st)
        self.assertIn("STARTTLS", st["recipients"][0]["last_response"])
        self.assertGreaterEqual(sessions(receiver)["connections"], 1)
        self.assertEqual(receiver.messages(), [])

    def test_verify_refuses_a_self_signed_certificate(self):
        receiver = self.receiver("--tls")
        dns = self.dnsmasq(mx_records("tls.test"))
        relay = self.relay(dns, receiver.port, {"destinations": {"tls.test": {"tls": "verify"}}},
                           ["--retry-initial", "1m"])
        mid = relay.send(to="x@tls.test", subject="secret", text="x")
        st = relay.wait_attempted(mid)
        self.assertEqual(st["status"], "deferred", st)
        self.assertIn("certificate", st["recipients"][0]["last_response"].lower())
        self.assertEqual(receiver.messages(), [])

    def test_other_destinations_keep_the_default_policy(self):
        receiver = self.receiver("--tls")
        dns = self.dnsmasq(mx_records("tls.test") + mx_records("plain.test"))
        relay = self.relay(dns, receiver.port, {"destinations": {"tls.test": {"tls": "verify"}}})
        relay.wait_status(relay.send(to="x@plain.test", subject="plain", text="x"), "delivered")
        self.assertTrue(receiver.messages()[0][0]["tls"])


    def test_a_domain_sharing_mx_hosts_keeps_its_own_policy(self):
        # Both domains use the same MX host (as hosted mail does); only bank.test asks for verify.
        receiver = self.receiver("--tls")
        dns = self.dnsmasq(["--mx-host=shared.test,mx.shared.test,10", "--mx-host=bank.test,mx.shared.test,10",
                            "--host-record=mx.shared.test,127.0.0.1"])
        relay = self.relay(dns, receiver.port, {"destinations": {"bank.test": {"tls": "verify"}}},
                           ["--retry-initial", "1m"])
        relay.wait_status(relay.send(to="x@shared.test", subject="shared", text="x"), "delivered")
        # The connection that carried it idles (2 s), unverified: bank.test's mail must not use it.
        st = relay.wait_attempted(relay.send(to="y@bank.test", subject="bank", text="x"))
        self.assertEqual(st["status"], "deferred", st)
        self.assertIn("certificate", st["recipients"][0]["last_response"].lower())
        self.assertEqual([env["rcpt_tos"] for env, _ in receiver.messages()], [["x@shared.test"]])


class MxFalloverTest(PolicyTest):
    def test_4xx_greeting_and_unreachable_mx_fall_over_to_the_next(self):
        good = self.receiver()  # 127.0.0.1 only
        busy = self.receiver("--mode", "greet421", "--host", "127.0.0.2", port=good.port)
        dns = self.dnsmasq([
            "--mx-host=busy.test,mx1.busy.test,10", "--mx-host=busy.test,mx2.busy.test,20",
            "--host-record=mx1.busy.test,127.0.0.2", "--host-record=mx2.busy.test,127.0.0.1",
            # Nothing listens on 127.0.0.3: connection refused.
            "--mx-host=down.test,mx1.down.test,10", "--mx-host=down.test,mx2.down.test,20",
            "--host-record=mx1.down.test,127.0.0.3", "--host-record=mx2.down.test,127.0.0.1",
        ])
        relay = self.relay(dns, good.port)
        for domain in ("busy.test", "down.test"):
            st = relay.wait_status(relay.send(to=f"x@{domain}", subject=domain, text="x"), "delivered")
            details = " ".join(e["detail"] for e in st["events"])
            self.assertIn(f"mx2.{domain}", details)
        # The first MX was tried first and said 421.
        self.assertGreaterEqual(sessions(busy)["connections"], 1)
        self.assertEqual(len(good.messages()), 2)

    def test_equal_preference_mx_hosts_are_one_destination(self):
        # Two MX hosts of equal preference (each answer lists them in a random order) are one
        # destination: its one connection carries every message, to one host or the other.
        first = self.receiver("--delay-data", "0.2")
        second = self.receiver("--delay-data", "0.2", "--host", "127.0.0.2", port=first.port)
        dns = self.dnsmasq([
            "--mx-host=twin.test,mx1.twin.test,10", "--mx-host=twin.test,mx2.twin.test,10",
            "--host-record=mx1.twin.test,127.0.0.1", "--host-record=mx2.twin.test,127.0.0.2"])
        relay = self.relay(dns, first.port, {"destination_defaults": {"max_connections": 1}})
        self.send_burst(relay, "twin.test", 8, "twin")
        wait_for(lambda: len(first.messages()) + len(second.messages()) == 8, what="8 messages at the receivers")
        counts = [sessions(r) for r in (first, second)]
        self.assertEqual(sum(c["connections"] for c in counts), 1, counts)
        self.assertTrue(all(c["peak"] <= 1 for c in counts), counts)

    def test_at_most_five_mx_addresses_are_tried_an_attempt(self):
        good = self.receiver()
        # Six MX hosts that refuse (nothing listens on 127.0.0.3-8), then one that would take it.
        records = [f"--mx-host=many.test,mx{i}.many.test,{i * 10}" for i in range(1, 8)]
        records += [f"--host-record=mx{i}.many.test,127.0.0.{i + 2}" for i in range(1, 7)]
        records += ["--host-record=mx7.many.test,127.0.0.1"]
        dns = self.dnsmasq(records)
        relay = self.relay(dns, good.port, None, ["--retry-initial", "1m"])
        st = relay.wait_attempted(relay.send(to="x@many.test", subject="many", text="x"))
        self.assertEqual(st["status"], "deferred", st)
        response = st["recipients"][0]["last_response"]
        self.assertIn("not trying further MX addresses", response)
        self.assertIn("mx5.many.test", response)
        self.assertNotIn("mx6.many.test", response)
        self.assertEqual(good.messages(), [])

    def test_every_mx_failing_defers(self):
        busy = self.receiver("--mode", "greet421")
        dns = self.dnsmasq(mx_records("busy.test"))
        relay = self.relay(dns, busy.port, None, ["--retry-initial", "1m"])
        st = relay.wait_attempted(relay.send(to="x@busy.test", subject="busy", text="x"))
        self.assertEqual(st["status"], "deferred", st)
        self.assertIn("421", st["recipients"][0]["last_response"])


if __name__ == "__main__":
    unittest.main()
