"""harness.py: shared helpers for agentrelay's integration tests.

Tests start the real binary and real peers on loopback only (127.0.0.1). Nothing here waits a
fixed time: every wait is a condition polled until a deadline.
"""
import json
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
        self.proc = subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout or self.log,
                                     stderr=self.log)

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
