"""Token figures of issue 9, measured outside the test suite: `python -m mfp_sim.tools.bench_tokens`.

* **first Get Token of a fresh device**: a new device (its own NVRAM folder, key, trust store and
  token stores) is built and started in a process where the bench already runs; the time from
  [Get Token] to Retrieved (device-code request, approval, `clock.advance(5)`, one poll, the
  token accepted and sealed in NVRAM), on the virtual clock. The first device of the process is
  reported apart: it also pays for what the process builds once (the TLS context of a trust
  store, imports warmed up).
* **memory per idle device with 3 retrieved tokens**: N devices in one process, each holding
  retrieved tokens in its three stores; the growth of the process's resident memory (RSS,
  which counts OpenSSL's contexts, unlike tracemalloc) divided by N, after a garbage
  collection, and the Python-only share from tracemalloc. The bench's identity provider runs
  in the same process, so its side of any connection a device keeps open is counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.testbed import Testbed

__all__ = ["main"]

ALICE = "alice@example.test"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("step did not finish in time")
        await asyncio.sleep(0)


async def _obtain(device: Device, bench: Testbed, clock: VirtualClock, store: str) -> float:
    await device.api.set(f"{store}.provider", "local")
    await device.api.set(f"{store}.account", ALICE)
    t0 = time.perf_counter()
    prompt = await device.api.get_token(store)
    bench.idp.approve(prompt.user_code, ALICE)
    await clock.advance(5)
    st = device.stores[store]
    await _until(lambda: st.state is TokenState.RETRIEVED)
    return (time.perf_counter() - t0) * 1000


async def _first_get_token(bench: Testbed, clock: VirtualClock, root: Path, rounds: int,
                           ) -> tuple[float, list[float]]:
    times: list[float] = []
    for i in range(rounds + 1):
        device = bench.make_device(root / f"fresh{i}")
        await device.start()
        times.append(await _obtain(device, bench, clock, "smtp"))
        await device.stop()
    return times[0], times[1:]


async def _memory(bench: Testbed, clock: VirtualClock, root: Path, count: int,
                  ) -> tuple[float, float]:
    devices: list[Device] = []
    warm = bench.make_device(root / "warm")  # imports and first-use caches out of the figure
    await warm.start()
    for store in warm.api.store_names():
        await _obtain(warm, bench, clock, store)
    gc.collect()
    await asyncio.sleep(0.2)
    rss0 = _rss()
    tracemalloc.start()
    py0 = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        device = bench.make_device(root / f"m{i}")
        await device.start()
        for store in device.api.store_names():
            await _obtain(device, bench, clock, store)
        devices.append(device)
    await asyncio.sleep(0.2)
    gc.collect()
    py1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss1 = _rss()
    for device in [warm, *devices]:
        await device.stop()
    return (rss1 - rss0) / count / 2**20, (py1 - py0) / count / 2**20


async def _run(rounds: int, count: int) -> None:
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with Testbed(root / "bench", clock, mail=False) as bench:
            first, rest = await _first_get_token(bench, clock, root, rounds)
            rss, py = await _memory(bench, clock, root, count)
    print(f"first Get Token, first device of the process: {first:.1f} ms")
    print(f"first Get Token of a fresh device (median of {len(rest)}): "
          f"{statistics.median(rest):.1f} ms (min {min(rest):.1f}, max {max(rest):.1f}); goal < 30 ms")
    print(f"memory per idle device with 3 retrieved tokens ({count} devices): RSS {rss:.2f} MiB, "
          f"Python objects {py:.2f} MiB; goal < 1 MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--devices", type=int, default=20)
    args = parser.parse_args(argv)
    asyncio.run(_run(args.rounds, args.devices))


if __name__ == "__main__":
    main()
