"""A shard's NVRAM: one SQLite file holding every device's records, each device apart.

One `Nvram` per device is one SQLite connection (about 250 KB), three open files and an fsync
at every commit (about 5 ms here): for thousands of devices in one process that is gigabytes,
tens of thousands of file descriptors and minutes of fsync at bring-up. A shard instead keeps
one file, `<shard>/nvram.sqlite`, and hands each device a `DeviceNvram`: the same methods as
`Nvram`, over the rows whose `device` column is that device's number. So each device's records
stay its own (no device reads or writes another's), and each `write_many` is still one
transaction: a device sees the old or the new records, never a mix.

What is given up, on purpose: nothing is synced to disk (WAL with `synchronous=OFF`: a
commit is in the file as soon as it returns, so it survives the process being killed, not the
host losing power; with NORMAL the WAL's checkpoints still synced, on the shard's event loop).
A fleet's power cuts are simulated in the process (`Shard.power_off`), and the folder is
emptied at each run, so the host's own durability is not what a fleet measures; the single
device (`hwsim.nvram.Nvram`) keeps `synchronous=FULL` and its power-cut suite. For the same
reason the shard makes each device's key (`provision_key`, in a worker thread, not synced)
before its first boot, as a factory does: the firmware would otherwise make it on the event
loop with two fsyncs (file and folder, about 10 ms here), per device.

The shard holds `<shard>/shard.lock` while it runs (`NvramLock`), so two shards (two fleet
runs) never share a folder, as two devices never share an NVRAM folder.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mfp_sim.hwsim.errors import NvramError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.hwsim.nvram_lock import NvramLock
from mfp_sim.hwsim.private import private_dir, write_private

__all__ = ["ShardNvram", "DeviceNvram", "provision_key"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS nv (device INTEGER NOT NULL, key TEXT NOT NULL, "
           "value BLOB NOT NULL, PRIMARY KEY (device, key)) WITHOUT ROWID")


class ShardNvram:
    """The one file; `device(n)` gives device n its view."""

    FILENAME = "nvram.sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = private_dir(Path(folder))
        self._folder_lock = NvramLock(self.folder)
        self.path = self.folder / self.FILENAME
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            self._folder_lock.release()
            raise NvramError(f"cannot open the shard's non-volatile memory {self.path}: {exc}") from exc
        self.lock = threading.Lock()  # the receive ledger reads from a worker thread
        self.writes = 0

    def device(self, number: int) -> DeviceNvram:
        return DeviceNvram(self, number)

    def size(self) -> int:
        """Bytes on disk (the file and its WAL)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    def close(self) -> None:
        with self.lock:
            self.db.close()
        self._folder_lock.release()


class DeviceNvram(Nvram):
    """One device's records in the shard's file; the `Nvram` contract, nothing shared.

    A view: it does not open anything (so it does not call `Nvram.__init__`), and `close()`
    only detaches it, as the device's power goes off; the file stays open for the others.
    """

    def __init__(self, shard: ShardNvram, number: int) -> None:
        self.path = shard.path
        self._shard = shard
        self._number = number
        self._open = True

    def _db(self) -> sqlite3.Connection:
        if not self._open:
            raise NvramError(f"device {self._number}'s NVRAM is closed (its power is off)")
        return self._shard.db

    def read(self, key: str) -> bytes | None:
        with self._shard.lock:
            row = self._db().execute("SELECT value FROM nv WHERE device = ? AND key = ?",
                                     (self._number, key)).fetchone()
        return None if row is None else bytes(row[0])

    def read_prefix(self, prefix: str) -> dict[str, bytes]:
        with self._shard.lock:
            rows = self._db().execute(
                "SELECT key, value FROM nv WHERE device = ? AND key >= ? AND key < ?",
                (self._number, prefix, prefix + "\uffff")).fetchall()
        return {k: bytes(v) for k, v in rows}

    def write_many(self, values: Mapping[str, bytes | None], *, sync: bool = True) -> None:
        """One transaction, as `Nvram.write_many`: all of the keys change, or none. (`sync`
        changes nothing here: the shard never syncs a commit on its own.)"""
        with self._shard.lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                for key, value in values.items():
                    if value is None:
                        db.execute("DELETE FROM nv WHERE device = ? AND key = ?",
                                   (self._number, key))
                    else:
                        db.execute("INSERT INTO nv (device, key, value) VALUES (?, ?, ?) "
                                   "ON CONFLICT(device, key) DO UPDATE SET value = excluded.value",
                                   (self._number, key, value))
                db.execute("COMMIT")
                self._shard.writes += 1
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise NvramError(f"write to non-volatile memory failed: {exc}") from exc

    def delete(self, keys: Iterable[str]) -> None:
        self.write_many(dict.fromkeys(keys))

    def hold_reclaim(self, held: bool) -> None:
        """Nothing to hold: the shard's file does not give free pages back step by step."""

    def keys(self) -> list[str]:
        with self._shard.lock:
            return [r[0] for r in self._db().execute(
                "SELECT key FROM nv WHERE device = ? ORDER BY key", (self._number,))]

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        return (0, 0, 0)  # the shard's file checkpoints on its own (SQLite's automatic one)

    def integrity_ok(self) -> bool:
        with self._shard.lock:
            return self._db().execute("PRAGMA quick_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self._open = False


def provision_key(nvram_dir: Path) -> None:
    """Make the device's key where the firmware looks for it (`KeyStore.default_folder`),
    unless it is there: 32 random bytes, 0600 in a 0700 folder, as `KeyStore` makes it, but
    not synced (see the module's docstring). The firmware then finds it and reads it."""
    key = KeyStore.default_folder(nvram_dir) / KeyStore.FILENAME
    if not key.exists():
        private_dir(key.parent)
        write_private(key, AESGCM.generate_key(bit_length=256), sync=False)
