"""The device's serial console, as a line transport over TCP or a pseudo-terminal.

A bench device is reached over a serial line; here the same byte stream goes over TCP
(`socket://127.0.0.1:PORT` in pyserial, simplest for tests) or over a pty (`/dev/pts/N`, for
tools that expect a real tty, like `screen` or `minicom`). The UART only frames lines: what a
line means is the firmware's business (the handler it is given).

Lines end in LF (CR LF accepted). A line longer than `MAX_LINE` bytes is answered with an
error and skipped, so a runaway client cannot grow the device's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from collections.abc import Awaitable, Callable

from .errors import UartError

__all__ = ["LineHandler", "TcpConsole", "PtyConsole", "MAX_LINE"]

LineHandler = Callable[[str], Awaitable[list[str]]]
MAX_LINE = 8192
_TOO_LONG = f"ERR line too long: at most {MAX_LINE} bytes".encode()


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def _encode(lines: list[str]) -> bytes:
    return b"".join(line.encode("utf-8", errors="replace") + b"\r\n" for line in lines)


class TcpConsole:
    """The console over TCP: each connection is one serial session, commands run in order."""

    def __init__(self, handler: LineHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        try:
            self._server = await asyncio.start_server(self._session, self._host, self._port,
                                                      limit=MAX_LINE + 2)
        except OSError as exc:
            raise UartError(f"cannot open console on {self._host}:{self._port}: {exc.strerror}") from exc
        self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    @property
    def address(self) -> str:
        return f"tcp:{self._host}:{self._port}"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raw = exc.partial
                    if not raw:
                        break
                except asyncio.LimitOverrunError:
                    # Discard the rest of the over-long line, then report it.
                    while True:
                        try:
                            await reader.readuntil(b"\n")
                            break
                        except asyncio.LimitOverrunError as exc:
                            await reader.readexactly(exc.consumed)
                    writer.write(_TOO_LONG + b"\r\n")
                    await writer.drain()
                    continue
                writer.write(_encode(await self._handler(_decode(raw))))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)
            await self._server.wait_closed()


class PtyConsole:
    """The console on a pseudo-terminal, as a USB-serial adapter would show up.

    The device keeps its own handle on the terminal side open, so clients may come and go
    without the master seeing EIO; the line is put in raw mode (no echo), like a UART.
    """

    def __init__(self, handler: LineHandler) -> None:
        self._handler = handler
        self._master = -1
        self._slave = -1
        self._buffer = bytearray()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.path = ""

    async def start(self) -> str:
        try:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave, termios.TCSANOW)
            self.path = os.ttyname(self._slave)
        except OSError as exc:
            raise UartError(f"cannot open a pseudo-terminal: {exc.strerror}") from exc
        os.set_blocking(self._master, False)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._worker = loop.create_task(self._work())
        return self.path

    @property
    def address(self) -> str:
        return f"pty:{self.path}"

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
            self._queue.put_nowait(_decode(raw))
        if len(self._buffer) > MAX_LINE:
            self._buffer.clear()
            self._write(_TOO_LONG + b"\r\n")

    async def _work(self) -> None:
        while True:
            line = await self._queue.get()
            self._write(_encode(await self._handler(line)))

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
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
