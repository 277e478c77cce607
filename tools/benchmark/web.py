"""The device's web page in a headless Chromium: `tools/bench_web.py`'s two figures as a
section of `make bench` (login → token page loaded; token event → label updated).

That module runs the device, its web server and the bench in one process and drives a real
browser (Debian's chromium and chromedriver, `make browser-deps`); what it times is the
browser and the device's own web server, which no bench server enters. Without a browser the
section measures nothing and says why.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from .figures import Figure
from .servers import BenchError

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["measure"]


def measure(run: BenchRun) -> list[Figure]:
    from mfp_sim.tools.bench_web import bench_web

    measured = asyncio.run(bench_web(quick=run.sizes.web_quick))
    figures = [Figure(f.key, f.name, f.value, f.unit, f.note) for f in measured if f.key]
    skipped = [f.note for f in measured if not f.key]
    if skipped:
        print(f"web: {'; '.join(skipped)}", file=sys.stderr)
    if not figures and not skipped:
        raise BenchError("the web page's benchmark returned no figure")
    return figures
