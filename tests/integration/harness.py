"""harness.py: shared helpers for agentrelay's integration tests.

Tests start the real binary and real peers on loopback only (127.0.0.1). Nothing here waits a
fixed time: every wait is a condition polled until a deadline.
"""
import json
import unittest
import os
import shutil
import socket
import subprocess
import tempfile
import time

BIN = os.environ.get("AGENTRELAY_BIN", os.path.join(os.path.dirname(__file__), "../../build/agentrelay"))
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RefusingPort:
    """A port on 127.0.0.1 where every connection is refused for as long as this object lives:
    bound but never listening, so no other test running alongside can take it over (a port
    from free_port() could be, and then hang a delivery instead of refusing it)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()


def wait_for(predicate, timeout=10.0, what="condition", interval=0.02):
    """Polls predicate() until it returns a truthy value; raises AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class DataDir:
    """A fresh data dir, initialised with `agentrelay init`, removed at close()."""

    def __init__(self, domain="agents.test"):
        self.path = tempfile.mkdtemp(prefix="agentrelay-test-")
        self.domain = domain
        run([BIN, "init", "--data", self.path, "--domain", domain])

    def create_agent(self, name):
        out = run([BIN, "agent", "create", name, "--data", self.path])
        return json.loads(out)

    def sent_subjects(self, agent):
        """Subjects of every message in the agent's own store (what it sent), read directly."""
        import sqlite3
        db = sqlite3.connect(f"file:{self.path}/agents/{agent}.db?mode=ro", uri=True, timeout=10)
        try:
            return [r[0] for r in db.execute("SELECT subject FROM messages")]
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def run(argv, check=True, input=None, env=None):
    """Runs a command to completion and returns its stdout (text)."""
    p = subprocess.run(argv, capture_output=True, text=True, input=input, env=env, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}: {p.stderr}")
    return p.stdout


class Process:
    """A background process whose stderr goes to a file; stopped (TERM, then KILL) at stop()."""

    def __init__(self, argv, env=None, stdin=None, stdout=None, name="proc"):
        self.log_path = tempfile.mktemp(prefix=f"agentrelay-{name}-", suffix=".log")
        self.log = open(self.log_path, "wb")
        # A session of its own: with autogroups, agentrelay's background (idle-priority)
        # delivery threads then yield only to its own doors, not to tests running alongside.
        self.proc = subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout or self.log,
                                     stderr=self.log, start_new_session=True)

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


class McpStdio:
    """`agentrelay mcp` as an MCP client launches it: JSON-RPC, one message a line."""

    def __init__(self, data, api_key=None, agent=None, extra_args=()):
        env = dict(os.environ)
        argv = [BIN, "mcp", "--data", data.path, *extra_args]
        if agent:
            argv += ["--agent", agent]
        if api_key:
            env["AGENTRELAY_API_KEY"] = api_key
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env, start_new_session=True)
        self.next_id = 1

    def send(self, message):
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def send_raw(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("agentrelay mcp closed stdout; stderr: " + self.stderr_text())
        return json.loads(line)

    def request(self, method, params=None):
        mid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": mid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        reply = self.read()
        assert reply.get("id") == mid, f"reply id {reply.get('id')} != {mid}: {reply}"
        return reply

    def initialize(self, version="2025-11-25"):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "agentrelay-tests", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def call(self, tool, arguments):
        r = self.request("tools/call", {"name": tool, "arguments": arguments})
        assert "result" in r, r
        return r["result"]

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self):
        """Closes stdin (what a client does first) and returns the exit status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("agentrelay mcp did not exit after stdin closed")


class Serve:
    """`agentrelay serve` with an HTTP listener (and whatever else is asked), on loopback."""

    def __init__(self, data, extra_args=(), http=True):
        self.port = free_port() if http else None
        argv = [BIN, "serve", "--data", data.path, *extra_args]
        if http:
            argv += ["--http", f"127.0.0.1:{self.port}"]
        self.process = Process(argv, name="serve")
        if http:
            wait_for(lambda: self._alive() and port_open(self.port), timeout=20,
                     what="agentrelay serve to listen")

    def _alive(self):
        if self.process.proc.poll() is not None:
            raise AssertionError("agentrelay serve exited: " + self.process.log_text())
        return True

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    # The REST calls most tests make, as `agent` (a dict from DataDir.create_agent).
    def send(self, agent, **message):
        """POST /v1/messages: send_email's result (after asserting the 202)."""
        status, _, body = http("POST", self.url("/v1/messages"), message, bearer(agent))
        assert status == 202, (status, body)
        return body

    def message_status(self, agent, message_id):
        """GET /v1/messages/{id}: check_status's result (after asserting the 200)."""
        status, _, body = http("GET", self.url("/v1/messages/" + message_id), headers=bearer(agent))
        assert status == 200, (status, body)
        return body

    def wait_status(self, agent, message_id, want, timeout=30):
        """check_status's result once the message's status is `want`."""
        return wait_for(lambda: (lambda s: s if s["status"] == want else None)(self.message_status(agent, message_id)),
                        timeout=timeout, what=f"{message_id} to be {want}")

    def stop(self):
        self.process.stop()


