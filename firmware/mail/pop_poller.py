"""A POP3 receiver: Internet Fax receive (`pop.ifax`) or E-mail Print (`pop.emailprint`).

Each POP setting has its own `PopPoller` and its own token store: a token in one gives
nothing to the other. When the setting is `enabled`, the poller checks the mailbox every
`check_interval` minutes of device time; `check_now()` polls at once (console `mail check`).

The POP session only receives; printing is the print worker's (`print_worker.py`), from the
receive spool (`spool.py`), as a real MFP's fax memory. One poll, and why it is in this order:

    connect, TLS, sign in        (USER/PASS, or XOAUTH2 with one token renewal on refusal)
    UIDL, LIST                   what is there, and how big
    for each message, in batches of `BATCH`:
        skip it if the ledger knows its UIDL (left on the server, or handled before a crash),
        or if it is already in the spool or the tray (stored or printed before a crash)
        RETR; a message whose Message-ID was taken before is a duplicate; any other is
        written to the spool (a worker thread writes and fsyncs it while RETR goes on)
        per batch: commit the spool (rename, one folder fsync), write the batch to the
        ledger (one NVRAM transaction), wake the print worker, and only then DELE the
        batch (unless `leave_copy`); the next batch is read meanwhile
    QUIT                         the server deletes now (RFC 1939: no QUIT, no deletion)

So a power cut at any instant loses nothing (nothing is deleted before it is in the spool for
good; no QUIT, nothing deleted at all) and prints nothing twice (the spool and tray names come
from the UIDL; see the print worker). `check_now()` then waits, at most `PRINT_WAIT` seconds,
for the worker to print what this poll spooled, so that `mail check` reports what was printed;
`check_now(wait_printed=False)` (the scheduled polls, the bench) returns when the mailbox is
drained and reports what was printed so far (`pending` = spooled, not yet printed).

What fails is told apart for the administrator, with the server's words unchanged: refused
port or unreachable host (`connect`), TLS (`tls`), refused login (`auth`, the -ERR line as
sent), token that cannot be renewed (`token`), broken or hostile server (`receive`). Each
failure is published as an `alert` event with `source`, `step` and `reason`; a message that
cannot be printed is the print worker's `alert` (step `print`).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.hwsim.printer import OutputTray

from ..errors import FirmwareError
from ..events import Alert, EventBus
from ..pop3 import (
    Pop3AuthError,
    Pop3Client,
    Pop3ConnectError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3Timeout,
    Pop3TlsError,
    Pop3TokenRejected,
)
from ..settings import AuthMethod, PopSettings
from ..tokens.store import TokenStore, mask
from ..trust import TrustStore
from ..vocabulary import ReceiveKind, Step
from .errors import (
    MailAuthError,
    MailConnectError,
    MailFailure,
    MailProtocolError,
    MailTimeoutError,
    MailTlsError,
)
from .ledger import Handled, ReceiveLedger
from .print_worker import PrintWorker, Reception, Ticket, message_id
from .session_token import SessionToken
from .spool import ReceiveSpool, SpoolEntry, SpoolError, SpoolWriter
from .task import stop_task

__all__ = ["BATCH", "MAX_MESSAGE_SIZE", "PRINT_WAIT", "PollResult", "PopPoller"]

log = logging.getLogger(__name__)

#: Messages stored, then recorded and deleted, per batch.
BATCH = 50
#: ... or per this many bytes of messages (kept in memory until they are written).
BATCH_BYTES = 16 * 1024 * 1024
#: Batches being stored while the session reads on; at more, the session waits. DELE for a
#: batch goes out once it is stored: any time before QUIT is the same to the server.
STORING_AHEAD = 2
#: How long `check_now()` waits for the print worker (real seconds: printing is real work).
PRINT_WAIT = 120.0
#: Larger messages are not downloaded (Exchange Online's default limit is about this size).
MAX_MESSAGE_SIZE = 25 * 1024 * 1024
#: RFC 3206 codes after which trying again later is the right thing.
_TEMPORARY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")


@dataclass
class PollResult:
    """What one poll did (the console's `mail check` prints it)."""

    section: str
    ok: bool = True
    step: str = ""
    reason: str = ""
    on_server: int = 0
    received: int = 0  # RETR
    spooled: int = 0  # stored for the print worker
    printed: int = 0
    duplicates: int = 0
    refused: int = 0
    deleted: int = 0
    pending: int = 0  # spooled, not yet printed when the result was made
    files: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """Messages read from the server, on their way to the spool, the ledger and DELE."""

    handled: list[tuple[int, Handled]] = field(default_factory=list)
    spool: list[SpoolEntry] = field(default_factory=list)
    size: int = 0  # bytes of the messages, until they are written
    durable: asyncio.Task[None] | None = None

    def full(self) -> bool:
        return len(self.handled) >= BATCH or self.size >= BATCH_BYTES

    def stored(self) -> bool:
        """Done storing (for good, or failed: `_delete` then raises the failure)."""
        return self.durable is not None and self.durable.done()


class PopPoller:
    def __init__(
        self,
        section: str,
        kind: ReceiveKind,
        *,
        settings: Callable[[], PopSettings],
        store: TokenStore,
        trust: TrustStore,
        clock: Clock,
        nvram: Nvram,
        events: EventBus,
        tray: OutputTray,
        spool_dir: Path,
        reception: Reception | None = None,
    ) -> None:
        self.section = section
        self.kind = kind
        self._settings = settings
        self._token = SessionToken(store, step="token")
        self._trust = trust
        self._clock = clock
        self._events = events
        self._tray = tray
        self.ledger = ReceiveLedger(nvram, section)
        self.spool = ReceiveSpool(spool_dir)
        self._reception = reception if reception is not None else Reception()
        self.printer = PrintWorker(section, self.kind, spool=self.spool, tray=tray,
                                   ledger=self.ledger, events=events, clock=clock,
                                   reception=self._reception)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last: PollResult | None = None
        self.next_check_at: float | None = None

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        await self.printer.start()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"poll.{self.section}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        await self.printer.stop()

    def settings_changed(self) -> None:
        """Enabled, interval or server changed: reschedule from now."""
        self.next_check_at = None
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            cfg = self._settings()
            if not cfg.enabled:
                self.next_check_at = None
                await self._wake.wait()
                continue
            if self.next_check_at is None:
                self.next_check_at = self._clock.now() + cfg.check_interval * 60
            if self._clock.now() >= self.next_check_at:
                self.next_check_at = self._clock.now() + cfg.check_interval * 60
                await self.check_now(wait_printed=False)
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()),
                       asyncio.ensure_future(self._clock.sleep_until(self.next_check_at))]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    # ------------------------------------------------------------------ poll
    async def check_now(self, *, wait_printed: bool = True) -> PollResult:
        """Poll the mailbox once, now; never raises for a mail failure (see `.ok`).

        With `wait_printed`, a successful poll also waits (at most `PRINT_WAIT` s) until the
        print worker has printed or refused every message this poll spooled.
        """
        ticket = self.printer.ticket()
        try:
            async with self._lock:
                result = PollResult(self.section)
                try:
                    await self._poll(self._settings(), result, ticket)
                except MailFailure as exc:
                    result.ok, result.step, result.reason = False, exc.step, str(exc)
                except FirmwareError as exc:
                    result.ok, result.step, result.reason = False, "receive", str(exc)
                except SpoolError as exc:  # disk full, NVRAM folder read-only
                    result.ok, result.step, result.reason = False, "receive", str(exc)
                except (HwsimError, OSError, ValueError) as exc:  # NVRAM, a library surprise
                    log.exception("%s: poll failed", self.section)
                    result.ok, result.step = False, "receive"
                    result.reason = f"Internal error: {type(exc).__name__}: {exc}"
                if not result.ok:
                    log.warning("%s: %s failed: %s", self.section, result.step, result.reason)
                    self._events.publish(Alert(self.section, Step(result.step), result.reason))
                    self.printer.wake()  # whatever did reach the spool is printed all the same
            if wait_printed and result.ok:
                await ticket.wait(PRINT_WAIT)
            for done in ticket.done:
                if done.outcome == "printed":
                    result.printed += 1
                    result.files += [p.name for p in done.files]
                else:
                    result.refused += 1
            result.pending = len(ticket.waiting)
            self.last = result
            return result
        finally:
            self.printer.forget(ticket)

    async def wait_printed(self, timeout: float) -> bool:
        """True once the spool is empty: everything received has been printed or refused."""
        return await self.printer.wait_idle(timeout)

    async def probe(self, notes: list[str]) -> int:
        """Connect, secure, sign in, STAT, QUIT (the connection test); returns messages waiting."""
        cfg = self._settings()
        pop = await self._open(cfg, notes)
        try:
            count, size = await pop.stat()
            notes.append(f"{count} message(s) waiting ({size} octets)")
            await pop.quit()
            return count
        except Pop3Error as exc:
            raise _mail_failure(exc, "receive") from exc
        finally:
            await pop.close()

    async def _poll(self, cfg: PopSettings, result: PollResult, ticket: Ticket) -> None:
        pop = await self._open(cfg, [])
        try:
            with self._reception.receiving():
                await self._drain(pop, cfg, result, ticket)
            await pop.quit()
        except Pop3Error as exc:
            raise _mail_failure(exc, "receive") from exc
        finally:
            await pop.close()

    async def _open(self, cfg: PopSettings, notes: list[str]) -> Pop3Client:
        if not cfg.server:
            raise MailConnectError(f"{self.section}.server is not set: enter the POP3 server",
                                   temporary=False)
        pop = Pop3Client(cfg.server, cfg.port, security=cfg.security,
                         ssl_context=self._trust.ssl_context(), timeout=float(cfg.timeout),
                         max_message_size=MAX_MESSAGE_SIZE)
        try:
            greeting = await pop.connect()
            notes.append(f"connected to {cfg.server}:{cfg.port}: {greeting}")
            if cfg.security.value != "off":
                notes.append(f"TLS ({cfg.security.value}): certificate and host name verified")
            await self._sign_in(pop, cfg, notes)
        except Pop3Error as exc:
            await pop.close()
            raise _mail_failure(exc, "connect") from exc
        except BaseException:
            await pop.close()
            raise
        return pop

    async def _sign_in(self, pop: Pop3Client, cfg: PopSettings, notes: list[str]) -> None:
        if cfg.auth is AuthMethod.OAUTH2:
            token = await self._token.take()
            try:
                await pop.login_xoauth2(token.account, token.access_token)
            except Pop3TokenRejected as exc:
                log.info("%s: XOAUTH2 refused for %s (%s): %s; renewing the token once",
                         self.section, token.account, mask(token.access_token), exc.text)
                renewed = await self._token.renew(token, exc.text)
                try:
                    await pop.login_xoauth2(renewed.account, renewed.access_token)
                except Pop3TokenRejected as again:
                    raise MailAuthError(
                        f"the server refused the token even after renewal: {again.text}",
                        server_text=again.text) from again
                token = renewed
            notes.append(f"signed in with XOAUTH2 as {token.account}")
            return
        if not cfg.user:
            raise MailAuthError(f"{self.section}.user is not set: enter the POP3 user name")
        await pop.login_user_pass(cfg.user, cfg.password)
        notes.append(f"signed in with USER/PASS as {cfg.user}")


    # ---------------------------------------------------------------- drain
    async def _drain(self, pop: Pop3Client, cfg: PopSettings, result: PollResult,
                     ticket: Ticket) -> None:
        uids = await pop.uidl()
        sizes = await pop.list()
        result.on_server = len(uids)
        self.ledger.prune(uids.values(), self._clock.now())
        # The spool first, then the tray: the worker removes a spool file only once its
        # output is in the tray, so a message between the two is seen in one or the other.
        have = self.spool.rx_ids() | self._tray_ids()
        taken_now: set[str] = set()  # Message-IDs spooled in this poll, not yet recorded
        batch, storing = _Batch(), collections.deque[_Batch]()
        writer = self.spool.writer()
        try:
            for number in sorted(uids):
                uid = uids[number]
                if self.ledger.has_uid(uid):
                    # Handled before; still here because of leave_copy, or a power cut before QUIT.
                    if not cfg.leave_copy and self.ledger.outcome(uid) != "too_large":
                        batch.handled.append((number, Handled(uid, "", "duplicate",
                                                              self._clock.now())))
                    continue
                rx_id = self._rx_id(uid)
                if rx_id in have:  # stored or printed just before a power cut, not recorded yet
                    batch.handled.append((number, Handled(uid, "", "printed", self._clock.now())))
                    result.duplicates += 1
                elif sizes.get(number, 0) > MAX_MESSAGE_SIZE:
                    reason = (f"message {number} is {sizes[number]} bytes; the device takes at "
                              f"most {MAX_MESSAGE_SIZE} bytes. It was left on the server")
                    self._events.publish(Alert(self.section, Step.RECEIVE, reason))
                    self.ledger.record([Handled(uid, "", "too_large", self._clock.now())])
                    result.refused += 1
                    continue
                else:
                    raw = await pop.retr(number)
                    result.received += 1
                    batch.handled.append((number, self._take(raw, uid, rx_id, writer, batch,
                                                             result, taken_now)))
                if batch.full():
                    batch.durable = self._start_storing(writer, batch, ticket)
                    storing.append(batch)
                    batch = _Batch()
                # DELE what is stored for good by now; wait only when too much is in flight.
                while storing and (storing[0].stored() or len(storing) > STORING_AHEAD):
                    await self._delete(pop, cfg, storing.popleft(), result)
            if batch.handled:
                batch.durable = self._start_storing(writer, batch, ticket)
                storing.append(batch)
            while storing:
                await self._delete(pop, cfg, storing.popleft(), result)
        except BaseException:
            self._abandon([*storing, batch], ticket)
            raise
        finally:
            writer.close()

    def _take(self, raw: bytes, uid: str, rx_id: str, writer: SpoolWriter, batch: _Batch,
              result: PollResult, taken_now: set[str]) -> Handled:
        """A message just read: a duplicate by Message-ID, or a new one for the spool."""
        mid = message_id(raw)
        now = self._clock.now()
        if mid and (mid in taken_now or self.ledger.has_message_id(mid)):
            result.duplicates += 1
            log.info("%s: %s already taken (same Message-ID)", self.section, mid)
            return Handled(uid, mid, "duplicate", now)
        entry = self.spool.reserve(rx_id)
        writer.add(entry, uid, raw)
        batch.spool.append(entry)
        batch.size += len(raw)
        result.spooled += 1
        if mid:  # a second copy later in this same poll is a duplicate too
            taken_now.add(mid)
        return Handled(uid, mid, "spooled", now)

    def _start_storing(self, writer: SpoolWriter, batch: _Batch,
                       ticket: Ticket) -> asyncio.Task[None]:
        """Start making a batch durable (spool, then ledger) while the session reads on."""
        return asyncio.get_running_loop().create_task(self._make_durable(writer, batch, ticket),
                                                      name=f"spool.{self.section}")

    async def _make_durable(self, writer: SpoolWriter, batch: _Batch, ticket: Ticket) -> None:
        ids = [entry.rx_id for entry in batch.spool]
        self.printer.watch(ticket, ids)  # before the worker can see them
        self.printer.hold(ids)  # not printed before the ledger has them (see `hold`)
        try:
            if batch.spool:
                await writer.commit(batch.spool)
            await self._commit(batch)
        finally:
            self.printer.release(ids)

    async def _commit(self, batch: _Batch) -> None:
        """The batch is in the spool for good: record it in the ledger (one transaction)."""
        new = [h for _, h in batch.handled if not self.ledger.has_uid(h.uid)]
        if new:
            await asyncio.to_thread(self.ledger.record, new)

    async def _delete(self, pop: Pop3Client, cfg: PopSettings, batch: _Batch,
                      result: PollResult) -> None:
        """DELE a batch once it is durable (spool and ledger); never before."""
        assert batch.durable is not None
        await batch.durable
        if cfg.leave_copy:
            return
        for number, _ in batch.handled:
            await pop.dele(number)
            result.deleted += 1

    def _abandon(self, batches: list[_Batch], ticket: Ticket) -> None:
        """The session failed: nothing more is deleted; stored batches stay for printing."""
        for pending in batches:
            if pending.durable is None:  # never stored: the server keeps these
                pass
            elif not pending.durable.done():
                pending.durable.cancel()  # the writer may still store them: then they print
            elif pending.durable.cancelled() or pending.durable.exception() is not None:
                pass  # the exception is the poll's (or a consequence of it)
            else:
                continue  # stored and recorded: printed, and deleted at the next poll
            ticket.waiting.difference_update(entry.rx_id for entry in pending.spool)

    def _rx_id(self, uid: str) -> str:
        """The tray name of a received message: the same for the same message, always."""
        digest = hashlib.sha1(f"{self.section}\0{uid}".encode()).hexdigest()[:12]
        return f"{self.kind}{digest}"

    def _tray_ids(self) -> set[str]:
        try:
            return {e.name.split("-", 1)[0] for e in os.scandir(self._tray.folder)
                    if e.is_file() and e.name.startswith(self.kind)}
        except OSError:
            return set()


