"""NVRAM cost per transaction: the rollback journal it had (before) against WAL (now).

    python -m mfp_sim.tools.bench_nvram [--jobs N] [--rounds R] [--backlog N] [--dir DIR]
                                        [--no-strace]

Each side writes the transactions of a typical Scan to E-mail job's life, as `firmware/mail/
jobs.py` does: submit (record, sealed 80 KiB body and id counter in one transaction), the
attempt, `data_started`, delivered (record, body deleted; every 50th job also forgets the 50
oldest of the 200 finished jobs kept). Both sides use `synchronous=FULL` (every commit durable); "before" is the
configuration of the NVRAM before WAL (rollback journal, no auto_vacuum), "after" is
`hwsim.nvram.Nvram` itself (WAL, its checkpoint and reclaim policy included).

Printed: median ms per job and per transaction over the rounds (interleaved, before/after),
the 99th percentile of one transaction, and, under `strace -f -c` when strace is installed,
fsync + fdatasync calls per transaction (a separate run: tracing slows everything down).
With `--backlog N`, also: N jobs submitted while the mail server is away, then drained; the
file's size at the peak and after the drain (plus 50 more jobs, as the device goes on working).
Not a test: figures go to docs/bench.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from mfp_sim.hwsim.nvram import Nvram

BODY = 80 * 1024 + 29  # a 3-page PDF, sealed (version, nonce, tag)
KEEP_FINISHED = 200  # as firmware/mail/jobs.py
PRUNE_BATCH = 50
WARM_UP = KEEP_FINISHED + PRUNE_BATCH  # jobs before the measured ones


class _Store(Protocol):
    def write_many(self, values: Mapping[str, bytes | None]) -> None: ...
    def close(self) -> None: ...


class RollbackNvram:
    """The NVRAM as it was before WAL: same SQL, rollback journal, synchronous=FULL."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / Nvram.FILENAME, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS nv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def write_many(self, values: Mapping[str, bytes | None]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        for key, value in values.items():
            if value is None:
                self._db.execute("DELETE FROM nv WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT INTO nv (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _record(job: int, state: str) -> bytes:
    return json.dumps({"id": str(job), "kind": "scan", "to": "bob@example.test",
                       "state": state, "reason": "", "attempts": 1, "created": 1.8e9,
                       "sender": "alice@example.test", "subject": f"Scan {job:05d}",
                       "message_id": f"<J{job:05d}.1800000000@mfp.example.test>", "pages": 3,
                       "format": "pdf", "updated": 1.8e9, "next_attempt_at": 1.8e9,
                       "data_started": state != "queued", "maybe_duplicate": False,
                       "reply": "250 2.0.0 OK" if state == "sent" else ""}).encode()


def _job_transactions(job: int, body: bytes) -> list[dict[str, bytes | None]]:
    delivered: dict[str, bytes | None] = {f"job.{job}": _record(job, "sent"),
                                          f"jobdata.{job}": None}
    if job > KEEP_FINISHED + PRUNE_BATCH and job % PRUNE_BATCH == 0:  # forget 50 old ones
        for old in range(job - KEEP_FINISHED - PRUNE_BATCH + 1, job - KEEP_FINISHED + 1):
            delivered[f"job.{old}"] = None
            delivered[f"jobdata.{old}"] = None
    return [
        {f"job.{job}": _record(job, "queued"), f"jobdata.{job}": body,
         "job.counter": str(job).encode()},
        {f"job.{job}": _record(job, "sending")},
        {f"job.{job}": _record(job, "sending")[:-1] + b' }'},
        delivered,
    ]


def _open(kind: str, directory: Path) -> _Store:
    return RollbackNvram(directory) if kind == "before" else Nvram(directory)


def run_side(kind: str, jobs: int, root: Path) -> tuple[float, list[float], int]:
    """(seconds for all jobs, seconds per transaction, transactions)."""
    directory = root / kind
    shutil.rmtree(directory, ignore_errors=True)
    store = _open(kind, directory)
    body = os.urandom(BODY)
    latencies: list[float] = []
    try:
        for job in range(1, WARM_UP + 1):  # file made, pages allocated, pruning under way
            for tx in _job_transactions(job, body):
                store.write_many(tx)
        started = time.perf_counter()
        for job in range(WARM_UP + 1, WARM_UP + 1 + jobs):
            for tx in _job_transactions(job, body):
                t0 = time.perf_counter()
                store.write_many(tx)
                latencies.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
    finally:
        store.close()
    return total, latencies, len(latencies)


def backlog(kind: str, jobs: int, root: Path) -> tuple[int, int]:
    """(file bytes with `jobs` queued, file bytes after they were sent and 50 more jobs)."""
    directory = root / f"backlog-{kind}"
    shutil.rmtree(directory, ignore_errors=True)
    store = _open(kind, directory)
    body = os.urandom(BODY)
    path = directory / Nvram.FILENAME

    def size() -> int:
        if isinstance(store, Nvram):
            store.checkpoint("TRUNCATE")  # the WAL copied back: the file as it will stay
        return path.stat().st_size

    try:
        for job in range(1, jobs + 1):
            for tx in _job_transactions(job, body)[:1]:  # submitted
                store.write_many(tx)
        peak = size()
        for job in range(1, jobs + 51):
            txs = _job_transactions(job, body)
            for tx in txs[1:] if job <= jobs else txs:
                store.write_many(tx)
        return peak, size()
    finally:
        store.close()


def _syncs(kind: str, jobs: int, root: Path) -> tuple[int, int] | None:
    """(fsync + fdatasync calls, transactions) for `jobs` jobs under strace, or None."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    out = root / f"strace-{kind}.txt"
    cmd = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(out), sys.executable,
           "-m", "mfp_sim.tools.bench_nvram", "--only", kind, "--jobs", str(jobs),
           "--dir", str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    txs = int(done.stdout.strip().splitlines()[-1])
    calls = 0
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync"):
            calls += int(parts[3])
    return calls, txs


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dir", help="where the files go (default: a temporary folder here)")
    p.add_argument("--backlog", type=int, default=0, help="also measure a drained backlog")
    p.add_argument("--no-strace", action="store_true")
    p.add_argument("--only", choices=["before", "after"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-nvram-", dir="."))
    try:
        if args.only:  # the traced child: strace counts the whole run, warm-up included,
            _, _, txs = run_side(args.only, args.jobs, root)  # so those transactions count too
            print(txs + sum(len(_job_transactions(j, b"")) for j in range(1, WARM_UP + 1)))
            return
        per_job: dict[str, list[float]] = {"before": [], "after": []}
        lat: dict[str, list[float]] = {"before": [], "after": []}
        txs = 0
        for _ in range(args.rounds):
            for kind in ("before", "after"):
                total, latencies, txs = run_side(kind, args.jobs, root)
                per_job[kind].append(total / args.jobs)
                lat[kind].extend(latencies)
        print(f"{args.jobs} jobs x {args.rounds} rounds, {txs / args.jobs:.2f} transactions "
              f"per job, synchronous=FULL on both sides")
        print(f"{'side':8} {'ms/job':>8} {'ms/tx':>7} {'p99 tx':>7} {'syncs/tx':>9}")
        for kind in ("before", "after"):
            job_ms = statistics.median(per_job[kind]) * 1000
            p99 = statistics.quantiles(lat[kind], n=100)[98] * 1000
            syncs = None if args.no_strace else _syncs(kind, args.jobs, root)
            sync_text = f"{syncs[0] / syncs[1]:.2f}" if syncs else "n/a"
            print(f"{kind:8} {job_ms:8.2f} {job_ms * args.jobs / txs:7.3f} {p99:7.2f} "
                  f"{sync_text:>9}")
        for kind in ("before", "after") if args.backlog else ():
            peak, drained = backlog(kind, args.backlog, root)
            print(f"{kind:8} backlog of {args.backlog} jobs: file {peak / 2**20:.1f} MiB, "
                  f"after the drain {drained / 2**20:.2f} MiB")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
