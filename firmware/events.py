"""The device's one event stream, and the events on it: small frozen classes, one per kind.

Panel, console and web page never poll the device's state; they listen, by type
(`bus.listen(callback, TokenChanged)`), so a face names what it wants and mypy checks the
fields it reads. Each event knows its console form (`event=token store=smtp state=retrieved …`).

The bus stamps every event with the device clock's time and a sequence number as it is
published. Each subscriber gets its own bounded queue, so a slow or absent reader (a closed
console) never holds the device up: when its queue is full the oldest event is dropped and the
subscriber counts how many it missed. Listeners are called synchronously, in publishing order.

    Event
     ├── TokenChanged     a token store's state or reason changed, or its token was refreshed
     ├── SettingsChanged  a settings section was saved (the keys that changed)
     ├── JobChanged       a send job moved (queued, sending, sent, failed)
     ├── Received         a received message is stored for good in the fax memory (spool)
     ├── Printed          a received message was printed (Internet Fax or E-mail Print)
     ├── Refused          a received message was not printed, and why
     ├── Alert            something the administrator must look at: a mail session that failed
     │                    (`step` says which stage), or printing that broke
     └── NetworkChanged   the network link went down (cable out) or came back up
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from .tokens.machine import TokenState
from .vocabulary import JobState, ReceiveKind, Step

__all__ = [
    "EVENT_KINDS", "Alert", "Event", "EventBus", "JobChanged", "NetworkChanged", "Printed",
    "Received", "Refused", "SettingsChanged", "Subscription", "TokenChanged",
]

E = TypeVar("E", bound="Event")


@dataclass(frozen=True)
class Event:
    """Something that happened. `time` and `seq` are set by the bus when it is published."""

    kind: ClassVar[str] = "event"
    time: float = field(default=0.0, kw_only=True, compare=False)
    seq: int = field(default=0, kw_only=True, compare=False)

    def values(self) -> dict[str, Any]:
        """The event's own fields, in order (not its time and sequence number)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("time", "seq")}

    def line(self) -> str:
        """The event as one console line: `event=<kind> k=v ...` (values never hold secrets)."""
        parts = [f"event={self.kind}"] + [f"{k}={_fmt(v)}" for k, v in self.values().items()]
        return " ".join(parts)


@dataclass(frozen=True)
class TokenChanged(Event):
    kind: ClassVar[str] = "token"
    store: str
    state: TokenState
    reason: str = ""
    refreshed: bool = False  # the same state, with a renewed access token


@dataclass(frozen=True)
class SettingsChanged(Event):
    kind: ClassVar[str] = "settings"
    section: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class JobChanged(Event):
    kind: ClassVar[str] = "job"
    id: str
    state: JobState
    reason: str = ""


@dataclass(frozen=True)
class Received(Event):
    """Stored in the spool and recorded: from now on the server may delete it."""

    kind: ClassVar[str] = "received"
    source: str  # the POP context that received it
    id: str
    receive: ReceiveKind
    sender: str
    subject: str
    size: int  # bytes


@dataclass(frozen=True)
class Printed(Event):
    kind: ClassVar[str] = "printed"
    source: str  # the POP context that received it
    id: str
    receive: ReceiveKind
    sender: str
    subject: str
    pages: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Refused(Event):
    kind: ClassVar[str] = "refused"
    source: str
    id: str
    sender: str
    subject: str
    reason: str

    def summary(self) -> str:
        """One sentence for a status line or a log: who sent what, and why it was refused."""
        return f"message from {self.sender or 'unknown sender'} ({self.subject!r}): {self.reason}"


@dataclass(frozen=True)
class Alert(Event):
    kind: ClassVar[str] = "alert"
    source: str
    step: Step
    reason: str


@dataclass(frozen=True)
class NetworkChanged(Event):
    kind: ClassVar[str] = "network"
    up: bool


#: Every kind of event, by its console name (`events on token job`).
EVENT_KINDS: dict[str, type[Event]] = {
    cls.kind: cls for cls in (TokenChanged, SettingsChanged, JobChanged, Received, Printed,
                              Refused, Alert, NetworkChanged)
}

_seq = itertools.count(1)


def _fmt(value: Any) -> str:
    if isinstance(value, StrEnum):
        text = value.value
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, tuple):
        text = ",".join(str(v) for v in value)
    else:
        text = "" if value is None else " ".join(str(value).split())
    return f'"{text}"' if (" " in text or not text) else text


class Subscription:
    """A bounded queue of the events of some types, for a reader that awaits them."""

    def __init__(self, bus: EventBus, maxsize: int, types: tuple[type[Event], ...]) -> None:
        self._bus = bus
        self._types = types
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        return not self._types or isinstance(event, self._types)

    def _put(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> Event:
        if timeout is None:
            return await self._queue.get()
        return await asyncio.wait_for(self._queue.get(), timeout)

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


def _stamped(event: E, time: float, seq: int) -> E:
    """A copy of `event` with its time and sequence number: `dataclasses.replace` without its
    `__init__` call (a frozen class sets every field through `object.__setattr__`), as every
    job move and every received message publishes one. Events are plain frozen dataclasses
    with no `__post_init__` (a test checks), so a copy of the fields is the same event."""
    stamped: E = object.__new__(type(event))
    stamped.__dict__.update(event.__dict__, time=time, seq=seq)
    return stamped


class EventBus:
    def __init__(self, clock_now: Callable[[], float]) -> None:
        self._now = clock_now
        self._subs: set[Subscription] = set()
        self._listeners: list[tuple[Callable[[Any], None], tuple[type[Event], ...]]] = []

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """A queue of the events of `types` (all events without types)."""
        sub = Subscription(self, maxsize, types)
        self._subs.add(sub)
        return sub

    def listen(self, callback: Callable[[E], None], *types: type[E]) -> Callable[[], None]:
        """Call `callback` synchronously for each event of `types` (all without types);
        returns a function that stops it."""
        entry: tuple[Callable[[Any], None], tuple[type[Event], ...]] = (callback, types)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry)

    def publish(self, event: E) -> E:
        stamped = _stamped(event, self._now(), next(_seq))
        for sub in list(self._subs):
            if sub.wants(stamped):
                sub._put(stamped)
        for callback, types in list(self._listeners):
            if not types or isinstance(stamped, types):
                callback(stamped)
        return stamped
