"""The virtual clock: time moves only when told, and sleepers wake in deadline order."""

from __future__ import annotations

import asyncio

import pytest

from mfp_sim.hwsim.clock import VIRTUAL_EPOCH, VirtualClock


async def test_sleepers_wake_in_deadline_order_at_their_own_time():
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now() - VIRTUAL_EPOCH))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 30), ("a", 10), ("b", 20)]]
    await asyncio.sleep(0)
    await clock.advance(25)
    assert woke == [("a", 10), ("b", 20)]
    await clock.advance(5)
    assert woke[-1] == ("c", 30)
    await asyncio.gather(*tasks)


async def test_a_sleeper_that_sleeps_again_is_woken_within_the_same_advance():
    clock = VirtualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            await clock.sleep(5)
            ticks.append(clock.now() - VIRTUAL_EPOCH)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance(22)
    assert ticks == [5, 10, 15, 20]
    await clock.advance(3)
    await task
    assert clock.now() - VIRTUAL_EPOCH == 25


async def test_time_does_not_move_by_itself_and_never_backwards():
    clock = VirtualClock()
    t = clock.now()
    await asyncio.sleep(0.01)
    assert clock.now() == t
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_cancelled_sleepers_are_skipped():
    clock = VirtualClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    await clock.advance(20)
    assert clock.pending() == []
