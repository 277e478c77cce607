"""The device's serial console, as a line transport over TCP or a pseudo-terminal.

A bench device is reached over a serial line; here the same byte stream goes over TCP
(`socket://127.0.0.1:PORT` in pyserial, simplest for tests) or over a pty (`/dev/pts/N`, for
tools that expect a real tty, like `screen` or `minicom`). The UART only frames lines: what a
line means is the firmware's business. The firmware gives the UART a factory of sessions;
each TCP connection gets a session of its own (its login, its event subscription), the pty one.

Framing, the same on both transports:
- a line ends in LF (CR LF accepted); only a complete line is handed to the firmware. Bytes
  after the last LF when the connection closes are a cut-off line and are dropped, never run;
- a line longer than `MAX_LINE` bytes is answered with an error and skipped, so a runaway
  client cannot grow the device's memory;
- a line that is not UTF-8 is answered with an error and not run;
- replies are written whole, and what the session has to say on its own (an event it streams)
  is written only between replies, never inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import termios
import tty
from collections.abc import Callable
from typing import Protocol

from .errors import UartError

__all__ = ["LineSession", "SessionFactory", "TcpConsole", "PtyConsole", "MAX_LINE",
           "frame", "tcp_address"]

log = logging.getLogger(__name__)

MAX_LINE = 8192
_TOO_LONG = f"ERR line too long: at most {MAX_LINE} bytes; nothing was run"
_NOT_UTF8 = "ERR the line is not UTF-8 text; nothing was run"


class LineSession(Protocol):
    """What the firmware puts behind one console connection."""

    async def execute(self, line: str) -> list[str]:
        """Run one complete line; the reply lines (the last one OK or ERR, or none)."""
        ...

    async def unsolicited(self) -> str:
        """Wait for the next line the session says on its own (a streamed event)."""
        ...

    def close(self) -> None:
        """The connection is gone."""
        ...


SessionFactory = Callable[[], LineSession]


def frame(raw: bytes) -> str | list[str]:
    """One received line (its LF included) as text for the firmware, or the UART's own reply."""
    body = raw[:-1] if raw.endswith(b"\n") else raw
    if body.endswith(b"\r"):
        body = body[:-1]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return [_NOT_UTF8]


def _encode(lines: list[str]) -> bytes:
    return b"".join(line.encode("utf-8", errors="replace") + b"\r\n" for line in lines)


def tcp_address(host: str, port: int) -> str:
    """The address every tool accepts for a TCP console (`tcp:HOST:PORT`; IPv6 in brackets)."""
    return f"tcp:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"


async def _run_line(session: LineSession, text: str | list[str]) -> list[str]:
    if isinstance(text, list):
        return text
    return await session.execute(text)


class TcpConsole:
    """The console over TCP: each connection is one serial session, commands run in order."""

    def __init__(self, sessions: SessionFactory, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sessions_of = sessions
        self.host = host
        self._port = port
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        try:
            self._server = await asyncio.start_server(self._connection, self.host, self._port,
                                                      limit=MAX_LINE + 2)
        except OSError as exc:
            raise UartError(f"cannot open console on {self.host}:{self._port}: {exc.strerror}") from exc
        self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return tcp_address(self.host, self._port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = self._sessions_of()
        turn = asyncio.Lock()  # a reply, or one streamed line: never one inside the other
        streamer = asyncio.get_running_loop().create_task(self._stream(session, writer, turn))
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        log.info("console: a cut-off line of %d bytes dropped at close",
                                 len(exc.partial))
                    break
                except asyncio.LimitOverrunError:
                    await self._skip_long_line(reader)
                    async with turn:
                        writer.write(_encode([_TOO_LONG]))
                        await writer.drain()
                    continue
                async with turn:
                    writer.write(_encode(await _run_line(session, frame(raw))))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the console is stopping (`stop` waits for this task to end)
        finally:
            streamer.cancel()
            await asyncio.gather(streamer, return_exceptions=True)
            session.close()
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _skip_long_line(reader: asyncio.StreamReader) -> None:
        """Discard the rest of an over-long line (up to its LF, or the end of the stream)."""
        while True:
            try:
                await reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await reader.readexactly(exc.consumed)

    @staticmethod
    async def _stream(session: LineSession, writer: asyncio.StreamWriter, turn: asyncio.Lock) -> None:
        while True:
            line = await session.unsolicited()
            async with turn:
                writer.write(_encode([line]))
                await writer.drain()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()


class PtyConsole:
    """The console on a pseudo-terminal, as a USB-serial adapter would show up.

    The device keeps its own handle on the terminal side open, so clients may come and go
    without the master seeing EIO; the line is put in raw mode (no echo), like a UART. A
    terminal is one line: it has one session, whoever has it open.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions_of = sessions
        self._session: LineSession | None = None
        self._master = -1
        self._slave = -1
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long line: drop up to its LF
        self._queue: asyncio.Queue[str | list[str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.path = ""

    async def start(self) -> str:
        try:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave, termios.TCSANOW)
            self.path = os.ttyname(self._slave)
        except OSError as exc:
            raise UartError(f"cannot open a pseudo-terminal: {exc.strerror}") from exc
        os.set_blocking(self._master, False)
        self._session = self._sessions_of()
        turn = asyncio.Lock()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._tasks = [loop.create_task(self._work(self._session, turn)),
                       loop.create_task(self._stream(self._session, turn))]
        return self.path

    @property
    def address(self) -> str:
        """The terminal's path: what pyserial and the tools open (`/dev/pts/N`)."""
        return self.path

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EAGAIN):
                return
            raise
        self._buffer += data
        while (i := self._buffer.find(b"\n")) >= 0:
            raw, self._buffer = bytes(self._buffer[: i + 1]), self._buffer[i + 1:]
            if self._skipping:
                self._skipping = False
                continue
            if len(raw) > MAX_LINE + 2:
                self._queue.put_nowait([_TOO_LONG])
                continue
            self._queue.put_nowait(frame(raw))
        if len(self._buffer) > MAX_LINE + 2:
            self._buffer.clear()
            if not self._skipping:
                self._skipping = True
                self._queue.put_nowait([_TOO_LONG])

    async def _work(self, session: LineSession, turn: asyncio.Lock) -> None:
        while True:
            text = await self._queue.get()
            async with turn:
                self._write(_encode(await _run_line(session, text)))

    async def _stream(self, session: LineSession, turn: asyncio.Lock) -> None:
        while True:
            line = await session.unsolicited()
            async with turn:
                self._write(_encode([line]))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                # Nobody is reading the terminal and its buffer is full: drop, as a UART would.
                return
            view = view[n:]

    async def stop(self) -> None:
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            self._session.close()
            self._session = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
