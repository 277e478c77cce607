"""Timing helpers shared by every figure: a stopwatch for wall time and this process's CPU,
medians, paired ratios, and the one bounded wait the benchmark uses.

CPU is `time.process_time()`: user + system time of the whole process, every thread included
(the device runs msal, spool writes and some NVRAM work in worker threads). It is read in the
client process around the measured work only, so a client's CPU per job is what that client
itself spent, whatever the server did.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Span", "stopwatch", "median", "paired_ratios", "until", "process_cpu", "rss_bytes"]


@dataclass
class Span:
    """Wall seconds and CPU seconds of this process over a stretch of work."""

    wall: float = 0.0
    cpu: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu}


@contextmanager
def stopwatch() -> Iterator[Span]:
    """`with stopwatch() as span: ...`; `span` is filled in when the block ends."""
    span = Span()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield span
    finally:
        span.wall = time.perf_counter() - w0
        span.cpu = time.process_time() - c0


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Round by round a/b: a slow moment of the machine hits both members of a pair."""
    if len(numerators) != len(denominators):
        raise ValueError("pairs of unequal length")
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


async def until(predicate: Callable[[], bool], timeout: float, what: str,
                pause: float = 0.0005) -> None:
    """Wait (real time, bounded) for an effect; looks every `pause` seconds."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"benchmark step did not finish within {timeout:g} s: {what}")
        await asyncio.sleep(pause)


_TICK = float(os.sysconf("SC_CLK_TCK"))  # /proc reports CPU times in these units


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) another process has used so far; 0 if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes() -> int:
    """Resident set size of this process now (VmRSS), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")
