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


async def test_set_moves_the_date_not_the_monotonic_counter_and_tells_listeners():
    clock = VirtualClock()
    heard: list[tuple[float, float]] = []
    stop = clock.on_set(lambda before, after: heard.append((before, after)))
    mono = clock.monotonic()
    assert await clock.set(VIRTUAL_EPOCH - 86400) == VIRTUAL_EPOCH - 86400
    assert clock.now() == VIRTUAL_EPOCH - 86400 and clock.monotonic() == mono
    await clock.advance(10)
    assert clock.monotonic() == mono + 10 and clock.now() == VIRTUAL_EPOCH - 86400 + 10
    assert heard == [(VIRTUAL_EPOCH, VIRTUAL_EPOCH - 86400)]
    stop()
    await clock.set(VIRTUAL_EPOCH)
    assert len(heard) == 1


async def test_set_forward_wakes_date_sleepers_whose_date_passed_but_not_durations():
    clock = VirtualClock()
    woke: list[str] = []

    async def until(name: str, when: float) -> None:
        await clock.sleep_until(when)
        woke.append(name)

    async def during(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(until("date+60", VIRTUAL_EPOCH + 60)),
             asyncio.create_task(until("date+7200", VIRTUAL_EPOCH + 7200)),
             asyncio.create_task(during("60 s", 60))]
    await asyncio.sleep(0)
    await clock.set(VIRTUAL_EPOCH + 3600)
    assert woke == ["date+60"]
    await clock.advance(60)
    assert woke == ["date+60", "60 s"]
    await clock.advance(3540)
    assert woke == ["date+60", "60 s", "date+7200"]
    await asyncio.gather(*tasks)


async def test_set_back_delays_date_sleepers_only():
    clock = VirtualClock()
    woke: list[str] = []

    async def until() -> None:
        await clock.sleep_until(VIRTUAL_EPOCH + 60)
        woke.append("date")

    async def during() -> None:
        await clock.sleep(60)
        woke.append("duration")

    tasks = [asyncio.create_task(until()), asyncio.create_task(during())]
    await asyncio.sleep(0)
    await clock.set(VIRTUAL_EPOCH - 100)
    await clock.advance(60)
    assert woke == ["duration"]
    assert clock.pending() == [VIRTUAL_EPOCH + 60]
    await clock.advance(100)
    assert woke == ["duration", "date"]
    await asyncio.gather(*tasks)


async def test_a_real_clock_can_be_set_and_replans_its_date_sleepers():
    from mfp_sim.hwsim.clock import RealClock

    from .conftest import wait_for

    clock = RealClock()
    woke: list[bool] = []

    async def until() -> None:
        await clock.sleep_until(clock.now() + 3600)
        woke.append(True)

    task = asyncio.create_task(until())
    await asyncio.sleep(0)
    mono = clock.monotonic()
    await clock.set(clock.now() + 7200)
    await wait_for(lambda: woke == [True], timeout=2, what="the date sleeper woken by set")
    assert clock.monotonic() - mono < 2
    await task
