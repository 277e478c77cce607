"""The device's one event stream.

Panel, console and web page never poll the device's state; they listen. Each subscriber gets
its own bounded queue, so a slow or absent reader (a closed console) never holds the device
up: when its queue is full the oldest event is dropped and the subscriber is told how many it
missed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventBus", "Subscription"]

_seq = itertools.count(1)


@dataclass(frozen=True)
class Event:
    """Something that happened: `kind` is one of token, settings, job, fax, alert."""

    kind: str
    data: dict[str, Any]
    time: float
    seq: int = field(default_factory=lambda: next(_seq))

    def line(self) -> str:
        """The event as one console line: `event=<kind> k=v ...` (values never hold secrets)."""
        parts = [f"event={self.kind}"] + [f"{k}={_fmt(v)}" for k, v in self.data.items()]
        return " ".join(parts)


def _fmt(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text}"' if (" " in text or not text) else text


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

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


class EventBus:
    def __init__(self, clock_now: Callable[[], float]) -> None:
        self._now = clock_now
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def listen(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback` synchronously for each event; returns a function that stops it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def publish(self, kind: str, **data: Any) -> Event:
        event = Event(kind, data, self._now())
        for sub in list(self._subs):
            sub._put(event)
        for cb in list(self._listeners):
            cb(event)
        return event
