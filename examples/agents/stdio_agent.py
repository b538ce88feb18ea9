#!/usr/bin/env python3
"""A minimal agent that talks MCP to agentrelay over stdio, using only the standard library.

It starts `agentrelay mcp` the way an MCP client does, sends a mail to another agent of the
hosted domain, and polls check_status until the message is final.

    examples/agents/stdio_agent.py --data ./agentrelay-data --key ar_... --to other@agents.localhost
"""
import argparse
import json
import os
import subprocess
import sys
import time


class Mcp:
    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.next_id = 0

    def request(self, method, params=None):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']['message']}")
        return reply["result"]

    def notify(self, method):
        self.proc.stdin.write((json.dumps({"jsonrpc": "2.0", "method": method}) + "\n").encode())
        self.proc.stdin.flush()

    def call(self, tool, arguments):
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{tool}: {result['content'][0]['text']}")
        return result["structuredContent"]

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=os.environ.get("AGENTRELAY_BIN", "build/agentrelay"))
    p.add_argument("--data", default="agentrelay-data")
    p.add_argument("--key", default=os.environ.get("AGENTRELAY_API_KEY"), help="this agent's API key")
    p.add_argument("--to", required=True)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    if not args.key:
        sys.exit("give --key or set AGENTRELAY_API_KEY")

    env = dict(os.environ, AGENTRELAY_API_KEY=args.key)
    mcp = Mcp([args.binary, "mcp", "--data", args.data], env)
    init = mcp.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                      "clientInfo": {"name": "stdio_agent.py", "version": "1"}})
    mcp.notify("notifications/initialized")
    print("connected to", init["serverInfo"]["name"], init["serverInfo"]["version"])
    tools = [t["name"] for t in mcp.request("tools/list")["tools"]]
    print("tools:", ", ".join(tools))

    sent = mcp.call("send_email", {"to": args.to, "subject": "Hello from an agent",
                                   "text": "This message went through agentrelay's MCP tools."})
    print("queued", sent["message_id"])
    deadline = time.monotonic() + args.timeout
    while True:
        status = mcp.call("check_status", {"message_id": sent["message_id"]})
        print("status:", status["status"], [(r["address"], r["status"]) for r in status["recipients"]])
        if status["status"] not in ("queued", "deferred") or time.monotonic() > deadline:
            break
        time.sleep(1)
    mcp.close()
    return 0 if status["status"] == "delivered" else 1


if __name__ == "__main__":
    sys.exit(main())
