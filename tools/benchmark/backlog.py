"""Job submit → NVRAM durable while a backlog of jobs builds up.

The device's SMTP server is a port where nothing listens (connection refused at once), so
every job is tried once, fails for now and waits for its retry (60 s of device time, which
never passes: the clock is virtual), and the queue grows to the full backlog. For each job
the time of the submit itself is measured (job id allocated, job record and sealed message
written in NVRAM: the call returns once the job is durable); then the loop runs until the
queue has tried that job (not timed: the queue's turn, reported apart). Flat means the last
tenth of the submits costs what the first tenth did (ratio of their medians).
"""

from __future__ import annotations

import asyncio
import socket
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import workers
from .drive import ALICE, BOB, SMTP_STORE, BenchDevice, scan_message
from .figures import Figure
from .measure import median, until

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["submit", "measure"]


def _tried(bench: BenchDevice, job: str) -> bool:
    return bench.job_attempts(job) >= 1 and bench.job_state(job) == "queued"


async def submit(spec: dict[str, Any]) -> dict[str, Any]:
    count = int(spec["backlog"])
    message = Path(spec["message_file"]).read_bytes()
    closed = socket.socket()  # bound, never listening: connections to it are refused
    closed.bind(("127.0.0.1", 0))
    bench = BenchDevice(Path(spec["dir"]), None)
    await bench.start()
    durable, turn = [], []
    try:
        await bench.configure(SMTP_STORE, server="127.0.0.1", port=str(closed.getsockname()[1]),
                              security="off", auth="none", sender_address=ALICE)
        for i in range(count):
            t0 = time.perf_counter()
            job = bench.submit(message, to=BOB, subject=spec["subject"],
                               message_id=f"<backlog.{i}@example.test>")
            t1 = time.perf_counter()
            await until(partial(_tried, bench, job), 30, f"job {job} tried once")
            durable.append(t1 - t0)
            turn.append(time.perf_counter() - t1)
        size = bench.nvram_bytes()
    finally:
        await bench.stop()
        closed.close()
    return {"durable": durable, "turn": turn, "nvram_bytes": size}


def _flatness(samples: list[float]) -> tuple[float, float, float]:
    tenth = max(1, len(samples) // 10)
    first, last = median(samples[:tenth]), median(samples[-tenth:])
    return last / first, first, last


def measure(run: BenchRun) -> list[Figure]:
    count = run.sizes.backlog
    message, subject = asyncio.run(scan_message(sender=ALICE, to=BOB, pages=1))
    message_file = run.root / "scan1.eml"
    message_file.write_bytes(message)
    result = workers.run("backlog.submit", run.spec(dir=str(run.workdir("backlog")),
                                                    backlog=count, subject=subject,
                                                    message_file=str(message_file)),
                         timeout=120 + count * 0.5)
    ratio, first, last = _flatness(result["durable"])
    turn_ratio, turn_first, turn_last = _flatness(result["turn"])
    return [
        Figure("backlog.flatness", f"job submit → NVRAM durable, backlog of {count:,} "
               "(last tenth ÷ first)", ratio, "×",
               f"{first * 1000:.2f} → {last * 1000:.2f} ms per submit; 1-page PDF "
               f"({len(message) / 1024:.0f} KiB)"),
        Figure("backlog.submit", "job submit → NVRAM durable, median",
               median(result["durable"]) * 1000, "ms",
               f"NVRAM {result['nvram_bytes'] / 2**20:.0f} MiB at the end"),
        Figure("backlog.queue_turn", "the queue's turn per job (try, refused, back-off), last "
               "tenth ÷ first", turn_ratio, "×",
               f"{turn_first * 1000:.2f} → {turn_last * 1000:.2f} ms"),
    ]
