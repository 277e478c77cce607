"""A POP3 receiver's schedule and its polls: Internet Fax receive or E-mail Print.

Each POP setting has its own `PopPoller` and its own token store: a token in one gives
nothing to the other. When the setting is `enabled`, the poller checks the mailbox every
`check_interval` minutes of device time; `check_now()` polls at once (console `mail check`).

**Jitter.** Many devices powered on together (a building after a power cut, a fleet in one
process) would poll their servers in step. Each poller has a phase of its own, derived from
the device and the setting (`phase_of`), deterministic so tests on the virtual clock stay
exact: the first check comes `check_interval` minutes plus the phase after power-on (or after
the setting changed), then every `check_interval` minutes, so devices stay spread.

The poller owns neither the spool, nor the ledger, nor the print worker: the reception unit
(`unit.py`) is given them by the device and hands them to each poll. One poll:

    connect, TLS, sign in        `signin.Mailbox` (XOAUTH2 with one token renewal on refusal)
    the transaction phase        `drain.Drain`: into the spool, record, DELE, batch by batch
    QUIT                         the server deletes now (RFC 1939: no QUIT, no deletion)

`check_now()` then waits, at most `PRINT_WAIT` seconds, for the worker to print what this poll
spooled, so that `mail check` reports what was printed; `check_now(wait_printed=False)` (the
scheduled polls, the bench) returns when the mailbox is drained and reports what was printed
so far (`pending` = spooled, not yet printed).

What fails is told apart for the administrator, with the server's words unchanged: every error
of the receive path is a `MailFailure` carrying its `step` (connect, tls, auth, token,
receive) and its `reason`. Each failure is published as an `Alert` event with `source`,
`step` and `reason`; a message that cannot be printed is the print worker's `Refused`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.printer import OutputTray

from ..errors import FirmwareError
from ..events import Alert, EventBus
from ..mail.errors import MailFailure
from ..mail.task import stop_task
from ..settings import PopSettings
from ..vocabulary import Outcome, ReceiveKind, Step
from .drain import Drain
from .errors import FaxMemoryFull
from .journal import ReceiveJournal
from .ledger import ReceiveLedger
from .limits import ReceiveLimits
from .print_worker import PrintWorker, Reception, Ticket
from .results import PollResult
from .signin import Mailbox
from .spool import ReceiveSpool

__all__ = ["MAX_PHASE", "PRINT_WAIT", "PopPoller", "phase_of"]

log = logging.getLogger(__name__)

#: How long `check_now()` waits for the print worker (real seconds: printing is real work).
PRINT_WAIT = 120.0
#: The phase is at most this part of the interval, and at most `MAX_PHASE` seconds.
PHASE_SHARE = 0.1
MAX_PHASE = 300.0


def phase_of(device: str, section: str) -> float:
    """A number in [0, 1) that is the same for the same device and setting, always."""
    digest = hashlib.sha256(f"{device}\0{section}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class PopPoller:
    def __init__(
        self,
        section: str,
        kind: ReceiveKind,
        *,
        settings: Callable[[], PopSettings],
        mailbox: Mailbox,
        clock: Clock,
        events: EventBus,
        spool: ReceiveSpool,
        ledger: ReceiveLedger,
        printer: PrintWorker,
        tray: OutputTray,
        reception: Reception,
        limits: ReceiveLimits,
        journal: ReceiveJournal,
        phase: float = 0.0,
    ) -> None:
        self.section = section
        self._phase = phase  # in [0, 1): see `phase_of`
        self.kind = kind
        self._settings = settings
        self._mailbox = mailbox
        self._clock = clock
        self._events = events
        self._spool = spool
        self._ledger = ledger
        self._printer = printer
        self._tray = tray
        self._reception = reception
        self._limits = limits
        self._journal = journal
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last: PollResult | None = None
        self.next_check_at: float | None = None

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"poll.{self.section}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    def phase(self, interval: float) -> float:
        """Seconds added to the first check after power-on for this `interval` (seconds)."""
        return self._phase * min(PHASE_SHARE * interval, MAX_PHASE)

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
                interval = cfg.check_interval * 60
                self.next_check_at = self._clock.now() + interval + self.phase(interval)
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
        ticket = self._printer.ticket()
        try:
            async with self._lock:
                result = PollResult(self.section)
                try:
                    await self._poll(self._settings(), result, ticket)
                except MailFailure as exc:  # the receive path's one tree
                    result.failed(exc.step, exc.reason)
                except FirmwareError as exc:
                    result.failed(Step.RECEIVE, str(exc))
                except (HwsimError, OSError, ValueError) as exc:  # NVRAM, a library surprise
                    log.exception("%s: poll failed", self.section)
                    result.failed(Step.RECEIVE, f"Internal error: {type(exc).__name__}: {exc}")
                if not result.ok:
                    assert result.step is not None
                    log.warning("%s: %s failed: %s", self.section, result.step, result.reason)
                    self._events.publish(Alert(self.section, result.step, result.reason))
                    self._printer.wake()  # whatever did reach the spool is printed all the same
            if wait_printed and result.ok:
                await ticket.wait(PRINT_WAIT)
            for done in ticket.done:
                if done.outcome is Outcome.PRINTED:
                    result.printed += 1
                    result.files += [p.name for p in done.files]
                else:
                    result.refused += 1
            result.pending = len(ticket.waiting)
            self.last = result
            return result
        finally:
            self._printer.forget(ticket)

    async def probe(self, notes: list[str]) -> int:
        """Connect, secure, sign in, STAT, QUIT (the connection test); returns messages waiting."""
        pop = await self._mailbox.open(self._settings(), notes)
        try:
            count, size = await pop.stat()
            notes.append(f"{count} message(s) waiting ({size} octets)")
            await pop.quit()
            return count
        finally:
            await pop.close()

    async def _poll(self, cfg: PopSettings, result: PollResult, ticket: Ticket) -> None:
        memory = self._spool.memory
        if memory.use().full:  # nothing would fit: do not even sign in
            raise FaxMemoryFull(memory.use())
        pop = await self._mailbox.open(cfg, [])
        try:
            # Until QUIT is answered: the server deletes at QUIT (a long mailbox takes it a
            # while), and a print started meanwhile would compete with the session.
            with self._reception.receiving():
                drain = Drain(self.section, self.kind, pop, cfg, result, ticket, self._spool,
                              self._ledger, self._printer, self._tray, self._clock,
                              self._events, self._limits, self._journal)
                await drain.run()
                await pop.quit()
        finally:
            await pop.close()
        if drain.full:
            raise FaxMemoryFull(memory.use(), result.left)
