"""The device's one command API. Panel, console and web page are thin faces on it.

It keeps no state of its own: each command checks its arguments once, here, at the edge
(refusing with what is allowed), then goes straight to the part of the device that does the
work: the settings store, a token store, the scanner and the send queue, a POP receiver, the
output tray. Answers come back as values, refusals as `FirmwareError`s whose text a face
shows as it is. Which contexts exist (token stores, POP settings) comes from the device's
`Contexts` table; nothing here names one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from mfp_sim.hwsim.clock import Clock, VirtualClock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.printer import OutputTray, TrayItem
from mfp_sim.hwsim.scanner import MAX_PAGES, Scanner

from .contexts import Contexts, MailContext
from .errors import CommandError, SettingsError
from .events import Event, EventBus, Subscription
from .mail.connection_test import ConnectionReport, check_pop, check_smtp
from .mail.jobs import JobInfo, JobQueue
from .mail.outgoing import Outgoing, compose_fax, compose_scan
from .mail.pop_poller import PollResult, PopPoller
from .mail.smtp_sender import SmtpSender
from .providers import Provider, ProviderRegistry
from .settings import SmtpSettings, parse_address
from .settings_store import SettingsStore
from .tokens.store import FlowPrompt, TokenStatus, TokenStore
from .vocabulary import JobKind

__all__ = ["DeviceApi", "SCAN_FORMATS"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

#: The file formats Scan to E-mail can attach.
SCAN_FORMATS = ("pdf", "tiff")
#: The longest a virtual clock may be advanced in one command (ten years).
MAX_ADVANCE = 10 * 365 * 86400


class DeviceApi:
    def __init__(
        self,
        *,
        clock: Clock,
        contexts: Contexts,
        settings: SettingsStore,
        stores: Mapping[str, TokenStore],
        providers: ProviderRegistry,
        events: EventBus,
        scanner: Scanner,
        tray: OutputTray,
        sender: SmtpSender,
        jobs: JobQueue,
        pollers: Mapping[str, PopPoller],
    ) -> None:
        self.clock = clock
        self.contexts = contexts
        self.settings = settings
        self.events = events
        self._stores = stores
        self._providers = providers
        self._scanner = scanner
        self._tray = tray
        self._sender = sender
        self._jobs = jobs
        self._pollers = pollers

    # ----------------------------------------------------------- settings
    def settings_items(self, section: str) -> list[tuple[str, str]]:
        return self.settings.items(section)

    def get(self, key: str) -> str:
        return self.settings.get_text(key)

    async def set(self, key: str, value: str) -> dict[str, str]:
        return await self.settings.set_text(key, value)

    async def update(self, section: str, texts: dict[str, str]) -> dict[str, str]:
        return await self.settings.update(section, texts)

    def check_admin_password(self, password: str) -> bool:
        expected = self.settings.device().admin_password
        return hmac.compare_digest(password.encode(), expected.encode())

    def providers(self) -> list[Provider]:
        return [self._providers.get(n) for n in self._providers.names()]

    # ------------------------------------------------------------- tokens
    def store_names(self) -> tuple[str, ...]:
        return self.contexts.names()

    def context(self, name: str) -> MailContext:
        """A mail context by its name, or by the SMTP function whose screen the user is on."""
        return self.contexts.get(name)

    def _store(self, name: str) -> TokenStore:
        return self._stores[self.contexts.get(name).name]

    def token_status(self, store: str) -> TokenStatus:
        return self._store(store).status()

    async def get_token(self, store: str) -> FlowPrompt:
        return await self._store(store).get_token()

    async def clear_token(self, store: str) -> None:
        await self._store(store).clear()

    async def refresh_token(self, store: str) -> None:
        await self._store(store).refresh()

    # --------------------------------------------------------------- send
    async def scan_to_email(self, to: str, pages: int = 1, fmt: str = "pdf") -> str:
        """Scan to E-mail: scan, queue, return the job id (follow it with `job`)."""
        address, count = self._check_send(to, pages)
        if fmt not in SCAN_FORMATS:
            raise CommandError(f"format {fmt!r} is not allowed: one of {'|'.join(SCAN_FORMATS)}")
        cfg = self._ready_smtp()
        job_id = self._jobs.allocate_id()
        outgoing = await self._compose(compose_scan(
            self._scanner, cfg, job_id=job_id, to=address, pages=count,
            fmt="pdf" if fmt == "pdf" else "tiff", now=self.clock.now()))
        return self._queue(JobKind.SCAN, job_id, address, cfg, outgoing, fmt)

    async def ifax_send(self, to: str, pages: int = 1) -> str:
        """Internet Fax send: scan, queue, return the job id."""
        address, count = self._check_send(to, pages)
        cfg = self._ready_smtp()
        job_id = self._jobs.allocate_id()
        outgoing = await self._compose(compose_fax(
            self._scanner, cfg, job_id=job_id, to=address, pages=count, now=self.clock.now()))
        return self._queue(JobKind.IFAX, job_id, address, cfg, outgoing, "tiff-f")

    def jobs(self) -> list[JobInfo]:
        return self._jobs.list()

    def job(self, job_id: str) -> JobInfo:
        return self._jobs.get(job_id)

    def tray(self) -> list[TrayItem]:
        return self._tray.list()

    def _check_send(self, to: str, pages: int) -> tuple[str, int]:
        try:
            address = parse_address("to", to)
        except SettingsError as exc:
            raise CommandError(str(exc)) from None
        if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= MAX_PAGES:
            raise CommandError(f"pages={pages!r} is not allowed: a whole number from 1 to {MAX_PAGES}")
        return address, pages

    def _ready_smtp(self) -> SmtpSettings:
        cfg = self.settings.smtp()
        name = self.contexts.smtp().name
        if not cfg.server:
            raise CommandError(f"{name}.server is not set: configure SMTP before sending")
        if not cfg.sender_address:
            raise CommandError(f"{name}.sender_address is not set: the device needs a From address")
        return cfg

    @staticmethod
    async def _compose(work: Awaitable[Outgoing]) -> Outgoing:
        try:
            return await work
        except (HwsimError, ValueError) as exc:
            raise CommandError(f"the document could not be prepared: {exc}") from exc

    def _queue(self, kind: JobKind, job_id: str, to: str, cfg: SmtpSettings, out: Outgoing,
               fmt: str) -> str:
        job = self._jobs.submit(job_id, kind=kind, to=to, sender=cfg.sender_address,
                                subject=out.subject, message_id=out.message_id,
                                message=out.message, pages=out.pages, fmt=fmt)
        log.info("job %s queued: %s to %s, %d page(s), %d bytes", job.id, kind, to, out.pages,
                 len(out.message))
        return job.id

    # ------------------------------------------------------------ receive
    def _poller(self, store: str) -> PopPoller:
        return self._pollers[self.contexts.receiver(store).name]

    async def check_mail(self, store: str, *, wait_printed: bool = True) -> PollResult:
        """Poll a POP mailbox now.

        The POP session stores what it receives in the spool; by default this also waits
        (bounded) for the print worker to print it. `wait_printed=False` returns once the
        mailbox is drained (messages stored for good and deleted): see `wait_printed`.
        """
        return await self._poller(store).check_now(wait_printed=wait_printed)

    async def wait_printed(self, store: str, timeout: float) -> bool:
        """Wait until everything `store` received is printed (or refused); False on timeout."""
        return await self._poller(store).wait_printed(timeout)

    async def test_connection(self, store: str) -> ConnectionReport:
        """[Connection Test] of the SMTP screen (or any SMTP function's) or a POP screen."""
        context = self.contexts.setting(store)
        token = self._stores[context.name]
        if context.receive is None:
            return await check_smtp(self._sender, token)
        return await check_pop(self._pollers[context.name], token)

    # -------------------------------------------------------------- clock
    def now(self) -> float:
        return self.clock.now()

    async def advance_clock(self, seconds: float) -> float:
        if not isinstance(self.clock, VirtualClock):
            raise CommandError("the clock is real: only a device started with --clock virtual can advance it")
        if not 0 <= seconds <= MAX_ADVANCE:
            raise CommandError(f"seconds must be from 0 to {MAX_ADVANCE} (ten years)")
        return await self.clock.advance(seconds)

    # ------------------------------------------------------------- events
    def subscribe(self, *types: type[Event]) -> Subscription:
        return self.events.subscribe(*types)

    def listen(self, callback: Callable[[E], None], *types: type[E]) -> Callable[[], None]:
        return self.events.listen(callback, *types)
