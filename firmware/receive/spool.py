"""The receive spool ("fax memory"): received messages kept in NVRAM until they are printed.

One folder per POP setting, `<nvram>/spool/<section>/`, one file per message:

    <seq>-<rx-id>.eml         a message stored for good: first line `X-MFP-UIDL: <uidl>`,
                              then the message exactly as RETR gave it
    <seq>-<rx-id>.try<k>.eml  the same, after its printing started k times (`attempt`)
    .<seq>-<rx-id>.part       being stored by the POP session (not yet part of the spool)

The POP session keeps each message with its batch; per batch, a `SpoolWriter` thread
writes the batch's files under their `.part` names while the session reads on, fsyncs them,
renames them into place and fsyncs the folder once; only then does the ledger record the batch's UIDLs,
and only then go the DELE commands. So a message is either not in the spool (it is still on
the server and will be read again) or in it for good. A `.part` file found at power-on is an
unfinished batch: it is removed (those messages are still on the server).

Before printing a message the worker renames it `.try<k>` (`attempt`: a rename, no fsync:
what it guards against is the device stopping mid-print, a crash or a restart, which the
page cache survives). A message whose printing was cut short `print_tries` times is refused
instead of being tried at every power-on (`receive.limits`).

Every stored message holds its bytes in the device's `FaxMemory` from `reserve` until it is
removed (or its storing abandoned), so the poller can stop fetching when the memory is full.

The folder is read once, at power-on; from then on the spool keeps its index in memory
(`has`, `entries`), updated as files are committed and removed, so neither a poll nor the
print worker scans the folder. The print worker takes `<seq>` order (the order of reception;
`seq` restarts after the highest one found at power-on) and removes a file once its output is
in the tray. `rx-id` is derived from the setting and the UIDL (`rx_id`), so the same message
always has the same name: a poll that finds it here, or its output in the tray, does not read
it again.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from mfp_sim.hwsim.private import private_dir

from ..vocabulary import ReceiveKind
from .errors import SpoolError
from .memory import FaxMemory

__all__ = ["ReceiveSpool", "SpoolEntry", "SpoolError", "SpoolWriter", "rx_id"]

_NAME = re.compile(r"(\d{1,12})-([A-Za-z0-9]{1,40})(?:\.try(\d{1,3}))?\.eml")
_UIDL_HEADER = b"X-MFP-UIDL: "


def rx_id(section: str, kind: ReceiveKind, uid: str) -> str:
    """The spool and tray name of a received message: the same for the same message, always."""
    digest = hashlib.sha1(f"{section}\0{uid}".encode()).hexdigest()[:12]
    return f"{kind.value}{digest}"


@dataclass(frozen=True)
class SpoolEntry:
    """One stored message: `seq` is its place in reception order; `size` what it holds of
    the fax memory; `tries` how often its printing started."""

    seq: int
    rx_id: str
    path: Path
    size: int = 0
    tries: int = 0


class ReceiveSpool:
    def __init__(self, folder: Path, memory: FaxMemory) -> None:
        self.folder = Path(folder)
        self.memory = memory
        private_dir(self.folder)  # 0700, like every folder under the device's
        self._lock = threading.Lock()  # the index is changed by the writer and printer threads
        self._index: dict[str, SpoolEntry] = {}
        with os.scandir(self.folder) as listing:
            for item in listing:
                if item.name.startswith(".") and item.name.endswith(".part"):
                    os.unlink(item.path)  # a session cut short: not stored
                    continue
                match = _NAME.fullmatch(item.name)
                if match:
                    self._found(SpoolEntry(int(match[1]), match[2], Path(item.path),
                                           item.stat().st_size, int(match[3] or 0)))
        for entry in self._index.values():
            memory.take(entry.size)
        self._seq = max((e.seq for e in self._index.values()), default=0)

    def _found(self, entry: SpoolEntry) -> None:
        """A file found at power-on; of two copies of one message, the first stored is kept."""
        other = self._index.get(entry.rx_id)
        if other is not None:
            later = max(other, entry, key=lambda e: e.seq)
            later.path.unlink(missing_ok=True)
            entry = min(other, entry, key=lambda e: e.seq)
        self._index[entry.rx_id] = entry

    def entries(self) -> list[SpoolEntry]:
        """Every stored message, oldest first."""
        with self._lock:
            found = list(self._index.values())
        found.sort(key=lambda e: e.seq)
        return found

    def has(self, rx_id: str) -> bool:
        """True while a message of this rx id is stored (not yet printed or refused)."""
        return rx_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def reserve(self, rx_id: str, size: int) -> SpoolEntry:
        """The name the next received message will have (nothing is written yet); its `size`
        bytes are taken from the fax memory now."""
        self._seq += 1
        self.memory.take(size)
        return SpoolEntry(self._seq, rx_id, self.folder / f"{self._seq:08d}-{rx_id}.eml", size)

    def attempt(self, entry: SpoolEntry) -> SpoolEntry:
        """Printing of `entry` starts (once more): mark it so in its name (a rename, no fsync)."""
        tried = SpoolEntry(entry.seq, entry.rx_id,
                           self.folder / f"{entry.seq:08d}-{entry.rx_id}.try{entry.tries + 1}.eml",
                           entry.size, entry.tries + 1)
        try:
            os.replace(entry.path, tried.path)
        except OSError as exc:
            raise SpoolError(f"spool file {entry.path.name} cannot be marked: {exc}") from exc
        with self._lock:
            self._index[entry.rx_id] = tried
        return tried

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

    def remove(self, entry: SpoolEntry) -> None:
        """The message is printed or refused: its file goes, and its share of the memory."""
        entry.path.unlink(missing_ok=True)
        with self._lock:
            if self._index.get(entry.rx_id) != entry:
                return
            del self._index[entry.rx_id]
        self.memory.give(entry.size)

    def _abandoned(self, entries: list[SpoolEntry]) -> None:
        """Never stored (the session failed first): give their memory back."""
        for entry in entries:
            self.memory.give(entry.size)

    def _committed(self, entries: list[SpoolEntry]) -> None:
        with self._lock:
            for entry in entries:
                self._index[entry.rx_id] = entry


class SpoolWriter:
    """The threads that store messages while the POP session goes on reading.

    `add` only keeps the message with its batch (the event loop does no file work and wakes
    no thread per message); `commit` hands the batch to one of `WRITERS` threads, which
    writes each message under its `.part` name, starts the write-back of all of them at once
    (`sync_file_range`, Linux), fsyncs each, renames the batch into place and fsyncs the
    folder, once, while the session reads the next batch. Starting the batch's write-back
    together lets the kernel submit it in a few large requests: less CPU per message than an
    fsync right after each write (docs/bench.md), with the same guarantee, since nothing is
    committed (nor recorded, nor deleted on the server) before every file of the batch is
    fsynced. `close` forgets messages never committed (they are still on the server).
    """

    WRITERS = 2

    def __init__(self, spool: ReceiveSpool) -> None:
        self._spool = spool
        self._pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="spool-writer")
        # By `seq` (unique in a spool): hashing a SpoolEntry hashes its Path, per message.
        self._pending: dict[int, tuple[SpoolEntry, str, bytes]] = {}
        self._closed = False

    def add(self, entry: SpoolEntry, uid: str, raw: bytes) -> None:
        self._pending[entry.seq] = (entry, uid, raw)

    async def commit(self, entries: list[SpoolEntry]) -> None:
        """Make `entries` (all added before) part of the spool for good."""
        messages = [self._pending.pop(e.seq)[1:] for e in entries]
        await asyncio.wrap_future(self._pool.submit(self._commit, entries, messages))

    def close(self) -> None:
        """No more messages; those never committed give their memory back."""
        if not self._closed:
            self._closed = True
            self._spool._abandoned([entry for entry, _, _ in self._pending.values()])
            self._pending.clear()
            self._pool.shutdown(wait=False)

    # -- the threads -------------------------------------------------------------------------
    def _commit(self, entries: list[SpoolEntry], messages: list[tuple[str, bytes]]) -> None:
        fds: list[int] = []
        renamed: list[SpoolEntry] = []
        parts = [_part(entry) for entry in entries]  # each name made once (path operations)
        try:
            try:
                for part, (uid, raw) in zip(parts, messages, strict=True):
                    fds.append(_write(part, uid, raw))
                for fd in fds:
                    _start_writeback(fd)
                for fd in fds:
                    os.fsync(fd)
            finally:
                for fd in fds:
                    os.close(fd)
            for entry, part in zip(entries, parts, strict=True):
                os.replace(part, entry.path)
                renamed.append(entry)
            fd = os.open(self._spool.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            left = [e for e in entries if e not in renamed]
            for entry in left:
                Path(_part(entry)).unlink(missing_ok=True)
            self._spool._abandoned(left)
            raise SpoolError(
                f"the receive spool {self._spool.folder} cannot take a message: {exc}") from exc
        finally:
            self._spool._committed(renamed)  # in the folder: printed, as after a power-on


def _write(part: str, uid: str, raw: bytes) -> int:
    """Write the message under its `.part` name; the open file (fsynced by the caller)."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.writev(fd, [_UIDL_HEADER, uid.encode("ascii", "replace"), b"\r\n", raw])
    except BaseException:
        os.close(fd)
        raise
    return fd


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2), which Python's `os` does not offer; None elsewhere."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2  # start write-back of the dirty pages; do not wait


def _start_writeback(fd: int) -> None:
    """Start writing the file's data to disk (only a hint: durability comes from fsync)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def _part(entry: SpoolEntry) -> str:
    return os.path.join(os.path.dirname(entry.path), f".{entry.path.stem}.part")
