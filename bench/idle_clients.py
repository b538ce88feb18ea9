#!/usr/bin/python3
"""bench/idle_clients.py: what a crowd of waiting agents puts on the HTTP door while a load runs.

Opens IDLE keep-alive connections (each sends GET /healthz, reads the answer and stays open,
silent but for one more every 30 s, inside the door's 60 s idle limit) and WAITERS long-polls (MCP 2026-07-28 tools/call wait_for_message with a subject
no mail has, 60 s; each starts again when it times out), and keeps them until SIGTERM. Writes
"ready idle=N waiters=N" to the status file once every one of them is open, and
"lost=N" when a connection closed under it.

Usage: idle_clients.py --port P --key KEY --idle 1000 --waiters 500 --status FILE
"""
import argparse
import asyncio
import json
import resource
import signal


async def ping(reader, writer):
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    await reader.readexactly(length)


async def idle_connection(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await ping(reader, writer)
    return reader, writer


async def keep_open(conn, lost):
    """One request every 30 s, inside the door's 60 s idle limit: otherwise silent."""
    reader, writer = conn
    while True:
        await asyncio.sleep(30)
        try:
            await ping(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            lost[0] += 1
            return


async def waiter(port, key, ready, lost):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "wait_for_message",
                                  "arguments": {"subject_contains": "never-sent-subject", "timeout_seconds": 60},
                                  "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                            "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nAuthorization: Bearer {key}\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            f"Mcp-Method: tools/call\r\nMcp-Name: wait_for_message\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    first = True
    while True:
        writer.write(head + body)
        await writer.drain()
        if first:
            ready.release()
            first = False
        try:
            h = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            lost[0] += 1
            return
        length = int([l for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        await reader.readexactly(length)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--waiters", type=int, default=500)
    ap.add_argument("--status", required=True)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lost = [0]
    idle = [await idle_connection(a.port) for _ in range(a.idle)]
    keepers = [asyncio.create_task(keep_open(c, lost)) for c in idle]
    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(waiter(a.port, a.key, ready, lost)) for _ in range(a.waiters)]
    for _ in range(a.waiters):
        await ready.acquire()
    with open(a.status, "w") as f:
        f.write(f"ready idle={len(idle)} waiters={a.waiters}\n")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1)
        except asyncio.TimeoutError:
            pass
        with open(a.status, "w") as f:
            f.write(f"ready idle={len(idle)} waiters={a.waiters} lost={lost[0]}\n")
    for t in tasks + keepers:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
