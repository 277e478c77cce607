"""The mail functions of one device, as the command API sees them.

`MailService` gathers what Scan to E-mail, Internet Fax and E-mail Print need (scanner,
output tray, SMTP sender, job queue, POP pollers) so that `DeviceApi` stays a thin router.
Arguments are checked here, at the edge, and refused with what is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.printer import OutputTray, TrayItem
from mfp_sim.hwsim.scanner import MAX_PAGES, Scanner

from ..errors import CommandError, SettingsError
from ..settings import POP_SECTIONS, SmtpSettings, parse_address
from ..tokens.store import TokenStore
from .connection_test import ConnectionReport, check_pop, check_smtp
from .jobs import JobInfo, JobQueue
from .outgoing import Outgoing, compose_fax, compose_scan
from .pop_poller import PollResult, PopPoller
from .smtp_sender import SmtpSender

__all__ = ["MAIL_STORES", "SCAN_FORMATS", "MailService"]

log = logging.getLogger(__name__)

SCAN_FORMATS = ("pdf", "tiff")
MAIL_STORES = ("smtp",) + POP_SECTIONS


class MailService:
    def __init__(
        self,
        *,
        clock: Clock,
        smtp_settings: Callable[[], SmtpSettings],
        scanner: Scanner,
        tray: OutputTray,
        sender: SmtpSender,
        jobs: JobQueue,
        pollers: dict[str, PopPoller],
        stores: dict[str, TokenStore],
    ) -> None:
        self.clock = clock
        self._smtp_settings = smtp_settings
        self.scanner = scanner
        self.tray = tray
        self.sender = sender
        self.jobs = jobs
        self.pollers = pollers
        self._stores = stores

    async def start(self) -> None:
        await self.jobs.start()
        for poller in self.pollers.values():
            await poller.start()

    async def stop(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        await self.jobs.stop()

    # ---------------------------------------------------------------- send
    async def scan_to_email(self, to: str, pages: int = 1, fmt: str = "pdf") -> str:
        """Scan `pages` pages and queue them for `to` as PDF or TIFF; returns the job id."""
        address, count = self._check_send(to, pages)
        if fmt not in SCAN_FORMATS:
            raise CommandError(f"format {fmt!r} is not allowed: one of {'|'.join(SCAN_FORMATS)}")
        cfg = self._ready_smtp()
        job_id = self.jobs.allocate_id()
        outgoing = await self._compose(compose_scan(
            self.scanner, cfg, job_id=job_id, to=address, pages=count,
            fmt="pdf" if fmt == "pdf" else "tiff", now=self.clock.now()))
        return self._queue("scan", job_id, address, cfg, outgoing, fmt)

    async def ifax_send(self, to: str, pages: int = 1) -> str:
        """Scan `pages` pages and queue them for `to` as an Internet Fax; returns the job id."""
        address, count = self._check_send(to, pages)
        cfg = self._ready_smtp()
        job_id = self.jobs.allocate_id()
        outgoing = await self._compose(compose_fax(
            self.scanner, cfg, job_id=job_id, to=address, pages=count, now=self.clock.now()))
        return self._queue("ifax", job_id, address, cfg, outgoing, "tiff-f")

    def _check_send(self, to: str, pages: int) -> tuple[str, int]:
        try:
            address = parse_address("to", to)
        except SettingsError as exc:
            raise CommandError(str(exc)) from None
        if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= MAX_PAGES:
            raise CommandError(f"pages={pages!r} is not allowed: a whole number from 1 to {MAX_PAGES}")
        return address, pages

    def _ready_smtp(self) -> SmtpSettings:
        cfg = self._smtp_settings()
        if not cfg.server:
            raise CommandError("smtp.server is not set: configure SMTP before sending")
        if not cfg.sender_address:
            raise CommandError("smtp.sender_address is not set: the device needs a From address")
        return cfg

    async def _compose(self, work: Awaitable[Outgoing]) -> Outgoing:
        try:
            return await work
        except (HwsimError, ValueError) as exc:
            raise CommandError(f"the document could not be prepared: {exc}") from exc

    def _queue(self, kind: str, job_id: str, to: str, cfg: SmtpSettings, out: Outgoing,
               fmt: str) -> str:
        job = self.jobs.submit(job_id, kind=kind, to=to, sender=cfg.sender_address,
                               subject=out.subject, message_id=out.message_id,
                               message=out.message, pages=out.pages, fmt=fmt)
        log.info("job %s queued: %s to %s, %d page(s), %d bytes", job.id, kind, to, out.pages,
                 len(out.message))
        return job.id

    # ---------------------------------------------------------------- jobs
    def list_jobs(self) -> list[JobInfo]:
        return self.jobs.list()

    def job(self, job_id: str) -> JobInfo:
        return self.jobs.get(job_id)

    def tray_items(self) -> list[TrayItem]:
        return self.tray.list()

    # ------------------------------------------------------------- receive
    def poller(self, store: str) -> PopPoller:
        poller = self.pollers.get(store)
        if poller is None:
            raise CommandError(f"unknown POP setting {store!r}: one of {'|'.join(self.pollers)}")
        return poller

    async def check_mail(self, store: str, *, wait_printed: bool = True) -> PollResult:
        return await self.poller(store).check_now(wait_printed=wait_printed)

    async def wait_printed(self, store: str, timeout: float) -> bool:
        return await self.poller(store).wait_printed(timeout)

    async def test_connection(self, store: str) -> ConnectionReport:
        if store == "smtp":
            return await check_smtp(self.sender, self._stores["smtp"])
        if store in self.pollers:
            return await check_pop(self.pollers[store], self._stores[store])
        raise CommandError(f"unknown setting {store!r}: one of {'|'.join(MAIL_STORES)}")
