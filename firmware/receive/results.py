"""What receiving did, as values: one poll (`PollResult`) and one printed message (`PrintResult`).

`mail check` prints a `PollResult`; the print worker hands a `PrintResult` to whoever waits for
the message (a poll's `Ticket`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..vocabulary import Outcome, Step

__all__ = ["PollResult", "PrintResult"]


@dataclass
class PollResult:
    """What one poll did (the console's `mail check` prints it)."""

    section: str
    ok: bool = True
    step: Step | None = None  # where it failed, when it did
    reason: str = ""
    on_server: int = 0
    received: int = 0  # RETR
    spooled: int = 0  # stored for the print worker
    printed: int = 0
    duplicates: int = 0
    refused: int = 0
    deleted: int = 0
    vanished: int = 0  # removed by another client during the poll (skipped)
    pending: int = 0  # spooled, not yet printed when the result was made
    left: int = 0  # not fetched because the fax memory was full (still on the server)
    files: list[str] = field(default_factory=list)

    def failed(self, step: Step, reason: str) -> None:
        self.ok, self.step, self.reason = False, step, reason


@dataclass(frozen=True)
class PrintResult:
    """What became of one spooled message: printed (with its files) or refused (and why)."""

    rx_id: str
    outcome: Outcome  # PRINTED or REFUSED
    files: tuple[Path, ...] = ()
    reason: str = ""
    pages: int = 0
