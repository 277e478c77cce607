"""The print worker: prints what a POP receiver has put in its spool, oldest first.

The POP session only stores messages (`spool.py`); decoding a TIFF-F and printing its pages
takes far longer than reading the message, and it must not hold the mailbox open. One worker
per POP setting runs on its own task:

    wake up (the poller committed a batch; or power-on: whatever the spool still holds)
    for each spooled message, in reception order:
        wait while any POP session of the device is receiving (`Reception`: until QUIT)
        print it (`printing.print_message`), sync the tray files and folder -> `Printed` event
        or refuse it: not a fax, not decodable          -> `Refused` event, ledger says refused
        then remove it from the spool (a `done` mark; the batch file goes with its last)
    nothing left: sleep until woken

Printing is idempotent, so a power cut at any instant prints nothing twice: the tray names
come from the rx id (setting + UIDL) and a message printed again after a power cut keeps the
pages already in the tray and prints only the missing ones (`keep_existing`). A message
refused once is recorded as refused in the ledger before it leaves the spool, and is not
refused (nor alerted) again. A worker failure that is not the message's fault (a bug) leaves
the message in the spool and is not retried before the next power-on. Never retried for ever:
each start of a print is marked in the spool (`spool.attempt`, a `try` mark), and a message
whose printing was cut short `print_tries` times (a crash, a restart, the bug again) is
refused at the next power-on, not tried at every one.

Reception first: decoding and printing share the one interpreter (the GIL) with the POP
sessions, and measured concurrently they slowed a 500-fax drain by about 40 %. The line is
the scarcer resource (the server holds the maildrop locked for the whole session; timeouts
run), so a worker does not start a message while a POP session is receiving; the spool is
durable, so nothing waits at risk. A message already being printed is finished.

Who waits: `mail check` waits, with a bound, for the messages its poll spooled (`Ticket`);
`wait_idle` waits until the spool is empty (the bench, tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.printer import OutputTray

from ..events import Alert, EventBus, Printed, Refused
from ..mail.task import stop_task
from ..vocabulary import Outcome, ReceiveKind, Step
from .errors import SpoolError
from .headers import Headers, message_headers
from .journal import ReceiveJournal
from .ledger import ReceiveLedger
from .limits import ReceiveLimits
from .printing import print_message
from .results import PrintResult
from .spool import ReceiveSpool, SpoolEntry

__all__ = ["PrintWorker", "Reception", "Ticket"]

log = logging.getLogger(__name__)

_NO_HEADERS = Headers("", "", "")


class Reception:
    """How many POP sessions of the device are receiving now; printing waits for none."""

    def __init__(self) -> None:
        self._sessions = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        self._sessions += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._sessions -= 1
            if not self._sessions:
                self._quiet.set()

    async def quiet(self) -> None:
        await self._quiet.wait()


class Ticket:
    """The messages one poll spooled, and what became of them so far."""

    def __init__(self) -> None:
        self.waiting: set[str] = set()
        self.done: list[PrintResult] = []
        self._all_done = asyncio.Event()

    def finish(self, printed: PrintResult) -> None:
        if printed.rx_id in self.waiting:
            self.waiting.discard(printed.rx_id)
            self.done.append(printed)
            if not self.waiting:
                self._all_done.set()

    def give_up(self) -> None:
        self._all_done.set()

    async def wait(self, timeout: float) -> bool:
        """True when everything was printed or refused within `timeout` seconds (real time)."""
        if not self.waiting:
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._all_done.wait()
        except TimeoutError:
            return False
        return not self.waiting


@dataclass(frozen=True)
class _Job:
    """One message as the worker thread handled it."""

    headers: Headers
    printed: PrintResult
    refused_before: bool = False


class PrintWorker:
    def __init__(
        self,
        section: str,
        kind: ReceiveKind,
        *,
        spool: ReceiveSpool,
        tray: OutputTray,
        ledger: ReceiveLedger,
        events: EventBus,
        clock: Clock,
        reception: Reception,
        limits: ReceiveLimits,
        journal: ReceiveJournal,
    ) -> None:
        self.section = section
        self._journal = journal
        self.limits = limits
        self.kind = kind
        self.spool = spool
        self._tray = tray
        self._ledger = ledger
        self._events = events
        self._clock = clock
        self._reception = reception
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._tickets: list[Ticket] = []
        self._given_up: set[str] = set()  # rx ids the worker failed on (not the message's fault)
        self._held: set[str] = set()  # being committed by the POP session
        self._task: asyncio.Task[None] | None = None
        self._printing: asyncio.Future[_Job] | None = None  # the thread printing a message
        self._stopping = False
        self.printed = 0  # since power-on
        self.refused = 0

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._wake.set()  # power-on: resume whatever the spool holds
            for problem in self.spool.problems:  # what power-on found damaged, said once
                self._events.publish(Alert(self.section, Step.PRINT, str(problem)))
                self._journal.add(self.section, Outcome.REFUSED, reason=str(problem))
            self.spool.problems.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"print.{self.section}")

    async def stop(self) -> None:
        """No new message is started from now on (call it first when the device stops); the
        one being printed in the worker thread is finished, as a printer ends its sheet."""
        self._stopping = True
        task, self._task = self._task, None
        await stop_task(task)
        printing, self._printing = self._printing, None
        if printing is not None and not printing.done():
            await asyncio.wait({printing})
        for ticket in self._tickets:  # nothing more is printed: nobody waits for it
            ticket.give_up()

    def wake(self) -> None:
        """The spool gained messages."""
        self._idle.clear()
        self._wake.set()

    def hold(self, rx_ids: Iterable[str]) -> None:
        """Do not print these yet: the POP session is recording them in the ledger.

        A message refused before its batch is recorded would have its refusal overwritten by
        the batch's record; held, it waits a few milliseconds.
        """
        self._held.update(rx_ids)

    def release(self, rx_ids: Iterable[str]) -> None:
        self._held.difference_update(rx_ids)
        self.wake()

    def ticket(self) -> Ticket:
        ticket = Ticket()
        self._tickets.append(ticket)
        return ticket

    def watch(self, ticket: Ticket, rx_ids: Iterable[str]) -> None:
        ticket.waiting.update(rx_ids)

    def forget(self, ticket: Ticket) -> None:
        if ticket in self._tickets:
            self._tickets.remove(ticket)

    async def wait_idle(self, timeout: float) -> bool:
        """True once the spool is empty (everything printed or refused), within `timeout` s."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            entries = [e for e in self.spool.entries() if e.rx_id not in self._given_up]
            printed_any = False
            for entry in entries:
                if self._stopping:
                    return
                if entry.rx_id not in self._held:  # held ones: `release` wakes the worker
                    await self._print_entry(entry)
                    printed_any = True
            if printed_any:
                self._wake.set()  # look again: more may have come meanwhile
            elif not entries and not self._wake.is_set():
                self._idle.set()

    # ---------------------------------------------------------------- print
    async def _print_entry(self, entry: SpoolEntry) -> None:
        await self._reception.quiet()
        if self._stopping:
            return
        self._printing = asyncio.get_running_loop().run_in_executor(None, self._print_job, entry)
        try:
            job = await asyncio.shield(self._printing)
        except Exception as exc:  # a bug or a broken disk: keep the file, do not spin on it
            log.exception("%s: printing %s failed", self.section, entry.rx_id)
            self._given_up.add(entry.rx_id)
            reason = f"Internal error while printing {entry.rx_id}: {type(exc).__name__}: {exc}"
            self._events.publish(Alert(self.section, Step.PRINT, reason))
            self._journal.add(self.section, Outcome.REFUSED, reason=reason)
            self._finish(PrintResult(entry.rx_id, Outcome.REFUSED, reason=reason))
            return
        printed, headers = job.printed, job.headers
        if printed.outcome is Outcome.REFUSED:
            self.refused += 1
            if not job.refused_before:
                refused = Refused(self.section, printed.rx_id, headers.sender, headers.subject,
                                  printed.reason)
                log.warning("%s: %s", self.section, refused.summary())
                self._events.publish(refused)
                self._journal.add(self.section, Outcome.REFUSED, headers.sender,
                                  headers.subject, printed.reason)
        else:
            self.printed += 1
            self._events.publish(Printed(
                self.section, printed.rx_id, self.kind, headers.sender, headers.subject,
                printed.pages, tuple(p.name for p in printed.files)))
            self._journal.add(self.section, Outcome.PRINTED, headers.sender, headers.subject,
                              f"{printed.pages} page(s)")
        self._finish(printed)

    def _finish(self, printed: PrintResult) -> None:
        for ticket in self._tickets:
            ticket.finish(printed)

    def _print_job(self, entry: SpoolEntry) -> _Job:
        """Worker thread: read, print or refuse, make it durable, remove it from the spool."""
        try:
            uid, raw = self.spool.read(entry)
        except SpoolError as exc:
            self.spool.remove(entry)
            return _Job(_NO_HEADERS, PrintResult(entry.rx_id, Outcome.REFUSED, reason=str(exc)))
        headers = message_headers(raw)
        if self._ledger.outcome(uid) is Outcome.REFUSED:  # refused before a power cut: said then
            self.spool.remove(entry)
            return _Job(headers, PrintResult(entry.rx_id, Outcome.REFUSED,
                                             reason="refused before"), refused_before=True)
        if entry.tries >= self.limits.print_tries:
            printed = PrintResult(entry.rx_id, Outcome.REFUSED, reason=(
                f"its printing was cut short {entry.tries} times (the device stopped while "
                "printing it); refused so that it is not tried at every power-on "
                "(limit: print attempts)"))
        else:
            entry = self.spool.attempt(entry)
            printed = print_message(raw, entry.rx_id, self.kind, self._tray, self.limits)
        if printed.outcome is Outcome.REFUSED:
            self._ledger.refused(uid, headers.message_id, self._clock.now())
        else:
            self._tray.sync(printed.files)
        self.spool.remove(entry)
        return _Job(headers, printed)
