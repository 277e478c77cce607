"""One poll's transaction phase: read the mailbox into the spool, record, then DELE.

    UIDL                         what is there (the first `listed` only)
    LIST                         how big, when anything is new (a quiet poll sends none)
    for each message, in batches of `BATCH`:
        skip it if the ledger knows its UIDL (left on the server, or handled before a crash),
        or if it is already in the spool or the tray (stored or printed before a crash)
        skip it, with an alert, if it is larger than the device takes (left on the server)
        stop here if it does not fit in the fax memory ("fax memory full": the rest stays on
        the server)
        RETR; a message whose Message-ID was taken before is a duplicate; any other is
        kept for the spool with its batch;
        a message another client removed meanwhile (-ERR to RETR or DELE) is skipped
        per batch: commit the spool (a worker thread writes the batch's one file, fsyncs
        it, renames it into place, one folder fsync) while RETR goes on, write the batch
        to the ledger (one NVRAM transaction), wake the print worker, and only then DELE
        the batch (unless `leave_copy`); the next batch is read meanwhile

So a power cut at any instant loses nothing (nothing is deleted before it is in the spool for
good; no QUIT, nothing deleted at all) and prints nothing twice (the spool and tray names come
from the UIDL; see the print worker).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.printer import OutputTray

from ..events import Alert, EventBus, Received
from ..pop3 import Pop3Client, Pop3ServerError, Pop3TooLarge
from ..settings import PopSettings
from ..vocabulary import Outcome, ReceiveKind, Step
from .headers import Headers, message_headers
from .journal import ReceiveJournal
from .ledger import Handled, ReceiveLedger
from .limits import ReceiveLimits
from .print_worker import PrintWorker, Ticket
from .results import PollResult
from .spool import ReceiveSpool, SpoolEntry, SpoolWriter, rx_id

__all__ = ["BATCH", "BATCH_BYTES", "STORING_AHEAD", "Drain"]

log = logging.getLogger(__name__)

#: Messages stored, then recorded and deleted, per batch.
BATCH = 50
#: ... or per this many bytes of messages (kept in memory until they are written).
BATCH_BYTES = 16 * 1024 * 1024
#: Batches being stored while the session reads on; at more, the session waits. DELE for a
#: batch goes out once it is stored: any time before QUIT is the same to the server.
STORING_AHEAD = 2


@dataclass
class _Batch:
    """Messages read from the server, on their way to the spool, the ledger and DELE."""

    handled: list[tuple[int, Handled]] = field(default_factory=list)  # recorded, then DELE
    kept: list[Handled] = field(default_factory=list)  # recorded, left on the server
    spool: list[SpoolEntry] = field(default_factory=list)
    headers: list[Headers] = field(default_factory=list)  # of the spool's, in order
    size: int = 0  # bytes of the messages, until they are written
    durable: asyncio.Task[None] | None = None

    def full(self) -> bool:
        return len(self.handled) >= BATCH or self.size >= BATCH_BYTES

    def stored(self) -> bool:
        """Done storing (for good, or failed: `_delete` then raises the failure)."""
        return self.durable is not None and self.durable.done()


@dataclass
class Drain:
    """The parts of a reception unit one poll works with (built per poll by the poller)."""

    section: str
    kind: ReceiveKind
    pop: Pop3Client
    cfg: PopSettings
    result: PollResult
    ticket: Ticket
    spool: ReceiveSpool
    ledger: ReceiveLedger
    printer: PrintWorker
    tray: OutputTray
    clock: Clock
    events: EventBus
    limits: ReceiveLimits
    journal: ReceiveJournal
    full: bool = False  # stopped because the fax memory was full

    async def run(self) -> None:
        pop, cfg, result = self.pop, self.cfg, self.result
        count, _ = await pop.stat()
        uids = await pop.uidl(self.limits.listed)
        result.on_server = max(count, len(uids))
        if len(uids) >= count:  # the whole mailbox was listed: forget what is gone from it
            self.ledger.prune(uids.values(), self.clock.now())
        handled = self.ledger.outcomes(uids.values())  # each UIDL is listed once: a snapshot
        # Sizes matter only for messages to read: a poll that finds nothing new sends no LIST.
        new = any(uid not in handled for uid in uids.values())
        sizes = await pop.list(self.limits.listed) if new else {}
        taken_now: set[str] = set()  # Message-IDs spooled in this poll, not yet recorded
        batch, storing = _Batch(), collections.deque[_Batch]()
        writer = self.spool.writer()
        try:
            order = sorted(uids)
            for index, number in enumerate(order):
                uid = uids[number]
                done = handled.get(uid)
                if done is not None:
                    # Handled before; still here because of leave_copy, or a power cut before QUIT.
                    if not cfg.leave_copy and done is not Outcome.TOO_LARGE:
                        batch.handled.append((number, Handled(uid, "", Outcome.DUPLICATE,
                                                              self.clock.now())))
                    continue
                rx = rx_id(self.section, self.kind, uid)
                # The spool first, then the tray: the worker removes a message only once
                # its output is in the tray, so a message between the two is seen in one.
                if self.spool.has(rx) or self.tray.has(rx):
                    # stored or printed just before a power cut, not recorded yet
                    batch.handled.append((number, Handled(uid, "", Outcome.PRINTED,
                                                          self.clock.now())))
                    result.duplicates += 1
                    self.journal.add(self.section, Outcome.DUPLICATE, reason=(
                        "stored before a power cut, not recorded yet: not read again"))
                elif sizes.get(number, 0) > self.limits.max_message_bytes:
                    self._too_large(batch, number, uid, sizes[number])
                    continue
                elif not self.spool.memory.fits(sizes.get(number, 0)):
                    self.full = True
                    result.left = len(order) - index + max(0, count - len(uids))
                    break
                else:
                    raw = await self._retr(number, uid)
                    if raw is None:
                        continue
                    result.received += 1
                    batch.handled.append((number, self._take(raw, uid, rx, writer, batch,
                                                             taken_now)))
                if batch.full():
                    batch.durable = self._start_storing(writer, batch)
                    storing.append(batch)
                    batch = _Batch()
                # DELE what is stored for good by now; wait only when too much is in flight.
                while storing and (storing[0].stored() or len(storing) > STORING_AHEAD):
                    await self._delete(storing.popleft())
            if batch.handled or batch.kept:
                batch.durable = self._start_storing(writer, batch)
                storing.append(batch)
            while storing:
                await self._delete(storing.popleft())
        except BaseException:
            self._abandon([*storing, batch])
            raise
        finally:
            writer.close()

    def _too_large(self, batch: _Batch, number: int, uid: str, size: int) -> None:
        """Not downloaded: left on the server, alerted once, recorded with the batch."""
        limit = self.limits.max_message_bytes
        reason = (f"message {number} is {size} bytes; the device takes at most {limit} bytes "
                  "(limit: message size). It was left on the server")
        self.events.publish(Alert(self.section, Step.RECEIVE, reason))
        self.journal.add(self.section, Outcome.TOO_LARGE, reason=reason)
        batch.kept.append(Handled(uid, "", Outcome.TOO_LARGE, self.clock.now()))
        self.result.refused += 1

    async def _retr(self, number: int, uid: str) -> bytes | None:
        """The message, or None when the server says it is gone (another client removed it:
        Dovecot's `-ERR Message 1 expunged.`): skipped, the poll goes on with the rest."""
        try:
            return await self.pop.retr(number)
        except Pop3ServerError as exc:  # the session is intact: a reply, not a broken line
            self.result.vanished += 1
            log.info("%s: message %d (%s) is gone: %s", self.section, number, uid, exc.text)
            self.journal.add(self.section, Outcome.VANISHED, reason=(
                f"the server did not give it ({exc.text}): removed by another client, or not "
                "available now; skipped (read at the next poll if it is still there)"))
            return None
        except Pop3TooLarge:
            # Larger than LIST said: never again, or every poll would fail on it.
            limit = self.limits.max_message_bytes
            self.events.publish(Alert(self.section, Step.RECEIVE, (
                f"message {number} is larger than its listed size and than the {limit} bytes "
                "the device takes (limit: message size). It was left on the server")))
            await asyncio.to_thread(self.ledger.record,
                                    [Handled(uid, "", Outcome.TOO_LARGE, self.clock.now())])
            raise

    def _take(self, raw: bytes, uid: str, rx: str, writer: SpoolWriter, batch: _Batch,
              taken_now: set[str]) -> Handled:
        """A message just read: a duplicate by Message-ID, or a new one for the spool."""
        headers = message_headers(raw)
        mid = headers.message_id
        now = self.clock.now()
        if mid and (mid in taken_now or self.ledger.has_message_id(mid)):
            self.result.duplicates += 1
            log.info("%s: %s already taken (same Message-ID)", self.section, mid)
            self.journal.add(self.section, Outcome.DUPLICATE, headers.sender, headers.subject,
                             f"Message-ID {mid} was received before: not printed again")
            return Handled(uid, mid, Outcome.DUPLICATE, now)
        entry = self.spool.reserve(rx, len(raw))
        writer.add(entry, uid, raw)
        batch.spool.append(entry)
        batch.headers.append(headers)
        batch.size += len(raw)
        self.result.spooled += 1
        if mid:  # a second copy later in this same poll is a duplicate too
            taken_now.add(mid)
        return Handled(uid, mid, Outcome.SPOOLED, now)

    def _start_storing(self, writer: SpoolWriter, batch: _Batch) -> asyncio.Task[None]:
        """Start making a batch durable (spool, then ledger) while the session reads on."""
        return asyncio.get_running_loop().create_task(self._make_durable(writer, batch),
                                                      name=f"spool.{self.section}")

    async def _make_durable(self, writer: SpoolWriter, batch: _Batch) -> None:
        ids = [entry.rx_id for entry in batch.spool]
        self.printer.watch(self.ticket, ids)  # before the worker can see them
        self.printer.hold(ids)  # not printed before the ledger has them (see `hold`)
        try:
            if batch.spool:
                await writer.commit(batch.spool)
            await self.commit(batch)
            for entry, headers in zip(batch.spool, batch.headers, strict=True):
                self.events.publish(Received(self.section, entry.rx_id, self.kind,
                                             headers.sender, headers.subject, entry.size))
                self.journal.add(self.section, Outcome.SPOOLED, headers.sender,
                                 headers.subject, f"{entry.size} bytes, in the fax memory")
        finally:
            self.printer.release(ids)

    async def commit(self, batch: _Batch) -> None:
        """The batch is in the spool for good: record it in the ledger (one transaction)."""
        new = [h for _, h in batch.handled if not self.ledger.has_uid(h.uid)] + batch.kept
        if new:
            await asyncio.to_thread(self.ledger.record, new)

    async def _delete(self, batch: _Batch) -> None:
        """DELE a batch once it is durable (spool and ledger); never before."""
        assert batch.durable is not None
        await batch.durable
        if self.cfg.leave_copy:
            return
        numbers = [number for number, _ in batch.handled]
        refused = await self.pop.dele_many(numbers)  # one round trip with PIPELINING
        for number, text in refused.items():  # gone already (another client): nothing to do
            log.info("%s: DELE %d: %s", self.section, number, text)
        self.result.vanished += len(refused)
        self.result.deleted += len(numbers) - len(refused)

    def _abandon(self, batches: list[_Batch]) -> None:
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
            self.ticket.waiting.difference_update(entry.rx_id for entry in pending.spool)