def _mail_failure(exc: Pop3Error, during: str) -> MailFailure:
    """The POP3 client's error as the device reports it, the server's line unchanged."""
    if isinstance(exc, Pop3Timeout):
        return MailTimeoutError(f"POP3: {exc}", step="connect" if during == "connect"
                                else "receive")
    if isinstance(exc, Pop3TlsError):
        hint = (" (the server did not answer in TLS: this port may be plain POP3 - 110 needs "
                "security starttls or off, 995 security ssl)"
                if "WRONG_VERSION_NUMBER" in str(exc) else "")
        return MailTlsError(f"POP3: {exc}{hint}", server_text=exc.text or "")
    if isinstance(exc, Pop3ConnectError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return MailConnectError(f"POP3: {exc}: connection refused - nothing listens on that "
                                    "port, or a firewall blocks it (this is not a login problem)")
        return MailConnectError(f"POP3: {exc}", step="connect" if during == "connect"
                                else "receive")
    if isinstance(exc, Pop3ProtocolError):
        return MailProtocolError(f"POP3 server sent something that is not POP3: {exc}")
    if isinstance(exc, Pop3TokenRejected):
        return MailAuthError(f"the server refused the token: {exc.text}", server_text=exc.text)
    if isinstance(exc, Pop3AuthError):
        return MailAuthError(f"the server refused the login: {exc.text}", server_text=exc.text)
    if isinstance(exc, Pop3ServerError):
        temporary = any(code in exc.text for code in _TEMPORARY_CODES)
        step = "auth" if during == "connect" and exc.resp_code else during
        return MailFailure(f"the server said: {exc.text}", server_text=exc.text, step=step,
                           temporary=temporary)
    return MailProtocolError(f"POP3: {exc}")
