"""`mfp-sim fleet`: read the options and files, run the fleet, write the report.

While it runs, one progress line (redrawn in place on a terminal; elsewhere every 10 s and
once at the end):

    fleet 00:04:10  on 2000/2000  Retrieved 1994  tokens 5990/6000  idp 41.2/s  mail 8.0/s  lag p99 6 ms

with `queued N` before the lag while N pieces of work wait for admission (`--admit`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from mfp_sim.tools.testbed_file import TestbedError, load_testbed

from .coordinator import Fleet, FleetPlan
from .errors import FleetError, FleetInputError
from .metrics import Histogram
from .profile import FleetProfile
from .timeline import Timeline

__all__ = ["run", "Progress", "prepare_state"]

_MARKER = "mfp-sim-fleet"


class Progress:
    """The progress line: devices up, tokens retrieved, requests per second, work waiting
    for admission (when any), loop lag."""

    def __init__(self, out: TextIO, devices: int, stores: int) -> None:
        self.out = out
        self.devices = devices
        self.stores = stores
        self.tty = out.isatty()
        self._last_print = 0.0
        self._unprinted = ""

    def __call__(self, now: dict[str, Any], before: dict[str, Any]) -> None:
        line = self.line(now, before)
        self._unprinted = line
        if self.tty:
            self.out.write("\r" + line.ljust(110)[:130])
            self.out.flush()
        elif time.monotonic() - self._last_print >= 10:
            self._last_print = time.monotonic()
            self.out.write(line + "\n")
            self.out.flush()
            self._unprinted = ""

    def line(self, now: dict[str, Any], before: dict[str, Any]) -> str:
        t = int(now.get("t", 0))
        dt = max(1e-9, now.get("t", 0) - before.get("t", 0)) if before else 0.0

        def total(sample: dict[str, Any], key: str) -> int:
            value = sample.get(key, {})
            return sum(sum(v.values()) if isinstance(v, dict) else v for v in value.values())

        idp = (total(now, "idp_requests") - total(before, "idp_requests")) / dt if dt else 0.0
        mail = (total(now, "mail_sessions") - total(before, "mail_sessions")) / dt if dt else 0.0
        lag = Histogram()
        for shard, old in zip(now.get("shards", []), before.get("shards", []) or
                              [{}] * len(now.get("shards", [])), strict=False):
            lag = lag.plus(Histogram.from_json(shard.get("lag")).minus(
                Histogram.from_json(old.get("lag"))))
        p99 = (lag.percentile(99) or 0) * 1000
        states = now.get("device_states", {})
        tokens = now.get("token_states", {}).get("retrieved", 0)
        waiting = now.get("admission", {}).get("waiting", 0)
        queued = f"  queued {waiting}" if waiting else ""  # admitted work waiting its turn
        return (f"fleet {t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}  "
                f"on {now.get('devices', {}).get('on', 0)}/{self.devices}  "
                f"Retrieved {states.get('retrieved', 0)}  "
                f"tokens {tokens}/{self.devices * self.stores}  "
                f"idp {idp:.1f}/s  mail {mail:.1f}/s{queued}  lag p99 {p99:.0f} ms")

    def done(self) -> None:
        """End the line on a terminal; elsewhere, print the last state if not yet printed."""
        if self.tty:
            self.out.write("\n")
        elif self._unprinted:
            self.out.write(self._unprinted + "\n")
        self._unprinted = ""
        self.out.flush()


def prepare_state(folder: Path) -> Path:
    """The devices' folder, emptied: a fleet starts from factory settings every run.

    Only a folder the fleet made (it holds the marker file) or an empty one is emptied; any
    other is refused, so a mistyped --state never deletes someone's files.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not (folder / _MARKER).exists():
            raise FleetInputError(f"--state {folder} holds files the fleet did not make; give an "
                                  "empty or new folder")
        for child in folder.iterdir():
            if child.name != _MARKER:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).write_text("made by mfp-sim fleet; emptied at each run\n", encoding="ascii")
    return folder


def _plan(args: argparse.Namespace) -> FleetPlan:
    testbed = None
    providers = None
    try:
        if args.testbed:
            testbed = load_testbed(Path(args.testbed))
        if args.providers:
            providers = Path(args.providers).read_text(encoding="utf-8")
        ca_pems = tuple(Path(c).read_text(encoding="ascii") for c in args.ca or [])
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetInputError(f"cannot read a file given to mfp-sim fleet: {exc}") from None
    except TestbedError as exc:
        raise FleetInputError(str(exc)) from None
    profile = FleetProfile.load(Path(args.profile)) if args.profile else FleetProfile()
    if args.providers and profile.approve == "bench":
        raise FleetInputError("with --providers the bench does not approve the codes: set "
                              "[fleet] approve = \"site\" (with --approver CMD) or \"none\" "
                              "in the profile (docs/fleet.md)")
    timeline = Timeline.load(Path(args.events)) if args.events else Timeline()
    processes = args.processes or 1
    # Absolute: a shard on another machine makes the same folder there.
    return FleetPlan(devices=args.devices, root=prepare_state(Path(args.state)).resolve(),
                     profile=profile,
                     timeline=timeline, clock=args.clock, duration=args.duration,
                     testbed=testbed, providers_toml=providers, ca_pems=ca_pems,
                     processes=processes, ray_address=args.ray, tick=args.tick,
                     sample_every=args.sample, workers=args.workers,
                     bench_knobs=dict(args.bench_knob or []), approver=args.approver,
                     admit=args.admit)


def run(args: argparse.Namespace) -> int:
    """The command; returns the exit status (2: refused, with the reason on stderr)."""
    from .report import write_report

    try:
        plan = _plan(args)
        progress = None if args.quiet else Progress(sys.stderr, plan.devices,
                                                    len(plan.profile.stores))
        fleet = Fleet(plan, progress=progress)
        result = asyncio.run(fleet.run())
        if progress is not None:
            progress.done()
        page = write_report(result, Path(args.report))
    except FleetError as exc:
        print(f"\nmfp-sim fleet: error: {exc}", file=sys.stderr)
        return 2
    print(f"report={page.resolve()}", flush=True)
    return 0
