"""The floor: minimal asyncio clients that do only TLS and the protocol's bytes.

For the benchmark only. Each is the least any client must do to move the same message over
the same protocol: open the connection, TLS (with certificate checks), SASL XOAUTH2, and the
commands and replies, read only as far as needed to know the reply code. No parsing beyond
that, no error recovery, no storage, no logging; the message is dot-stuffed once, before the
clock starts. The device and the stdlib clients are compared to it to see how far each is
from the limit that the protocol, TLS and the event loop set on this machine.

The floor uses the same round trips as the others (no pipelining): it is a floor for the same
conversation, not a cleverer one.
"""

from __future__ import annotations

import asyncio
import base64
import ssl

__all__ = ["FloorError", "dot_stuff", "smtp_send", "pop_drain", "pop_list"]


class FloorError(Exception):
    """The server answered with something other than what the conversation expects."""


def xoauth2(user: str, token: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


def dot_stuff(message: bytes) -> bytes:
    """The DATA payload with its terminator (RFC 5321 §4.5.2), CRLF line ends assumed."""
    body = message if message.endswith(b"\r\n") else message + b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


async def _smtp_reply(reader: asyncio.StreamReader, expected: int) -> None:
    while True:
        line = await reader.readline()
        if len(line) < 4:
            raise FloorError(f"SMTP: connection closed or short reply {line!r}")
        if line[3:4] != b"-":
            break
    if int(line[:3]) != expected:
        raise FloorError(f"SMTP: expected {expected}, got {line.decode(errors='replace')!r}")


async def smtp_send(host: str, port: int, ctx: ssl.SSLContext, *, user: str, token: str,
                    sender: str, to: str, payload: bytes, size: int) -> None:
    """One session: EHLO, STARTTLS, EHLO, AUTH XOAUTH2, MAIL, RCPT, DATA, QUIT."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await _smtp_reply(reader, 220)
        writer.write(b"EHLO floor.bench\r\n")
        await _smtp_reply(reader, 250)
        writer.write(b"STARTTLS\r\n")
        await _smtp_reply(reader, 220)
        await writer.start_tls(ctx, server_hostname=host)
        for line, code in ((b"EHLO floor.bench", 250),
                           (f"AUTH XOAUTH2 {xoauth2(user, token)}".encode(), 235),
                           (f"MAIL FROM:<{sender}> SIZE={size}".encode(), 250),
                           (f"RCPT TO:<{to}>".encode(), 250),
                           (b"DATA", 354)):
            writer.write(line + b"\r\n")
            await _smtp_reply(reader, code)
        writer.write(payload)
        await _smtp_reply(reader, 250)
        writer.write(b"QUIT\r\n")
        await _smtp_reply(reader, 221)
    finally:
        writer.close()
        await writer.wait_closed()


async def _pop_ok(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line.startswith(b"+OK"):
        raise FloorError(f"POP3: {line.decode(errors='replace')!r}")
    return line


async def _pop_open(host: str, port: int, ctx: ssl.SSLContext, user: str,
                    token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host,
                                                   limit=2**26)
    await _pop_ok(reader)
    writer.write(f"AUTH XOAUTH2 {xoauth2(user, token)}\r\n".encode())
    await _pop_ok(reader)
    return reader, writer


async def _pop_quit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"QUIT\r\n")
    await _pop_ok(reader)
    writer.close()
    await writer.wait_closed()


async def pop_drain(host: str, port: int, ctx: ssl.SSLContext, *, user: str,
                    token: str) -> int:
    """POP3S: AUTH XOAUTH2, STAT, RETR + DELE each message, QUIT; returns how many."""
    reader, writer = await _pop_open(host, port, ctx, user, token)
    writer.write(b"STAT\r\n")
    count = int((await _pop_ok(reader)).split()[1])
    for number in range(1, count + 1):
        writer.write(b"RETR %d\r\n" % number)
        await _pop_ok(reader)
        await reader.readuntil(b"\r\n.\r\n")
        writer.write(b"DELE %d\r\n" % number)
        await _pop_ok(reader)
    await _pop_quit(reader, writer)
    return count


async def pop_list(host: str, port: int, ctx: ssl.SSLContext, *, user: str, token: str) -> int:
    """POP3S: AUTH XOAUTH2, UIDL, LIST, QUIT (a poll that finds nothing new); returns count."""
    reader, writer = await _pop_open(host, port, ctx, user, token)
    counts = []
    for command in (b"UIDL\r\n", b"LIST\r\n"):
        writer.write(command)
        await _pop_ok(reader)
        listing = await reader.readuntil(b".\r\n")  # the bench's UIDL and LIST lines hold no "."
        counts.append(listing.count(b"\r\n") - 1)
    await _pop_quit(reader, writer)
    if counts[0] != counts[1]:
        raise FloorError(f"POP3: UIDL lists {counts[0]} messages, LIST {counts[1]}")
    return counts[0]
