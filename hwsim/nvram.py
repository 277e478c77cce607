"""Non-volatile memory: one SQLite file per device.

A power cut at any instant must leave either the old or the new value, never a mix. SQLite's
rollback journal with `synchronous=FULL` gives exactly that for each transaction; `write_many`
puts related keys (a token cache and its state record) into one transaction so they change
together. Values are bytes; callers that keep secrets encrypt them first (see `keystore`).

`cut()` is the power failing: from that instant nothing more is read or written (a write
attempted after it raises `NvramError`), and what the file holds is what the last committed
transaction left.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import NvramError

__all__ = ["Nvram"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS nv (key TEXT PRIMARY KEY, value BLOB NOT NULL)"


class Nvram:
    """A small key-value store with atomic multi-key writes."""

    FILENAME = "nvram.sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / self.FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            self._db.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.Error as exc:
            raise NvramError(f"cannot open non-volatile memory {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._off = False

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

    def write_many(self, values: Mapping[str, bytes | None]) -> None:
        """Write (or delete, for None) several keys in one atomic transaction."""
        with self._lock:
            self._check_on()
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

    def delete(self, keys: Iterable[str]) -> None:
        self.write_many(dict.fromkeys(keys))

    def keys(self, prefix: str = "") -> list[str]:
        """Every key (starting with `prefix`), in order."""
        with self._lock:
            self._check_on()
            rows = self._db.execute("SELECT key FROM nv WHERE key >= ? AND key < ? ORDER BY key",
                                    (prefix, prefix + "\uffff"))
            return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            self._off = True
            self._db.close()

    def cut(self) -> None:
        """The power fails now: an open transaction is lost, nothing more is written."""
        self.close()
