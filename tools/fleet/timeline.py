"""The events file: what happens to the fleet, and when. One event per line, `#` for comments:

    power_cut    at=10m fraction=0.3 [for=30s]      that share of devices lose power at once,
                                                    and come back `for` later (default 0 s)
    network_down at=15m site=3 for=5m               a site's devices cannot reach any server
    revoke       at=20m fraction=0.1                the tenant admin revokes those devices'
                                                    accounts (every store's)
    idp_fault    throttled at=25m for=2m [retry_after=1] [phases=idp.refresh,idp.device_poll]
    mail_fault   pop_in_use at=30m for=1m          any fault of the bench's catalogue
                                                    (docs/faults.md), armed for everyone
    poll_round   at=40m                             every POP setting of every device that
                                                    has power checks its mailbox now, at once

Times are fleet time from power-on: `90s`, `10m`, `2h`, `1h30m` or plain seconds; `at` defaults
to 0 and a fault without `for` stays armed to the end. `at=ready+2m` is two minutes after every
device first had all its tokens (however long the bring-up took). `count=N` may replace `fraction=F`.
Which devices an event hits is drawn from the profile's seed and the event's line, so the same
files pick the same devices however the fleet is split into shards.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TimelineError

__all__ = ["Timeline", "FleetEvent", "PowerCut", "NetworkDown", "Revoke", "Fault", "PollRound",
           "duration", "EVENT_KINDS"]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
#: The longest fleet time an event may name (a year).
MAX_TIME = 365 * 86400.0


def duration(text: str) -> float:
    """`90s`, `10m`, `2h`, `1h30m` or plain seconds, as seconds; ValueError otherwise."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        found = _DURATION.match(value)
        if not value or found is None or not any(found.groups()):
            raise ValueError(f"{text!r} is not a duration: use e.g. 90s, 10m, 2h, 1h30m") from None
        h, m, s = (float(g or 0) for g in found.groups())
        seconds = h * 3600 + m * 60 + s
    if not 0 <= seconds <= MAX_TIME:
        raise ValueError(f"{text!r}: a duration from 0 to one year")
    return seconds


@dataclass(frozen=True)
class FleetEvent:
    at: float
    line: int = field(default=0, compare=False)
    after_ready: bool = field(default=False, kw_only=True)

    kind = "event"

    def pick(self, total: int, seed: int, share: float | None, count: int | None) -> list[int]:
        """The device numbers this event hits, the same for every shard layout."""
        wanted = count if count is not None else round((share or 0.0) * total)
        wanted = max(0, min(total, wanted))
        rng = random.Random(f"{seed}:{self.line}:{self.kind}")
        return sorted(rng.sample(range(1, total + 1), wanted))

    def describe(self) -> str:
        return f"{self.kind} at {self.when()}"

    def when(self) -> str:
        return f"ready+{self.at:g} s" if self.after_ready else f"{self.at:g} s"


@dataclass(frozen=True)
class PowerCut(FleetEvent):
    fraction: float | None = None
    count: int | None = None
    off_for: float = 0.0
    kind = "power_cut"

    def devices(self, total: int, seed: int) -> list[int]:
        return self.pick(total, seed, self.fraction, self.count)

    def describe(self) -> str:
        share = f"{self.fraction:g} of the devices" if self.count is None else f"{self.count} devices"
        return f"power cut at {self.when()}: {share}, back after {self.off_for:g} s"


@dataclass(frozen=True)
class NetworkDown(FleetEvent):
    site: int = 1
    duration: float = 0.0
    kind = "network_down"

    def describe(self) -> str:
        return f"network down at site {self.site} from {self.when()} for {self.duration:g} s"


@dataclass(frozen=True)
class Revoke(FleetEvent):
    fraction: float | None = None
    count: int | None = None
    kind = "revoke"

    def devices(self, total: int, seed: int) -> list[int]:
        return self.pick(total, seed, self.fraction, self.count)

    def describe(self) -> str:
        share = f"{self.fraction:g} of the devices" if self.count is None else f"{self.count} devices"
        return f"accounts revoked at {self.when()}: {share}"


@dataclass(frozen=True)
class PollRound(FleetEvent):
    #: This round's admission limit per shard (`--admit` when not given).
    admit: int | None = None
    kind = "poll_round"

    def describe(self) -> str:
        return f"synchronised poll round at {self.when()}"


@dataclass(frozen=True)
class Fault(FleetEvent):
    name: str = ""
    duration: float | None = None
    phases: tuple[str, ...] | None = None
    options: tuple[tuple[str, float], ...] = ()
    kind = "fault"

    def arm_body(self) -> dict[str, object]:
        body: dict[str, object] = {"name": self.name, **dict(self.options)}
        if self.phases is not None:
            body["phases"] = list(self.phases)
        return body

    def describe(self) -> str:
        until = f"for {self.duration:g} s" if self.duration is not None else "to the end"
        return f"fault {self.name} from {self.when()} {until}"


