"""Agents that wait cost no thread: 1,000 wait_for_message long-polls open at once over MCP HTTP
(2026-07-28, stateless), each for its own subject, while another agent sends 1,000 messages
through REST (16 senders) to the waiters' addresses (local delivery, no network). Every send is answered,
none is held up behind the waiters, each waiter is woken by its own message, and the relay's
threads stay under a fixed bound while all of them wait. Loopback only."""
import asyncio
import json
import resource
import statistics
import time
import unittest
import uuid

from harness import DataDir, Serve

DOMAIN = "agents.test"
WAITERS = 1000
AGENTS = 20
THREAD_BOUND = 120  # the door's loop and workers, the engine, the stores: not one per waiter


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


async def http_request(port, method, path, headers, body):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        data = json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
               f"Content-Length: {len(data)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + data)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1] or b"null")


class HttpWaitersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 8192)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2 * WAITERS + 200:
            raise unittest.SkipTest("the descriptor limit is too low for this test")
        cls.data = DataDir(DOMAIN)
        cls.sender = cls.data.create_agent("sender")
        cls.agents = [cls.data.create_agent(f"w{i}") for i in range(AGENTS)]
        cls.serve = Serve(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()

    def test_a_thousand_waiters_hold_no_threads(self):
        port = self.serve.port
        pid = self.serve.process.proc.pid
        tag = uuid.uuid4().hex[:8]
        idle_threads = threads_of(pid)
        # Connected is not yet called: a waiter whose call the door has not reached when its
        # mail lands must still count it, so every waiter asks for mail since now.
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))

        async def waiter(i):
            agent = self.agents[i % AGENTS]
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "wait_for_message",
                               "arguments": {"subject_contains": f"wake-{tag}-{i}-", "timeout_seconds": 60,
                                             "since": since},
                               "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                         "io.modelcontextprotocol/clientCapabilities": {}}}}
            headers = {"Authorization": "Bearer " + agent["api_key"], "Accept": "application/json",
                       "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                       "Mcp-Name": "wait_for_message"}
            status, answer = await http_request(port, "POST", "/mcp", headers, body)
            self.assertEqual(status, 200, answer)
            return answer["result"]["structuredContent"]

        async def send(i):
            agent = self.agents[i % AGENTS]
            started = time.monotonic()
            status, answer = await http_request(
                port, "POST", "/v1/messages", {"Authorization": "Bearer " + self.sender["api_key"]},
                {"to": [agent["address"]], "subject": f"wake-{tag}-{i}-", "text": "for waiter %d" % i})
            self.assertEqual(status, 202, answer)
            return time.monotonic() - started

        async def scenario():
            waiters = [asyncio.create_task(waiter(i)) for i in range(WAITERS)]
            # Every long-poll is in: the door holds them all open at once.
            deadline = time.monotonic() + 60
            while True:
                with open(f"/proc/{pid}/net/tcp") as f:
                    established = sum(1 for line in f.readlines()[1:]
                                      if line.split()[3] == "01" and
                                      int(line.split()[1].split(":")[1], 16) == port)
                if established >= WAITERS:
                    break
                self.assertLess(time.monotonic(), deadline, f"only {established} waiters connected")
                await asyncio.sleep(0.05)
            waiting_threads = threads_of(pid)
            # 16 senders, each sending its share one after another (as bench/ loads the door).
            async def sender(k):
                return [await send(i) for i in range(k, WAITERS, 16)]

            latencies = [t for part in await asyncio.gather(*(sender(k) for k in range(16))) for t in part]
            results = await asyncio.wait_for(asyncio.gather(*waiters), timeout=90)
            return waiting_threads, latencies, results

        waiting_threads, latencies, results = asyncio.run(scenario())
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"\n{WAITERS} waiters: threads {idle_threads} idle, {waiting_threads} while waiting; "
              f"sends p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99:.1f} ms, "
              f"max {latencies[-1] * 1000:.1f} ms")
        self.assertLess(waiting_threads, THREAD_BOUND)
        # Not a speed test (bench/ measures): a send queued behind a thousand waiters would wait
        # for their timeouts, a minute.
        self.assertLess(latencies[-1], 10.0)
        for i, r in enumerate(results):
            self.assertFalse(r["timed_out"], (i, r))
            self.assertEqual(r["message"]["subject"], f"wake-{tag}-{i}-", i)


if __name__ == "__main__":
    unittest.main()
