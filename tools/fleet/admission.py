"""Admission: how much device work a shard lets run at once on its one event loop.

A real MFP has a CPU of its own; a shard multiplexes hundreds or thousands of devices onto one
event loop in one process. Started all at once (a synchronised POP round: 4,000 sessions),
every session's TLS handshake and POP parsing compete for that one loop: each device's session
gets slow together, the loop falls seconds behind (its timers fire late, so the firmware's own
deadlines and the lag probe see seconds that no real device would), and sessions time out at
connect on the device side only because the simulator is behind.

So the shard admits the work *it* starts on its devices (a `poll_round`'s checks, the office's
scans and faxes, a Get Token pressed again) a few at a time: at most `limit` run at once; the
others wait their turn **before** the device starts them. The wait happens outside the
firmware: a device's own timeouts (connect, TLS, POP and SMTP replies, which start inside the
firmware's call) only start once it is admitted, so the wait never counts against them and
causes no false failures. What it changes is what the servers see: a shard presents at most
`limit` of these sessions at a time (a round of 4,000 checks reaches the server as a stream,
not as one burst), which is said in the report (each wait is measured, never hidden) and in
docs/fleet.md.

Not admitted here: what the firmware starts on its own schedule (scheduled POP checks, token
refreshes, device-code polls), which is already spread over time by the firmware (jittered
schedules) and whose start the shard does not own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .metrics import Histogram

__all__ = ["ADMIT_DEFAULT", "Admission"]

T = TypeVar("T")

#: Device work the shard starts that runs at once, per shard (docs/fleet.md: how it was
#: chosen: the loop's lag p99 in a synchronised round against the round's length).
ADMIT_DEFAULT = 16


class Admission:
    """At most `limit` admitted pieces of work at once; FIFO; every wait measured (real time).

    Counted: admitted, waiting now and at most, in flight now and at most, and the wait each
    admitted piece had (`wait`, seconds on the host's clock: queueing is the simulator's, not
    the devices')."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("admission limit: a whole number from 1")
        self.limit = limit
        self._gate = asyncio.Semaphore(limit)
        self.admitted = 0
        self.waiting = 0
        self.most_waiting = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.wait = Histogram()
        self.wait_max = 0.0
        self.last_admitted_at = 0.0  # time.perf_counter() of the latest admission

    async def run(self, start: Callable[[], Awaitable[T]]) -> T:
        """Wait for a place, then `start()` the work and await it; the place is given back
        when it ends (however it ends). `start` is called only once admitted, so whatever
        deadline the work sets itself begins after the wait."""
        began = time.perf_counter()
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self._gate.acquire()
        finally:
            self.waiting -= 1
        self.last_admitted_at = time.perf_counter()
        waited = self.last_admitted_at - began
        self.wait.add(max(waited, 1e-6))
        self.wait_max = max(self.wait_max, waited)
        self.admitted += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await start()
        finally:
            self.in_flight -= 1
            self._gate.release()

    def absorb(self, other: Admission) -> None:
        """Count in what another gate (one round's own limit) admitted, once it is done."""
        self.admitted += other.admitted
        self.most_waiting = max(self.most_waiting, other.most_waiting)
        self.most_in_flight = max(self.most_in_flight, other.most_in_flight)
        self.wait = self.wait.plus(other.wait)
        self.wait_max = max(self.wait_max, other.wait_max)

    def snapshot(self) -> dict[str, Any]:
        return {"limit": self.limit, "admitted": self.admitted, "waiting": self.waiting,
                "most_waiting": self.most_waiting, "in_flight": self.in_flight,
                "most_in_flight": self.most_in_flight, "wait_max": self.wait_max}
