"""The events one console connection streams (`events on …`), as lines waiting for a gap.

The connection's `EventStream` listens on the device's event bus for the kinds asked for and
keeps each event's console line (`Event.line()`: `event=<kind> key=value …`) in a bounded
queue; the UART writes them between replies, never inside one. A reader that does not keep up
loses the oldest lines, and is told how many with one `event=overflow dropped=N` line, so
memory stays bounded and a script knows it missed something.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from ..events import EVENT_KINDS, Event, EventBus

__all__ = ["EventStream", "MAX_QUEUED"]

#: Event lines kept for a connection that does not read; older ones are dropped.
MAX_QUEUED = 500


class EventStream:
    def __init__(self, maxlen: int = MAX_QUEUED) -> None:
        self.kinds: tuple[str, ...] = ()
        self._lines: deque[str] = deque(maxlen=maxlen)
        self._dropped = 0
        self._ready = asyncio.Event()
        self._stop: Callable[[], None] | None = None

    @property
    def on(self) -> bool:
        return self._stop is not None

    def start(self, bus: EventBus, kinds: Sequence[str]) -> None:
        """Stream these kinds (names from `EVENT_KINDS`, already checked) from now on."""
        self.stop()
        self.kinds = tuple(kinds)
        types = tuple(EVENT_KINDS[k] for k in self.kinds)
        self._stop = bus.listen(self._take, *types)

    def stop(self) -> None:
        """Stream nothing more; lines not yet written are dropped."""
        if self._stop is not None:
            self._stop()
            self._stop = None
        self.kinds = ()
        self._lines.clear()
        self._dropped = 0

    def _take(self, event: Event) -> None:
        if len(self._lines) == self._lines.maxlen:
            self._dropped += 1
        self._lines.append(event.line())
        self._ready.set()

    async def next_line(self) -> str:
        """The next line to write (waits until there is one)."""
        while not self._lines:
            self._ready.clear()
            await self._ready.wait()
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            return f"event=overflow dropped={dropped}"
        return self._lines.popleft()
