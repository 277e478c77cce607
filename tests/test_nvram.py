"""NVRAM storage: WAL with synchronous=FULL, incremental auto_vacuum (and the one-time
conversion of an older file), free space given back in steps, checkpoints that bound the WAL,
and the integrity check at power-on that refuses a damaged file and keeps a copy."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from mfp_sim.hwsim.errors import NvramDamaged
from mfp_sim.hwsim.nvram import Nvram

BODY = 80 << 10  # a 3-page Scan to E-mail PDF, as a job body


def _pragma(nvram: Nvram, name: str) -> object:
    return nvram._db.execute(f"PRAGMA {name}").fetchone()[0]


def _old_file(directory: Path, records: dict[str, bytes]) -> Path:
    """A file as the version before WAL wrote it: rollback journal, no auto_vacuum."""
    directory.mkdir(parents=True)
    path = directory / Nvram.FILENAME
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("CREATE TABLE nv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    db.executemany("INSERT INTO nv VALUES (?, ?)", records.items())
    db.close()
    return path


def test_a_new_file_is_wal_full_and_incremental(tmp_path: Path):
    nvram = Nvram(tmp_path / "dev")
    try:
        nvram.write_many({"a": b"1", "b": b"2"})
        assert str(_pragma(nvram, "journal_mode")).lower() == "wal"
        assert _pragma(nvram, "synchronous") == 2  # FULL: the WAL is synced at every commit
        assert _pragma(nvram, "auto_vacuum") == 2  # INCREMENTAL
        assert _pragma(nvram, "wal_autocheckpoint") == Nvram.CHECKPOINT_PAGES
        assert (tmp_path / "dev" / "nvram.sqlite-wal").exists()
    finally:
        nvram.close()
    # A clean stop checkpoints and removes the WAL: one file holds everything.
    assert not (tmp_path / "dev" / "nvram.sqlite-wal").exists()
    db = sqlite3.connect(tmp_path / "dev" / Nvram.FILENAME)
    assert dict(db.execute("SELECT key, value FROM nv")) == {"a": b"1", "b": b"2"}


def test_a_file_from_before_wal_is_converted_once(tmp_path: Path, caplog):
    records = {f"job.{i}": bytes([i]) * 5000 for i in range(40)}
    _old_file(tmp_path / "old", records)
    caplog.set_level(logging.INFO, logger="mfp_sim.hwsim.nvram")
    nvram = Nvram(tmp_path / "old")
    try:
        assert _pragma(nvram, "auto_vacuum") == 2
        assert str(_pragma(nvram, "journal_mode")).lower() == "wal"
        assert nvram.read_prefix("job.") == records
    finally:
        nvram.close()
    converted = [r for r in caplog.records if "converted to incremental auto-vacuum" in r.message]
    assert len(converted) == 1
    caplog.clear()
    Nvram(tmp_path / "old").close()  # the second power-on has nothing to convert
    assert not [r for r in caplog.records if "converted" in r.message]


def test_the_file_shrinks_in_steps_after_a_backlog_is_drained(tmp_path: Path):
    nvram = Nvram(tmp_path / "dev")
    path = tmp_path / "dev" / Nvram.FILENAME
    try:
        for i in range(200):  # a backlog of 200 jobs, about 16 MiB
            nvram.write_many({f"job.{i}": b"{}", f"jobdata.{i}": os.urandom(BODY)})
        nvram.checkpoint("TRUNCATE")
        full = path.stat().st_size
        assert full > 200 * BODY
        nvram.delete([f"jobdata.{i}" for i in range(200)])  # drained, pruned in one go
        free_after_delete = _pragma(nvram, "freelist_count")
        assert isinstance(free_after_delete, int) and free_after_delete > 3000
        # Each following write gives back one small step, never everything at once.
        steps = []
        for n in range(8):
            before = _pragma(nvram, "freelist_count")
            nvram.write(f"job.{n}", b'{"state": "sent"}')
            after = _pragma(nvram, "freelist_count")
            assert isinstance(before, int) and isinstance(after, int)
            steps.append(before - after)
        assert all(0 < s <= Nvram.RECLAIM_STEP_PAGES + 2 for s in steps), steps
        for n in range(200):  # the device goes on working: the rest comes back
            nvram.write(f"job.{n % 10}", b'{"state": "sent"}')
        nvram.checkpoint("TRUNCATE")  # in WAL mode the file is cut when the WAL is copied back
        assert _pragma(nvram, "freelist_count") <= Nvram.RECLAIM_AFTER_PAGES
        assert path.stat().st_size < full // 8, (full, path.stat().st_size)
        assert nvram.integrity_ok()
        assert len(nvram.read_prefix("job.")) == 200
    finally:
        nvram.close()


def test_checkpoints_keep_the_wal_bounded(tmp_path: Path):
    nvram = Nvram(tmp_path / "dev")
    wal = tmp_path / "dev" / (Nvram.FILENAME + "-wal")
    try:
        sizes = []
        for i in range(150):  # about 12 MiB written through the WAL
            nvram.write_many({f"job.{i}": b"{}", f"jobdata.{i}": os.urandom(BODY)})
            sizes.append(wal.stat().st_size)
        # Checkpointed after the commit that crosses the bound; reused, and cut back to the
        # limit: the WAL never holds much more than the bound plus one job.
        assert max(sizes) < Nvram.WAL_LIMIT_BYTES + 4 * BODY, max(sizes)
        nvram.write_many({f"big.{i}": os.urandom(1 << 20) for i in range(4)})  # one 4 MiB write
        assert wal.stat().st_size > 4 << 20
        for i in range(3):  # checkpointed after it; the next writes reuse the WAL, cut back
            nvram.write(f"job.{i}", b'{"state": "sent"}')
        assert wal.stat().st_size <= Nvram.WAL_LIMIT_BYTES, wal.stat().st_size
    finally:
        nvram.close()


def _damage_the_table_root(path: Path) -> bytes:
    """Break the free-space header of the table's root page: the integrity check reports it."""
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'nv'").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size + 5] = 0  # cell content area start
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("damage", ["page", "header"])
def test_a_damaged_file_is_refused_with_a_copy_kept(tmp_path: Path, damage: str):
    directory = tmp_path / "dev"
    nvram = Nvram(directory)
    for i in range(50):
        nvram.write(f"job.{i}", bytes([i]) * 3000)
    nvram.close()
    path = directory / Nvram.FILENAME
    if damage == "page":
        damaged = _damage_the_table_root(path)
        said = "free space corruption"
    else:
        damaged = b"\0" * 100 + path.read_bytes()[100:]
        path.write_bytes(damaged)
        said = "file is not a database"

    with pytest.raises(NvramDamaged) as refused:
        Nvram(directory)
    message = str(refused.value)
    assert f"non-volatile memory {path} is damaged" in message and said in message
    assert "will not use it" in message
    assert "restore a backup" in message and "to start from factory settings" in message
    assert path.read_bytes() == damaged  # refused as it is: not used, not "repaired"
    [copy] = (directory / "damaged").iterdir()
    assert f"a copy is kept for inspection at {copy}" in message
    assert copy.read_bytes() == damaged and (copy.stat().st_mode & 0o777) == 0o600

    with pytest.raises(NvramDamaged):  # every attempt refuses; the same damage, one copy
        Nvram(directory)
    assert len(list((directory / "damaged").iterdir())) == 1

    path.unlink()  # the advice: remove it to start from factory settings
    fresh = Nvram(directory)
    assert fresh.keys() == [] and fresh.integrity_ok()
    fresh.close()


