"""The Logs page's memory: the latest device events and web actions, in a bounded ring.

It listens to the device's event bus from the moment the web server starts, and the web
server notes its own actions in it (logins, refused logins, settings saved, certificates
imported), so the administrator sees what happened whoever did it. The ring keeps the last
`SIZE` entries: memory stays bounded however long the device runs.

Events carry no secrets by design; the text is still passed through `mask_secrets`, which
shortens anything that looks like a token (a long run of base64/JWT characters), so a reason
quoting a server's words can never put a token on the page in full.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..events import Event
from ..tokens.store import mask

__all__ = ["EventLog", "LogEntry", "mask_secrets", "SIZE"]

SIZE = 200
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+/=.~]{24,}")


def mask_secrets(text: str) -> str:
    """`text` with every token-like run (24+ base64/JWT characters mixing letters and digits)
    shortened to its first characters and length."""
    def hide(match: re.Match[str]) -> str:
        run = match.group(0)
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return mask(run)
        return run
    return _TOKENISH.sub(hide, text)


@dataclass(frozen=True)
class LogEntry:
    time: float  # device clock
    kind: str  # an event's kind (token, job, ...) or "web"
    text: str
    seq: int = 0


class EventLog:
    def __init__(self, now: Callable[[], float], size: int = SIZE) -> None:
        self._now = now
        self._ring: deque[LogEntry] = deque(maxlen=size)

    def heard(self, event: Event) -> None:
        """A device event (the bus calls this synchronously)."""
        text = " ".join(event.line().split(" ")[1:])  # without the leading `event=<kind>`
        self._ring.append(LogEntry(event.time, event.kind, mask_secrets(text), event.seq))

    def note(self, text: str) -> None:
        """Something done through the web page."""
        self._ring.append(LogEntry(self._now(), "web", mask_secrets(text)))

    def entries(self, kinds: tuple[str, ...] = ()) -> list[LogEntry]:
        """Newest first; only `kinds` when given."""
        return [e for e in reversed(self._ring) if not kinds or e.kind in kinds]
