"""The device clock: the only source of time for everything the device does.

Token expiry, device-code expiry, poll intervals, POP check intervals and retry back-off all
read a `Clock`. `RealClock` follows the wall clock (demos, bench use). `VirtualClock` stands
still until a test calls `advance()`, which moves time forward and wakes sleepers in deadline
order, so a 90-day refresh-token lifetime is tested in milliseconds.

Network I/O timeouts stay on the event loop's own clock: they guard real sockets, and a
stalled socket is stalled in real time whatever the device clock says.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock", "VIRTUAL_EPOCH"]

#: Where a virtual clock starts by default: 2027-01-15T08:00:00Z. A fixed instant keeps panel
#: snapshots and logs identical from run to run; it lies in the future so that libraries which
#: check token times against the host's wall clock (msal) never see a token "from the past".
VIRTUAL_EPOCH = 1_800_000_000.0


class Clock(Protocol):
    """What the device needs from time."""

    @property
    def virtual(self) -> bool: ...

    def now(self) -> float:
        """Seconds since the Unix epoch, on the device."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for `seconds` of device time."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Suspend the caller until the device time reaches `when`."""
        ...


class RealClock:
    """The host's wall clock."""

    virtual = False

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


class VirtualClock:
    """A clock that moves only when told to.

    Sleepers wait on futures kept in a heap ordered by (deadline, arrival). `advance()` walks
    the heap: it sets the time to each deadline in turn, wakes that sleeper and lets the event
    loop run what became ready before it looks at the next deadline, so a sleeper that goes
    back to sleep while the walk is under way is woken again within the same advance.
    """

    virtual = True

    #: How many loop iterations `advance()` grants woken tasks before looking again. Enough for
    #: chains of awaits that involve no I/O; code that waits on sockets or threads is not waited
    #: for (the caller waits for the effect it expects, with a bound).
    SETTLE_ROUNDS = 20

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._lock: asyncio.Lock | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), fut))
        await fut

    def pending(self) -> list[float]:
        """Deadlines of the sleepers still waiting, soonest first (for the shell and tests)."""
        return sorted(d for d, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> float:
        """Move time forward by `seconds`, waking every sleeper whose deadline passes."""
        if seconds < 0:
            raise ValueError("the clock only moves forward: seconds must be >= 0")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            target = self._now + seconds
            await self._settle()
            while self._sleepers and self._sleepers[0][0] <= target:
                when, _, fut = heapq.heappop(self._sleepers)
                if fut.done():  # cancelled sleeper
                    continue
                self._now = max(self._now, when)
                fut.set_result(None)
                await self._settle()
            self._now = target
            await self._settle()
            return self._now

    async def _settle(self) -> None:
        for _ in range(self.SETTLE_ROUNDS):
            await asyncio.sleep(0)