class SseStream:
    """A text/event-stream response (http.client) read by a thread: next() gives each event as
    {"event", "id", "data"} (data's lines joined), or None once the stream has ended."""

    def __init__(self, resp):
        import queue
        import threading
        self.events = queue.Queue()

        def read():
            ev = {"event": "", "id": "", "data": []}
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if ev["data"]:
                        self.events.put(dict(ev, data="\n".join(ev["data"])))
                    ev = {"event": "", "id": "", "data": []}
                elif line.startswith(":"):
                    continue  # a comment: the keep-alive
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        ev["data"].append(value)
                    elif field in ("event", "id"):
                        ev[field] = value
            self.events.put(None)

        threading.Thread(target=read, daemon=True).start()

    def next(self, what, timeout=20):
        """The next event; fails the test (AssertionError) if none comes within `timeout`."""
        import queue
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {what} within {timeout} s")

    def json(self, what, timeout=20):
        """The next event's data as JSON; fails if the stream ends first."""
        ev = self.next(what, timeout)
        assert ev is not None, f"the stream ended before {what}"
        return json.loads(ev["data"])


class ServeCase(unittest.TestCase):
    """A test class with one data dir, its agents (AGENTS: each becomes cls.NAME, a dict from
    DataDir.create_agent) and one `agentrelay serve` with SERVE_ARGS, for all its tests."""
    DOMAIN = "agents.test"
    AGENTS = ("alice", "bob")
    SERVE_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.data = DataDir(cls.DOMAIN)
        for name in cls.AGENTS:
            setattr(cls, name, cls.data.create_agent(name))
        cls.serve = Serve(cls.data, list(cls.SERVE_ARGS))

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.data.close()


def bearer(agent):
    return {"Authorization": "Bearer " + agent["api_key"]}


def http(method, url, body=None, headers=None, raw=None):
    """One HTTP request; returns (status, headers, parsed JSON or text)."""
    import urllib.request
    import urllib.error
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, text = resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, dict(e.headers), e.read().decode()
    try:
        return status, hdrs, json.loads(text) if text else None
    except ValueError:
        return status, hdrs, text


DNSMASQ = "/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else "/usr/bin/dnsmasq"
RECEIVER = os.path.join(HERE, "..", "unit", "smtp_receiver.py")


def dns_answers(port, name):
    """True once the resolver on 127.0.0.1:port answers a query for `name` (A record)."""
    import struct
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", port))
            data, _ = s.recvfrom(512)
            return data[:2] == b"\x12\x34"
        except OSError:
            return False


class Dnsmasq:
    """dnsmasq on 127.0.0.1, authoritative for test., with the records given as dnsmasq options
    (e.g. "--mx-host=remote.test,mx.remote.test,10"). Never any other address."""

    def __init__(self, records):
        self.port = free_port()
        argv = [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
                "--pid-file=", "--local=/test/", "--auth-zone=test", "--auth-server=ns.test,127.0.0.1",
                "--auth-soa=1,hostmaster.test,1200,120,1000", "--auth-ttl=5",
                "--host-record=ready.test,127.0.0.1", *records]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.process = Process(argv, name="dnsmasq")
        wait_for(lambda: dns_answers(self.port, "ready.test"), timeout=10, what="dnsmasq to answer")

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.stop()


class Receiver:
    """A scriptable aiosmtpd receiver (tests/unit/smtp_receiver.py) that stores each message it
    accepts as NNN.json (envelope) and NNN.eml (data) in a directory."""

    def __init__(self, *options, port=0):
        self.dir = tempfile.mkdtemp(prefix="agentrelay-receiver-")
        argv = ["/usr/bin/python3", RECEIVER, "--dir", self.dir, "--port", str(port), *options]
        # stderr goes to a file: a pipe nobody reads would stall a chatty receiver.
        self.log = open(os.path.join(self.dir, "receiver.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        self.proc.stdout.close()
        if not line.startswith("READY"):
            self.proc.wait(timeout=10)
            with open(os.path.join(self.dir, "receiver.log"), "rb") as f:
                raise AssertionError("receiver did not start: " + line + f.read().decode(errors="replace"))
        self.port = int(line.split()[1])

    def messages(self):
        """[(envelope dict, data bytes)] of every message received so far, in order."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".json"):
                continue
            base = os.path.join(self.dir, name[:-5])
            if not os.path.exists(base + ".eml"):
                continue
            try:
                with open(base + ".json") as f:
                    env = json.load(f)
                with open(base + ".eml", "rb") as f:
                    data = f.read()
            except (OSError, ValueError):
                continue
            out.append((env, data))
        return out

    def find(self, marker):
        """(envelope, data) of the first message received holding `marker`, or None."""
        for env, data in self.messages():
            if marker.encode() in data:
                return env, data
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def dkim_records(init_output):
    """{selector: TXT value} from `agentrelay init`'s zone-file lines."""
    import re
    out = {}
    for line in init_output.splitlines():
        m = re.match(r"^(\S+)\._domainkey\.\S+\s+IN\s+TXT\s+\((.*)\)", line)
        if m:
            out[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return out


def dkim_verify_all(message, records):
    """Verifies every DKIM-Signature of message with dkimpy (an independent implementation),
    answering key queries from records. Returns the list of (selector, algorithm, ok)."""
    script = r'''
import json, re, sys, dkim
msg = sys.stdin.buffer.read()
records = json.loads(sys.argv[1])
def dnsfunc(name, timeout=5):
    sel = name.decode() if isinstance(name, bytes) else name
    return records.get(sel.split("._domainkey.")[0], "").encode()
d = dkim.DKIM(msg)
n = len(re.findall(rb"(?mi)^DKIM-Signature:", msg))
res = []
for i in range(n):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    sig = dict(d.signature_fields)
    res.append([sig.get(b"s", b"").decode(), sig.get(b"a", b"").decode(), bool(ok)])
print(json.dumps(res))
'''
    p = subprocess.run(["/usr/bin/python3", "-c", script, json.dumps(records)], input=message,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("dkimpy failed: " + p.stderr.decode())
    return [tuple(x) for x in json.loads(p.stdout)]
