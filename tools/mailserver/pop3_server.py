"""The bench POP3 service (RFC 1939, CAPA/RESP-CODES RFC 2449, STLS RFC 2595, AUTH RFC 5034).

No maintained asyncio POP3 server exists, so this one is ours: a session per connection over
asyncio streams, reading the Maildirs SMTP delivers to. It behaves as outlook.office365.com does
where the device can notice: the reply texts, the two-step XOAUTH2 failure, `[IN-USE]` for a
second session on a mailbox, and a temporary lock after repeated failed password logins.

Which command is valid in which state is the table `COMMANDS`; a command outside it gets
"-ERR Command is not valid in this state." and the session goes on.

Bounds, so a broken or hostile client cannot hurt the bench: command lines over 255 octets
(RFC 2449) are refused with -ERR (AUTH lines and SASL answers may be longer, since tokens are);
nothing longer than `MAX_LINE` is buffered; an idle session is closed after `idle_timeout`
seconds of event-loop time (network time, not the bench clock: it guards a real socket).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import ssl
from dataclasses import dataclass, field

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_users import BenchUsers
from mfp_sim.tools.idp import FaultBoard

from .auth import (
    POP_SCOPE,
    AuthLog,
    LoginLockout,
    TokenRejected,
    TokenVerifier,
    check_password,
    mask_secret,
)
from .faults import MailAnswer, MailFaults
from .maildir import InvalidAddress, MailStore, StoredMessage, normalise_address
from .pop3_replies import Pop3Reply
from .xoauth2 import MalformedXoauth2, decode_base64, error_challenge, parse_xoauth2

__all__ = ["COMMANDS", "MAX_COMMAND_LINE", "MAX_LINE", "Pop3Reply", "Pop3Service", "Pop3State"]

log = logging.getLogger("mfp_sim.tools.mailserver.pop3")

#: RFC 2449 §4: a command line is at most 255 octets including CRLF.
MAX_COMMAND_LINE = 255
#: The longest line read at all (AUTH with an initial response, SASL answers).
MAX_LINE = 64 * 1024


class Pop3State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"


#: The commands each state accepts (RFC 1939 §§3-6; CAPA RFC 2449; STLS RFC 2595; AUTH RFC 5034).
COMMANDS: dict[Pop3State, frozenset[str]] = {
    Pop3State.AUTHORIZATION: frozenset({"CAPA", "USER", "PASS", "AUTH", "STLS", "QUIT"}),
    Pop3State.TRANSACTION: frozenset(
        {"CAPA", "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP", "QUIT"}
    ),
    Pop3State.UPDATE: frozenset(),
}
_KNOWN = frozenset().union(*COMMANDS.values())
SASL_MECHANISMS = ("PLAIN", "XOAUTH2")


class _LineTooLong(Exception):
    pass


class _Closing(Exception):
    """The session ends here (QUIT, failed TLS, idle timeout)."""


@dataclass
class Pop3Service:
    """Everything the POP3 sessions of one mail server share, and their listeners."""

    clock: Clock
    store: MailStore
    verifier: TokenVerifier
    lockout: LoginLockout
    faults: MailFaults
    auth_log: AuthLog
    tls_context: ssl.SSLContext
    board: FaultBoard
    users: BenchUsers
    idle_timeout: float = 600.0
    _servers: list[asyncio.Server] = field(default_factory=list)
    _sessions: set[asyncio.Task[None]] = field(default_factory=set)

    async def listen(self, host: str, *, implicit_tls: bool) -> int:
        """Start a listener on an OS-chosen port; returns the port."""

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._sessions.add(task)
            self.auth_log.stats.mail_session("pop3")
            try:
                await Pop3Session(self, reader, writer, tls=implicit_tls).run()
            finally:
                self._sessions.discard(task)

        server = await asyncio.start_server(
            on_client,
            host,
            0,
            ssl=self.tls_context if implicit_tls else None,
            limit=MAX_LINE,
            ssl_handshake_timeout=min(60.0, self.idle_timeout) if implicit_tls else None,
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        tasks = list(self._sessions)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    @property
    def session_count(self) -> int:
        return len(self._sessions)


class Pop3Session:
    """One client connection, from greeting to QUIT."""

    def __init__(
        self,
        service: Pop3Service,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
    ) -> None:
        self.svc = service
        self.reader = reader
        self.writer = writer
        self.tls = tls
        self.state = Pop3State.AUTHORIZATION
        self.pending_user: str | None = None
        self.mailbox: str | None = None  # address, once the mailbox is locked
        self.messages: list[StoredMessage] = []
        self.deleted: set[int] = set()
        self.peer = writer.get_extra_info("peername")

    # -- the loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self.send(Pop3Reply.GREETING)
            while True:
                try:
                    line = await self.read_line(MAX_LINE)
                except _LineTooLong:
                    await self.send(Pop3Reply.LINE_TOO_LONG)
                    continue
                if line is None:
                    break
                await self.dispatch(line)
        except _Closing:
            pass
        except TimeoutError:
            log.info("%r idle for %.0f s, closing", self.peer, self.svc.idle_timeout)
            try:
                self.writer.write(Pop3Reply.IDLE.encode() + b"\r\n")
            except (ConnectionError, RuntimeError):
                pass
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("%r connection lost: %s", self.peer, type(exc).__name__)
        finally:
            if self.mailbox is not None:  # no QUIT: nothing is deleted (RFC 1939 §6)
                self.svc.store.unlock(self.mailbox)
                self.mailbox = None
            self.writer.close()

    async def read_line(self, limit: int) -> bytes | None:
        """One line without its CRLF; None at end of stream; `_LineTooLong` after discarding."""
        async with asyncio.timeout(self.svc.idle_timeout):
            too_long = False
            while True:
                try:
                    raw = await self.reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return None
                except asyncio.LimitOverrunError as exc:
                    await self.reader.readexactly(exc.consumed)  # discard, keep looking for LF
                    too_long = True
                    continue
                if too_long or len(raw) > limit:
                    raise _LineTooLong()
                return raw.rstrip(b"\r\n")

    async def send(self, *lines: str | bytes) -> None:
        data = b"".join((ln.encode("utf-8") if isinstance(ln, str) else ln) + b"\r\n" for ln in lines)
        self.writer.write(data)
        async with asyncio.timeout(self.svc.idle_timeout):
            await self.writer.drain()

    async def dispatch(self, line: bytes) -> None:
        text = line.decode("latin-1")
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        log.debug("%r >> %s", self.peer, _loggable(keyword, rest))
        if keyword != "AUTH" and len(line) + 2 > MAX_COMMAND_LINE:
            await self.send(Pop3Reply.LINE_TOO_LONG)
            return
        if keyword not in _KNOWN:
            await self.send(Pop3Reply.UNKNOWN_COMMAND)
            return
        if keyword not in COMMANDS[self.state]:
            await self.send(Pop3Reply.WRONG_STATE)
            return
        if keyword not in ("USER", "PASS"):  # PASS must follow USER at once (RFC 1939 §7)
            self.pending_user = None
        handler = getattr(self, f"cmd_{keyword.lower()}")
        await handler(rest)

    # -- AUTHORIZATION -----------------------------------------------------------------------------
    async def cmd_capa(self, rest: str) -> None:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"]
        if self.state is Pop3State.AUTHORIZATION:
            caps += ["USER", "SASL " + " ".join(SASL_MECHANISMS)]
            if not self.tls and self.svc.faults.pop_offer_stls:
                caps.append("STLS")
        caps.append("IMPLEMENTATION mfp-sim-bench")
        await self.send(Pop3Reply.CAPA, *caps, ".")

    async def cmd_stls(self, rest: str) -> None:
        if self.tls or not self.svc.faults.pop_offer_stls:
            await self.send(Pop3Reply.NO_TLS)
            return
        # Plaintext the client pipelined after STLS would be read as if it came over TLS
        # (CVE-2011-0411 class): refuse it and end the session.
        buffered: bytes | bytearray = getattr(self.reader, "_buffer", b"")
        if buffered:
            await self.send(Pop3Reply.BAD_ARGUMENTS)
            raise _Closing()
        await self.send(Pop3Reply.BEGIN_TLS)
        try:
            await self.writer.start_tls(
                self.svc.tls_context, ssl_handshake_timeout=min(60.0, self.svc.idle_timeout)
            )
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.info("%r STLS handshake failed: %s", self.peer, exc)
            raise _Closing() from exc
        self.tls = True

    async def cmd_user(self, rest: str) -> None:
        name = rest.strip()
        if not name:
            await self.send(Pop3Reply.BAD_ARGUMENTS)
            return
        self.pending_user = name
        await self.send(Pop3Reply.OK)

    async def cmd_pass(self, rest: str) -> None:
        user, self.pending_user = self.pending_user, None
        if user is None:
            await self.send(Pop3Reply.NEED_USER)
            return
        await self.send(self.basic_login(user, rest, "USER"))

    async def cmd_auth(self, rest: str) -> None:
        parts = rest.split()
        if not parts:  # the RFC 1734 form: list the mechanisms
            await self.send(Pop3Reply.OK, *SASL_MECHANISMS, ".")
            return
        mechanism = parts[0].upper()
        if mechanism not in SASL_MECHANISMS or len(parts) > 2:
            await self.send(Pop3Reply.BAD_MECHANISM)
            return
        if len(parts) == 2:
            answer = b"" if parts[1] == "=" else parts[1].encode("latin-1")
        else:
            challenged = await self.challenge("")
            if challenged is None:
                return
            answer = challenged
        try:
            blob = decode_base64(answer)
        except MalformedXoauth2:
            await self.send(Pop3Reply.BAD_BASE64)
            return
        if mechanism == "PLAIN":
            fields = blob.split(b"\0")
            if len(fields) != 3:
                await self.send(Pop3Reply.AUTH_FAILED)
                return
            user, secret = (f.decode("utf-8", "replace") for f in fields[1:])
            await self.send(self.basic_login(user, secret, "PLAIN", Pop3Reply.AUTHENTICATED))
            return
        await self.send(await self.xoauth2_login(blob))

    async def challenge(self, payload: str) -> bytes | None:
        """Send `+ payload`, return the client's answer; None if it cancelled or broke the rules."""
        await self.send(f"+ {payload}")
        try:
            line = await self.read_line(MAX_LINE)
        except _LineTooLong:
            await self.send(Pop3Reply.LINE_TOO_LONG)
            return None
        if line is None:
            raise _Closing()
        if line.strip() == b"*":
            await self.send(Pop3Reply.AUTH_CANCELLED)
            return None
        return line

    def basic_login(
        self, user: str, secret: str, mechanism: str, success: str = Pop3Reply.LOGGED_ON
    ) -> str:
        """Judge a password login; returns the reply line."""
        faults, lockout, auth_log = self.svc.faults, self.svc.lockout, self.svc.auth_log
        log.info("%r login %s %s password=%s", self.peer, mechanism, user, mask_secret(secret))
        refused = self.refusal(mechanism, user, "pop.user_pass" if mechanism == "USER"
                               else "pop.auth_sasl")
        if refused is not None:
            return refused
        if faults.pop_login_refusal is not None:
            auth_log.record("pop3", mechanism, user, False, "refused_by_fault")
            return f"-ERR {faults.pop_login_refusal}"
        remaining = lockout.remaining(user)
        if remaining > 0:
            auth_log.record("pop3", mechanism, user, False, "locked")
            return Pop3Reply.LOCKED.format(minutes=math.ceil(remaining / 60))
        canonical = check_password(self.svc.users, user, secret)
        if canonical is None:
            now_locked = lockout.record_failure(user)
            auth_log.record("pop3", mechanism, user, False, "locked" if now_locked else "bad_password")
            if now_locked:
                return Pop3Reply.LOCKED.format(minutes=math.ceil(lockout.lock_seconds / 60))
            return Pop3Reply.LOGON_FAILED
        lockout.record_success(user)
        auth_log.record("pop3", mechanism, canonical, True, "ok")
        return self.open_mailbox(canonical, success)

    def refusal(self, mechanism: str, user: str, phase: str | None) -> str | None:
        """The reply of a fault or switch that refuses this login before it is judged."""
        svc = self.svc
        armed = svc.board.take("pop.login_before_tls", user) if not self.tls else None
        if armed is None and not self.tls and svc.faults.pop_login_requires_tls:
            svc.auth_log.record("pop3", mechanism, user, False, "plaintext_refused")
            return Pop3Reply.PLAINTEXT_REFUSED
        if armed is None:
            armed = svc.board.take("pop.login", user)
        if armed is None and phase is not None:
            armed = svc.board.take(phase, user)
        if armed is None:
            return None
        svc.auth_log.record("pop3", mechanism, user, False, f"fault:{armed.entry.name}")
        answer: MailAnswer = armed.entry.answer
        assert answer.pop is not None
        return answer.pop

    async def xoauth2_login(self, blob: bytes) -> str:
        auth_log = self.svc.auth_log
        try:
            response = parse_xoauth2(blob)
        except MalformedXoauth2:
            refused = self.refusal("XOAUTH2", "", "pop.auth_sasl")
            if refused is not None:
                return refused
            auth_log.record("pop3", "XOAUTH2", "", False, "malformed")
            return Pop3Reply.AUTH_FAILED
        refused = self.refusal("XOAUTH2", response.user, None)
        if refused is not None:
            return refused
        reason: str | None = None
        armed = self.svc.board.take("pop.auth_sasl", response.user)
        try:
            token_user = self.svc.verifier.verify(response.token, POP_SCOPE)
            if token_user.strip().lower() != response.user.strip().lower():
                reason = "user_mismatch"
        except TokenRejected as exc:
            reason = str(exc.code)
        if armed is not None:
            reason = f"fault:{armed.entry.name}"
        if reason is not None:
            auth_log.record("pop3", "XOAUTH2", response.user, False, reason)
            # Exchange's two steps: a challenge, the client's (empty) answer, then -ERR.
            await self.send(f"+ {error_challenge(POP_SCOPE)}")
            try:
                answer = await self.read_line(MAX_LINE)
            except _LineTooLong:
                answer = b""
            if answer is None:
                raise _Closing()
            return Pop3Reply.AUTH_FAILED
        auth_log.record("pop3", "XOAUTH2", response.user, True, "ok")
        return self.open_mailbox(response.user.strip().lower(), Pop3Reply.AUTHENTICATED)

    def open_mailbox(self, address: str, success: str) -> str:
        armed = self.svc.board.take("pop.mailbox", address)
        if armed is not None:
            log.info("%r fault %s: mailbox %s refused", self.peer, armed.entry.name, address)
            return Pop3Reply.IN_USE
        try:
            if not self.svc.store.try_lock(address):
                return Pop3Reply.IN_USE
        except InvalidAddress:
            return Pop3Reply.STORE_FAILED
        try:
            self.messages = self.svc.store.snapshot(address)
        except OSError:
            self.svc.store.unlock(address)
            log.exception("cannot open the mailbox of %s", address)
            return Pop3Reply.STORE_FAILED
        self.mailbox = normalise_address(address)
        self.deleted = set()
        self.state = Pop3State.TRANSACTION
        return success

    async def cmd_quit(self, rest: str) -> None:
        if self.state is Pop3State.TRANSACTION and self.mailbox is not None:
            self.state = Pop3State.UPDATE
            keys = [self.messages[n - 1].key for n in sorted(self.deleted)]
            failed = self.svc.store.remove(self.mailbox, keys)
            self.svc.store.unlock(self.mailbox)
            self.mailbox = None
            await self.send(Pop3Reply.NOT_ALL_REMOVED if failed else Pop3Reply.SIGN_OFF)
        else:
            await self.send(Pop3Reply.SIGN_OFF)
        raise _Closing()

    # -- TRANSACTION -------------------------------------------------------------------------------
    def _live(self) -> list[tuple[int, StoredMessage]]:
        return [(n, m) for n, m in enumerate(self.messages, 1) if n not in self.deleted]

    def _message(self, arg: str) -> tuple[int, StoredMessage] | str:
        """The message numbered `arg`, or the -ERR reply to send."""
        if not arg.isdigit():
            return Pop3Reply.BAD_ARGUMENTS
        number = int(arg)
        if not 1 <= number <= len(self.messages):
            return Pop3Reply.NO_SUCH_MESSAGE
        if number in self.deleted:
            return Pop3Reply.ALREADY_DELETED
        return number, self.messages[number - 1]

    async def cmd_stat(self, rest: str) -> None:
        live = self._live()
        await self.send(f"+OK {len(live)} {sum(m.size for _, m in live)}")

    async def _listing(self, rest: str, field_of: str) -> None:
        args = rest.split()
        if len(args) > 1:
            await self.send(Pop3Reply.BAD_ARGUMENTS)
            return
        if args:
            found = self._message(args[0])
            if isinstance(found, str):
                await self.send(found)
            else:
                await self.send(f"+OK {found[0]} {getattr(found[1], field_of)}")
            return
        live = self._live()
        head = f"+OK {len(live)} messages" + (
            f" ({sum(m.size for _, m in live)} octets)" if field_of == "size" else ""
        )
        await self.send(head, *(f"{n} {getattr(m, field_of)}" for n, m in live), ".")

    async def cmd_list(self, rest: str) -> None:
        await self._listing(rest, "size")

    async def cmd_uidl(self, rest: str) -> None:
        await self._listing(rest, "uid")

    async def cmd_retr(self, rest: str) -> None:
        args = rest.split()
        found = self._message(args[0]) if len(args) == 1 else Pop3Reply.BAD_ARGUMENTS
        if isinstance(found, str):
            await self.send(found)
            return
        data = self._read(found[1])
        if data is None:
            await self.send(Pop3Reply.MESSAGE_GONE)
            return
        await self.send(f"+OK {found[1].size} octets", dot_stuff(data))

    async def cmd_top(self, rest: str) -> None:
        args = rest.split()
        if len(args) != 2 or not args[1].isdigit():
            await self.send(Pop3Reply.BAD_ARGUMENTS)
            return
        found = self._message(args[0])
        if isinstance(found, str):
            await self.send(found)
            return
        data = self._read(found[1])
        if data is None:
            await self.send(Pop3Reply.MESSAGE_GONE)
            return
        head, sep, body = data.partition(b"\r\n\r\n")
        body_lines = body.split(b"\r\n")[: int(args[1])] if sep else []
        top = head + (b"\r\n\r\n" + b"\r\n".join(body_lines) if sep else b"")
        await self.send(Pop3Reply.OK, dot_stuff(top))

    def _read(self, message: StoredMessage) -> bytes | None:
        assert self.mailbox is not None
        try:
            return self.svc.store.read(self.mailbox, message.key)
        except (KeyError, OSError):
            return None

    async def cmd_dele(self, rest: str) -> None:
        args = rest.split()
        found = self._message(args[0]) if len(args) == 1 else Pop3Reply.BAD_ARGUMENTS
        if isinstance(found, str):
            await self.send(found)
            return
        self.deleted.add(found[0])
        await self.send(Pop3Reply.DELETED)

    async def cmd_rset(self, rest: str) -> None:
        self.deleted.clear()
        await self.send(f"+OK {len(self.messages)} messages")

    async def cmd_noop(self, rest: str) -> None:
        await self.send(Pop3Reply.OK)


def dot_stuff(data: bytes) -> bytes:
    """`data` (CRLF lines) as a multi-line body: dots doubled, ending with the "." line."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    lines = [b"." + ln if ln.startswith(b".") else ln for ln in data.split(b"\r\n")]
    return b"\r\n".join(lines) + b"\r\n."


def _loggable(keyword: str, rest: str) -> str:
    if keyword == "PASS":
        return f"PASS {mask_secret(rest)}"
    if keyword == "AUTH":
        parts = rest.split()
        return "AUTH " + (parts[0] if parts else "") + (" <initial response>" if len(parts) > 1 else "")
    text = f"{keyword} {rest}".strip()
    return text if len(text) <= 80 else f"{text[:80]}…({len(text)} chars)"
