"""The print worker: prints what a POP receiver has put in its spool, oldest first.

The POP session only stores messages (`spool.py`); decoding a TIFF-F and printing its pages
takes far longer than reading the message, and it must not hold the mailbox open. One worker
per POP setting runs on its own task:

    wake up (the poller committed a batch; or power-on: whatever the spool still holds)
    for each spooled message, in reception order:
        wait while any POP session of the device is receiving (`Reception`)
        decode and print it (Internet Fax: TIFF-F pages; E-mail Print: PDF and images),
        fsync the tray files and the tray folder       -> `fax` / `print` event
        or refuse it: not a fax, not decodable          -> `alert` event, ledger says refused
        then remove the spool file
    nothing left: sleep until woken

Printing is idempotent, so a power cut at any instant prints nothing twice: the tray names
come from the rx id (setting + UIDL) and a message printed again after a power cut keeps the
pages already in the tray and prints only the missing ones (`keep_existing`). A message
refused once is recorded as refused in the ledger before its spool file goes, and is not
refused (nor alerted) again. A worker failure that is not the message's fault (a bug) leaves
the file in the spool and is not retried before the next power-on.

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
import email.policy
import io
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path

from PIL import Image

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.printer import OutputTray, sanitize_name

from ..events import Alert, EventBus, Refused
from ..events import Printed as PrintedEvent
from ..ifax import Attachment, IfaxError, decode_tiff_f, extract_documents
from ..vocabulary import ReceiveKind, Step
from .ledger import ReceiveLedger
from .spool import ReceiveSpool, SpoolEntry, SpoolError
from .task import stop_task

__all__ = ["PrintWorker", "Printed", "Reception", "Ticket", "message_headers", "message_id"]

log = logging.getLogger(__name__)

_EXT = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}


@dataclass(frozen=True)
class Printed:
    """What became of one spooled message."""

    rx_id: str
    outcome: str  # printed | refused
    files: tuple[Path, ...] = ()
    reason: str = ""
    pages: int = 0


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
        self.done: list[Printed] = []
        self._all_done = asyncio.Event()

    def finish(self, printed: Printed) -> None:
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

    uid: str
    sender: str
    subject: str
    message_id: str
    printed: Printed
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
    ) -> None:
        self.section = section
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
        self.printed = 0  # since power-on
        self.refused = 0

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._wake.set()  # power-on: resume whatever the spool holds
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"print.{self.section}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
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
            entries = [e for e in await asyncio.to_thread(self.spool.entries)
                       if e.rx_id not in self._given_up]
            printed_any = False
            for entry in entries:
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
        try:
            job = await asyncio.to_thread(self._print_job, entry)
        except Exception as exc:  # a bug or a broken disk: keep the file, do not spin on it
            log.exception("%s: printing %s failed", self.section, entry.path.name)
            self._given_up.add(entry.rx_id)
            reason = f"Internal error while printing {entry.rx_id}: {type(exc).__name__}: {exc}"
            self._events.publish(Alert(self.section, Step.PRINT, reason))
            self._finish(Printed(entry.rx_id, "refused", reason=reason))
            return
        printed = job.printed
        if printed.outcome == "refused":
            self.refused += 1
            if not job.refused_before:
                refused = Refused(self.section, printed.rx_id, job.sender, job.subject,
                                  printed.reason)
                log.warning("%s: %s", self.section, refused.summary())
                self._events.publish(refused)
        else:
            self.printed += 1
            self._events.publish(PrintedEvent(
                self.section, printed.rx_id, self.kind, job.sender, job.subject, printed.pages,
                tuple(p.name for p in printed.files)))
        self._finish(printed)

    def _finish(self, printed: Printed) -> None:
        for ticket in self._tickets:
            ticket.finish(printed)

    def _print_job(self, entry: SpoolEntry) -> _Job:
        """Worker thread: read, print or refuse, make it durable, remove the spool file."""
        try:
            uid, raw = self.spool.read(entry)
        except SpoolError as exc:
            self.spool.remove(entry)
            return _Job("", "", "", "", Printed(entry.rx_id, "refused", reason=str(exc)))
        sender, subject, message_id = message_headers(raw)
        if self._ledger.outcome(uid) == "refused":  # refused before a power cut: said so then
            self.spool.remove(entry)
            return _Job(uid, sender, subject, message_id,
                        Printed(entry.rx_id, "refused", reason="refused before"),
                        refused_before=True)
        printed = self._print(raw, entry.rx_id)
        if printed.outcome == "refused":
            self._ledger.refused(uid, message_id, self._clock.now())
        else:
            _sync_files(printed.files)
            _sync_folder(self._tray.folder)
        self.spool.remove(entry)
        return _Job(uid, sender, subject, message_id, printed)

    def _print(self, raw: bytes, rx_id: str) -> Printed:
        try:
            documents = extract_documents(raw)
        except IfaxError as exc:
            return Printed(rx_id, "refused", reason=f"not a readable message: {exc}")
        try:
            if self.kind is ReceiveKind.FAX:
                return self._print_fax(documents, rx_id)
            return self._print_documents(documents, rx_id)
        except HwsimError as exc:  # the tray could not take it
            return Printed(rx_id, "refused", reason=f"the output tray refused it: {exc}")

    def _print_fax(self, documents: list[Attachment], rx_id: str) -> Printed:
        tiffs = [d for d in documents if d.content_type == "image/tiff"]
        if not tiffs:
            found = ", ".join(d.content_type for d in documents) or "no attachment"
            return Printed(rx_id, "refused", reason=f"not an Internet Fax: no TIFF image ({found})")
        try:  # decode everything before printing anything: no half-printed refusals
            images = [page for doc in tiffs for page in decode_tiff_f(doc.data)]
        except IfaxError as exc:
            return Printed(rx_id, "refused", reason=str(exc))
        files = self._tray.print_pages(rx_id, "fax", images, keep_existing=True)
        return Printed(rx_id, "printed", tuple(files), pages=len(images))

    def _print_documents(self, documents: list[Attachment], rx_id: str) -> Printed:
        if not documents:
            return Printed(rx_id, "refused", reason="no PDF or image attachment to print")
        for doc in documents:
            problem = _check_document(doc.content_type, doc.data)
            if problem:
                return Printed(rx_id, "refused", reason=f"{doc.filename}: {problem}")
        files: list[Path] = []
        used: set[str] = set()
        for doc in documents:
            stem, _, ext = doc.filename.rpartition(".")
            ext = _EXT.get(doc.content_type, ext or "bin")
            name = _distinct(sanitize_name(stem or doc.filename), ext, used)
            files.append(self._tray.print_document(rx_id, name, doc.data, ext,
                                                   keep_existing=True))
        return Printed(rx_id, "printed", tuple(files), pages=len(files))


def _distinct(name: str, ext: str, used: set[str]) -> str:
    """Two attachments called the same get `-2`, ... here, so `keep_existing` tells them apart."""
    candidate, copy = name, 1
    while f"{candidate}.{ext}".lower() in used:
        copy += 1
        candidate = f"{name}-{copy}"
    used.add(f"{candidate}.{ext}".lower())
    return candidate


def _check_document(content_type: str, data: bytes) -> str:
    """Why this attachment cannot be printed, or "" when it can."""
    if content_type == "application/pdf":
        return "" if data.lstrip()[:5] == b"%PDF-" else "not a PDF file (no %PDF- header)"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as exc:
        return f"the {content_type} image cannot be decoded ({type(exc).__name__})"
    return ""


def message_headers(raw: bytes) -> tuple[str, str, str]:
    """From, Subject and Message-ID, or empty strings when a header is missing or broken.

    Only the header block is parsed (a fax body is ~1,000 base64 lines the parser would walk
    for nothing), with the compat32 parser: several times faster than `email.policy.default`.
    """
    values = []
    try:
        msg = BytesHeaderParser(policy=email.policy.compat32).parsebytes(_head(raw))
        for name in ("From", "Subject"):
            value = msg.get(name)
            values.append("" if value is None else _header_text(str(value)))
    except Exception:
        return "", "", message_id(raw)
    return values[0], values[1], message_id(raw)


_MESSAGE_ID = re.compile(rb"^message-id[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def message_id(raw: bytes) -> str:
    """The Message-ID as the ledger keys it ("" without one); the POP session's only parse.

    A regular expression over the header block instead of a header parser: it runs for every
    message received, on the event loop.
    """
    found = _MESSAGE_ID.search(_head(raw))
    if found is None:
        return ""
    return _header_text(found[1].decode("ascii", "surrogateescape"))


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[: end + 2]


def _header_text(value: str) -> str:
    """A header value decoded (RFC 2047 words), unfolded, bounded."""
    try:
        text = str(make_header(decode_header(value))) if "=?" in value else value
    except (ValueError, LookupError, UnicodeError):
        text = value
    return " ".join(text.split())[:200]


def _sync_files(paths: Iterable[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
