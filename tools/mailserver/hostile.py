"""A POP3 "server" that breaks the protocol on purpose, to test the device's bounds.

The real bench server never sends a malformed, endless or oversized reply, so the device's
defences against such servers (a captive portal on port 110, a broken middlebox, a server
under attack) are tested against this one. It speaks just enough POP3 to reach the point where
it misbehaves: every command gets "+OK" until the one its `Hostility` is about.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from typing import Self

__all__ = ["HostilePop3Server", "Hostility"]

_CHUNK = b"A" * 16384


class Hostility(enum.Enum):
    GARBAGE_GREETING = "garbage_greeting"  # "HELLO THERE", neither +OK nor -ERR
    ENDLESS_GREETING = "endless_greeting"  # "+OK AAAA..." forever, never a line end
    OVERSIZED_GREETING = "oversized_greeting"  # "+OK " + 1 MiB + CRLF
    SILENT = "silent"  # accepts the connection, never says a word
    MALFORMED_REPLY = "malformed_reply"  # good greeting, then "OK maybe" to every command
    ENDLESS_RETR = "endless_retr"  # RETR: "+OK" then lines forever, never the final "."
    CLOSE_MID_REPLY = "close_mid_reply"  # RETR: "+OK" and half a message, then close


class HostilePop3Server:
    """Listens on 127.0.0.1 with an OS-chosen `port`; `await start()`, `await stop()`."""

    OVERSIZED = 1024 * 1024

    def __init__(
        self,
        hostility: Hostility,
        host: str = "127.0.0.1",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.hostility = hostility
        self.host = host
        self.port = 0
        self._tls = tls_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.commands: list[str] = []  # what clients sent (tests may look)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, 0, ssl=self._tls)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._misbehave(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        h = self.hostility
        if h is Hostility.SILENT:
            await reader.read()  # until the client gives up
            return
        if h is Hostility.GARBAGE_GREETING:
            writer.write(b"HELLO THERE\r\n")
            await writer.drain()
            await reader.read()
            return
        if h is Hostility.ENDLESS_GREETING:
            writer.write(b"+OK ")
            while True:
                writer.write(_CHUNK)
                await writer.drain()
        if h is Hostility.OVERSIZED_GREETING:
            writer.write(b"+OK " + b"A" * self.OVERSIZED + b"\r\n")
            await writer.drain()
            await reader.read()
            return
        writer.write(b"+OK hostile POP3 ready\r\n")
        await writer.drain()
        while line := await reader.readline():
            command = line.decode("latin-1").strip()
            self.commands.append(command.split(" ")[0].upper())
            keyword = command.split(" ")[0].upper()
            if h is Hostility.MALFORMED_REPLY:
                writer.write(b"OK maybe\r\n")
            elif keyword == "RETR" and h is Hostility.ENDLESS_RETR:
                writer.write(b"+OK\r\n")
                while True:
                    writer.write(b"X-Endless: " + _CHUNK[:64] + b"\r\n")
                    await writer.drain()
            elif keyword == "RETR" and h is Hostility.CLOSE_MID_REPLY:
                writer.write(b"+OK 1000 octets\r\nSubject: half\r\n\r\nthe first ha")
                await writer.drain()
                return
            elif keyword == "QUIT":
                writer.write(b"+OK bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"+OK\r\n")
            await writer.drain()
