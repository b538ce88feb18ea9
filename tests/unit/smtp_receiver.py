#!/usr/bin/python3
"""smtp_receiver.py: a scriptable SMTP receiver (aiosmtpd) for the SMTP client tests.

Usage: /usr/bin/python3 smtp_receiver.py --dir DIR [--host ADDR] [--port N] [--mode MODE]
           [--tls] [--no-pipelining] [--no-smtputf8] [--size N] [--auth USER:PASSWORD]
           [--auth-mechanisms LOGIN,PLAIN] [--delay-data SECONDS]

Listens on ADDR:N (default 127.0.0.1; N=0: any free port) and prints "READY <port>" once
listening. Each accepted message is written to DIR as NNN.json (envelope, options, whether the
envelope arrived pipelined, TLS, AUTH login, the connection number it came over and the time
it arrived, after any delay) and NNN.eml (the message data exactly as received).
DIR/sessions.json always holds the connection counts: {"connections": total accepted,
"active": open now, "peak": most open at once}.
--delay-data waits SECONDS before answering the final dot (a slow receiver).
With --tls a self-signed certificate for "localhost" is made with the openssl CLI and written
to DIR/cert.pem (so a test can trust it) and STARTTLS is offered.

Modes: normal; greet421 / greet554 (a negative greeting, no aiosmtpd); no-ehlo (EHLO refused
with 502, HELO accepted); drop-data (354, then the connection is closed mid-DATA); broken-tls
(with --tls: STARTTLS is offered and answered 220, then garbage instead of a TLS handshake).

Behaviour chosen by address, in every mode:
  MAIL FROM reject@...   -> 550 5.7.1 sender refused
  RCPT TO unknown...@    -> 550 5.1.1 user unknown
  RCPT TO defer...@      -> 451 4.2.1 mailbox busy, try later
  RCPT TO full...@       -> 552 5.2.2 mailbox full
  RCPT TO spam...@       -> 550 5.7.1 message rejected as spam
  RCPT TO multiline...@  -> a three-line 550 5.2.1 reply
  RCPT TO close421...@   -> 421 4.3.2 shutting down
  RCPT TO stall...@      -> no reply at all (the client must time out)
  a message containing "X-Test: reject-554" -> 554 5.7.1 after the final dot
"""
import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Sessions:
    """Counts connections and writes DIR/sessions.json (atomically) whenever that changes."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "sessions.json")
        self.total = self.active = self.peak = 0
        self.write()

    def opened(self):
        self.total += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.write()
        return self.total

    def closed(self):
        self.active -= 1
        self.write()

    def write(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump({"connections": self.total, "active": self.active, "peak": self.peak}, f)
        os.rename(self.path + ".tmp", self.path)


class Handler:
    def __init__(self, args, sessions):
        self.args = args
        self.count = 0
        self.sessions = sessions

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if self.args.mode == "no-ehlo":
            return ["502 5.5.1 EHLO not implemented"]
        session.host_name = hostname
        extra = ["250-ENHANCEDSTATUSCODES"]
        if not self.args.no_pipelining:
            extra.append("250-PIPELINING")
        return responses[:-1] + extra + responses[-1:]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # Pipelined (RFC 2920): the RCPT commands are already waiting behind MAIL.
        envelope.pipelined = len(getattr(server._reader, "_buffer", b"")) > 0
        if address.startswith("reject@"):
            return "550 5.7.1 sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("unknown"):
            return "550 5.1.1 user unknown"
        if local.startswith("full"):
            return "552 5.2.2 mailbox full"
        if local.startswith("spam"):
            return "550 5.7.1 message rejected as spam"
        if local.startswith("defer"):
            return "451 4.2.1 mailbox busy, try later"
        if local.startswith("multiline"):
            return ("550-5.2.1 mailbox disabled\r\n550-5.2.1 second line\r\n"
                    "550 5.2.1 third line")
        if local.startswith("close421"):
            return "421 4.3.2 shutting down"
        if local.startswith("stall"):
            await asyncio.sleep(3600)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        if self.args.delay_data > 0:
            await asyncio.sleep(self.args.delay_data)
        if b"X-Test: reject-554" in data:
            return "554 5.7.1 rejected by content filter"
        self.count += 1
        base = os.path.join(self.args.dir, "%03d" % self.count)
        with open(base + ".eml", "wb") as f:
            f.write(data)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "pipelined": getattr(envelope, "pipelined", False),
            "tls": session.ssl is not None,
            "login": session.auth_data.login.decode()
                     if isinstance(session.auth_data, LoginPassword) else None,
            "connection": getattr(server, "connection_number", None),
            "received_at": time.time(),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued as %03d" % self.count


class Receiver(SMTP):
    # Called again after STARTTLS for the same connection: counted once.
    def connection_made(self, transport):
        if getattr(self, "connection_number", None) is None:
            self.connection_number = self.event_handler.sessions.opened()
        super().connection_made(transport)

    def connection_lost(self, error):
        if not getattr(self, "connection_closed", False):
            self.connection_closed = True
            self.event_handler.sessions.closed()
        super().connection_lost(error)

    async def smtp_STARTTLS(self, arg):
        if self.event_handler.args.mode != "broken-tls":
            return await super().smtp_STARTTLS(arg)
        await self.push("220 2.0.0 Ready to start TLS")
        self.transport.write(b"this is not a TLS server hello\r\n")
        self.transport.close()

    async def smtp_DATA(self, arg):
        if self.event_handler.args.mode != "drop-data" or not self.envelope.rcpt_tos:
            return await super().smtp_DATA(arg)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.read(1)
        self.transport.close()
        await asyncio.sleep(3600)  # cancelled when the connection is gone; reads nothing more


def authenticator(expected):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == expected
        # handled=False: aiosmtpd itself answers 535 to a failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return check


async def negative_greeting(sessions, reader, writer, line):
    sessions.opened()
    try:
        await greet_negatively(reader, writer, line)
    finally:
        sessions.closed()


async def greet_negatively(reader, writer, line):
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    try:
        while True:
            got = await asyncio.wait_for(reader.readline(), 10)
            if not got:
                break
            if got.upper().startswith(b"QUIT"):
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                break
            writer.write(b"503 5.5.1 no service\r\n")
            await writer.drain()
    except asyncio.TimeoutError:
        pass
    writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--mode", default="normal",
                        choices=["normal", "greet421", "greet554", "no-ehlo", "drop-data", "broken-tls"])
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--no-pipelining", action="store_true")
    parser.add_argument("--no-smtputf8", action="store_true")
    parser.add_argument("--size", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--auth", default=None)
    parser.add_argument("--auth-mechanisms", default="LOGIN,PLAIN")
    parser.add_argument("--delay-data", type=float, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    loop = asyncio.get_running_loop()
    sessions = Sessions(args.dir)

    if args.mode in ("greet421", "greet554"):
        line = "421 4.3.2 busy, try later" if args.mode == "greet421" else "554 5.3.2 no service"
        server = await asyncio.start_server(
            lambda r, w: negative_greeting(sessions, r, w, line), args.host, args.port)
    else:
        handler = Handler(args, sessions)
        tls_context = make_certificate(args.dir) if args.tls else None
        options = {}
        if args.auth:
            user, password = args.auth.split(":", 1)
            options["authenticator"] = authenticator((user, password))
            every = {"LOGIN", "PLAIN"}
            options["auth_exclude_mechanism"] = every - set(args.auth_mechanisms.split(","))
        server = await loop.create_server(
            lambda: Receiver(handler, hostname="mx.test", loop=loop,
                             enable_SMTPUTF8=not args.no_smtputf8, data_size_limit=args.size,
                             tls_context=tls_context, **options),
            args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
