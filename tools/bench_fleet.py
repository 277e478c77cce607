"""Fleet figures (issue 12), measured for `make bench`, never in tests.

    python -m mfp_sim.tools.bench_fleet [--quick] [--json FILE] [--only NAME] [--keep DIR]
                                        [--devices N]

Every scenario starts the bench as its own process (`mfp-sim testbed`), so what the fleet
costs is measured apart from what the servers cost, and runs the fleet here (shards in this
process, or Ray actors on this machine). Each leaves its report (report.html) under DIR.

    idle        N devices in one process, 3 tokens + 2 POP settings each, real clock: bring-up
                to all Retrieved, then an idle window of one POP interval (the profile's
                default, checks every 5 minutes): CPU, memory at its end; then every POP
                setting of every device at once (loop lag, memory at the end)
    machine     N devices over 2 processes on this machine, real clock: do they all get their
                tokens, how fast, how much memory with the bench on the same 2 cores
    admit       N devices in one process, real clock: after bring-up, synchronised poll
                rounds admitted K at a time (K = 4, 8, 16, 32, 64, then all at once), one a
                minute: the loop lag, the round's length and its admission wait for each K,
                to choose `--admit` (docs/fleet.md)
    storm       N devices on the virtual clock: 30 % lose power for 70 minutes (their access
                tokens run out), come back at once into a throttled tenant; no device may stay
                stuck, and a throttled store must wait before asking again
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mfp_sim.tools.fleet.coordinator import Fleet, FleetPlan, FleetRun
from mfp_sim.tools.fleet.metrics import Histogram
from mfp_sim.tools.fleet.network import throttled as count_throttled
from mfp_sim.tools.fleet.profile import FleetProfile
from mfp_sim.tools.fleet.report import summarise, windows, write_report
from mfp_sim.tools.fleet.timeline import Timeline
from mfp_sim.tools.testbed_file import load_testbed

__all__ = ["main", "Figure", "SCENARIOS"]


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: str
    met: bool | None
    note: str = ""


class BenchProcess:
    """`mfp-sim testbed` in its own process, stopped by its pid (SIGTERM) when done."""

    def __init__(self, state: Path, clock: str, knobs: dict[str, Any]) -> None:
        args = [sys.executable, "-m", "mfp_sim.tools.cli", "testbed", "--state", str(state),
                "--clock", clock]
        for name, value in knobs.items():
            args += ["--idp-knob", f"{name}={json.dumps(value)}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready=1":
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("the bench did not start")
        self.info = load_testbed(state / "testbed.json")
        self._cpu0 = self.cpu_s()

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _run(plan: FleetPlan) -> FleetRun:
    return asyncio.run(Fleet(plan).run())


def _idle_cpu(run: FleetRun, since: float) -> tuple[float, float]:
    """CPU % of a core of shard 0's process, and the window (s), from `since` to the end."""
    points = [s for s in run.series if s["t"] >= since]
    if len(points) < 2:
        return float("nan"), 0.0
    first, last = points[0]["shards"][0], points[-1]["shards"][0]
    wall = last["wall"] - first["wall"]
    return 100 * (last["cpu_s"] - first["cpu_s"]) / max(wall, 1e-9), wall


