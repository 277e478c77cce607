"""What the benchmark reports: figures, the goals they are held to, and the two outputs (the
printed Markdown table and the JSON list a script reads).

The goals are issue 9's table, kept here as data (`GOALS`, one row per figure key) so that
`met` is computed in one place and the table, the JSON file and docs/bench.md agree.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Figure", "Goal", "GOALS", "table", "to_json", "machine", "revision"]


@dataclass(frozen=True)
class Goal:
    """A bound a figure should keep: `op` is one of < <= > >=."""

    op: str
    limit: float

    _SIGNS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}

    def __post_init__(self) -> None:
        if self.op not in self._SIGNS:
            raise ValueError(f"goal operator {self.op!r}: one of {', '.join(self._SIGNS)}")

    def text(self, unit: str) -> str:
        return f"{self._SIGNS[self.op]} {self.limit:g} {unit}"

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return {"<": value < self.limit, "<=": value <= self.limit,
                ">": value > self.limit, ">=": value >= self.limit}[self.op]


#: Issue 9's goals (and the panel's older ones): figure key -> (goal, moonshot).
GOALS: dict[str, tuple[Goal, Goal | None]] = {
    "send.ratio": (Goal(">=", 0.9), Goal(">=", 0.95)),
    "drain.ratio": (Goal(">=", 0.9), Goal(">=", 1.0)),
    "send.cpu_vs_floor": (Goal("<=", 2.0), Goal("<=", 1.5)),
    "drain.cpu_vs_floor": (Goal("<=", 2.0), Goal("<=", 1.5)),
    "token.first": (Goal("<", 30), Goal("<", 20)),
    "startup.console": (Goal("<", 450), Goal("<", 350)),
    "memory.rss_per_device": (Goal("<", 1.0), Goal("<", 0.5)),
    "backlog.flatness": (Goal("<=", 1.2), None),
    "history.quiet_poll": (Goal("<", 20), None),
    "panel.start": (Goal("<", 1500), None),
    "panel.token_shown": (Goal("<", 100), None),
    "web.login": (Goal("<", 1000), None),
    "web.token_shown": (Goal("<", 200), None),
    # issue 8: at most two refresh requests per token lifetime (3600 s / L * 2)
    "refresh.per_hour_30s": (Goal("<=", 240), None),
    "refresh.per_hour_300s": (Goal("<=", 24), None),
    "refresh.per_hour_3600s": (Goal("<=", 2), None),
}


@dataclass(frozen=True)
class Figure:
    """One measured figure. `key` is stable (scripts, goals); `name` is for people."""

    key: str
    name: str
    value: float
    unit: str
    note: str = ""

    @property
    def goal(self) -> Goal | None:
        row = GOALS.get(self.key)
        return row[0] if row else None

    @property
    def moonshot(self) -> Goal | None:
        row = GOALS.get(self.key)
        return row[1] if row else None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value)

    @property
    def moonshot_met(self) -> bool | None:
        return None if self.moonshot is None else self.moonshot.met(self.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "goal": self.goal.text(self.unit) if self.goal else None,
            "met": self.met,
            "moonshot": self.moonshot.text(self.unit) if self.moonshot else None,
            "moonshot_met": self.moonshot_met,
            "key": self.key,
            "note": self.note,
        }


def _value(f: Figure) -> str:
    if math.isnan(f.value):
        return "n/a"
    digits = 0 if abs(f.value) >= 100 else 2
    unit = "" if f.unit == "×" else f" {f.unit}"
    sign = " ×" if f.unit == "×" else ""
    return f"{f.value:,.{digits}f}{unit}{sign}"


def _yes(flag: bool | None) -> str:
    return "—" if flag is None else ("yes" if flag else "**no**")


def table(figures: list[Figure]) -> str:
    """A Markdown table, as docs/bench.md shows it."""
    lines = ["| figure | value | goal | met | moonshot | met | note |",
             "|---|---|---|---|---|---|---|"]
    for f in figures:
        goal = f.goal.text(f.unit) if f.goal else "—"
        moon = f.moonshot.text(f.unit) if f.moonshot else "—"
        lines.append(f"| {f.name} | {_value(f)} | {goal} | {_yes(f.met)} | {moon} | "
                     f"{_yes(f.moonshot_met)} | {f.note} |")
    return "\n".join(lines)


def to_json(figures: list[Figure], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([f.as_json() for f in figures], indent=2, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    tmp.replace(path)


def machine() -> str:
    """CPU model, cores this process may use, RAM, Python and OS: what a figure depends on."""
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{model}, {cores} cores (nproc){ram}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def revision() -> str:
    if not shutil.which("git"):
        return "unknown"
    here = Path(__file__).resolve().parent
    out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"
