"""The receive journal: what became of the last messages received, for `mail log`.

A fax machine prints a reception journal (time, remote party, result); the device keeps the
same, so that the reason a message was refused ("not an Internet Fax: no TIFF image")
reaches the console and not only the device's log. One journal per device, every POP setting
in it, newest last; it is kept **in memory only**, bounded to `JOURNAL_SIZE` entries (the
oldest go first): it is lost at power-off, as the durable part of the story is in the ledger
(what was handled) and the tray (what was printed).

Entries are added where the outcome is decided, beside the event that announces it: the POP
session (stored, duplicate, too large, vanished) and the print worker (printed, refused).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ..vocabulary import Outcome

__all__ = ["JOURNAL_SIZE", "JournalEntry", "ReceiveJournal"]

#: Entries kept (all POP settings together).
JOURNAL_SIZE = 200


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    time: float  # device clock
    source: str  # the POP setting
    outcome: Outcome
    sender: str = ""
    subject: str = ""
    reason: str = ""


class ReceiveJournal:
    def __init__(self, now: Callable[[], float], size: int = JOURNAL_SIZE) -> None:
        self._now = now
        self._entries: collections.deque[JournalEntry] = collections.deque(maxlen=size)
        self._seq = itertools.count(1)
        self.size = size

    def add(self, source: str, outcome: Outcome, sender: str = "", subject: str = "",
            reason: str = "") -> None:
        self._entries.append(JournalEntry(next(self._seq), self._now(), source, outcome,
                                          sender, subject, reason))

    def recent(self, source: str | None = None, count: int = 20) -> list[JournalEntry]:
        """The last `count` entries (of one POP setting, or all), newest last."""
        chosen = [e for e in list(self._entries) if source is None or e.source == source]
        return chosen[-count:] if count > 0 else []