def _idle(n: int, root: Path, quick: bool) -> list[Figure]:
    bench = BenchProcess(root / "bench", "real", {})
    try:
        profile = FleetProfile.from_dict({"mail": {"pop_check_interval": 5}}, "idle profile")
        timeline = Timeline.parse("poll_round at=ready+5m20s", "idle events")
        plan = FleetPlan(devices=n, root=root / "fleet", profile=profile, timeline=timeline,
                         testbed=bench.info, duration=3600, after_ready=375, sample_every=1.0,
                         workers=16)
        run = _run(plan)
        bench_rss = bench.rss_mb()
    finally:
        bench.stop()
    write_report(run, root / "report")
    summary = summarise(run)
    bringup = run.figures.get("bringup_wall_s")
    since = (run.figures.get("bringup_s") or 0) + 10
    idle_end = since + 305  # one POP interval, before the poll round
    idle_series = [s for s in run.series if s["t"] <= idle_end]
    cpu, window = _idle_cpu(FleetRun(run.plan, idle_series), since)
    rss = idle_series[-1]["shards"][0]["rss"] / 2**20
    rss_end = run.series[-1]["shards"][0]["rss"] / 2**20
    round_ = next((w for w in windows(run) if w["kind"] == "poll_round"), None)
    lag = max(round_["lag_p99_ms"]) if round_ else float("nan")
    checks = next((e for e in run.events if e["kind"] == "poll_round"), {}).get("text", "")
    got = summary["final_states"].get("retrieved", 0)
    scale = "" if n >= 2000 else f"only {n} run"
    return [
        Figure("fleet: devices in one process, all tokens Retrieved", got, "devices",
               ">= 2,000 (moonshot 5,000)", got >= 2000 if n >= 2000 else None, scale.strip()),
        Figure("fleet: idle CPU, one process", cpu, "% core", "< 10 %", cpu < 10,
               f"{n} devices, {window:.0f} s window: each POP setting checks once (every 5 min)"),
        Figure("fleet: memory, one process, idle", rss, "MB", "< 1,024 MB", rss < 1024,
               f"{rss * 1024 / n:.0f} KB per device; {rss_end:.0f} MB after the poll round; "
               f"bench process {bench_rss:.0f} MB"),
        Figure("fleet: bring-up per 1,000 devices (one process)",
               (bringup or float("nan")) * 1000 / n, "s", "< 30 s (moonshot 10)",
               bringup is not None and bringup * 1000 / n < 30, f"{n} devices in {bringup or 0:.0f} s"),
        Figure("fleet: loop lag p99 in a synchronised poll round", lag, "ms",
               "< 100 ms (moonshot 20)", lag < 100, checks.partition(": ")[2]),
    ]


#: The admission limits the `admit` scenario compares (0: every check at once).
ADMIT_SWEEP = (4, 8, 16, 32, 64, 0)


def _admit(n: int, root: Path, quick: bool) -> list[Figure]:
    bench = BenchProcess(root / "bench", "real", {})
    checks = 2 * n
    try:
        profile = FleetProfile.from_dict({"mail": {"pop_check_interval": 60}}, "admit profile")
        timeline = Timeline.parse("\n".join(
            f"poll_round at=ready+{30 + 60 * i}s admit={k or checks}"
            for i, k in enumerate(ADMIT_SWEEP)), "admission sweep")
        plan = FleetPlan(devices=n, root=root / "fleet", profile=profile, timeline=timeline,
                         testbed=bench.info, duration=3600, after_ready=60 * len(ADMIT_SWEEP) + 30,
                         sample_every=1.0, workers=16)
        run = _run(plan)
    finally:
        bench.stop()
    write_report(run, root / "report")
    rounds = {w["event"]: w for w in windows(run) if w["kind"] == "poll_round"}
    figures = []
    for k, event in zip(ADMIT_SWEEP, [e for e in run.events if e["kind"] == "poll_round"],
                        strict=False):
        window = rounds.get(event["text"])
        shard = (event.get("shards") or [{}])[0]
        lag = max(window["lag_p99_ms"]) if window else float("nan")
        figures.append(Figure(
            f"fleet: loop lag p99, round admitted {k or 'all'} at a time", lag, "ms",
            "< 100 ms (moonshot 20)", lag < 100,
            f"{shard.get('checks', 0):,.0f} checks, {shard.get('failed', 0):,.0f} failed, "
            f"round {shard.get('seconds', 0):.1f} s, wait p99 {shard.get('wait_p99', 0):.1f} s"))
    return figures


def _machine(n: int, root: Path, quick: bool) -> list[Figure]:
    bench = BenchProcess(root / "bench", "real", {})
    try:
        plan = FleetPlan(devices=n, root=root / "fleet", testbed=bench.info, processes=2,
                         duration=3600, after_ready=60, sample_every=2.0, workers=16)
        run = _run(plan)
        bench_rss, bench_cpu = bench.rss_mb(), bench.cpu_s()
    finally:
        bench.stop()
    write_report(run, root / "report")
    summary = summarise(run)
    got = summary["final_states"].get("retrieved", 0)
    bringup = run.figures.get("bringup_wall_s")
    shards = run.series[-1]["shards"]
    rss = sum(s["rss"] for s in shards) / 2**20
    return [
        Figure("fleet: devices on this machine (2 processes + bench)", got, "devices",
               ">= 5,000 (moonshot 10,000)", got >= 5000 if n >= 5000 else None,
               f"of {n}; shards {rss:.0f} MB, bench {bench_rss:.0f} MB and {bench_cpu:.0f} s CPU"),
        Figure("fleet: bring-up per 1,000 devices (2 processes)",
               (bringup or float("nan")) * 1000 / n, "s", "< 30 s (moonshot 10)",
               bringup is not None and bringup * 1000 / n < 30,
               f"{n} devices in {bringup or 0:.0f} s"),
    ]


