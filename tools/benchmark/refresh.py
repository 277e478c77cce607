"""Refresh requests per hour of one retrieved token store at access-token lifetimes of 30 s,
300 s and 3600 s (`tools/bench_refresh.py`, issue 8): the device's schedule as the identity
provider counts it. One device and the bench's identity provider in this process, on a virtual
clock moved through an hour; no bench server process is involved.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .figures import Figure

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["measure"]


def measure(run: BenchRun) -> list[Figure]:
    from mfp_sim.tools.bench_refresh import bench_refresh, expected

    return [Figure(f.key, f"refresh requests per hour, {f.lifetime} s tokens ({f.profile})",
                   float(f.requests), "requests",
                   f"schedule predicts {expected(f.lifetime)}; store {f.state}")
            for f in asyncio.run(bench_refresh())]
