"""A POP3 server for the receive tests that the bench does not provide: its mailbox is generated.

`GeneratedMailbox(count, make)` advertises `count` messages and builds message n with
`make(n)` only when it is read, so a mailbox of 400,000 messages costs nothing until the
device asks for one. It can misbehave the ways real servers do:

* `vanish`: message numbers another client removed meanwhile: RETR and DELE answer
  Dovecot's `-ERR Message <n> expunged.`;
* `capa` / `plaintext_refused`: what CAPA lists in clear, and whether sign-in before TLS is
  refused with Dovecot's words (`-ERR [AUTH] Plaintext authentication disabled.`).

It never does TLS (security `off`): it records every line it receives (`lines`) so a test can
check what the device sent in clear. USER/PASS accepts any password, AUTH XOAUTH2 any token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Self

__all__ = ["DOVECOT_EXPUNGED", "DOVECOT_PLAINTEXT_DISABLED", "GeneratedMailbox"]

#: Dovecot 2.3's words (checked against dovecot 2.3.19: tests/test_receive_security.py).
DOVECOT_EXPUNGED = "-ERR Message {n} expunged."
DOVECOT_PLAINTEXT_DISABLED = "-ERR [AUTH] Plaintext authentication disabled."
DOVECOT_USER_PLAINTEXT = ("-ERR [AUTH] Plaintext authentication disallowed on non-secure "
                          "(SSL/TLS) connections.")


class LoopbackServer:
    """A TCP server on 127.0.0.1 (port chosen by the OS) for `async with`; a subclass
    answers each connection in `_session`."""

    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class GeneratedMailbox(LoopbackServer):
    def __init__(
        self,
        count: int,
        make: Callable[[int], bytes],
        *,
        size: int | None = None,
        vanish: frozenset[int] = frozenset(),
        capa: tuple[str, ...] = ("TOP", "UIDL", "RESP-CODES", "USER", "SASL PLAIN XOAUTH2"),
        plaintext_refused: bool = False,
        uid_prefix: str = "uid",
    ) -> None:
        self.count = count
        self.make = make
        self.size = size  # LIST size of every message; None: the real size (made to measure)
        self.vanish = vanish
        self.capa = capa
        self.plaintext_refused = plaintext_refused
        self.uid_prefix = uid_prefix.encode()
        self.lines: list[str] = []
        self.retrieved: list[int] = []
        self.deleted: set[int] = set()  # committed by QUIT
        self.dele_reads = 0  # socket reads that brought DELE commands (pipelining: few)

    def commands(self) -> list[str]:
        return [line.split(" ")[0].upper() for line in self.lines]

    def _size(self, n: int) -> int:
        return self.size if self.size is not None else len(self.make(n))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        marked: set[int] = set()

        async def send(*lines: bytes) -> None:
            writer.write(b"".join(line + b"\r\n" for line in lines))
            await writer.drain()

        async def listing(line: Callable[[int], bytes]) -> None:
            writer.write(b"+OK\r\n")
            step = 20_000
            for start in range(1, self.count + 1, step):
                end = min(self.count + 1, start + step)
                writer.write(b"".join(line(n) + b"\r\n" for n in range(start, end)
                                      if n not in marked))
                await writer.drain()
            await send(b".")

        pending: list[bytes] = []

        async def next_line() -> bytes:
            """A line; counts the reads that bring DELE commands (what pipelining saves)."""
            if not pending:
                chunk = await reader.read(65536)
                if not chunk:
                    return b""
                while not chunk.endswith(b"\n"):
                    more = await reader.read(65536)
                    if not more:
                        break
                    chunk += more
                if b"DELE" in chunk:
                    self.dele_reads += 1
                pending.extend(chunk.splitlines(keepends=True))
            return pending.pop(0)

        try:
            await send(b"+OK generated mailbox ready")
            while raw := await next_line():
                text = raw.decode("latin-1").rstrip("\r\n")
                self.lines.append(text)
                word, _, rest = text.partition(" ")
                word = word.upper()
                if word == "CAPA":
                    await send(b"+OK", *(c.encode() for c in self.capa), b".")
                elif word in ("USER", "PASS", "AUTH"):
                    if self.plaintext_refused:
                        await send((DOVECOT_USER_PLAINTEXT if word != "AUTH"
                                    else DOVECOT_PLAINTEXT_DISABLED).encode())
                    else:
                        await send(b"+OK")
                elif word == "STAT":
                    await send(b"+OK %d %d" % (self.count, self.count * (self.size or 1000)))
                elif word == "UIDL":
                    await listing(lambda n: b"%d %s-%d" % (n, self.uid_prefix, n))
                elif word == "LIST":
                    await listing(lambda n: b"%d %d" % (n, self._size(n)))
                elif word == "RETR":
                    n = int(rest)
                    if n in self.vanish:
                        await send(DOVECOT_EXPUNGED.format(n=n).encode())
                        continue
                    self.retrieved.append(n)
                    body = self.make(n).replace(b"\r\n.", b"\r\n..")
                    await send(b"+OK", body.rstrip(b"\r\n"), b".")
                elif word == "DELE":
                    n = int(rest)
                    if n in self.vanish:
                        await send(DOVECOT_EXPUNGED.format(n=n).encode())
                        continue
                    marked.add(n)
                    await send(b"+OK")
                elif word == "QUIT":
                    self.deleted |= marked
                    await send(b"+OK bye")
                    break
                else:
                    await send(b"+OK")
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()
