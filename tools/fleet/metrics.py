"""What a fleet counts, in forms that add up across shards and subtract across time.

Every shard keeps *cumulative* counters and latency histograms and hands out a snapshot
(`ShardSample`, plain JSON so it crosses Ray and lands in report.json as it is). The
coordinator adds the shards' snapshots taken at the same moment (`merge`) and subtracts
consecutive ones for rates and per-interval percentiles (`Histogram.minus`). Histograms have
fixed logarithmic buckets (10 per decade, 100 µs to 1,000 s), so two of them add bucket by
bucket and a percentile is read to within a tenth of a decade (about ±12 %).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Histogram", "merge", "nested_add", "flatten_counts"]

_LOW = 1e-4
_PER_DECADE = 10
_BUCKETS = 7 * _PER_DECADE + 2  # under 100 µs, 7 decades, over 1,000 s


class Histogram:
    """Counts of durations (seconds) in logarithmic buckets."""

    __slots__ = ("counts",)

    def __init__(self, counts: Iterable[int] | None = None) -> None:
        self.counts = list(counts) if counts is not None else [0] * _BUCKETS
        if len(self.counts) != _BUCKETS:
            raise ValueError(f"a histogram has {_BUCKETS} buckets, not {len(self.counts)}")

    @staticmethod
    def bucket(seconds: float) -> int:
        if seconds < _LOW:
            return 0
        index = math.floor(math.log10(seconds / _LOW) * _PER_DECADE) + 1
        return min(index, _BUCKETS - 1)

    @staticmethod
    def upper(index: int) -> float:
        """The upper edge of a bucket (what a percentile in it is reported as)."""
        return float(_LOW * 10 ** (index / _PER_DECADE))

    def add(self, seconds: float) -> None:
        self.counts[self.bucket(seconds)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts)

    def percentile(self, p: float) -> float | None:
        total = self.total
        if total == 0:
            return None
        rank = p / 100 * total
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return self.upper(index)
        return self.upper(_BUCKETS - 1)

    def plus(self, other: Histogram) -> Histogram:
        return Histogram(a + b for a, b in zip(self.counts, other.counts, strict=True))

    def minus(self, other: Histogram) -> Histogram:
        return Histogram(max(0, a - b) for a, b in zip(self.counts, other.counts, strict=True))

    def to_json(self) -> list[int]:
        return list(self.counts)

    @classmethod
    def from_json(cls, data: Iterable[int] | None) -> Histogram:
        return cls(data) if data is not None else cls()

    def summary(self) -> dict[str, float | int | None]:
        return {"count": self.total, "p50": self.percentile(50), "p90": self.percentile(90),
                "p99": self.percentile(99), "max": self.percentile(100)}


def nested_add(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Add `other` into `into`: numbers add, dicts recurse, lists (histograms) add element-wise."""
    for key, value in other.items():
        if isinstance(value, Mapping):
            into[key] = nested_add(dict(into.get(key, {})), value)
        elif isinstance(value, list):
            mine = into.get(key)
            into[key] = list(value) if mine is None else [a + b for a, b in zip(mine, value,
                                                                                strict=True)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
        else:
            into.setdefault(key, value)
    return into


#: Sample fields that are about one shard (its process), kept apart rather than added.
PER_SHARD = ("shard", "cpu_s", "rss", "threads", "fds", "lag", "lag_max", "nvram_bytes", "wall",
             "t", "settle_timeouts", "admit")


def merge(samples: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet's sample at one moment: shard samples added, per-shard figures kept apart."""
    total: dict[str, Any] = {}
    shards: list[dict[str, Any]] = []
    for sample in samples:
        shards.append({k: sample[k] for k in PER_SHARD if k in sample})
        nested_add(total, {k: v for k, v in sample.items() if k not in PER_SHARD})
    total["shards"] = shards
    return total


def flatten_counts(tree: Mapping[str, Any], prefix: str = "") -> Counter[str]:
    """{"a": {"b": 2}} → {"a.b": 2}: a counter tree as flat names (for tables and JSON diffs)."""
    out: Counter[str] = Counter()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_counts(value, name + "."))
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] += value
    return out
