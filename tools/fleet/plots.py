"""The report's figures, drawn with matplotlib's Agg backend (PNG files, no display needed).

Every figure has fleet time (minutes from power-on) along the bottom, and the timeline's
events drawn over it (a shaded band while a cut, an outage or a fault lasts; a line for an
instant one), so a storm and what it did to the fleet are seen together.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .coordinator import FleetRun
from .errors import FleetSetupError
from .metrics import Histogram

__all__ = ["draw_all"]

#: Device states in the stacked plot, bottom to top, with their colours.
STATE_COLOURS = (("retrieved", "#3a923a"), ("waiting", "#e0b000"),
                 ("not_retrieved", "#9a9a9a"), ("invalid", "#c0392b"), ("off", "#222222"))
EVENT_COLOURS = {"power_cut": "#555555", "network_down": "#1f77b4", "revoke": "#c0392b",
                 "fault": "#ff7f0e"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise FleetSetupError("the report's plots need matplotlib: pip install 'mfp-sim[fleet]'") \
            from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _minutes(series: Sequence[dict[str, Any]]) -> list[float]:
    return [s["t"] / 60 for s in series]


def _rates(series: Sequence[dict[str, Any]], value: Any) -> tuple[list[float], list[float]]:
    """Per-second rate of a cumulative value between consecutive samples (at the later one)."""
    xs, ys = [], []
    for before, after in itertools.pairwise(series):
        dt = after["t"] - before["t"]
        if dt > 0:
            xs.append(after["t"] / 60)
            ys.append(max(0.0, (value(after) - value(before)) / dt))
    return xs, ys


def _events(ax: Any, run: FleetRun) -> None:
    for event in run.events:
        colour = EVENT_COLOURS.get(event["kind"], "#888888")
        start, end = event["t"] / 60, event["until"] / 60
        if end > start:
            ax.axvspan(start, end, color=colour, alpha=0.12, lw=0)
        ax.axvline(start, color=colour, lw=1, ls="--", alpha=0.8)
        ax.annotate(event["kind"], (start, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -10), textcoords="offset points", fontsize=7, color=colour)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.clf()
    return path


def _states(plt: Any, run: FleetRun, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.8))
    xs = _minutes(run.series)
    layers = [[s.get("device_states", {}).get(name, 0) for s in run.series]
              for name, _ in STATE_COLOURS]
    ax.stackplot(xs, layers, labels=[n.replace("_", " ") for n, _ in STATE_COLOURS],
                 colors=[c for _, c in STATE_COLOURS], alpha=0.9, step="post")
    _events(ax, run)
    ax.set_xlabel("fleet time (minutes)")
    ax.set_ylabel("devices")
    ax.set_title("Devices by token state (a device counts as its worst token)")
    ax.set_ylim(0, max(1, run.plan["devices"]) * 1.02)
    ax.legend(loc="lower right", fontsize=8, ncol=5)
    return _save(fig, path)


def _calls(sample: dict[str, Any], kinds: Sequence[str], *, ok: bool | None = None) -> int:
    total = 0
    for kind in kinds:
        for outcome, count in sample.get("idp_requests", {}).get(kind, {}).items():
            if ok is None or (outcome == "ok") == ok:
                total += count
    return total


def _requests(plt: Any, run: FleetRun, path: Path) -> Path:
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for kind, colour in (("device_authorization", "#9467bd"), ("device_poll", "#e0b000"),
                         ("refresh", "#3a923a")):
        xs, ys = _rates(run.series, lambda s, k=kind: _calls(s, [k]))
        top.plot(xs, ys, label=kind.replace("_", " "), color=colour, lw=1.2)
    if run.bench_series:
        xs, ys = _rates(run.bench_series, lambda s: s["token"]["total"]
                        + s["device_authorization"]["total"])
        top.plot(xs, ys, label="all, as the bench counted", color="black", lw=0.8, ls=":")
    top.set_ylabel("requests / s")
    top.set_title("Identity provider: requests per second (devices' side)")
    top.legend(fontsize=8, loc="upper right")
    refused: set[str] = set()
    for sample in run.series:
        for outcomes in sample.get("token_calls", {}).values():
            refused |= {o for o in outcomes if o not in ("ok", "authorization_pending")}
    for outcome in sorted(refused):
        def count(s: dict[str, Any], o: str = outcome) -> int:
            return sum(v.get(o, 0) for v in s.get("token_calls", {}).values())
        xs, ys = _rates(run.series, count)
        middle.plot(xs, ys, label=outcome, lw=1.2)
    middle.set_ylabel("answers / s")
    middle.set_title("Refusals and failures seen by the devices (throttling, outages, revocations)")
    if refused:
        middle.legend(fontsize=8, loc="upper right")
    for proto, colour in (("smtp", "#1f77b4"), ("pop3", "#ff7f0e")):
        xs, ys = _rates(run.series, lambda s, p=proto: s.get("mail_sessions", {}).get(p, 0))
        bottom.plot(xs, ys, label=f"{proto.upper()} sessions", color=colour, lw=1.2)
    jobs_x, jobs_y = _rates(run.series, lambda s: s.get("jobs", {}).get("sent", 0))
    bottom.plot(jobs_x, jobs_y, label="jobs sent", color="#3a923a", lw=1, ls="--")
    bottom.set_ylabel("per second")
    bottom.set_xlabel("fleet time (minutes)")
    bottom.set_title("Mail: sessions per second")
    bottom.legend(fontsize=8, loc="upper right")
    for ax in (top, middle, bottom):
        _events(ax, run)
    return _save(fig, path)


def _percentiles(series: Sequence[dict[str, Any]], name: str, p: float) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for before, after in itertools.pairwise(series):
        h = Histogram.from_json(after.get("hist", {}).get(name)).minus(
            Histogram.from_json(before.get("hist", {}).get(name)))
        value = h.percentile(p)
        xs.append(after["t"] / 60)
        ys.append(value * 1000 if value is not None else math.nan)  # nan: a gap in the line
    return xs, ys


def _latency(plt: Any, run: FleetRun, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for name, colour in (("token", "#3a923a"), ("mail", "#1f77b4")):
        for p, style in ((50, "-"), (99, ":")):
            xs, ys = _percentiles(run.series, name, p)
            if any(not math.isnan(y) for y in ys):
                ax.plot(xs, ys, ls=style, color=colour, lw=1.2, marker=".", ms=3,
                        label=f"{'identity provider call' if name == 'token' else 'mail session'}"
                              f" p{p}")
    _events(ax, run)
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds")
    ax.set_xlabel("fleet time (minutes)")
    ax.set_title("Latency per interval, as the devices saw it (wall time)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def _shards(plt: Any, run: FleetRun, path: Path) -> Path:
    fig, (cpu, mem, lag) = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    count = max((len(s.get("shards", [])) for s in run.series), default=0)
    for i in range(count):
        points = [(s["t"] / 60, s["shards"][i]) for s in run.series if i < len(s.get("shards", []))]
        xs_c, ys_c, xs_l, ys_l = [], [], [], []
        for (_, a), (x, b) in itertools.pairwise(points):
            wall = b.get("wall", 0) - a.get("wall", 0)
            if wall > 0:
                xs_c.append(x)
                ys_c.append(100 * (b.get("cpu_s", 0) - a.get("cpu_s", 0)) / wall)
            p99 = Histogram.from_json(b.get("lag")).minus(Histogram.from_json(a.get("lag"))
                                                          ).percentile(99)
            if p99 is not None:
                xs_l.append(x)
                ys_l.append(p99 * 1000)
        cpu.plot(xs_c, ys_c, lw=1, label=f"shard {i}")
        mem.plot([x for x, _ in points], [p.get("rss", 0) / 2**20 for _, p in points], lw=1,
                 label=f"shard {i}")
        lag.plot(xs_l, ys_l, lw=1, label=f"shard {i}")
    cpu.set_ylabel("CPU % of a core")
    cpu.set_title("Per shard (process): CPU, memory, event-loop lag")
    mem.set_ylabel("RSS (MB)")
    lag.set_ylabel("loop lag p99 (ms)")
    lag.set_xlabel("fleet time (minutes)")
    for ax in (cpu, mem, lag):
        _events(ax, run)
        if count:
            ax.legend(fontsize=7, loc="upper right", ncol=min(count, 6))
    return _save(fig, path)


def draw_all(run: FleetRun, folder: Path) -> dict[str, Path]:
    plt = _pyplot()
    drawn = {"states": _states(plt, run, folder / "states.png"),
             "requests": _requests(plt, run, folder / "requests.png"),
             "latency": _latency(plt, run, folder / "latency.png"),
             "shards": _shards(plt, run, folder / "shards.png")}
    plt.close("all")
    return drawn
