"""The fault board: which catalogue entries are armed, for whom, for how many hits.

One board per bench, shared by the identity provider and the mail server (`Testbed` hands the
IdP's board to the mail server), so one control API (``POST {control_url}/fault``) arms faults on
either. Each server registers its catalogue (``tools.idp.faults.CATALOGUE``,
``tools.mailserver.faults.CATALOGUE``) and, at each point of its protocol where a fault can
strike (a *phase*, like ``idp.refresh`` or ``smtp.auth``), asks the board with `take()`.

An entry names the phases it hits by default and those it may be armed for on request
(``optional_phases``, e.g. ``idp.discovery`` for ``server_error``). An armed fault fires for any
user or one user, until disarmed or for ``count`` hits. The board knows nothing of what a fault
answers: that is the entry's ``answer``, read by the server that registered it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BadControlRequest, UnknownFault

__all__ = ["ArmedFault", "FaultBoard", "FaultEntry", "FaultOption"]


@dataclass(frozen=True)
class FaultOption:
    """An extra number an entry takes when armed (``retry_after``, ``hang_seconds``)."""

    default: float
    low: float
    high: float
    help: str


@dataclass(frozen=True)
class FaultEntry:
    """One row of a fault catalogue (and of docs/faults.md)."""

    name: str
    #: Where it strikes unless told otherwise: ``<target>.<phase>`` (``idp.refresh``).
    phases: tuple[str, ...]
    #: One line: the real situation it reproduces.
    description: str
    #: What goes on the wire, exactly as docs/faults.md shows it.
    wire: str
    #: Where the wording comes from.
    source: str
    optional_phases: tuple[str, ...] = ()
    options: Mapping[str, FaultOption] = field(default_factory=dict)
    #: What the server that owns the entry does when it fires (opaque to the board).
    answer: Any = None

    @property
    def targets(self) -> tuple[str, ...]:
        seen: list[str] = []
        for phase in self.phases + self.optional_phases:
            target = phase.split(".", 1)[0]
            if target not in seen:
                seen.append(target)
        return tuple(seen)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "targets": list(self.targets), "phases": list(self.phases),
                "optional_phases": list(self.optional_phases),
                "options": {k: {"default": o.default, "min": o.low, "max": o.high,
                                "help": o.help} for k, o in self.options.items()},
                "description": self.description, "wire": self.wire, "source": self.source}


@dataclass
class ArmedFault:
    entry: FaultEntry
    username: str | None
    phases: tuple[str, ...]
    #: Hits left; None = until disarmed.
    left: int | None
    options: dict[str, float]
    fired: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"name": self.entry.name, "username": self.username, "phases": list(self.phases),
                "count_left": self.left, "fired": self.fired, "options": dict(self.options)}


_ARM_FIELDS = ("name", "username", "count", "phases")


class FaultBoard:
    """Armed faults of one bench; `take()` is the only call on a protocol path."""

    def __init__(self, on_fire: Callable[[ArmedFault], None] | None = None) -> None:
        self.catalogue: dict[str, FaultEntry] = {}
        self._armed: list[ArmedFault] = []
        #: Called with each fault that strikes (the IdP counts them in its stats).
        self.on_fire = on_fire
        self._released: asyncio.Event | None = None

    # ---- catalogue --------------------------------------------------------------------------
    def register(self, entries: Iterable[FaultEntry]) -> None:
        for entry in entries:
            if entry.name in self.catalogue and self.catalogue[entry.name] is not entry:
                raise ValueError(f"two catalogue entries named {entry.name!r}")
            self.catalogue[entry.name] = entry

    # ---- arming -----------------------------------------------------------------------------
    def arm_request(self, body: Mapping[str, Any]) -> ArmedFault:
        """Arm from a control-API body; every field checked, message says what is allowed."""
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise BadControlRequest('name is required, e.g. {"name": "consent_required"}; '
                                    "GET /control/faults lists the catalogue")
        entry = self.entry(name)
        allowed = set(_ARM_FIELDS) | set(entry.options)
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadControlRequest(f"fault {name} takes no field {unknown[0]!r}; it takes "
                                    f"{', '.join(sorted(allowed))}")
        username = body.get("username")
        if username is not None and (not isinstance(username, str) or not username.strip()):
            raise BadControlRequest("username must be a bench user's address, or left out "
                                    "for any user")
        count = body.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise BadControlRequest("count must be a positive integer (how many hits), or "
                                    "left out for until disarmed")
        phases = body.get("phases")
        if phases is not None and (not isinstance(phases, list)
                                   or not all(isinstance(p, str) for p in phases)):
            raise BadControlRequest("phases must be a list of phase names, e.g. "
                                    f"{list(entry.phases)}")
        options: dict[str, float] = {}
        for key, option in entry.options.items():
            value = body.get(key, option.default)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not option.low <= value <= option.high):
                raise BadControlRequest(f"{key} must be a number from {option.low:g} to "
                                        f"{option.high:g} ({option.help})")
            options[key] = float(value)
        return self.arm(name, username=username, count=count,
                        phases=tuple(phases) if phases is not None else None, options=options)

    def entry(self, name: str) -> FaultEntry:
        if name not in self.catalogue:
            raise UnknownFault(f"no fault named {name!r}; faults: {', '.join(self.catalogue)}")
        return self.catalogue[name]

    def arm(self, name: str, *, username: str | None = None, count: int | None = None,
            phases: tuple[str, ...] | None = None,
            options: Mapping[str, float] | None = None) -> ArmedFault:
        """Arm `name` (replacing an earlier arming of it for the same user)."""
        entry = self.entry(name)
        chosen = entry.phases if phases is None else phases
        possible = entry.phases + entry.optional_phases
        wrong = [p for p in chosen if p not in possible]
        if wrong or not chosen:
            raise BadControlRequest(f"fault {name} can strike at {', '.join(possible)}; "
                                    f"not at {', '.join(wrong) or 'no phase'}")
        values = {k: o.default for k, o in entry.options.items()}
        values.update(options or {})
        who = username.strip().lower() if username else None
        self._armed = [a for a in self._armed if not (a.entry.name == name and a.username == who)]
        armed = ArmedFault(entry, who, tuple(chosen), count, values)
        self._armed.append(armed)
        return armed

    def disarm(self, name: str | None = None) -> int:
        """Disarm every fault (or those named `name`); hung requests are let go. Returns how many."""
        keep = [a for a in self._armed if name is not None and a.entry.name != name]
        count = len(self._armed) - len(keep)
        self._armed = keep
        self.release_hangs()
        return count

    # ---- firing -----------------------------------------------------------------------------
    def take(self, phase: str, username: str | None = None) -> ArmedFault | None:
        """The armed fault that strikes at `phase` for `username` now, counting the hit."""
        who = username.strip().lower() if username else None
        for armed in self._armed:
            if phase in armed.phases and (armed.username is None or armed.username == who):
                armed.fired += 1
                if armed.left is not None:
                    armed.left -= 1
                    if armed.left <= 0:
                        self._armed.remove(armed)
                if self.on_fire is not None:
                    self.on_fire(armed)
                return armed
        return None

    def armed(self) -> list[ArmedFault]:
        return list(self._armed)

    def listing(self) -> list[dict[str, Any]]:
        """The catalogue with, per entry, its current armings (``GET /control/faults``)."""
        out = []
        for entry in self.catalogue.values():
            row = entry.as_json()
            row["armed"] = [a.as_json() for a in self._armed if a.entry is entry]
            out.append(row)
        return out

    # ---- hung requests ----------------------------------------------------------------------
    def hang_released(self) -> asyncio.Event:
        """Set when the faults are disarmed (or the server stops): hung requests end then."""
        if self._released is None or self._released.is_set():
            self._released = asyncio.Event()
        return self._released

    def release_hangs(self) -> None:
        if self._released is not None:
            self._released.set()
