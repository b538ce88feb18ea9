#!/usr/bin/env python3
"""Two agents talk MCP to a running agentrelay over Streamable HTTP (standard library only).

The "confirmation code" flow an agent meets when it signs up somewhere: the waiting agent asks
wait_for_message for mail from the other agent whose subject contains "code", while the
other agent sends the code with send_email. The waiting agent then reads the message with
read_message, checks that the sender is verified (from_verified) and takes the code out of
the text.

    agentrelay serve                     # prints the first agent's key; MCP at 127.0.0.1:8025/mcp
    agentrelay agent create bob --data agentrelay-data
    examples/agents/http_mcp_agents.py --waiter assistant@agents.localhost --waiter-key ar_... \
        --sender bob@agents.localhost --sender-key ar_...
"""
import argparse
import json
import re
import secrets
import sys
import threading
import urllib.error
import urllib.request

PROTOCOL = "2025-11-25"


class McpHttp:
    """One MCP session over Streamable HTTP (POST /mcp, JSON responses), as one agent."""

    def __init__(self, url, key, name):
        self.url = url
        self.headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json",
                        "Accept": "application/json, text/event-stream"}
        self.next_id = 0
        result, headers = self._post({"jsonrpc": "2.0", "id": self._id(), "method": "initialize",
                                      "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                                                 "clientInfo": {"name": name, "version": "1"}}})
        # Later requests name the session and the revision the server chose.
        self.headers["Mcp-Session-Id"] = headers["Mcp-Session-Id"]
        self.headers["MCP-Protocol-Version"] = result["protocolVersion"]
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.server = result["serverInfo"]

    def _id(self):
        self.next_id += 1
        return self.next_id

    def _post(self, message):
        req = urllib.request.Request(self.url, json.dumps(message).encode(), self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=90) as resp:
                body = resp.read()
                headers = resp.headers
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{message.get('method')}: HTTP {e.code}: {e.read().decode(errors='replace')}")
        if not body:  # a notification: 202 and no body
            return None, headers
        reply = json.loads(body)
        if "error" in reply:
            raise RuntimeError(f"{message['method']}: {reply['error']['message']}")
        return reply["result"], headers

    def call(self, tool, arguments):
        result, _ = self._post({"jsonrpc": "2.0", "id": self._id(), "method": "tools/call",
                                "params": {"name": tool, "arguments": arguments}})
        if result.get("isError"):
            raise RuntimeError(f"{tool}: {result['content'][0]['text']}")
        return result["structuredContent"]

    def close(self):
        req = urllib.request.Request(self.url, headers=self.headers, method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8025/mcp")
    p.add_argument("--waiter-key", required=True, help="API key of the agent that waits for the code")
    p.add_argument("--waiter", required=True, help="that agent's address, e.g. assistant@agents.localhost")
    p.add_argument("--sender-key", required=True, help="API key of the agent that sends the code")
    p.add_argument("--sender", required=True, help="that agent's address, e.g. bob@agents.localhost")
    args = p.parse_args()

    waiter = McpHttp(args.url, args.waiter_key, "http_mcp_agents.py waiter")
    sender = McpHttp(args.url, args.sender_key, "http_mcp_agents.py sender")
    print("connected to", waiter.server["name"], waiter.server["version"])

    # The waiter waits first (up to 60 s a call), in a thread of its own: the call returns as
    # soon as a matching message arrives.
    found = {}
    wait = threading.Thread(target=lambda: found.update(waiter.call(
        "wait_for_message", {"from": args.sender, "subject_contains": "code", "timeout_seconds": 60})))
    wait.start()

    code = f"{secrets.randbelow(10**6):06d}"
    sent = sender.call("send_email", {"to": args.waiter, "subject": "Your confirmation code",
                                      "text": f"Your confirmation code is {code}.\nIt expires in 10 minutes.\n"})
    print("sender: queued", sent["message_id"], [(r["address"], r["status"]) for r in sent["recipients"]])

    wait.join()
    if found.get("timed_out", True) or not found.get("message"):
        print("waiter: no code arrived in time")
        return 1
    summary = found["message"]
    print("waiter: got", repr(summary["subject"]), "from", summary["from"], "verified:", summary["from_verified"])
    if not summary["from_verified"]:
        print("waiter: the sender is not verified: the code is not to be trusted")
        return 1
    message = waiter.call("read_message", {"id": summary["id"]})
    match = re.search(r"\b(\d{6})\b", message["text"])
    print("waiter: code", match.group(1) if match else None, "-", message["authentication"]["summary"])
    waiter.close()
    sender.close()
    return 0 if match and match.group(1) == code else 1


if __name__ == "__main__":
    sys.exit(main())
