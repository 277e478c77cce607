"""Non-volatile memory: one SQLite file per device.

A power cut at any instant must leave either the old or the new value, never a mix; and what
a write confirmed must still be there after it. SQLite in WAL mode with `synchronous=FULL`
gives exactly that for each transaction (the WAL is synced at every commit, as the rollback
journal was before, at under a third of the cost: docs/bench.md); `write_many` puts related
keys (a job record and its body, a token cache and its state record) into one transaction so
they change together. Values are bytes; callers that keep secrets encrypt them first (see
`keystore`).

Checkpoints (copying the WAL back into the database file) happen at chosen moments only:
- after the commit that brings the WAL to `CHECKPOINT_PAGES` pages (about 1 MiB): SQLite's
  own hook runs a PASSIVE checkpoint right after that commit is durable, never inside one.
  The bound keeps the power-on recovery short (a rebooting device reads the whole WAL to
  rebuild its index) and each checkpoint a few milliseconds;
- the WAL file is cut back to `WAL_LIMIT_BYTES` when it is reused after a checkpoint, so one
  large transaction does not leave a large file behind;
- at `close()` (SQLite checkpoints and removes the WAL when its last connection closes), so a
  stopped device leaves one self-contained file that a backup can copy alone.

Space: the file uses `auto_vacuum=INCREMENTAL`. After deletes, each later commit also returns
up to `RECLAIM_STEP_PAGES` free pages to the file system while more than
`RECLAIM_AFTER_PAGES` are free, so the file shrinks in small steps (no long stall) after a
large backlog is drained, and does not churn in steady state, where freed pages are reused.
A client that is draining a backlog itself (the send queue sending job after job) holds the
steps back (`hold_reclaim`) until it is idle: a step moves the pages at the end of the file
into free ones, and while the backlog drains those are the messages about to be sent and
deleted, so each step would copy a megabyte that the next deletes free anyway
(docs/bench.md). Held or not, nothing about durability changes: a step is its own
transaction after a durable commit.

Deleted data: `secure_delete=FAST` (see `_configure`): deleted records are zeroed where a
page is written anyway; free pages may keep old large values, all of them sealed.

Durability per write: `write_many(..., sync=False)` commits without syncing the WAL
(`synchronous=NORMAL` for that one commit). The write is atomic and ordered like any other
(WAL replay stops at the last intact commit, and the next synced commit syncs everything
before it), but a power cut before the next synced commit may lose it. Only for records
whose loss a power-on already handles (the send queue's "attempt started": docs/reliability.md).
A file made before this mode existed is converted once, by a VACUUM (auto_vacuum can change
only then), with a log line.

At power-on `PRAGMA integrity_check` runs before anything is written. A file that fails it
is not used: the device does not start (`NvramDamaged` says what failed and how to recover),
and a copy is kept under `<nvram>/damaged/` for inspection. Every file is 0600 and the folder
0700 (`private`); SQLite gives its -wal and -shm files the mode of the database file.

`cut()` is the power failing: from that instant nothing more is read or written through this
handle (a write attempted after it raises `NvramError`); what the file holds is what the last
committed transaction left. (Closing the SQLite connection may still checkpoint the WAL into
the file: that copies committed transactions only, which a power-on recovery would replay.)
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import NvramDamaged, NvramError
from .private import PRIVATE_FILE, open_private, private_dir, tighten

__all__ = ["Nvram"]

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS nv (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
_INCREMENTAL = 2  # PRAGMA auto_vacuum value
_SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite result codes that mean the file's content is damaged, not that it cannot be reached.
_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


class Nvram:
    """A small key-value store with atomic multi-key writes."""

    FILENAME = "nvram.sqlite"
    DAMAGED_FOLDER = "damaged"
    CHECKPOINT_PAGES = 256  # 1 MiB of 4 KiB pages
    WAL_LIMIT_BYTES = 1 << 20
    RECLAIM_AFTER_PAGES = 256
    RECLAIM_STEP_PAGES = 256

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / self.FILENAME
        try:
            private_dir(self.path.parent)
            self._prepare_files()
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise NvramError(f"cannot open non-volatile memory {self.path}: {exc}") from exc
        try:
            problems = self._integrity_problems()
            if not problems:
                self._configure()
        except sqlite3.Error as exc:
            self._db.close()
            raise NvramError(f"cannot open non-volatile memory {self.path}: {exc}") from exc
        if problems:
            self._db.close()
            raise NvramDamaged(self._refusal(problems))
        self._lock = threading.Lock()
        self._reclaiming = True  # look once after power-on, then after each delete
        self._held = False  # `hold_reclaim`: a client drains a backlog, steps wait
        self._off = False  # after cut() or close(): nothing more is read or written

    # -- opening -------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        """Create the file 0600 before SQLite does (its -wal and -shm files copy that mode).

        A WAL left without its database is not replayed into the new empty file: SQLite
        deletes the WAL of a zero-byte database (tests/test_nvram.py checks it).
        """
        os.close(open_private(self.path, os.O_RDWR))
        for suffix in _SIDE_FILES:  # left by an older version with a wider mode
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                tighten(side, PRIVATE_FILE)

    def _integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` finds wrong (empty: the file is sound)."""
        try:
            rows = self._db.execute("PRAGMA integrity_check(20)").fetchall()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _DAMAGE_CODES:
                return [str(exc)]
            raise
        # One problem per line; SQLite may put several in a row, under a "*** in database" line.
        found = [line.strip() for row in rows for line in str(row[0]).splitlines()
                 if line.strip() and not line.startswith("***")]
        return [] if found == ["ok"] else found

    def _configure(self) -> None:
        db = self._db
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            made_before = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            if made_before:  # a new file takes the mode as it is; an old one needs a VACUUM
                db.execute("VACUUM")
                log.warning("NVRAM %s converted to incremental auto-vacuum (one VACUUM, once)",
                            self.path)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"journal mode stays {mode!r}, WAL is needed")
        db.execute("PRAGMA synchronous=FULL")
        # This SQLite is built with SECURE_DELETE: every deleted overflow page (a sent job's
        # 80 KiB message) would be zeroed, i.e. written to the WAL and checkpointed once more.
        # FAST still zeroes deleted cells on the b-tree pages a delete writes anyway (job
        # records, ledger entries); what it leaves on free pages is the large values, which
        # are sealed (keystore) and as unreadable deleted as they were stored.
        db.execute("PRAGMA secure_delete=FAST")
        db.execute(f"PRAGMA wal_autocheckpoint={self.CHECKPOINT_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={self.WAL_LIMIT_BYTES}")
        db.execute(_SCHEMA)

    def _refusal(self, problems: list[str]) -> str:
        try:
            kept = f"a copy is kept for inspection at {self._keep_copy()}"
        except OSError as exc:
            kept = f"no copy could be kept ({exc})"
        found = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)"
                                           if len(problems) > 3 else "")
        return (f"non-volatile memory {self.path} is damaged (integrity check: {found}); "
                f"the device will not use it and does not start; {kept}. To recover, restore "
                f"a backup of {self.FILENAME} into {self.path.parent}, or remove {self.path} "
                f"(with its -wal and -shm files) to start from factory settings")

    def _keep_copy(self) -> Path:
        """Copy the damaged file (and its WAL) under `damaged/`, named by content."""
        with open(self.path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()[:12]
        folder = private_dir(self.path.parent / self.DAMAGED_FOLDER)
        copy = folder / f"nvram-{digest}.sqlite"
        for suffix in ("", "-wal"):
            source = self.path.with_name(self.path.name + suffix)
            target = copy.with_name(copy.name + suffix)
            if source.exists() and not target.exists():
                fd = open_private(target, os.O_WRONLY | os.O_TRUNC)
                with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                    shutil.copyfileobj(src, out)
        return copy

    # -- reading and writing -----------------------------------------------------------------

    def _check_on(self) -> None:
        if self._off:
            raise NvramError("non-volatile memory is off (power cut)")

    def read(self, key: str) -> bytes | None:
        with self._lock:
            self._check_on()
            row = self._db.execute("SELECT value FROM nv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def read_prefix(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            self._check_on()
            rows = self._db.execute(
                "SELECT key, value FROM nv WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
            ).fetchall()
        return {k: bytes(v) for k, v in rows}

    def write(self, key: str, value: bytes) -> None:
        self.write_many({key: value})

    def write_many(self, values: Mapping[str, bytes | None], *, sync: bool = True) -> None:
        """Write (or delete, for None) several keys in one atomic transaction.

        `sync=False`: atomic and ordered, but not synced to the disk before returning (module
        docstring); the next synced write makes it durable too.
        """
        with self._lock:
            self._check_on()
            if not sync:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for key, value in values.items():
                    if value is None:
                        self._db.execute("DELETE FROM nv WHERE key = ?", (key,))
                    else:
                        self._db.execute(
                            "INSERT INTO nv (key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            (key, value),
                        )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise NvramError(f"write to non-volatile memory failed: {exc}") from exc
            finally:
                if not sync:
                    self._synced_again()
            if any(v is None for v in values.values()):
                self._reclaiming = True
            if self._reclaiming and not self._held:
                self._reclaim_step()

    def _synced_again(self) -> None:
        """Back to `synchronous=FULL` after a `sync=False` write; if even that fails, nothing
        more is written through this handle (no later write may go out unsynced)."""
        try:
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            self._off = True
            raise NvramError(f"non-volatile memory cannot sync its writes: {exc}") from exc

    def hold_reclaim(self, held: bool) -> None:
        """Hold reclaim steps back (True) while draining a backlog; False: take one step now
        if space is waiting to be given back, and let the following writes go on stepping."""
        with self._lock:
            self._held = held
            if not held and self._reclaiming and not self._off:
                self._reclaim_step()

    def delete(self, keys: Iterable[str]) -> None:
        self.write_many(dict.fromkeys(keys))

    def keys(self, prefix: str = "") -> list[str]:
        """Every key (starting with `prefix`), in order."""
        with self._lock:
            self._check_on()
            rows = self._db.execute("SELECT key FROM nv WHERE key >= ? AND key < ? ORDER BY key",
                                    (prefix, prefix + "\uffff"))
            return [r[0] for r in rows]

    # -- upkeep ------------------------------------------------------------------------------

    def _reclaim_step(self) -> None:
        """Give back one step of free pages, if enough are free (caller holds the lock).

        The write before it is already durable: a failure here is logged, not raised.
        """
        try:
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            self._reclaiming = free > self.RECLAIM_AFTER_PAGES
            if self._reclaiming:
                # executescript runs the pragma to completion (execute would free one page).
                self._db.executescript(f"PRAGMA incremental_vacuum({self.RECLAIM_STEP_PAGES})")
        except sqlite3.Error as exc:
            log.warning("NVRAM %s: free space not reclaimed: %s", self.path, exc)

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Copy the WAL into the database file now: (busy, WAL pages, pages copied).

        `TRUNCATE` also cuts the WAL file to zero bytes. The device relies on the automatic
        checkpoint (module docstring); this is for tests and tools.
        """
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"checkpoint mode {mode!r}: use PASSIVE, FULL, RESTART or TRUNCATE")
        with self._lock:
            self._check_on()
            try:
                row = self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            except sqlite3.Error as exc:
                raise NvramError(f"checkpoint of non-volatile memory failed: {exc}") from exc
        return int(row[0]), int(row[1]), int(row[2])

    def integrity_ok(self) -> bool:
        with self._lock:
            return self._integrity_problems() == []

    def close(self) -> None:
        with self._lock:
            self._off = True
            self._db.close()

    def cut(self) -> None:
        """The power fails now: an open transaction is lost, nothing more is written."""
        self.close()
