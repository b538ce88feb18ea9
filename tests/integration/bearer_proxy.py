#!/usr/bin/python3
"""bearer_proxy.py: a loopback HTTP/1.1 proxy that adds `Authorization: Bearer KEY` to every
request it forwards, for clients that send no key (the MCP conformance suite). Requests are
forwarded as they come (bodies by Content-Length); answers, event streams included, flow back
untouched.

Usage: bearer_proxy.py --listen PORT --to PORT --key KEY   (prints "ready" once listening)
"""
import argparse
import asyncio


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def requests(client, upstream, key):
    try:
        while True:
            head = await client.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = 0
            out = [lines[0]]
            for line in lines[1:]:
                if line.lower().startswith(b"authorization:"):
                    continue
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                out.append(line)
            out.insert(1, b"Authorization: Bearer " + key.encode())
            upstream.write(b"\r\n".join(out))
            if length:
                upstream.write(await client.readexactly(length))
            await upstream.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        upstream.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()

    async def handle(client_r, client_w):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", a.to)
        await asyncio.gather(requests(client_r, up_w, a.key), pipe(up_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", a.listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
