"""The receive spool ("fax memory"): received messages kept in NVRAM until they are printed.

One folder per POP setting, `<nvram>/spool/<section>/`, one file per message:

    <seq>-<rx-id>.eml         a message stored for good: first line `X-MFP-UIDL: <uidl>`,
                              then the message exactly as RETR gave it
    .<seq>-<rx-id>.part       being stored by the POP session (not yet part of the spool)

The POP session hands each message to a `SpoolWriter` thread, which writes it under its
`.part` name and fsyncs it while the session reads on; per batch, `commit` renames the batch
into place and fsyncs the folder once; only then does the ledger record the batch's UIDLs,
and only then go the DELE commands. So a message is either not in the spool (it is still on the server and will
be read again) or in it for good. A `.part` file found at power-on is an unfinished batch:
it is removed (those messages are still on the server).

The print worker takes `<seq>` order (the order of reception; `seq` restarts after the
highest one found at power-on) and removes a file once its output is in the tray. `rx-id` is
derived from the setting and the UIDL, so the same message always has the same name: a poll
that finds it here, or its output in the tray, does not read it again.
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path

from mfp_sim.hwsim.private import private_dir

__all__ = ["ReceiveSpool", "SpoolEntry", "SpoolError", "SpoolWriter"]

_NAME = re.compile(r"(\d{1,12})-([A-Za-z0-9]{1,40})\.eml")
_UIDL_HEADER = b"X-MFP-UIDL: "


class SpoolError(OSError):
    """A spool file that cannot be written, read or understood."""


@dataclass(frozen=True)
class SpoolEntry:
    """One stored message: `seq` is its place in reception order."""

    seq: int
    rx_id: str
    path: Path


class ReceiveSpool:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        private_dir(self.folder)  # 0700, like every folder under the device's
        for leftover in self.folder.glob(".*.part"):  # a session cut short: not stored
            leftover.unlink(missing_ok=True)
        self._seq = max((e.seq for e in self.entries()), default=0)

    def entries(self) -> list[SpoolEntry]:
        """Every stored message, oldest first."""
        found: list[SpoolEntry] = []
        with os.scandir(self.folder) as listing:
            for item in listing:
                match = _NAME.fullmatch(item.name)
                if match:
                    found.append(SpoolEntry(int(match[1]), match[2], Path(item.path)))
        found.sort(key=lambda e: e.seq)
        return found

    def rx_ids(self) -> set[str]:
        return {e.rx_id for e in self.entries()}

    def reserve(self, rx_id: str) -> SpoolEntry:
        """The name the next received message will have (nothing is written yet)."""
        self._seq += 1
        return SpoolEntry(self._seq, rx_id, self.folder / f"{self._seq:08d}-{rx_id}.eml")

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self)

    @staticmethod
    def read(entry: SpoolEntry) -> tuple[str, bytes]:
        """(UIDL, the message as received)."""
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            raise SpoolError(f"spool file {entry.path.name} cannot be read: {exc}") from exc
        first, sep, raw = data.partition(b"\r\n")
        if not sep or not first.startswith(_UIDL_HEADER):
            raise SpoolError(f"spool file {entry.path.name} is damaged (no UIDL line)")
        return first[len(_UIDL_HEADER):].decode("ascii", "replace"), raw

    @staticmethod
    def remove(entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)


class SpoolWriter:
    """The threads that store messages while the POP session goes on reading.

    `add` only hands the message over (the event loop does no file work, and is not woken
    per message); `WRITERS` threads write each message under its `.part` name and fsync it.
    Writing is what limits a drain (about 1 ms per fax-sized message on the test machine,
    mostly the kernel's page allocation, which runs outside the GIL), so two threads write
    side by side. `commit` waits for the writes of its entries, then renames them into place
    and fsyncs the folder, once. `close` removes written but uncommitted `.part` files (those
    messages are still on the server).
    """

    WRITERS = 2

    def __init__(self, spool: ReceiveSpool) -> None:
        self._spool = spool
        self._pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="spool-writer")
        self._writes: dict[SpoolEntry, Future[None]] = {}
        self._closed = False

    def add(self, entry: SpoolEntry, uid: str, raw: bytes) -> None:
        self._writes[entry] = self._pool.submit(self._write, entry, uid, raw)

    async def commit(self, entries: list[SpoolEntry]) -> None:
        """Make `entries` (all added before) part of the spool for good."""
        writes = [self._writes.pop(e) for e in entries]
        await asyncio.wrap_future(self._pool.submit(self._commit, entries, writes))

    def close(self) -> None:
        """No more messages; uncommitted ones are removed once their writes end."""
        if not self._closed:
            self._closed = True
            leftovers = list(self._writes)
            self._pool.submit(self._discard, leftovers, list(self._writes.values()))
            self._pool.shutdown(wait=False)

    # -- the threads -------------------------------------------------------------------------
    def _write(self, entry: SpoolEntry, uid: str, raw: bytes) -> None:
        part = _part(entry)
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.writev(fd, [_UIDL_HEADER, uid.encode("ascii", "replace"), b"\r\n", raw])
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise SpoolError(
                f"the receive spool {self._spool.folder} cannot take a message: {exc}") from exc

    def _commit(self, entries: list[SpoolEntry], writes: list[Future[None]]) -> None:
        for write in writes:
            failed = write.exception()  # waits for it
            if failed is not None:
                self._discard(entries, writes)
                raise failed
        try:
            for entry in entries:
                os.replace(_part(entry), entry.path)
            fd = os.open(self._spool.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SpoolError(
                f"the receive spool {self._spool.folder} cannot be synced: {exc}") from exc

    @staticmethod
    def _discard(entries: list[SpoolEntry], writes: list[Future[None]]) -> None:
        futures_wait(writes)
        for entry in entries:
            _part(entry).unlink(missing_ok=True)


def _part(entry: SpoolEntry) -> Path:
    return entry.path.with_name(f".{entry.path.stem}.part")
