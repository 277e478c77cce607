"""`make bench`: speed and memory figures, printed as a table with the goals beside them.

Figures are measured here and never asserted in tests (a loaded CI machine must not fail the
suite). Each figure is the median of several runs, on the machine it runs on; docs/bench.md
records a run with that machine's description.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.testbed import Testbed

__all__ = ["main", "Figure"]


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: str
    met: bool | None
    note: str = ""


async def _until(predicate: Callable[[], bool], timeout: float = 10.0, pause: float = 0.0) -> None:
    """Wait (real time, bounded) for a step's effect; `pause` between looks (0: every loop turn)."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        await asyncio.sleep(pause)


async def _bench_tokens(rounds: int) -> list[Figure]:
    """Device flow with immediate approval, and silent refresh, in-process on the virtual clock."""
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with Testbed(Path(tmp) / "bench", clock) as bench:
            device = bench.make_device(Path(tmp) / "dev")
            await device.start()
            store = device.stores["smtp"]
            await device.api.set("smtp.account", "alice@example.test")
            flows: list[float] = []
            for i in range(rounds + 2):
                await store.clear()
                t0 = time.perf_counter()
                prompt = await store.get_token()
                bench.idp.approve(prompt.user_code, "alice@example.test")
                await clock.advance(5)
                await _until(lambda: store.state is TokenState.RETRIEVED)
                if i >= 2:  # the first rounds warm up msal's discovery and TLS sessions
                    flows.append((time.perf_counter() - t0) * 1000)
            refreshes: list[float] = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await store.refresh()
                refreshes.append((time.perf_counter() - t0) * 1000)
            assert store.state is TokenState.RETRIEVED
            await device.stop()
    flow = statistics.median(flows)
    refresh = statistics.median(refreshes)
    return [
        Figure("device flow, Get Token → Retrieved (immediate approval, virtual clock)", flow, "ms",
               "< 50 ms", flow < 50, f"median of {len(flows)}"),
        Figure("silent refresh (refresh_token grant over HTTPS)", refresh, "ms", "< 20 ms",
               refresh < 20, f"median of {len(refreshes)}"),
    ]


def _bench_startup(rounds: int) -> list[Figure]:
    """From process start to a console that answers a command."""
    exe = str(Path(sys.executable).parent / "mfp-sim")
    times: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc = subprocess.Popen([exe, "device", "--nvram", tmp, "--clock", "virtual",
                                     "--console", "tcp:127.0.0.1:0"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                port = int(line.strip().rsplit(":", 1)[1])
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"clock\n")
                    data = b""
                    while b"OK" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            raise RuntimeError("console closed")
                        data += chunk
                times.append((time.perf_counter() - t0) * 1000)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    value = statistics.median(times)
    return [Figure("process start → console answers (mfp-sim device)", value, "ms", "< 1000 ms",
                   value < 1000, f"median of {len(times)}")]


def _mail(quick: bool) -> Awaitable[list[Figure]]:
    from .bench_mail import bench_mail

    return bench_mail(quick)


def _panel(quick: bool) -> Awaitable[list[Figure]]:
    from .bench_panel import bench_panel

    return bench_panel(quick)


SECTIONS: list[tuple[str, Callable[[bool], Awaitable[list[Figure]] | list[Figure]]]] = [
    ("tokens", lambda quick: _bench_tokens(10 if quick else 30)),
    ("startup", lambda quick: _bench_startup(3 if quick else 7)),
    ("mail", _mail),
    ("panel", _panel),
]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def _table(figures: list[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    lines = [f"| {'figure':<{width}} | {'value':>12} | {'goal':<12} | met | note",
             f"|{'-' * (width + 2)}|{'-' * 14}|{'-' * 14}|-----|------"]
    for f in figures:
        met = "—" if f.met is None else ("yes" if f.met else "NO")
        value = f"{f.value:,.2f} {f.unit}" if f.value < 100 else f"{f.value:,.0f} {f.unit}"
        lines.append(f"| {f.name:<{width}} | {value:>12} | {f.goal:<12} | {met:<3} | {f.note}")
    return "\n".join(lines)


def main(quick: bool = False) -> None:
    figures: list[Figure] = []
    for name, run in SECTIONS:
        print(f"measuring {name} …", file=sys.stderr, flush=True)
        result = run(quick)
        figures += asyncio.run(result) if asyncio.iscoroutine(result) else result  # type: ignore[arg-type]
    print(f"machine: {_machine()}")
    print(_table(figures))
    if shutil.which("git"):
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        print(f"revision: {rev}")
