"""The device's POP3 client (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034) on asyncio.

No maintained asyncio POP3 client exists, and stdlib `poplib` blocks and mistakes the `+ `
challenge of a refused XOAUTH2 for success, so the device has its own. It is small on purpose:
one command at a time, every reply checked, and bounds everywhere, because a device on a
customer network meets captive portals, broken middleboxes and hostile servers:

* every public operation must finish within `timeout` seconds of event-loop time (network time:
  it guards a real socket, whatever the device clock says), or it raises `Pop3Timeout`;
* no status line may exceed `max_line` bytes and no multi-line reply `max_message_size`
  bytes (`Pop3ProtocolError`), so an endless or oversized reply cannot eat the device's memory;
* replies are read in large chunks into one buffer of the client's own: the end of a
  multi-line reply is found by jumping from dot to dot in each read (`multiline.py`) and the
  body is un-dot-stuffed with one bytes operation when it has stuffed dots at all, not a line
  at a time (a fax is about 1,000 base64 lines); lines inside it are bounded by the message
  size only, as RFC 1939 sets no line limit there;
* after a timeout or a protocol error the session state is unknown, so the connection is
  dropped without QUIT: the server then deletes nothing (RFC 1939 §6).

Errors are told apart by what the administrator must do next (see `errors.py`); the server's
own -ERR text always travels unchanged in the exception.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, Self

from mfp_sim.firmware.settings import Security
from mfp_sim.firmware.vocabulary import Step

from .errors import (
    Pop3AuthError,
    Pop3ConnectError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3Timeout,
    Pop3TlsError,
    Pop3TokenRejected,
    Pop3TooLarge,
    response_code,
)
from .multiline import body_end, last_line, scan_body

__all__ = ["MAX_COMMAND_LINE", "Pop3Client", "Security"]

#: RFC 2449 §4: command lines are at most 255 octets including CRLF.
MAX_COMMAND_LINE = 255
#: Bytes asked of the socket at a time (TLS hands over up to 16 KiB records, several at once).
_READ_SIZE = 256 * 1024
#: RFC 3206 codes that say a refusal is not about the credentials.
_NOT_CREDENTIALS = frozenset({"IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"})


def _preview(raw: bytes, limit: int = 60) -> str:
    """A bounded, printable excerpt of what a server sent, for error messages."""
    text = raw[:limit].decode("utf-8", "replace").rstrip("\r\n")
    return repr(text) + ("…" if len(raw) > limit else "")


class Pop3Client:
    """One POP3 session: connect (with TLS as configured), log in, read and delete, QUIT.

    Use as `async with Pop3Client(...) as pop:`; leaving the block normally sends QUIT (which
    commits DELE), leaving it by an exception only drops the connection (nothing is deleted).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = Security.SSL,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 30.0,
        max_line: int = 64 * 1024,
        max_message_size: int = 32 * 1024 * 1024,
    ) -> None:
        if timeout <= 0 or max_line < 512 or max_message_size < 1:
            raise ValueError("timeout > 0, max_line >= 512 and max_message_size >= 1 required")
        self.host = host
        self.port = port
        self.security = Security(security)
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.timeout = timeout
        self.max_line = max_line
        self.max_message_size = max_message_size
        self.greeting: str | None = None
        self.capabilities: dict[str, tuple[str, ...]] = {}  # the last CAPA answer
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buffer = bytearray()  # received, not yet taken by a reply

    # -- connection ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._writer is not None

    def _tls(self) -> ssl.SSLContext:
        return self.ssl_context if self.ssl_context is not None else ssl.create_default_context()

    async def connect(self) -> str:
        """Open the connection, read the greeting, and secure it as configured."""
        if self.connected:
            raise Pop3Error("already connected")
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    if self.security is Security.SSL:
                        self._reader, self._writer = await asyncio.open_connection(
                            self.host,
                            self.port,
                            ssl=self._tls(),
                            server_hostname=self.server_hostname,
                            limit=_READ_SIZE,
                        )
                    else:
                        self._reader, self._writer = await asyncio.open_connection(
                            self.host, self.port, limit=_READ_SIZE
                        )
                except ssl.SSLError as exc:
                    raise Pop3TlsError(f"TLS with {where} failed: {_ssl_reason(exc)}") from exc
                except OSError as exc:
                    raise Pop3ConnectError(_connect_reason(where, exc)) from exc
                kind, text = await self._reply()
                if kind == "err":
                    raise Pop3ServerError(text, step=Step.CONNECT)
                self.greeting = text
                if self.security is Security.STARTTLS:
                    await self._stls(where)
        except TimeoutError as exc:
            self._drop()
            raise Pop3Timeout(f"no POP3 session with {where} within {self.timeout:g} s",
                              step=Step.CONNECT) from exc
        except BaseException:
            self._drop()
            raise
        return text

    async def _stls(self, where: str) -> None:
        await self._send("STLS")
        kind, text = await self._reply()
        if kind == "err":
            raise Pop3TlsError(f"{where} refused STLS: {text}", text)
        assert self._writer is not None
        if self._buffer:  # bytes sent in clear after the reply would pass for TLS-protected
            raise Pop3TlsError(f"{where} sent data after its STLS reply: "
                               f"{_preview(bytes(self._buffer))} (refusing a STARTTLS injection)")
        try:
            await self._writer.start_tls(self._tls(), server_hostname=self.server_hostname)
        except ssl.SSLError as exc:
            raise Pop3TlsError(f"TLS with {where} failed: {_ssl_reason(exc)}") from exc
        except OSError as exc:
            raise Pop3ConnectError(f"connection to {where} lost during STLS",
                                   step=Step.CONNECT) from exc

    def _drop(self) -> None:
        """Forget the connection without QUIT (nothing is deleted on the server)."""
        writer, self._writer, self._reader = self._writer, None, None
        self._buffer.clear()
        if writer is not None:
            writer.transport.abort()

    async def close(self) -> None:
        """Drop the connection without QUIT."""
        self._drop()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self.connected:
            await self.quit()
        else:
            self._drop()

    # -- wire --------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _operation(self, what: str, step: Step = Step.RECEIVE) -> AsyncIterator[None]:
        """Bound one exchange in time; on any failure but -ERR, drop the connection.

        `step` is where a lost connection or a timeout is reported: `connect` while signing
        in (the session never started), `receive` once it has.
        """
        if not self.connected:
            raise Pop3Error(f"{what}: not connected", step=step)
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError as exc:
            self._drop()
            raise Pop3Timeout(f"{what}: no complete answer within {self.timeout:g} s",
                              step=step) from exc
        except Pop3ServerError:
            raise
        except ssl.SSLError as exc:
            self._drop()
            raise Pop3TlsError(f"{what}: TLS failure: {_ssl_reason(exc)}") from exc
        except OSError as exc:
            self._drop()
            raise Pop3ConnectError(f"{what}: connection lost: {_os_reason(exc)}",
                                   step=step) from exc
        except BaseException:
            self._drop()
            raise

    async def _send(self, line: str) -> None:
        assert self._writer is not None
        if "\r" in line or "\n" in line:
            raise ValueError("a POP3 command must not contain CR or LF")
        self._writer.write(line.encode("utf-8") + b"\r\n")
        await self._writer.drain()

    async def _fill(self, partial: bytes) -> None:
        """Append what the server sends next to the buffer.

        `partial` is the unfinished line the reply stopped in, quoted if the server hangs up.
        """
        assert self._reader is not None
        chunk = await self._reader.read(_READ_SIZE)
        if not chunk:
            where = f" after {_preview(partial)}" if partial else ""
            raise Pop3ProtocolError(f"the server closed the connection{where}")
        self._buffer += chunk

    async def _readline(self) -> bytes:
        """One line (a status line or a challenge), LF included, at most `max_line` bytes."""
        buf, start = self._buffer, 0
        while True:
            end = buf.find(b"\n", start)
            if end >= 0:
                if end >= self.max_line:
                    raise Pop3ProtocolError(f"reply line longer than {self.max_line} bytes")
                line = bytes(buf[: end + 1])
                del buf[: end + 1]
                return line
            if len(buf) > self.max_line:
                raise Pop3ProtocolError(f"reply line longer than {self.max_line} bytes")
            start = len(buf)
            await self._fill(bytes(buf[:120]))

    async def _reply(self, *, continuation: bool = False) -> tuple[str, str]:
        """Read a status line: ("ok"|"err"|"cont", the line as text without CRLF)."""
        raw = await self._readline()
        text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        if text == "+OK" or text.startswith("+OK "):
            return "ok", text
        if text == "-ERR" or text.startswith("-ERR "):
            return "err", text
        if continuation and (text == "+" or text.startswith("+ ")):
            return "cont", text
        raise Pop3ProtocolError(f"not a POP3 reply: {_preview(raw)}")

    async def _ok(self, command: str, step: Step = Step.RECEIVE) -> str:
        """Send `command`, return its +OK line or raise `Pop3ServerError` with the -ERR line."""
        await self._send(command)
        kind, text = await self._reply()
        if kind == "err":
            raise Pop3ServerError(text, step=step)
        return text

    async def _multiline(self) -> bytes:
        """The body of a multi-line reply, dot-unstuffed, CRLF line ends kept.

        The body starts right after the status line, so an empty body is just `.CRLF`; any
        other body ends at the first `LF.CRLF` (a bare `LF.LF` is taken too). Each read is
        scanned once, from where the last scan stopped (`multiline.scan_body`), so the cost stays linear
        however the server splits its writes. The size bound is on the un-stuffed body,
        checked as data arrives: an endless reply fails at the bound.
        """
        buf = self._buffer
        scanned = 0  # buf[:scanned] holds no end; its line-leading dots are `dots`
        dots = 0
        while True:
            if scanned == 0:
                if buf[:3] == b".\r\n" or buf[:2] == b".\n":  # an empty body
                    del buf[: 3 if buf[1:2] == b"\r" else 2]
                    return b""
                if b".\r\n".startswith(buf):  # too little to tell yet
                    await self._fill(bytes(buf))
                    continue
                scanned, dots = 1, int(buf[0] == 0x2E)  # a stuffed dot on the first line
            end, scanned, dots = scan_body(buf, scanned, dots)
            if end >= 0:
                with memoryview(buf) as view:
                    body = bytes(view[: end + 1])
                del buf[: end + (4 if buf[end + 2 : end + 3] == b"\r" else 3)]
                return self._unstuffed(body, dots)
            if scanned - dots > self.max_message_size:
                raise Pop3TooLarge(
                    f"multi-line reply larger than {self.max_message_size} bytes"
                )
            await self._fill(last_line(buf))

    def _unstuffed(self, body: bytes, dots: int = -1) -> bytes:
        """RFC 1939 §3: a line-leading dot was added by the server; take it away.

        `dots` is how many there are when the scan counted them (0: none, nothing to copy),
        -1 when it did not.
        """
        if dots:
            if body[:1] == b".":
                body = body[1:]
            body = body.replace(b"\n.", b"\n")
        if len(body) > self.max_message_size:
            raise Pop3TooLarge(f"multi-line reply larger than {self.max_message_size} bytes")
        return body

    # -- AUTHORIZATION -----------------------------------------------------------------------------
    async def capa(self) -> dict[str, tuple[str, ...]]:
        """The server's capabilities: keyword (upper case) -> arguments."""
        async with self._operation("CAPA", Step.CONNECT):
            await self._ok("CAPA", Step.CONNECT)
            body = await self._multiline()
        caps: dict[str, tuple[str, ...]] = {}
        for line in body.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words:
                caps[words[0].upper()] = tuple(words[1:])
        self.capabilities = caps
        return caps

    async def login_user_pass(self, user: str, password: str) -> str:
        """USER/PASS; returns the server's +OK line, raises `Pop3AuthError` with its -ERR."""
        async with self._operation("login", Step.CONNECT):
            for command in (f"USER {user}", f"PASS {password}"):
                await self._send(command)
                kind, text = await self._reply()
                if kind == "err":
                    raise _login_error(text, Pop3AuthError)
            return text

    async def login_xoauth2(self, user: str, access_token: str) -> str:
        """AUTH XOAUTH2; returns the +OK line, raises `Pop3TokenRejected` with the -ERR line.

        A refusal comes in two steps: the server sends `+ <base64 JSON>`, the client must
        answer with an empty line, then the server sends -ERR. That `+` is a failure.
        """
        sasl = f"user={user}\x01auth=Bearer {access_token}\x01\x01".encode()
        initial = base64.b64encode(sasl).decode("ascii")
        async with self._operation("AUTH XOAUTH2", Step.CONNECT):
            if len(f"AUTH XOAUTH2 {initial}\r\n") <= MAX_COMMAND_LINE:
                await self._send(f"AUTH XOAUTH2 {initial}")
            else:  # tokens are long: send the response after the server's empty challenge
                await self._send("AUTH XOAUTH2")
                kind, text = await self._reply(continuation=True)
                if kind == "err":
                    raise _login_error(text, Pop3TokenRejected)
                if kind == "ok":
                    raise Pop3ProtocolError(f"AUTH XOAUTH2 accepted before any token: {text!r}")
                await self._send(initial)
            kind, text = await self._reply(continuation=True)
            if kind == "ok":
                return text
            if kind == "err":
                raise _login_error(text, Pop3TokenRejected)
            challenge = _decode_challenge(text)
            await self._send("")
            kind, text = await self._reply(continuation=True)
            if kind != "err":
                raise Pop3ProtocolError(f"no -ERR after the XOAUTH2 error challenge: {text!r}")
            error = _login_error(text, Pop3TokenRejected)
            if isinstance(error, Pop3TokenRejected):
                error.challenge = challenge
            raise error

    # -- TRANSACTION -------------------------------------------------------------------------------
    async def stat(self) -> tuple[int, int]:
        """(number of messages, total octets)."""
        async with self._operation("STAT"):
            text = await self._ok("STAT")
        return _two_ints(text.split()[1:3], text)

    async def list(self, limit: int | None = None) -> dict[int, int]:
        """Message number -> size in octets, for every message not marked deleted (the first
        `limit` lines only, when given: the rest of the reply is read and dropped)."""
        async with self._operation("LIST"):
            await self._ok("LIST")
            text = await self._listing(limit)
        found = _LIST_LINE.findall(text)
        if not _all_lines(found, text):
            bad = next(ln for ln in text.splitlines() if ln.strip() and not _LIST_LINE.match(ln))
            raise Pop3ProtocolError(f"expected two numbers in {bad[:60]!r}")
        return {int(n): int(size) for n, size in found}

    async def uidl(self, limit: int | None = None) -> dict[int, str]:
        """Message number -> unique id (stable across sessions); the first `limit` only."""
        async with self._operation("UIDL"):
            await self._ok("UIDL")
            text = await self._listing(limit)
        found = _UIDL_LINE.findall(text)
        if not _all_lines(found, text):
            bad = next(ln for ln in text.splitlines() if ln.strip() and not _UIDL_LINE.match(ln))
            raise Pop3ProtocolError(f"bad UIDL line: {bad[:60]!r}")
        return {int(n): uid for n, uid in found}

    async def _listing(self, limit: int | None) -> str:
        """The lines of a multi-line listing (LIST, UIDL), at most `limit` of them kept.

        A server may list 400,000 messages: the reply is consumed block by block as it
        arrives (complete lines are cut from the buffer with bytes operations, never a line
        at a time in Python), so the memory it takes is the `limit` lines kept plus one
        read, not the whole reply. The whole reply is still bounded by `max_message_size`
        bytes, and each line by `max_line`.
        """
        buf = self._buffer
        kept: builtins.list[bytes] = []
        room = -1 if limit is None else limit  # lines that may still be kept (-1: all)
        consumed = 0
        while True:
            if buf[:3] == b".\r\n" or buf[:2] == b".\n":  # the end, at a line's start
                del buf[: 3 if buf[1:2] == b"\r" else 2]
                body = b"".join(kept)
                if body[:1] == b".":
                    body = body[1:]
                return body.replace(b"\n.", b"\n").decode("ascii", "replace")
            if b".\r\n".startswith(buf):  # too little to tell yet (or nothing)
                await self._fill(bytes(buf))
                continue
            end = body_end(buf, 0)
            cut = end + 1 if end >= 0 else buf.rfind(b"\n") + 1
            if cut:  # complete lines: keep what fits under the limit, drop the rest
                block = bytes(buf[:cut])
                del buf[:cut]
                consumed += len(block)
                if consumed > self.max_message_size:
                    raise Pop3TooLarge(
                        f"multi-line reply larger than {self.max_message_size} bytes")
                if room:
                    lines = block.count(b"\n")
                    if 0 < room < lines:  # keep the first `room` lines of the block
                        at = -1
                        for _ in range(room):
                            at = block.index(b"\n", at + 1)
                        block, lines = block[: at + 1], room
                    kept.append(block)
                    room = -1 if room < 0 else room - lines
            if end >= 0:
                continue  # the terminator is now at the buffer's start
            if len(buf) > self.max_line:
                raise Pop3ProtocolError(f"reply line longer than {self.max_line} bytes")
            await self._fill(last_line(buf))

    async def retr(self, number: int) -> bytes:
        """The whole message, un-dot-stuffed, CRLF line ends."""
        async with self._operation(f"RETR {number}"):
            await self._ok(f"RETR {_number(number)}")
            return await self._multiline()

    async def top(self, number: int, lines: int) -> bytes:
        """Headers, blank line, and the first `lines` lines of the body."""
        async with self._operation(f"TOP {number}"):
            await self._ok(f"TOP {_number(number)} {max(0, int(lines))}")
            return await self._multiline()

    async def dele(self, number: int) -> str:
        """Mark a message deleted; it goes when QUIT ends the session."""
        async with self._operation(f"DELE {number}"):
            return await self._ok(f"DELE {_number(number)}")

    async def dele_many(self, numbers: Sequence[int]) -> dict[int, str]:
        """DELE each message; returns the -ERR line of each one the server refused.

        With a server that offers PIPELINING (RFC 2449) the commands go out in one write and
        the replies are read after, one round trip for a batch; else one command at a time.
        A -ERR for one message (another client removed it) does not stop the others.
        """
        commands = [f"DELE {_number(n)}" for n in numbers]
        refused: dict[int, str] = {}
        async with self._operation("DELE"):
            if "PIPELINING" in self.capabilities:
                assert self._writer is not None
                self._writer.write(b"".join(c.encode() + b"\r\n" for c in commands))
                await self._writer.drain()
            for number, command in zip(numbers, commands, strict=True):
                if "PIPELINING" not in self.capabilities:
                    await self._send(command)
                kind, text = await self._reply()
                if kind == "err":
                    refused[number] = text
        return refused

    async def rset(self) -> str:
        async with self._operation("RSET"):
            return await self._ok("RSET")

    async def noop(self) -> str:
        async with self._operation("NOOP"):
            return await self._ok("NOOP")

    async def quit(self) -> str:
        """End the session; the server deletes the messages marked with DELE now."""
        try:
            async with self._operation("QUIT"):
                return await self._ok("QUIT")
        finally:
            self._drop()


