"""The fax memory: how much received mail the device holds, waiting to be printed.

One `FaxMemory` per device, shared by the spools of every POP setting, as a real MFP's fax
memory is one store for every kind of reception. Each spool takes a message's bytes when the
POP session hands it over and gives them back when the message is printed or refused (or its
storing is abandoned). A poll asks `fits(size)` before each RETR: when the answer is no, it
stops fetching and says "fax memory full"; the messages stay on the server until printing
frees memory. Counters are changed from the event loop and from the writer and printer
threads, hence the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["FaxMemory", "MemoryUse"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryUse:
    """What the fax memory holds now, against its size (for a status line, `mail check`)."""

    messages: int
    bytes: int
    max_messages: int
    max_bytes: int

    @property
    def full(self) -> bool:
        return self.messages >= self.max_messages or self.bytes >= self.max_bytes

    def summary(self) -> str:
        return (f"{self.messages} of {self.max_messages} messages, "
                f"{self.bytes / _MIB:.1f} of {self.max_bytes / _MIB:.0f} MiB")


class FaxMemory:
    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("the fax memory holds at least one message and one byte")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._messages = 0
        self._bytes = 0
        self._lock = threading.Lock()

    def fits(self, size: int) -> bool:
        """Would one more message of `size` bytes fit now?"""
        with self._lock:
            return (self._messages + 1 <= self.max_messages
                    and self._bytes + size <= self.max_bytes)

    def take(self, size: int) -> None:
        with self._lock:
            self._messages += 1
            self._bytes += size

    def give(self, size: int) -> None:
        with self._lock:
            self._messages = max(0, self._messages - 1)
            self._bytes = max(0, self._bytes - size)

    def use(self) -> MemoryUse:
        with self._lock:
            return MemoryUse(self._messages, self._bytes, self.max_messages, self.max_bytes)
