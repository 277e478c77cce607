"""A shard's heap: keeps Python's cyclic garbage collector off the devices' long-lived objects.

A device is about 1,500 long-lived objects (its settings, token machines, pollers' timers,
tasks); 2,000 devices make a heap of three million. The collector's full (oldest-generation)
pass walks every object it tracks, and following their references into a heap of that size
misses the CPU's caches at almost every step: measured on a 2,000-device shard, a full pass
stopped the shard's one event loop for 230–330 ms even when only 200,000 objects were left
for it to walk (the rest frozen), several times in every synchronised poll round, and 2.7 s
when it walked the whole heap. A real device has a heap of its own; the simulator must not
make every device on the loop late together because their heaps are shared.

So what has shown it lives long is moved out of the collector's generations (`gc.freeze()`,
a constant-time move), at two moments:

- every `EVERY` devices powered on (a bring-up builds most of the heap);
- right after each full pass the collector makes on its own: what survived it is, by that
  very fact, long-lived. The next full pass walks only what survived since, so each stays
  short (tens of milliseconds with 2,000 devices; `docs/fleet.md`).

Frozen objects are still freed by their reference counts; only a *cycle* among them that
becomes garbage is not collected while it is frozen. That is bounded in the way the collector
bounds its own oldest generation, by a quarter: when the live heap has grown by more than
`GROWTH` since it was last known good (after a whole-heap pass, or a freeze of freshly
powered-on devices, whose growth is their own), everything is handed back (`gc.unfreeze()`)
and the collector's next full pass walks, and cleans, the whole heap once; its survivors are
frozen again. Measured: five minutes of 2,000 devices checking their mail every minute
(20,000 sessions) left about 22,000 such objects, under 1 % of the heap, so this whole-heap
pass comes seldom. After a power cut the cut devices' objects are garbage: `released()`
hands everything back at once, as the collector would want.

The live heap is measured as the blocks Python's small-object allocator has handed out and
not taken back (`sys.getallocatedblocks()`, under a millisecond): frozen garbage counts in it,
freed objects do not. Not the number of frozen objects: `gc.get_freeze_count()` walks the
whole frozen list, 300–400 ms with 2,000 devices, which put the lag at 398 ms. Nor the
process's resident memory: it keeps what a busy round allocated and freed (the allocator's
arenas, buffers). Measured with it, a sweep of six rounds had a lag p99 of 1,259 ms in its
fourth round (a whole-heap pass, presumably asked for by that kept memory; the run did not
time its passes); measured with the live heap, 25 ms in that round and no whole-heap pass
in any round.

The collector's callbacks are process-wide, so the shards of one process share one `ShardHeap`
(`attach`/`detach` count them).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["SHARD_HEAP", "ShardHeap"]


class ShardHeap:
    """Freeze survivors of the collector's full passes; hand everything back when the live
    heap has grown by more than `GROWTH` since it was last known good, or devices lost power."""

    EVERY = 16
    GROWTH = 1.25

    def __init__(self, live: Callable[[], int] = sys.getallocatedblocks) -> None:
        self._live = live  # the size of the live heap (a test gives its own)
        # A full pass may end on any thread, even inside `grown` (a freeze allocates nothing, but
        # what runs around it may): re-entrant.
        self._lock = threading.RLock()
        self._users = 0
        self._since = 0
        self._good = 0  # the live heap's size when it was last known good
        self._sweeping = False  # everything handed back: the next full pass walks it all
        self.whole_passes = 0  # full passes over the whole heap that this policy asked for

    # -- who uses it ----------------------------------------------------------------------
    def attach(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._good = self._live()  # what the process holds before any device
                gc.callbacks.append(self._after_pass)

    def detach(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            self._users = 0
            if self._after_pass in gc.callbacks:
                gc.callbacks.remove(self._after_pass)
            self._since, self._good, self._sweeping = 0, 0, False
        gc.unfreeze()

    # -- what the shard tells it ------------------------------------------------------------
    def grown(self) -> None:
        """A device powered on: every `EVERY` of them, what is alive is frozen, and that size
        is the new known-good one (the growth is the devices', not garbage)."""
        with self._lock:
            self._since += 1
            if self._since < self.EVERY or self._sweeping:
                return
            self._since = 0
            gc.freeze()
            self._good = self._live()

    def released(self) -> None:
        """Devices lost power: their objects are garbage now; hand everything back."""
        with self._lock:
            self._since = 0
            self._hand_back()

    # -- the collector's callback -----------------------------------------------------------
    def _after_pass(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        with self._lock:
            if self._sweeping:  # that pass walked the whole heap: all of it is good now
                self._sweeping = False
                gc.freeze()
                self._good = self._live()
            elif self._live() > self.GROWTH * self._good:
                self._hand_back()
            else:
                gc.freeze()

    def _hand_back(self) -> None:
        self.whole_passes += 1
        self._sweeping = True
        gc.unfreeze()


#: The one heap of this process, shared by its shards.
SHARD_HEAP = ShardHeap()
