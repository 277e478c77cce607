"""First Get Token of a freshly started device, and the warm figures after it.

Each sample is a new process: imports done, device powered on, the SMTP setting pointed at
the bench provider (not timed); then [Get Token] → code shown, the person approves at once
(through the IdP's control API; not timed, it is the person's step), the device clock moves
5 s, the device's poll fetches the token and stores it: until the store reads Retrieved. That
first press pays everything a fresh device pays once: the msal application, OIDC discovery,
the first TLS contexts and handshakes. The same process then measures warm rounds (Clear, Get
Token again) and silent refreshes (refresh_token grant), which the old in-process figures
showed. The servers run in their own process throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import workers
from .drive import SMTP_STORE, BenchDevice
from .figures import Figure
from .measure import median, stopwatch
from .servers import Control

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["first_token", "measure"]


async def first_token(spec: dict[str, Any]) -> dict[str, Any]:
    import json

    info = json.loads(Path(spec["testbed"]).read_text(encoding="utf-8"))
    approve = Control(info).approve
    bench = BenchDevice(Path(spec["dir"]), info)
    await bench.start()
    try:
        await bench.use_bench(SMTP_STORE)
        first = await bench.get_token(SMTP_STORE, approve)
        warm, refresh = [], []
        for _ in range(int(spec["warm_rounds"])):
            await bench.clear_token(SMTP_STORE)
            warm.append((await bench.get_token(SMTP_STORE, approve)).wall)
        for _ in range(int(spec["warm_rounds"])):
            with stopwatch() as span:
                await bench.refresh_token(SMTP_STORE)
            refresh.append(span.wall)
    finally:
        await bench.stop()
    return {"first": first.wall, "first_cpu": first.cpu, "warm": warm, "refresh": refresh}


def measure(run: BenchRun) -> list[Figure]:
    results = [workers.run("token.first", run.spec(dir=str(run.workdir("token")),
                                                     warm_rounds=run.sizes.warm_rounds))
               for _ in range(run.sizes.token_runs)]
    first = [r["first"] * 1000 for r in results]
    warm = [w * 1000 for r in results for w in r["warm"]]
    refresh = [w * 1000 for r in results for w in r["refresh"]]
    cpu = median([r["first_cpu"] * 1000 for r in results])
    n = len(results)
    return [
        Figure("token.first", "first Get Token → Retrieved of a fresh device (virtual clock, "
               "approval at once)", median(first), "ms",
               f"median of {n} fresh processes ({min(first):.0f}–{max(first):.0f} ms); "
               f"client CPU {cpu:.1f} ms"),
        Figure("token.warm", "Get Token → Retrieved again (warm: after Clear)", median(warm),
               "ms", f"median of {len(warm)}"),
        Figure("token.refresh", "silent refresh (refresh_token grant over HTTPS)",
               median(refresh), "ms", f"median of {len(refresh)}"),
    ]