def _storm(n: int, root: Path, quick: bool) -> list[Figure]:
    bench = BenchProcess(root / "bench", "virtual", {"access_token_lifetime": 3600})
    try:
        profile = FleetProfile.from_dict({"mail": {"pop_check_interval": 60}}, "storm profile")
        timeline = Timeline.parse(
            "power_cut at=ready+1m fraction=0.3 for=70m\n"
            "idp_fault throttled at=ready+70m for=3m retry_after=1 "
            "phases=idp.refresh,idp.device_poll\n", "storm events")
        plan = FleetPlan(devices=n, root=root / "fleet", profile=profile, timeline=timeline,
                         clock="virtual", testbed=bench.info, processes=2, duration=6 * 3600,
                         after_ready=80 * 60, tick=10.0, sample_every=10.0, workers=16)
        run = _run(plan)
    finally:
        bench.stop()
    write_report(run, root / "report")
    summary = summarise(run)
    final = run.series[-1]
    answers = Histogram.from_json(final["hist"]["backoff"])
    requests = Histogram.from_json(final["hist"]["request_backoff"])
    throttled = sum(count_throttled(v) for v in final["idp_requests"].values())
    least = answers.percentile(0.01) if answers.total else float("nan")
    return [
        Figure("fleet storm: devices stuck at the end", summary["stuck"], "devices", "0",
               summary["stuck"] == 0, f"{n} devices, 30 % off for 70 min, back into a throttled tenant"),
        Figure("fleet storm: throttled requests answered", throttled, "requests", "> 0 (met)",
               throttled > 0, f"faults fired {run.bench_stats['idp']['faults_fired'] if run.bench_stats else {}}"),
        Figure("fleet storm: least back-off after a throttled answer", least or 0.0, "s",
               ">= Retry-After (1 s)", (least or 0) >= 1.0,
               f"median {answers.percentile(50) or 0:.0f} s over {answers.total} retries; "
               f"requests: least {requests.percentile(0.01) or 0:.0f} s"),
    ]


#: name → (run(n, folder, quick), devices, devices with --quick)
SCENARIOS: dict[str, tuple[Callable[[int, Path, bool], list[Figure]], int, int]] = {
    "idle": (_idle, 2000, 200),
    "machine": (_machine, 5000, 500),
    "admit": (_admit, 1000, 200),
    "storm": (_storm, 2000, 200),
}


def table(figures: list[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    lines = [f"| {'figure':<{width}} | {'value':>12} | {'goal':<26} | met | note",
             f"|{'-' * (width + 2)}|{'-' * 14}|{'-' * 28}|-----|------"]
    for f in figures:
        met = "—" if f.met is None else ("yes" if f.met else "NO")
        value = f"{f.value:,.1f} {f.unit}" if abs(f.value) < 100 else f"{f.value:,.0f} {f.unit}"
        lines.append(f"| {f.name:<{width}} | {value:>12} | {f.goal:<26} | {met:<3} | {f.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_fleet", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tenth of the devices")
    p.add_argument("--json", help="write the figures as JSON to this file")
    p.add_argument("--only", choices=list(SCENARIOS), action="append", help="run only these")
    p.add_argument("--devices", type=int, help="this many devices in each scenario run (instead "
                   "of the goal's; a machine that cannot hold the goal's still gets a figure)")
    p.add_argument("--keep", help="folder for each scenario's state and report (default: a "
                   "temporary folder, kept and printed)")
    args = p.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-fleet-"))
    figures: list[Figure] = []
    for name in args.only or list(SCENARIOS):
        run, full, quick = SCENARIOS[name]
        n = args.devices or (quick if args.quick else full)
        print(f"fleet bench: {name} with {n} devices …", file=sys.stderr, flush=True)
        began = time.perf_counter()
        figures += run(n, root / name, args.quick)
        print(f"  {time.perf_counter() - began:.0f} s; report: {root / name / 'report' / 'report.html'}",
              file=sys.stderr, flush=True)
    print(table(figures))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(f) for f in figures], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
