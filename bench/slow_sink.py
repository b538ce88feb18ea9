#!/usr/bin/python3
"""slow_sink.py: an SMTP sink that answers every command slowly, for bench/run.sh.

Each reply (the greeting, EHLO, MAIL, RCPT, DATA, the end of data, QUIT...) is sent DELAY
seconds after the command arrived, so a conversation holds its connection for many seconds
and a relay delivering many messages at once must keep many sessions open together. The sink
accepts every message and keeps nothing. Pipelined commands are answered one by one, each
after its own delay (replies keep their order).

It counts sessions open now, the peak of sessions open at once, and messages accepted, and
rewrites STATUS_FILE with "sessions=N peak=N messages=N" whenever they change (at most every
0.1 s) and once more on exit (SIGTERM/SIGINT).

    slow_sink.py --listen 127.0.0.1:PORT --delay 1.0 --status FILE [--dump FILE]

--dump writes the first message received (its data, CRLF line ends, dot-unstuffed) to FILE,
so the benchmark can check what the relay sent (its DKIM signatures).

Loopback only by intent: the benchmark never listens elsewhere.
"""
import argparse
import asyncio
import os
import signal


class Stats:
    def __init__(self, path):
        self.path = path
        self.sessions = 0
        self.peak = 0
        self.messages = 0
        self.dirty = True

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"sessions={self.sessions} peak={self.peak} messages={self.messages}\n")
        os.replace(tmp, self.path)
        self.dirty = False


async def session(reader, writer, stats, delay, dump):
    stats.sessions += 1
    stats.peak = max(stats.peak, stats.sessions)
    stats.dirty = True

    async def reply(text):
        await asyncio.sleep(delay)
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    try:
        await reply("220 slow-sink.bench.test ESMTP")
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO",):
                await reply("250-slow-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800")
            elif verb == b"HELO":
                await reply("250 slow-sink.bench.test")
            elif verb == b"DATA":
                await reply("354 go ahead")
                lines = []
                while True:
                    data = await reader.readline()
                    if not data:
                        return
                    if data in (b".\r\n", b".\n"):
                        break
                    if dump and stats.messages == 0:
                        lines.append(data[1:] if data.startswith(b"..") else data)
                if dump and stats.messages == 0:
                    with open(dump, "wb") as f:
                        f.write(b"".join(lines))
                stats.messages += 1
                stats.dirty = True
                await reply("250 2.0.0 accepted")
            elif verb == b"QUIT":
                await reply("221 2.0.0 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP: all fine
                await reply("250 2.0.0 ok")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        stats.sessions -= 1
        stats.dirty = True
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="127.0.0.1:PORT")
    p.add_argument("--delay", type=float, default=1.0, help="seconds before each reply")
    p.add_argument("--status", required=True, help="file rewritten with the counters")
    p.add_argument("--dump", help="file to write the first message to")
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    stats = Stats(a.status)
    server = await asyncio.start_server(
        lambda r, w: session(r, w, stats, a.delay, a.dump), host, int(port), backlog=4096, limit=1 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    stats.write()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except asyncio.TimeoutError:
            pass
        if stats.dirty:
            stats.write()
    server.close()
    stats.write()


if __name__ == "__main__":
    asyncio.run(main())
