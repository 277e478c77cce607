"""A token store's background work: one supervised task, single-flight jobs, and naps.

    spawn(body, alive)  the store's one background task (polling, then keeping the token fresh)
                        under a supervisor: if `body` dies of anything, the death is logged, the
                        supervisor waits (5 s, 10 s, … up to 5 min of device time) and runs it
                        again, for as long as `alive()` says the task is still wanted
    join(name, make)    a job that many callers may ask for at once (a refresh, a Get Token):
                        the first starts it, the others wait for the same one; a caller that
                        gives up (a closed console) does not cancel it for the others
    nap(seconds)        a sleep on the device clock that ends early when the clock is set (or
                        `replan()` is called), so that the caller plans again
    cancel()            stops all of it at once (Clear, an account change, power-off)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mfp_sim.hwsim.clock import Clock

from ..errors import FirmwareError
from .timing import backoff

__all__ = ["TaskKeeper"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskKeeper:
    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._replan = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._jobs: dict[str, asyncio.Task[Any]] = {}
        self._unlisten = clock.on_set(self._clock_set)

    def spawn(self, body: Callable[[], Awaitable[None]], alive: Callable[[], bool],
              what: str) -> None:
        """Run `body` as the background task (replacing the one that spawned it, if any)."""
        self._task = asyncio.get_running_loop().create_task(
            self._supervised(body, alive, what), name=f"token.{self.name}.{what}")

    async def _supervised(self, body: Callable[[], Awaitable[None]], alive: Callable[[], bool],
                          what: str) -> None:
        deaths = 0
        while alive():
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                deaths += 1
                pause = backoff(deaths, base=5.0, cap=300.0, rng=None)
                log.exception("%s: the token task %r died (%d so far); restarting it in %g s",
                              self.name, what, deaths, pause)
                await self.nap(pause)

    async def join(self, name: str, make: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """Wait for the job `name`, starting it with `make()` unless one is under way.

        Returns the finished task: its `cancelled()`, `exception()` or `result()` say how it
        ended, for each caller to read (a cancelled job never cancels its callers).
        """
        task = self._jobs.get(name)
        if task is None or task.done():
            async def run() -> T:
                return await make()
            task = asyncio.get_running_loop().create_task(run(), name=f"token.{self.name}.{name}")
            task.add_done_callback(self._reap)
            self._jobs[name] = task
        await asyncio.wait({task})
        return task

    def busy(self, name: str) -> bool:
        task = self._jobs.get(name)
        return task is not None and not task.done()

    async def nap(self, seconds: float) -> None:
        """Sleep on the device clock, or until the clock is set (then the caller plans again)."""
        self._replan.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._replan.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def cancel(self) -> None:
        """Stop the background task and every job; returns when they have all ended."""
        tasks = [t for t in (self._task, *self._jobs.values())
                 if t is not None and t is not asyncio.current_task() and not t.done()]
        self._task = None
        self._jobs.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def replan(self) -> None:
        """End the current nap now: the plan changed (a refresh outside the timer, a clock set)."""
        self._replan.set()

    def close(self) -> None:
        self._unlisten()

    def _clock_set(self, before: float, after: float) -> None:
        log.info("%s: device clock set by %+.0f s; planning polls and refreshes again",
                 self.name, after - before)
        self._replan.set()

    def _reap(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, FirmwareError):  # refusals are the callers'
            log.error("%s: %s failed unexpectedly", self.name, task.get_name(), exc_info=exc)
