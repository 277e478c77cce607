"""The receive spool ("fax memory"): received messages kept in NVRAM until they are printed.

One folder per POP setting, `<nvram>/spool/<section>/`:

    <seq>.batch               a batch of messages stored for good (`<seq>`: its first message's)
    .<seq>.batch.part         a batch being stored by the POP session (not yet part of the spool)
    marks                     the marks journal: what became of stored messages (below)
    .marks.part               the journal being rewritten
    <seq>.batch.damaged       a batch file found unreadable at power-on, set aside (logged)
    <seq>-<rx-id>.eml         the format before batch files, one message per file (first line
    <seq>-<rx-id>.try<k>.eml  `X-MFP-UIDL: <uidl>`); still read at power-on and printed, so a
                              device upgraded with faxes in its memory loses none of them

A batch file is an index, then the messages' bytes one after the other, exactly as RETR gave
them (all ASCII up to the first message; `<uidl>` is the rest of its line):

    MFP-SPOOL-BATCH 1 <count>\\n
    <seq> <rx-id> <size> <uidl>\\n      `count` lines, in the order of the bodies
    <message 1: size bytes><message 2: size bytes>...

Why batches: a file per message cost its creation each time, 0.035-0.22 ms depending on the
ext4 block group the folder lives in, more than the rest of the device's storing work
(docs/bench.md, "Fourth pass"); one file per batch of up to 50 pays it once.

**Storing.** The POP session keeps each message with its batch; per batch, a `SpoolWriter`
thread writes the batch file under its `.part` name while the session reads on, fsyncs it,
gives its page cache back (`drop_cached`: the print worker reads it once, later; the next batch
reuses those pages, where fresh ones cost the writer 4-6 times the CPU), renames it into place
and fsyncs the folder; only then does the ledger record the batch's UIDLs, and only then go the
DELE commands. So a message is either not in the spool (it is still on the server and will be
read again) or in it for good. A `.part` file found at power-on is an unfinished batch: it is
removed (those messages are still on the server).

**Marks.** What the one-file-per-message spool said in file names (renamed `.try<k>` when
printing started, removed once printed or refused) is an append-only journal per folder, one
line per change, written without fsync:

    try <seq> <rx-id> <k>     printing of that message started for the k-th time (`attempt`)
    done <seq> <rx-id>        printed or refused: no longer in the spool (`remove`)

No fsync, the same guarantee as the renames and removals it replaces, which were not fsynced
either: what a mark guards against is the device stopping mid-print (a crash, a restart),
which the page cache survives. A power cut of the whole machine may lose the last marks: a
message is then printed once more (printing is idempotent: the tray keeps the pages already
out, see the print worker) or counted one try less. A torn last line is ignored. A batch file
is deleted once all its messages are done. The journal stays bounded: it is removed when the
spool empties, rewritten (`.marks.part`, fsynced, renamed) at power-on with only the marks of
batches still present, and likewise when it holds more than `COMPACT_AT` lines and twice the
lines of its last rewrite (so a rewrite is paid for by as many appends). A mark names `seq` and rx id: `seq` is never used again while a
mark naming it is in the journal.

**Power-on.** The folder is read once: `.part` files removed; batch files read (their index
only), done messages dropped, tries taken from the marks; the duplicate rule kept (two copies
of one rx id: the first stored is kept, the other marked done); `seq` continues after the
highest found. A batch file whose index cannot be read is renamed `.damaged` and reported
(`problems`, the log; the print worker raises an alert): its messages were deleted from the
server once stored, so the file is kept for service, not removed. A batch file cut short keeps
the messages it holds whole; each one cut off is reported the same way and marked done. From
then on the spool keeps its index in memory (`has`, `entries`), updated as batches are
committed and messages removed, so neither a poll nor the print worker scans the folder. The
print worker takes `<seq>` order (the order of reception). `rx-id` is derived from the setting
and the UIDL (`rx_id`): a poll that finds a message here, or its output in the tray, does not
read it again.

Every stored message holds its bytes (as received) in the device's `FaxMemory` from `reserve`
until it is removed (or its storing abandoned), so the poller can stop fetching when the
memory is full.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mfp_sim.hwsim.private import drop_cached, fsync_path, private_dir

from .errors import SpoolError
from .memory import FaxMemory
from .spool_format import (
    BATCH_SUFFIX,
    MARKS,
    UIDL_HEADER,
    batch_head,
    read_index,
    rewrite,
    rx_id,
    uid_text,
    write_all,
)

__all__ = ["COMPACT_AT", "ReceiveSpool", "SpoolEntry", "SpoolError", "SpoolWriter", "rx_id"]

log = logging.getLogger(__name__)

#: Lines in the marks journal above which it is rewritten with the live marks only.
COMPACT_AT = 2000

_LEGACY = re.compile(r"(\d{1,12})-([A-Za-z0-9]{1,40})(?:\.try(\d{1,3}))?\.eml")
_BATCH = re.compile(r"(\d{1,12})\.batch")


@dataclass(frozen=True)
class SpoolEntry:
    """One stored message: `seq` is its place in reception order; `size` what it holds of
    the fax memory; `tries` how often its printing started; `path` its batch file and
    `offset` where its bytes start there (-1: a file of its own, the former format)."""

    seq: int
    rx_id: str
    path: Path
    size: int = 0
    tries: int = 0
    offset: int = -1
    uid: str = ""


@dataclass
class _BatchFile:
    """Which messages of one batch file are still stored, and which are done."""

    live: set[int] = field(default_factory=set)
    done: list[tuple[int, str]] = field(default_factory=list)


class ReceiveSpool:
    def __init__(self, folder: Path, memory: FaxMemory) -> None:
        self.folder = Path(folder)
        self.memory = memory
        private_dir(self.folder)  # 0700, like every folder under the device's
        self._lock = threading.Lock()  # the index is changed by the writer and printer threads
        self._index: dict[str, SpoolEntry] = {}
        self._batches: dict[Path, _BatchFile] = {}
        self._marks = self.folder / MARKS
        self._marked = 0  # lines in the marks journal
        self._compacted = 0  # ... when it was last rewritten
        self._seq = 0
        #: What power-on found damaged (also logged); the print worker alerts them.
        self.problems: list[SpoolError] = []
        self._power_on()

    # -- power-on ------------------------------------------------------------------------------
    def _power_on(self) -> None:
        found: list[SpoolEntry] = []
        batches: list[tuple[int, Path]] = []
        with os.scandir(self.folder) as listing:
            for item in listing:
                if item.name.startswith(".") and item.name.endswith(".part"):
                    os.unlink(item.path)  # a batch (or a journal rewrite) cut short
                elif match := _BATCH.fullmatch(item.name):
                    batches.append((int(match[1]), Path(item.path)))
                elif match := _LEGACY.fullmatch(item.name):
                    found.append(SpoolEntry(int(match[1]), match[2], Path(item.path),
                                            item.stat().st_size, int(match[3] or 0)))
        tries, done, old_lines = self._read_marks()
        for seq, _ in tries:  # never reuse a seq a mark still names
            self._seq = max(self._seq, seq)
        for key in done:
            self._seq = max(self._seq, key[0])
        found = [_with_tries(e, max(e.tries, tries.get((e.seq, e.rx_id), 0))) for e in found]
        self._seq = max([self._seq, *(e.seq for e in found)])
        for _, path in sorted(batches):
            found.extend(self._load_batch(path, tries, done))
        found.sort(key=lambda e: e.seq)
        for entry in found:  # of two copies of one message, the first stored is kept
            if entry.rx_id in self._index:
                self._drop(entry)
            else:
                self._index[entry.rx_id] = entry
        for path, batch in list(self._batches.items()):
            if not batch.live:
                del self._batches[path]
                path.unlink(missing_ok=True)
        for entry in self._index.values():
            self.memory.take(entry.size)
        lines = self._live_marks()
        self._marked = self._compacted = len(old_lines)
        if sorted(lines) != sorted(old_lines):
            try:
                self._rewrite_marks(lines)
            except OSError as exc:  # the former journal stays: it says the same, and more
                self._problem(SpoolError(f"spool marks {self._marks} cannot be rewritten: "
                                         f"{exc}"))

    def _load_batch(self, path: Path, tries: dict[tuple[int, str], int],
                    done: set[tuple[int, str]]) -> list[SpoolEntry]:
        try:
            records, size = read_index(path)
        except SpoolError as exc:
            self._set_aside(path, str(exc))
            return []
        batch = _BatchFile()
        kept: list[SpoolEntry] = []
        cut = 0
        for seq, rx, offset, length, uid in records:
            self._seq = max(self._seq, seq)
            if (seq, rx) in done:
                batch.done.append((seq, rx))
            elif offset + length > size:
                self._problem(SpoolError(
                    f"spool file {path.name} is cut short: message {rx} (UIDL {uid}, "
                    f"{length} bytes) is not whole in it and cannot be printed"))
                batch.done.append((seq, rx))
                cut += 1
            else:
                kept.append(SpoolEntry(seq, rx, path, length, tries.get((seq, rx), 0),
                                       offset, uid))
                batch.live.add(seq)
        if cut and not kept:
            self._set_aside(path, "no message in it is whole")
            return []
        self._batches[path] = batch
        return kept

    def _set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, aside)
        except OSError:
            aside = path
        self._problem(SpoolError(
            f"spool file {path.name} is damaged ({why}); kept as {aside.name} for service: "
            "the messages in it cannot be printed (they were deleted from the server)"))

    def _problem(self, error: SpoolError) -> None:
        log.error("%s: %s", self.folder.name, error)
        self.problems.append(error)

    def _drop(self, entry: SpoolEntry) -> None:
        """A second copy of a stored message (power-on): it goes."""
        if entry.offset < 0:
            entry.path.unlink(missing_ok=True)
            return
        batch = self._batches[entry.path]
        batch.live.discard(entry.seq)
        batch.done.append((entry.seq, entry.rx_id))

    def _read_marks(self) -> tuple[dict[tuple[int, str], int], set[tuple[int, str]],
                                   list[bytes]]:
        try:
            data = self._marks.read_bytes()
        except FileNotFoundError:
            return {}, set(), []
        except OSError as exc:
            self._problem(SpoolError(f"spool marks {self._marks} cannot be read: {exc}"))
            return {}, set(), [b"unreadable"]  # rewritten from what the batches say
        tries: dict[tuple[int, str], int] = {}
        done: set[tuple[int, str]] = set()
        lines = data.split(b"\n")[:-1]  # the last piece has no newline: torn, or empty
        for line in lines:
            words = line.split(b" ")
            if (len(words) == 4 and words[0] == b"try" and words[1].isdigit()
                    and words[3].isdigit() and len(words[3]) <= 6):
                key = (int(words[1]), words[2].decode("ascii", "replace"))
                tries[key] = max(tries.get(key, 0), int(words[3]))
            elif len(words) == 3 and words[0] == b"done" and words[1].isdigit():
                done.add((int(words[1]), words[2].decode("ascii", "replace")))
        if data and not data.endswith(b"\n"):
            lines.append(b"torn")  # so that the journal is rewritten without it
        return tries, done, lines

    # -- the marks journal (under the lock) ----------------------------------------------------
    def _live_marks(self) -> list[bytes]:
        lines = [b"done %d %s\n" % (seq, rx.encode()) for batch in self._batches.values()
                 for seq, rx in batch.done]
        lines += [b"try %d %s %d\n" % (e.seq, e.rx_id.encode(), e.tries)
                  for e in self._index.values() if e.tries]
        return [line[:-1] for line in lines]

    def _rewrite_marks(self, lines: list[bytes]) -> None:
        if lines:
            rewrite(self._marks, b"".join(line + b"\n" for line in lines))
        elif self._marks.exists():
            self._marks.unlink()
            fsync_path(self.folder)
        self._marked = self._compacted = len(lines)

    def _mark(self, line: bytes) -> None:
        fd = os.open(self._marks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        self._marked += 1

    # -- the spool's interface -----------------------------------------------------------------
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
        """The place the next received message will have (nothing is written yet); its `size`
        bytes are taken from the fax memory now."""
        self._seq += 1
        self.memory.take(size)
        return SpoolEntry(self._seq, rx_id, self.folder, size)

    def attempt(self, entry: SpoolEntry) -> SpoolEntry:
        """Printing of `entry` starts (once more): a `try` mark (no fsync)."""
        tried = _with_tries(entry, entry.tries + 1)
        with self._lock:
            try:
                self._mark(b"try %d %s %d\n" % (entry.seq, entry.rx_id.encode(), tried.tries))
            except OSError as exc:
                raise SpoolError(f"spool {self.folder.name}: the printing of {entry.rx_id} "
                                 f"cannot be marked: {exc}") from exc
            if entry.rx_id in self._index:
                self._index[entry.rx_id] = tried
        return tried

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self)

    @staticmethod
    def read(entry: SpoolEntry) -> tuple[str, bytes]:
        """(UIDL, the message as received)."""
        name = entry.path.name
        try:
            if entry.offset < 0:
                data = entry.path.read_bytes()
            else:
                fd = os.open(entry.path, os.O_RDONLY)
                try:
                    data = os.pread(fd, entry.size, entry.offset)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SpoolError(f"spool file {name} cannot be read: {exc}") from exc
        if entry.offset >= 0:
            if len(data) != entry.size:
                raise SpoolError(f"spool file {name} is damaged (message {entry.rx_id} cut "
                                 "short)")
            return entry.uid, data
        first, sep, raw = data.partition(b"\r\n")
        if not sep or not first.startswith(UIDL_HEADER):
            raise SpoolError(f"spool file {name} is damaged (no UIDL line)")
        return first[len(UIDL_HEADER):].decode("ascii", "replace"), raw

    def remove(self, entry: SpoolEntry) -> None:
        """The message is printed or refused: a `done` mark (its batch file goes with its last
        message), and its share of the memory."""
        with self._lock:
            current = self._index.get(entry.rx_id)
            if current is None or current.seq != entry.seq:
                return
            try:
                if entry.offset < 0:
                    entry.path.unlink(missing_ok=True)
                else:
                    self._mark(b"done %d %s\n" % (entry.seq, entry.rx_id.encode()))
                    batch = self._batches[entry.path]
                    batch.live.discard(entry.seq)
                    batch.done.append((entry.seq, entry.rx_id))
                    if not batch.live:
                        del self._batches[entry.path]
                        entry.path.unlink(missing_ok=True)
                del self._index[entry.rx_id]
                if not self._index:
                    self._marks.unlink(missing_ok=True)  # everything done: no marks needed
                    self._marked = self._compacted = 0
                elif self._marked > max(COMPACT_AT, 2 * self._compacted):
                    self._rewrite_marks(self._live_marks())
            except OSError as exc:
                raise SpoolError(f"spool {self.folder.name}: {entry.rx_id} cannot be "
                                 f"removed: {exc}") from exc
        self.memory.give(entry.size)

    def _abandoned(self, entries: list[SpoolEntry]) -> None:
        """Never stored (the session failed first): give their memory back."""
        for entry in entries:
            self.memory.give(entry.size)

    def _committed(self, path: Path, entries: list[SpoolEntry]) -> None:
        with self._lock:
            self._batches[path] = _BatchFile({entry.seq for entry in entries})
            for entry in entries:
                self._index[entry.rx_id] = entry


class SpoolWriter:
    """The threads that store messages while the POP session goes on reading.

    `add` only keeps the message with its batch (the event loop does no file work and wakes
    no thread per message); `commit` hands the batch to one of `WRITERS` threads, which
    writes the batch file under its `.part` name, fsyncs it, renames it into place and
    fsyncs the folder, while the session reads the next batch. Nothing is committed (nor
    recorded, nor deleted on the server) before the whole batch file is fsynced. `close`
    forgets messages never committed (they are still on the server).
    """

    WRITERS = 2

    def __init__(self, spool: ReceiveSpool) -> None:
        self._spool = spool
        self._pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="spool-writer")
        self._pending: dict[int, tuple[SpoolEntry, str, bytes]] = {}  # by seq
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
        folder = self._spool.folder
        name = f"{entries[0].seq:08d}{BATCH_SUFFIX}"
        path, part = folder / name, folder / f".{name}.part"
        uids = [uid_text(uid) for uid, _ in messages]
        head = batch_head([(e.seq, e.rx_id, len(raw), uid)
                           for e, uid, (_, raw) in zip(entries, uids, messages, strict=True)])
        stored: list[SpoolEntry] = []
        offset = len(head)
        for entry, uid, (_, raw) in zip(entries, uids, messages, strict=True):
            stored.append(SpoolEntry(entry.seq, entry.rx_id, path, entry.size, 0, offset, uid))
            offset += len(raw)
        placed = False
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, [head, *(raw for _, raw in messages)])
                os.fsync(fd)
                drop_cached(fd)
            finally:
                os.close(fd)
            _publish(part, path)
            placed = True
            fsync_path(folder)
        except OSError as exc:
            if not placed:
                part.unlink(missing_ok=True)
                self._spool._abandoned(entries)
            raise SpoolError(f"the receive spool {folder} cannot take a message: {exc}") from exc
        finally:
            if placed:
                self._spool._committed(path, stored)  # in the folder: printed, as after power-on


def _publish(part: Path, path: Path) -> None:
    """The batch file takes its name: from now on it is part of the spool."""
    os.replace(part, path)


def _with_tries(entry: SpoolEntry, tries: int) -> SpoolEntry:
    return SpoolEntry(entry.seq, entry.rx_id, entry.path, entry.size, tries, entry.offset,
                      entry.uid)
