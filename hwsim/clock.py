"""The device clock: the only source of time for everything the device does.

Token expiry, device-code expiry, poll intervals, POP check intervals and retry back-off all
read a `Clock`. `RealClock` follows the wall clock (demos, bench use). `VirtualClock` stands
still until a test calls `advance()`, which moves time forward and wakes sleepers in deadline
order, so a 90-day refresh-token lifetime is tested in milliseconds.

A clock has two readings, as a real device's RTC and its tick counter:

    now()        the date and time the device believes (seconds since the Unix epoch); the
                 administrator can `set()` it, forwards or backwards
    monotonic()  seconds that only ever move forward at the pace of real (or virtual) time;
                 `set()` does not touch it, so an age measured with it survives a clock change

and two ways to sleep, like CLOCK_MONOTONIC and CLOCK_REALTIME timers:

    sleep(s)           a duration: unaffected by `set()`
    sleep_until(when)  until the date and time reaches `when`: after `set()` the remaining wait
                       is planned again (woken at once if the new time is past `when`)

`on_set(callback)` tells whoever must re-plan (the token stores) that the time was changed.

Network I/O timeouts stay on the event loop's own clock: they guard real sockets, and a
stalled socket is stalled in real time whatever the device clock says.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "ClockListener", "RealClock", "VirtualClock", "VIRTUAL_EPOCH"]

#: Where a virtual clock starts by default: 2027-01-15T08:00:00Z. A fixed instant keeps panel
#: snapshots and logs identical from run to run; it lies in the future so that libraries which
#: check token times against the host's wall clock (msal) never see a token "from the past".
VIRTUAL_EPOCH = 1_800_000_000.0

#: Called after the clock was set: (time before, time after).
ClockListener = Callable[[float, float], None]


class Clock(Protocol):
    """What the device needs from time."""

    @property
    def virtual(self) -> bool: ...

    def now(self) -> float:
        """Seconds since the Unix epoch, on the device."""
        ...

    def monotonic(self) -> float:
        """Seconds on a counter that only moves forward; unaffected by `set()`."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for a duration of `seconds` (a clock change does not alter it)."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Suspend the caller until the device time reaches `when`."""
        ...

    async def set(self, when: float) -> float:
        """Set the device time (the administrator's `clock set`); returns the new time."""
        ...

    def on_set(self, listener: ClockListener) -> Callable[[], None]:
        """Call `listener(before, after)` after every `set()`; returns a function that stops it."""
        ...


class _Listeners:
    def __init__(self) -> None:
        self._listeners: list[ClockListener] = []

    def add(self, listener: ClockListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return stop

    def tell(self, before: float, after: float) -> None:
        for listener in list(self._listeners):
            listener(before, after)


class RealClock:
    """The host's wall clock, plus the offset the administrator set."""

    virtual = False

    def __init__(self) -> None:
        self._offset = 0.0
        self._listeners = _Listeners()
        # sleep_until() waiters: their timers are planned again when the clock is set.
        self._waiters: dict[asyncio.Future[None], tuple[float, asyncio.TimerHandle]] = {}

    def now(self) -> float:
        return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters[fut] = (when, self._plan(loop, fut, when))
        try:
            await fut
        finally:
            entry = self._waiters.pop(fut, None)
            if entry is not None:
                entry[1].cancel()

    def _plan(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None],
              when: float) -> asyncio.TimerHandle:
        def wake() -> None:
            if not fut.done():
                fut.set_result(None)
        return loop.call_later(max(0.0, when - self.now()), wake)

    async def set(self, when: float) -> float:
        before = self.now()
        self._offset = when - time.time()
        loop = asyncio.get_running_loop()
        for fut, (deadline, handle) in list(self._waiters.items()):
            handle.cancel()
            self._waiters[fut] = (deadline, self._plan(loop, fut, deadline))
        self._listeners.tell(before, self.now())
        await asyncio.sleep(0)
        return self.now()

    def on_set(self, listener: ClockListener) -> Callable[[], None]:
        return self._listeners.add(listener)


class VirtualClock:
    """A clock that moves only when told to.

    Sleepers wait on futures kept in a heap ordered by (monotonic deadline, arrival).
    `advance()` walks the heap: it moves time to each deadline in turn, wakes that sleeper and
    lets the event loop run what became ready before it looks at the next deadline, so a
    sleeper that goes back to sleep while the walk is under way is woken again within the same
    advance. `set()` moves the date and time only: `sleep_until` sleepers get their deadline
    planned again (those now past are woken), `sleep` sleepers keep theirs.
    """

    virtual = True

    #: How many loop iterations `advance()` grants woken tasks before looking again. Enough for
    #: chains of awaits that involve no I/O; code that waits on sockets or threads is not waited
    #: for (the caller waits for the effect it expects, with a bound).
    SETTLE_ROUNDS = 20

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._mono = float(start)
        self._offset = 0.0  # now() = monotonic() + offset; set() changes only the offset
        # (monotonic deadline, arrival, future, wall-clock deadline or None for a duration)
        self._sleepers: list[tuple[float, int, asyncio.Future[None], float | None]] = []
        self._seq = itertools.count()
        self._lock: asyncio.Lock | None = None
        self._listeners = _Listeners()

    def now(self) -> float:
        return self._mono + self._offset

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        await self._sleep(self._mono + max(0.0, seconds), None)

    async def sleep_until(self, when: float) -> None:
        await self._sleep(when - self._offset, when)

    async def _sleep(self, mono_deadline: float, wall: float | None) -> None:
        if mono_deadline <= self._mono:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (mono_deadline, next(self._seq), fut, wall))
        await fut

    def pending(self) -> list[float]:
        """Device times at which the waiting sleepers wake, soonest first (for tests)."""
        return sorted(d + self._offset for d, _, f, _ in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> float:
        """Move time forward by `seconds`, waking every sleeper whose deadline passes."""
        if seconds < 0:
            raise ValueError("the clock only moves forward: seconds must be >= 0")
        async with self._guard():
            target = self._mono + seconds
            await self._settle()
            await self._wake_until(target)
            self._mono = target
            await self._settle()
            return self.now()

    async def set(self, when: float) -> float:
        """Set the date and time to `when` (forwards or backwards); durations are unaffected."""
        async with self._guard():
            before = self.now()
            self._offset = when - self._mono
            self._sleepers = [((wall - self._offset) if wall is not None else d, seq, fut, wall)
                              for d, seq, fut, wall in self._sleepers if not fut.done()]
            heapq.heapify(self._sleepers)
            self._listeners.tell(before, self.now())
            await self._settle()
            await self._wake_until(self._mono)
            return self.now()

    def on_set(self, listener: ClockListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _wake_until(self, target: float) -> None:
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut, _ = heapq.heappop(self._sleepers)
            if fut.done():  # cancelled sleeper
                continue
            self._mono = max(self._mono, deadline)
            fut.set_result(None)
            await self._settle()

    async def _settle(self) -> None:
        for _ in range(self.SETTLE_ROUNDS):
            await asyncio.sleep(0)
