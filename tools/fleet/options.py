"""The options of `mfp-sim fleet`. Kept apart from the fleet itself: building the command line
of `mfp-sim` must not import the fleet (aiohttp, Ray, matplotlib) for the other commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .admission import ADMIT_DEFAULT

__all__ = ["add_parser"]

EPILOG = """\
examples:
  mfp-sim testbed --state state/bench            (in another terminal, first)
  mfp-sim fleet --devices 500 --testbed state/bench/testbed.json --duration 10m
  mfp-sim fleet --devices 2000 --testbed state/bench/testbed.json \\
      --processes 2 --profile docs/fleet/office.toml \\
      --events docs/fleet/storm.events --report report/
  mfp-sim testbed --state state/vbench --clock virtual
  mfp-sim fleet --devices 50 --testbed state/vbench/testbed.json \\
      --clock virtual --duration 2h --events docs/fleet/storm.events
  mfp-sim fleet --devices 10000 --testbed bench/testbed.json --ray 10.0.0.5:6379

Prints a progress line while it runs, then report=DIR/report.html.
The profile, the events file and multi-machine runs: docs/fleet.md.
"""


def _knob(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; VALUE is read as JSON (``30``, ``null``), else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE, e.g. access_token_lifetime=600")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1")
    return int(text)


def _duration(text: str) -> float:
    from .timeline import duration

    try:
        seconds = duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration above 0, e.g. 10m")
    return seconds


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    f = sub.add_parser("fleet", help="run a fleet of simulated MFPs and write a report",
                       description="Run N simulated MFPs (the real firmware, many per process)\n"
                       "against the bench or your own services, play a timeline of events,\n"
                       "and write DIR/report.html and report.json.",
                       epilog=EPILOG, formatter_class=formatter)
    f.add_argument("--devices", type=_positive_int, required=True, help="how many MFPs")
    where = f.add_mutually_exclusive_group(required=True)
    where.add_argument("--testbed", help="testbed.json of a running bench (mfp-sim testbed)")
    where.add_argument("--providers", help="providers TOML naming your own identity provider "
                       "and mail servers (docs/providers.md); then [fleet] approve = \"site\" "
                       "or \"none\"")
    f.add_argument("--approver", metavar="CMD",
                   help="the site's approver, run once per code when the profile says approve = "
                   "\"site\": e.g. 'python3 approve.py {user_code} {account}' (docs/hil.md)")
    f.add_argument("--ca", action="append", help="a CA certificate (PEM) the devices trust; "
                   "repeatable")
    f.add_argument("--profile", help="fleet profile (TOML): stores, accounts, job rates, POP "
                   "interval, sites (default: every store, idle)")
    f.add_argument("--events", help="events file: power_cut, network_down, revoke, idp_fault, "
                   "mail_fault lines")
    f.add_argument("--clock", choices=["real", "virtual"], default="real",
                   help="real time (default), or virtual time moved in --tick steps (needs a "
                   "bench started with --clock virtual)")
    f.add_argument("--duration", type=_duration, default=600.0,
                   help="fleet time to run after power-on, e.g. 90s, 10m, 2h (default 10m)")
    f.add_argument("--tick", type=_duration, default=1.0,
                   help="virtual clock step (default 1s)")
    f.add_argument("--sample", type=_duration, default=None,
                   help="fleet time between two samples (default: about 300 over the run)")
    f.add_argument("--report", default="state/fleet/report",
                   help="folder for report.html, report.json and the PNGs "
                   "(default state/fleet/report)")
    f.add_argument("--state", default="state/fleet",
                   help="folder for the devices' memory, one sub-folder per shard; emptied at "
                   "start (default state/fleet)")
    f.add_argument("--processes", type=_positive_int, default=None,
                   help="shards: 1 runs every device in this process (default); more start Ray "
                   "actors on this machine, one process each")
    f.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the shards on a Ray cluster, e.g. 10.0.0.5:6379 (docs/fleet.md)")
    f.add_argument("--workers", type=_positive_int, default=16,
                   help="worker threads per shard for the devices' blocking calls (default 16)")
    f.add_argument("--admit", type=_positive_int, default=ADMIT_DEFAULT, metavar="K",
                   help="device work each shard starts (a poll_round's checks, Get Token pressed "
                   "again) that runs at once; the rest waits its turn before the device starts "
                   f"it, measured in the report (default {ADMIT_DEFAULT}; docs/fleet.md)")
    f.add_argument("--bench-knob", action="append", type=_knob, metavar="NAME=VALUE",
                   help="set a bench knob first (POST /control/config), e.g. "
                   "access_token_lifetime=600; repeatable")
    f.add_argument("--quiet", action="store_true", help="no progress line")
    return f  # type: ignore[no-any-return]
