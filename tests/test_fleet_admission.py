"""Admission (tools/fleet/admission.py): a shard runs at most `admit` pieces of the work it
starts at once, each started only once admitted, and a synchronised round still does every
check, counted the same by the fleet and by the bench."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.fleet.admission import Admission
from mfp_sim.tools.fleet.command import Progress
from mfp_sim.tools.fleet.coordinator import Fleet, FleetPlan
from mfp_sim.tools.fleet.profile import FleetProfile
from mfp_sim.tools.fleet.report import write_report
from mfp_sim.tools.fleet.timeline import PollRound, Timeline, TimelineError
from mfp_sim.tools.testbed import Testbed

from .conftest import wait_for


async def test_admission_bounds_work_in_flight_and_starts_it_only_once_admitted() -> None:
    gate = Admission(3)
    release = asyncio.Event()
    started: list[int] = []
    running = 0
    most = 0

    def piece(i: int):  # type: ignore[no-untyped-def]
        async def start() -> int:
            nonlocal running, most
            started.append(i)
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1
            return i
        return start

    tasks = [asyncio.ensure_future(gate.run(piece(i))) for i in range(20)]
    await wait_for(lambda: len(started) == 3)
    for _ in range(10):
        await asyncio.sleep(0)
    assert sorted(started) == [0, 1, 2]  # the others wait before they start: first come first
    assert (gate.in_flight, gate.waiting, gate.admitted) == (3, 17, 3)
    release.set()
    assert await asyncio.gather(*tasks) == list(range(20))
    assert started == list(range(20))
    assert most == gate.most_in_flight == 3
    assert gate.most_waiting == 17 and gate.waiting == 0 and gate.in_flight == 0
    assert gate.admitted == gate.wait.total == 20


async def test_a_failure_or_a_cancel_gives_the_place_back() -> None:
    gate = Admission(1)

    async def fails() -> None:
        raise RuntimeError("the device's check failed")

    with pytest.raises(RuntimeError):
        await gate.run(fails)
    blocker = asyncio.Event()
    first = asyncio.ensure_future(gate.run(blocker.wait))
    second = asyncio.ensure_future(gate.run(blocker.wait))
    await wait_for(lambda: gate.in_flight == 1 and gate.waiting == 1)
    second.cancel()  # cancelled while it waited: never started, nothing held
    await asyncio.gather(second, return_exceptions=True)
    blocker.set()
    await first
    assert (gate.in_flight, gate.waiting, gate.admitted) == (0, 0, 2)
    with pytest.raises(ValueError):
        Admission(0)


def test_the_progress_line_shows_the_work_waiting_for_admission() -> None:
    progress = Progress(io.StringIO(), devices=10, stores=3)
    sample = {"t": 70, "devices": {"on": 10}, "device_states": {"retrieved": 10},
              "token_states": {"retrieved": 30}, "admission": {"waiting": 14, "in_flight": 2}}
    assert "mail 0.0/s  queued 14  lag p99" in progress.line(sample, {})
    sample["admission"] = {"waiting": 0, "in_flight": 0}
    assert "queued" not in progress.line(sample, {})


DEVICES = 12


@pytest.mark.timeout(120)
async def test_a_synchronised_round_admitted_two_at_a_time_does_every_check(tmp_path: Path) -> None:
    clock = VirtualClock()
    bench = Testbed(tmp_path / "bench", clock)
    await bench.start()
    try:
        plan = FleetPlan(devices=DEVICES, root=tmp_path / "fleet", clock="virtual",
                         profile=FleetProfile.from_dict({}, "default profile"),
                         timeline=Timeline.parse("poll_round at=ready+20s\n"
                                                 "poll_round at=ready+80s admit=5", "rounds"),
                         duration=240.0, testbed=bench.info(), tick=10.0, sample_every=30.0,
                         workers=4, admit=2)
        run = await Fleet(plan, bench_clock=clock).run()
    finally:
        await bench.stop()

    assert [d["n"] for d in run.devices if d["state"] != "retrieved"] == []
    first, second = [e for e in run.events if e["kind"] == "poll_round"]
    checks = 2 * DEVICES  # every POP setting of every device
    for event, limit in ((first, 2), (second, 5)):
        assert event["shards"][0]["checks"] == checks and event["shards"][0]["failed"] == 0
        assert f"{checks} checks, 0 failed" in event["text"]
        assert f"admitted {limit} at a time" in event["text"]

    # Both rounds counted in the shard's admission: never more in flight than the round's
    # limit (the first: 2; the second, with its own admit=5, 5), the rest waited their turn.
    shard = run.series[-1]["shards"][0]["admit"]
    assert shard["limit"] == 2 and shard["most_in_flight"] == 5
    assert shard["most_waiting"] == checks - 2
    assert shard["admitted"] == 2 * checks and shard["in_flight"] == shard["waiting"] == 0
    assert sum(run.series[-1]["hist"]["admission_wait"]) == 2 * checks
    middle = next(s for s in run.series if first["t"] < s["t"] < second["t"])
    assert middle["shards"][0]["admit"]["most_in_flight"] == 2

    # What the devices counted is what the bench counted: no check lost, none doubled.
    stats = run.bench_stats
    assert stats is not None
    assert run.series[-1]["mail_sessions"]["pop3"] == stats["pop3"]["sessions"] == 2 * checks
    write_report(run, tmp_path / "report")
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    unequal = [r for r in data["comparison"] if r["must_match"] and not r["equal"]]
    assert unequal == []
    assert [w["mail_sessions"] for w in data["windows"] if w["kind"] == "poll_round"] == [
        checks, checks]


def test_a_rounds_admission_limit_in_the_events_file() -> None:
    event = Timeline.parse("poll_round at=ready+1m admit=8", "events").events[0]
    assert isinstance(event, PollRound) and event.admit == 8 and event.after_ready
    assert Timeline.parse("poll_round at=5m", "events").events[0].admit is None  # --admit
    for wrong in ("admit=0", "admit=many", "admit=-3"):
        with pytest.raises(TimelineError, match="admit must be a whole number from 1"):
            Timeline.parse(f"poll_round at=5m {wrong}", "events")