def test_a_wal_left_without_its_database_is_not_replayed(tmp_path: Path):
    directory = tmp_path / "dev"
    nvram = Nvram(directory)
    nvram.write("settings.smtp", b"old")
    wal = directory / (Nvram.FILENAME + "-wal")
    kept = wal.read_bytes()
    nvram.close()
    (directory / Nvram.FILENAME).unlink()  # the admin removed the file, not its WAL
    wal.write_bytes(kept)
    fresh = Nvram(directory)
    try:
        assert fresh.read("settings.smtp") is None and fresh.integrity_ok()
    finally:
        fresh.close()


def test_a_deleted_record_does_not_linger_in_the_file(tmp_path: Path):
    """`secure_delete=FAST`: a deleted record (plain JSON: a recipient, a subject) is zeroed on
    its page; only large values, which the device always seals, may stay on free pages."""
    nvram = Nvram(tmp_path / "dev")
    path = tmp_path / "dev" / Nvram.FILENAME
    marker = b"recipient-7f3a@secret.example"
    try:
        assert _pragma(nvram, "secure_delete") == 2  # FAST
        for i in range(20):
            nvram.write(f"job.{i}", b'{"to": "' + marker + b'", "n": %d}' % i)
        nvram.delete([f"job.{i}" for i in range(20)])
        nvram.write("job.keep", b"{}")
        nvram.checkpoint("TRUNCATE")  # the WAL (which holds old frames) copied back and cut
        assert marker not in path.read_bytes()
    finally:
        nvram.close()
