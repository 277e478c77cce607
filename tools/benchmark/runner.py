"""`mfp-sim bench`: runs the sections, prints the table, writes the JSON file.

The orchestrator measures nothing itself: it starts the bench's servers in their own process
(`servers`), starts one client process per measurement (`workers`) and turns their results
into figures. Temporary files live under the system's temporary folder, which must be a real
disk for the NVRAM and spool figures to mean anything (fsync on tmpfs is free).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .figures import Figure, machine, revision, table, to_json
from .servers import BenchError, BenchServers

__all__ = ["SECTIONS", "SIZES", "BenchRun", "Sizes", "main"]


@dataclass(frozen=True)
class Sizes:
    send_rounds: int  # paired rounds of Scan to E-mail
    jobs: int  # Scan to E-mail jobs per round and side
    drain_rounds: int  # paired rounds of POP drain
    faxes: int  # Internet Faxes per drain round and side
    token_runs: int  # fresh device processes for the first Get Token
    warm_rounds: int  # warm Get Token and refresh rounds per such process
    starts: int  # `mfp-sim device` starts
    devices: int  # memory: devices counted by RSS
    traced: int  # memory: devices counted by tracemalloc
    backlog: int  # jobs submitted while the server is unreachable
    history: int  # messages left on the server (leave_copy) before the quiet polls
    polls: int  # quiet polls measured
    panel_starts: int
    panel_changes: int
    web_quick: bool  # the web page's figures: 5 rounds (quick) or 15


SIZES: dict[str, Sizes] = {
    "full": Sizes(send_rounds=11, jobs=100, drain_rounds=9, faxes=500, token_runs=7, warm_rounds=10, starts=7,
                  devices=20, traced=5, backlog=5000, history=5000, polls=9, panel_starts=5,
                  panel_changes=15, web_quick=False),
    "quick": Sizes(send_rounds=3, jobs=50, drain_rounds=3, faxes=100, token_runs=3, warm_rounds=5, starts=3,
                   devices=6, traced=2, backlog=1000, history=1000, polls=5, panel_starts=2,
                   panel_changes=5, web_quick=True),
    # Checks the plumbing only (the test suite runs it): the figures mean nothing.
    "smoke": Sizes(send_rounds=1, jobs=2, drain_rounds=1, faxes=3, token_runs=1, warm_rounds=1, starts=1,
                   devices=1, traced=1, backlog=20, history=10, polls=2, panel_starts=1,
                   panel_changes=1, web_quick=True),
}


class BenchRun:
    """One `mfp-sim bench` run: its sizes, its temporary folder, the servers once started."""

    def __init__(self, sizes: Sizes, root: Path) -> None:
        self.sizes = sizes
        self.root = root
        self._servers: BenchServers | None = None
        self._tokens: dict[tuple[str, str], str] = {}
        self._serial = itertools.count(1)

    def servers(self) -> BenchServers:
        if self._servers is None:
            servers = BenchServers(self.root / "testbed")
            servers.start()
            self._servers = servers
        return self._servers

    def workdir(self, name: str) -> Path:
        path = self.root / "work" / f"{next(self._serial):03d}-{name}"
        path.mkdir(parents=True)
        return path

    def spec(self, **extra: Any) -> dict[str, Any]:
        servers = self.servers()
        return {"testbed": str(servers.json_path), "server_pid": servers.pid, **extra}

    def token(self, username: str, kind: str) -> str:
        """A plain access token for the stdlib and floor clients (not the device's)."""
        key = (username, kind)
        if key not in self._tokens:
            self._tokens[key] = self.servers().control().access_token(username, kind)
        return self._tokens[key]

    def close(self) -> None:
        if self._servers is not None:
            self._servers.stop()
            self._servers = None


def _section(module: str, function: str) -> Callable[[BenchRun], list[Figure]]:
    def run(bench: BenchRun) -> list[Figure]:
        import importlib

        measure: Callable[[BenchRun], list[Figure]] = getattr(
            importlib.import_module(f"{__package__}.{module}"), function)
        return measure(bench)

    return run


#: Sections in the order they run: name -> (what it measures, how).
SECTIONS: dict[str, tuple[str, Callable[[BenchRun], list[Figure]]]] = {
    "send": ("Scan to E-mail throughput, device vs smtplib vs floor", _section("mail", "measure_send")),
    "drain": ("POP drain, device vs poplib vs floor", _section("mail", "measure_drain")),
    "token": ("first Get Token of a fresh device; warm flow; silent refresh",
              _section("tokens", "measure")),
    "startup": ("process start → console answers", _section("startup", "measure")),
    "memory": ("memory per idle device with 3 tokens", _section("memory", "measure")),
    "backlog": ("job submit → NVRAM durable with a backlog", _section("backlog", "measure")),
    "history": ("POP poll with nothing new and a long history", _section("history", "measure")),
    "panel": ("panel start and token change → screen", _section("panel", "measure")),
    "web": ("the web page in headless Chromium", _section("web", "measure")),
    "refresh": ("refresh requests per hour at token lifetimes 30 s, 300 s, 3600 s",
                _section("refresh", "measure")),
}


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(mode: str = "full", json_path: Path | None = None, only: list[str] | None = None) -> int:
    """Run the sections (all, or `only`); 0 when every section measured, 1 otherwise."""
    if mode not in SIZES:
        raise BenchError(f"unknown size {mode!r}: one of {', '.join(SIZES)}")
    names = list(only) if only else list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise BenchError(f"unknown section(s) {', '.join(unknown)}: choose from "
                         f"{', '.join(SECTIONS)}")
    figures: list[Figure] = []
    failed: list[str] = []
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="mfp-bench-") as tmp:
        run = BenchRun(SIZES[mode], Path(tmp))
        try:
            for name in names:
                what, measure = SECTIONS[name]
                print(f"measuring {name}: {what} …", file=sys.stderr, flush=True)
                try:
                    figures += measure(run)
                except (BenchError, OSError, TimeoutError, ValueError, AssertionError) as exc:
                    failed.append(name)
                    print(f"section {name} failed: {exc}", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)
        finally:
            run.close()
    print(f"machine: {machine()}")
    print(f"revision: {revision()}; sizes: {mode}; load average before {load_before}, "
          f"after {_load()} (other work on the machine skews every figure)")
    print(table(figures))
    if json_path is not None:
        to_json(figures, json_path)
        print(f"json: {json_path}")
    if failed:
        print(f"sections that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