#: The words of the events file, and which fields each takes (besides `at`).
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "power_cut": ("fraction", "count", "for"),
    "network_down": ("site", "for"),
    "revoke": ("fraction", "count"),
    "idp_fault": ("for", "phases", "<option>"),
    "mail_fault": ("for", "phases", "<option>"),
    "poll_round": ("admit",),
}
_EXAMPLES = {
    "power_cut": "power_cut at=10m fraction=0.3 for=30s",
    "network_down": "network_down at=15m site=3 for=5m",
    "revoke": "revoke at=20m fraction=0.1",
    "idp_fault": "idp_fault throttled at=25m for=2m",
    "mail_fault": "mail_fault pop_in_use at=30m for=1m",
    "poll_round": "poll_round at=40m",
}


@dataclass(frozen=True)
class Timeline:
    events: tuple[FleetEvent, ...] = ()
    source: str = "(none)"

    @classmethod
    def load(cls, path: Path) -> Timeline:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TimelineError(f"cannot read the events file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise TimelineError(f"{path} is not a text file (UTF-8)") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "events") -> Timeline:
        events = [_event(source, number, line) for number, line in enumerate(text.splitlines(), 1)
                  if line.split("#", 1)[0].strip()]
        return cls(tuple(sorted(events, key=lambda e: (e.after_ready, e.at, e.line))), source)

    def __iter__(self) -> Iterator[FleetEvent]:
        return iter(self.events)

    def end(self) -> float:
        """When the last event is over (a fault without `for` counts as its start)."""
        ends = [0.0]
        for e in self.events:
            span = getattr(e, "duration", None) or getattr(e, "off_for", 0.0) or 0.0
            ends.append(e.at + span)
        return max(ends)

    def needs_bench(self) -> list[FleetEvent]:
        """Events only the bench's control API can carry out."""
        return [e for e in self.events if isinstance(e, (Revoke, Fault))]


def _event(source: str, number: int, line: str) -> FleetEvent:
    where = f"{source} line {number}"
    words = line.split("#", 1)[0].split()
    word = words[0]
    if word not in EVENT_KINDS:
        raise TimelineError(f"{where}: {word!r} is not an event; events: "
                            f"{', '.join(EVENT_KINDS)} (e.g. {_EXAMPLES['power_cut']})")
    example = _EXAMPLES[word]
    rest = words[1:]
    name = ""
    if word in ("idp_fault", "mail_fault"):
        if not rest or "=" in rest[0]:
            raise TimelineError(f"{where}: {word} needs a fault name from the bench's catalogue "
                                f"(docs/faults.md), e.g. {example}")
        name, rest = rest[0], rest[1:]
    fields: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise TimelineError(f"{where}: {item!r} is not key=value, e.g. {example}")
        if key in fields:
            raise TimelineError(f"{where}: {key} is given twice")
        fields[key] = value
    allowed = ("at", *EVENT_KINDS[word])
    if "<option>" not in allowed:
        extra = sorted(set(fields) - set(allowed))
        if extra:
            raise TimelineError(f"{where}: {word} takes no {extra[0]}=; it takes "
                                f"{', '.join(allowed)} (e.g. {example})")
    try:
        when = fields.pop("at", "0")
        ready = when == "ready" or when.startswith("ready+")
        at = duration(when.removeprefix("ready").removeprefix("+") or "0") if ready else duration(when)
        if word in ("power_cut", "revoke"):
            fraction, count = _share(fields, example)
            if word == "revoke":
                return Revoke(at, number, fraction, count, after_ready=ready)
            return PowerCut(at, number, fraction, count, duration(fields.pop("for", "0")),
                            after_ready=ready)
        if word == "poll_round":
            admit = fields.get("admit")
            if admit is not None and (not admit.isdigit() or int(admit) < 1):
                raise ValueError(f"admit must be a whole number from 1, not {admit!r}")
            return PollRound(at, number, after_ready=ready,
                             admit=int(admit) if admit is not None else None)
        if word == "network_down":
            if "site" not in fields or "for" not in fields:
                raise ValueError(f"network_down needs site=K and for=D, e.g. {example}")
            site = int(fields["site"]) if fields["site"].isdigit() else 0
            if site < 1:
                raise ValueError(f"site must be a site number from 1 (the profile's [fleet] sites), "
                                 f"not {fields['site']!r}")
            return NetworkDown(at, number, site, duration(fields["for"]), after_ready=ready)
        span = duration(fields.pop("for")) if "for" in fields else None
        phases = tuple(p for p in fields.pop("phases").split(",") if p) if "phases" in fields else None
        options = tuple((k, _option(k, v)) for k, v in sorted(fields.items()))
        return Fault(at, number, name, span, phases, options, after_ready=ready)
    except ValueError as exc:
        raise TimelineError(f"{where}: {exc}") from None


def _share(fields: dict[str, str], example: str) -> tuple[float | None, int | None]:
    if ("fraction" in fields) == ("count" in fields):
        raise ValueError(f"give fraction=F (0 < F <= 1) or count=N, one of them, e.g. {example}")
    if "count" in fields:
        if not fields["count"].isdigit() or int(fields["count"]) < 1:
            raise ValueError(f"count must be a whole number from 1, not {fields['count']!r}")
        return None, int(fields["count"])
    try:
        fraction = float(fields["fraction"])
    except ValueError:
        fraction = -1.0
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number above 0 and at most 1, not "
                         f"{fields['fraction']!r}")
    return fraction, None


def _option(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{key}={value}: a fault option is a number (docs/faults.md lists each "
                         "fault's options)") from None
