"""The reception unit of one POP setting: poller, spool, ledger, print worker, and the tray.

The device builds one per POP context (`Device._reception_unit`) and hands every part in;
nothing here builds another part, so a reader sees the whole receive path of a setting in one
place, and a test can stop one part (the printer: "paper out") and look at another.

    PopPoller ── each poll: Mailbox (sign in) + Drain ──▶ ReceiveSpool ──▶ PrintWorker ──▶ tray
                                     │                         ▲               │
                                     └──── ReceiveLedger ◀─────┴───────────────┘
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mfp_sim.hwsim.printer import OutputTray

from ..vocabulary import ReceiveKind
from .ledger import ReceiveLedger
from .poller import PopPoller
from .print_worker import PrintWorker
from .results import PollResult
from .spool import ReceiveSpool

__all__ = ["ReceptionUnit"]


@dataclass
class ReceptionUnit:
    name: str
    kind: ReceiveKind
    poller: PopPoller
    spool: ReceiveSpool
    ledger: ReceiveLedger
    printer: PrintWorker
    tray: OutputTray

    async def start(self) -> None:
        """Power-on: the ledger is read (once, off the loop); the printer resumes whatever the
        spool holds; the schedule starts."""
        await asyncio.to_thread(self.ledger.load)
        await self.printer.start()
        await self.poller.start()

    async def stop(self) -> None:
        """The printer first: a poll cut short releases what it stored, and nothing may start
        printing it after the power went."""
        await self.printer.stop()
        await self.poller.stop()

    def settings_changed(self) -> None:
        self.poller.settings_changed()

    async def check_now(self, *, wait_printed: bool = True) -> PollResult:
        return await self.poller.check_now(wait_printed=wait_printed)

    async def wait_printed(self, timeout: float) -> bool:
        """True once the spool is empty: everything received has been printed or refused."""
        return await self.printer.wait_idle(timeout)

    async def probe(self, notes: list[str]) -> int:
        """The connection test: sign in, count the messages; nothing read or deleted."""
        return await self.poller.probe(notes)
