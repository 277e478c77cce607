"""The console client: drive a device's serial console from scripts, scenarios and pytest.

The same client talks to a simulated device and to a bench device on a real serial port
(`/dev/ttyUSB0`), through pyserial. A console address is given in any form a device prints or
a person types: `tcp:HOST:PORT` (what `mfp-sim device` and the demo print),
`socket://HOST:PORT` (pyserial's form), or a terminal, `/dev/pts/N`. A command's reply ends at
its `OK` or `ERR` line; every read is bounded by the timeout, so a dead device fails the
script instead of hanging it. Lines the device streams between replies (`event=…`, after
`events on`) are kept apart in `MfpConsole.events`, never mixed into a reply.

`mfp_sim.tools.hil` re-exports it with the pytest plugin (docs/hil.md).
"""

from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import serial
from serial.urlhandler import protocol_socket

__all__ = ["ConsoleReply", "MfpConsole", "HilError", "HilTimeout", "serial_url"]


def serial_url(address: str) -> str:
    """A console address as pyserial opens it: `tcp:HOST:PORT` → `socket://HOST:PORT`;
    `socket://…`, `/dev/pts/N` and any other pyserial URL or device path unchanged."""
    text = address.strip()
    if text.startswith("tcp:"):
        return "socket://" + text.removeprefix("tcp:")
    if text.startswith("pty:"):
        return text.removeprefix("pty:")
    return text


class _SocketPort(protocol_socket.Serial):  # type: ignore[misc]
    """pyserial's `socket://` port, without the 0.3 s sleep its `close()` adds "in case of quick
    reconnects": a scenario run or a pytest session opens and closes many connections, and the
    device's console accepts a new one at once."""

    def close(self) -> None:
        port: Any = self  # pyserial is untyped
        if port.is_open:
            sock: socket.socket | None = port._socket
            port._socket = None
            port.is_open = False
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def _open(url: str, baudrate: int) -> Any:
    if url.startswith("socket://"):
        return _SocketPort(url, baudrate=baudrate, timeout=0.2)
    return serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)


class HilError(Exception):
    """The device answered ERR where OK was required."""


class HilTimeout(HilError):
    """No complete reply within the timeout."""


@dataclass
class ConsoleReply:
    command: str
    lines: list[str]
    ok: bool
    error: str = ""
    values: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.values[key]


class MfpConsole:
    def __init__(self, url: str, *, timeout: float = 10.0, baudrate: int = 115200,
                 password: str | None = None) -> None:
        """Open the console at `url` (any form `serial_url` takes); with `password`, log in."""
        self.url = serial_url(url)
        self.timeout = timeout
        self.events: list[str] = []  # streamed `event=…` lines, in arrival order
        self._port = _open(self.url, baudrate)
        self._pending = b""
        if password is not None:
            self.ok(f"login {shlex.quote(password)}")

    def _read_line(self, deadline: float) -> str | None:
        """One whole line from the device, or None when the deadline passed."""
        while b"\n" not in self._pending:
            if time.monotonic() > deadline:
                return None
            self._pending += self._port.read_until(b"\n")
        raw, _, self._pending = self._pending.partition(b"\n")
        return raw.rstrip(b"\r").decode("utf-8", errors="replace")

    def wait_event(self, prefix: str = "event=", *, timeout: float | None = None) -> str:
        """The first streamed line starting with `prefix` (read or already kept); bounded."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            for i, kept in enumerate(self.events):
                if kept.startswith(prefix):
                    return self.events.pop(i)
            line = self._read_line(deadline)
            if line is None:
                raise HilTimeout(f"no streamed line starting with {prefix!r} within the timeout")
            if line.startswith("event="):
                self.events.append(line)

    def run(self, command: str, *, timeout: float | None = None) -> ConsoleReply:
        """Send one line; return its reply (OK or ERR) within `timeout` seconds."""
        if "\n" in command or "\r" in command:
            raise ValueError("one command per call: no line breaks")
        self._port.write(command.encode("utf-8") + b"\n")
        self._port.flush()
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        lines: list[str] = []
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise HilTimeout(f"no OK/ERR for {command!r} within the timeout; got {lines!r}")
            if line.startswith("event=") and not lines:
                self.events.append(line)  # streamed between replies: not part of this one
                continue
            if line == "OK" or line.startswith("ERR"):
                values = dict(x.split("=", 1) for x in lines if "=" in x)
                return ConsoleReply(command, lines, line == "OK", line[4:] if line != "OK" else "", values)
            lines.append(line)

    def ok(self, command: str, *, timeout: float | None = None) -> ConsoleReply:
        """Like `run`, but an ERR raises `HilError` with the device's reason."""
        reply = self.run(command, timeout=timeout)
        if not reply.ok:
            raise HilError(f"{command!r} → ERR {reply.error}")
        return reply

    def settle(self, store: str, timeout: float | None = None) -> ConsoleReply:
        """After an approval, let the device poll until `store` is no longer Waiting; its
        status reply (state retrieved, or the state and reason the flow ended with).

        On a virtual clock the device polls only when its clock moves, so the clock is moved
        on 5 s (a poll interval) at a time; on a real clock this only watches. Bounded by
        `timeout` real seconds (`HilTimeout`)."""
        limit = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + limit
        virtual = self.ok("clock").values.get("kind") == "virtual"
        while True:
            if virtual:
                self.ok("clock advance 5")
            step_end = min(deadline, time.monotonic() + 0.3) if virtual else deadline
            while True:
                status = self.ok(f"token {store} status")
                if status.values.get("state") != "waiting":
                    return status
                if time.monotonic() >= step_end:
                    break
                time.sleep(0.02)
            if time.monotonic() >= deadline:
                raise HilTimeout(f"{store} is still waiting for authorization {limit:g} s after "
                                 "the approval")

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> MfpConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
