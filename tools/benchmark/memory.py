"""Memory per idle device holding 3 retrieved tokens, many devices in one process.

One client process builds devices on one shared virtual clock, each with its own NVRAM, and
gets the three tokens of each (SMTP, Internet Fax and E-mail Print) from the bench IdP in its own
process. The first device is a warm-up: what the first one costs once (imports, the first
TLS and msal structures, worker threads) is not a per-device cost. Then:

- RSS: resident memory after `N` more devices minus before, divided by `N`. RSS sees memory
  that Python's tracer does not (OpenSSL's certificate stores and contexts, SQLite's caches).
- tracemalloc: Python allocations still held after `M` more devices, divided by `M`; measured
  after the RSS part, since tracing itself costs memory.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import workers
from .drive import STORE_ACCOUNTS, BenchDevice
from .figures import Figure
from .measure import rss_bytes
from .servers import Control

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["idle_devices", "measure"]

MB = 1_000_000


async def idle_devices(spec: dict[str, Any]) -> dict[str, Any]:
    info = json.loads(Path(spec["testbed"]).read_text(encoding="utf-8"))
    approve = Control(info).approve
    root, stores = Path(spec["dir"]), list(STORE_ACCOUNTS)
    devices: list[BenchDevice] = []

    async def one_more() -> None:
        clock = devices[0].clock if devices else None
        bench = BenchDevice(root / f"device{len(devices)}", info, clock)
        devices.append(bench)
        await bench.start()
        for store in stores:
            await bench.use_bench(store)
        await bench.get_tokens(stores, approve)

    try:
        await one_more()  # warm-up
        gc.collect()
        rss0 = rss_bytes()
        for _ in range(int(spec["devices"])):
            await one_more()
        gc.collect()
        rss1 = rss_bytes()
        tracemalloc.start()
        traced0 = tracemalloc.get_traced_memory()[0]
        for _ in range(int(spec["traced"])):
            await one_more()
        gc.collect()
        traced1 = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        for bench in devices:
            await bench.stop()
    return {"rss": (rss1 - rss0) / int(spec["devices"]),
            "traced": (traced1 - traced0) / int(spec["traced"])}


def measure(run: BenchRun) -> list[Figure]:
    n, m = run.sizes.devices, run.sizes.traced
    result = workers.run("memory.idle", run.spec(dir=str(run.workdir("memory")), devices=n,
                                                 traced=m))
    return [
        Figure("memory.rss_per_device", "memory per idle device with 3 retrieved tokens (RSS, "
               "many in one process)", result["rss"] / MB, "MB",
               f"RSS delta over {n} devices after a warm-up device"),
        Figure("memory.traced_per_device", "Python allocations per such device (tracemalloc)",
               result["traced"] / MB, "MB", f"over {m} devices; OpenSSL and SQLite not included"),
    ]