# -- helpers ---------------------------------------------------------------------------------------
def _login_error(text: str, kind: type[Pop3ServerError]) -> Pop3ServerError:
    if response_code(text) in _NOT_CREDENTIALS:
        return Pop3ServerError(text, step=Step.AUTH)
    return kind(text)


def _decode_challenge(text: str) -> dict[str, Any] | None:
    payload = text[1:].strip()
    try:
        value = json.loads(base64.b64decode(payload, validate=True)) if payload else None
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _number(number: int) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"message numbers start at 1, got {number!r}")
    return number


_UIDL_LINE = re.compile(r"^[ \t]*(\d+)[ \t]+(\S+)[ \t]*\r?$", re.MULTILINE)
_LIST_LINE = re.compile(r"^[ \t]*(\d+)[ \t]+(\d+)\b.*$", re.MULTILINE)
_NONBLANK_LINE = re.compile(r"^[ \t\r]*\S", re.MULTILINE)


def _count_lines(text: str) -> int:
    """Lines that are not blank (a listing's entries)."""
    return len(_NONBLANK_LINE.findall(text))


def _all_lines(found: Sequence[object], text: str) -> bool:
    """Did every entry line of a listing match (one match per line, the patterns are anchored
    to a line's start and end)? As many matches as line ends, when the text ends with one,
    says so without a second regex pass over a 5,000-line listing; otherwise (blank lines,
    a last line without its end) the non-blank lines are counted."""
    if text.endswith("\n") and len(found) == text.count("\n"):
        return True
    return len(found) == _count_lines(text)


def _two_ints(words: list[str], line: str) -> tuple[int, int]:
    if len(words) < 2 or not (words[0].isdigit() and words[1].isdigit()):
        raise Pop3ProtocolError(f"expected two numbers in {line[:60]!r}")
    return int(words[0]), int(words[1])


def _ssl_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not accepted ({exc.verify_message or exc.reason})"
    reason = str(exc.reason or exc)
    if "WRONG_VERSION_NUMBER" in reason:
        reason += (" (the server did not answer in TLS: this port may be plain POP3 - 110 needs "
                   "security starttls or off, 995 security ssl)")
    return reason


def _connect_reason(where: str, exc: OSError) -> str:
    """Why no connection, with what to look at: a refused port is not a login problem."""
    text = f"cannot connect to {where}: {_os_reason(exc)}"
    if isinstance(exc, ConnectionRefusedError):
        text += (": connection refused - nothing listens on that port, or a firewall blocks it "
                 "(this is not a login problem)")
    return text


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
