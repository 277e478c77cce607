"""The device's one command API. Panel, console and web page are thin faces on it.

Nothing here keeps state of its own: it routes a command to the settings store, a token store
or (later) the job queue, and the answers come back as values or as `FirmwareError`s whose
text a face shows as it is.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from mfp_sim.hwsim.clock import Clock, VirtualClock
from mfp_sim.hwsim.printer import TrayItem

from .errors import CommandError
from .events import Event, EventBus, Subscription
from .mail.connection_test import ConnectionReport
from .mail.jobs import JobInfo
from .mail.pop_poller import PollResult
from .mail.service import MailService
from .providers import Provider, ProviderRegistry
from .settings_store import SettingsStore
from .tokens.store import FlowPrompt, TokenStatus, TokenStore

__all__ = ["DeviceApi", "SMTP_FUNCTIONS", "STORE_NAMES"]

#: The screens whose SMTP authentication shares the one `smtp` token (the real device lists four).
SMTP_FUNCTIONS: dict[str, str] = {
    "scan_to_email": "Scan to E-mail",
    "ifax_send": "Internet Fax send",
    "email_alert": "E-mail alerts",
    "status_notice": "Status notices",
}
STORE_NAMES: tuple[str, ...] = ("smtp", "pop.ifax", "pop.emailprint")


class DeviceApi:
    def __init__(
        self,
        *,
        clock: Clock,
        settings: SettingsStore,
        stores: dict[str, TokenStore],
        providers: ProviderRegistry,
        events: EventBus,
        mail: MailService | None = None,
    ) -> None:
        self.clock = clock
        self._mail = mail
        self.settings = settings
        self._stores = stores
        self._providers = providers
        self.events = events
        self.extensions: dict[str, Any] = {}

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
        expected = self.settings.section("device").admin_password
        return hmac.compare_digest(password.encode(), expected.encode())

    def providers(self) -> list[Provider]:
        return [self._providers.get(n) for n in self._providers.names()]

    # ------------------------------------------------------------- tokens
    def store_names(self) -> tuple[str, ...]:
        return STORE_NAMES

    def resolve_store(self, name: str) -> TokenStore:
        """A store by its name, or by the SMTP function whose screen the user is on."""
        if name in SMTP_FUNCTIONS:
            name = "smtp"
        store = self._stores.get(name)
        if store is None:
            allowed = ", ".join(list(STORE_NAMES) + list(SMTP_FUNCTIONS))
            raise CommandError(f"unknown token store {name!r}: one of {allowed}")
        return store

    def token_status(self, store: str) -> TokenStatus:
        return self.resolve_store(store).status()

    async def get_token(self, store: str) -> FlowPrompt:
        return await self.resolve_store(store).get_token()

    async def clear_token(self, store: str) -> None:
        await self.resolve_store(store).clear()

    async def refresh_token(self, store: str) -> None:
        await self.resolve_store(store).refresh()

    # --------------------------------------------------------------- mail
    @property
    def mail(self) -> MailService:
        if self._mail is None:
            raise CommandError("this device has no mail functions")
        return self._mail

    async def scan_to_email(self, to: str, pages: int = 1, fmt: str = "pdf") -> str:
        """Scan to E-mail: scan, queue, return the job id (follow it with `job`)."""
        return await self.mail.scan_to_email(to, pages, fmt)

    async def ifax_send(self, to: str, pages: int = 1) -> str:
        """Internet Fax send: scan, queue, return the job id."""
        return await self.mail.ifax_send(to, pages)

    def jobs(self) -> list[JobInfo]:
        return self.mail.list_jobs()

    def job(self, job_id: str) -> JobInfo:
        return self.mail.job(job_id)

    def tray(self) -> list[TrayItem]:
        return self.mail.tray_items()

    async def test_connection(self, store: str) -> ConnectionReport:
        """[Connection Test] of the SMTP screen (or any SMTP function's) or a POP screen."""
        return await self.mail.test_connection("smtp" if store in SMTP_FUNCTIONS else store)

    async def check_mail(self, store: str, *, wait_printed: bool = True) -> PollResult:
        """Poll a POP mailbox now (pop.ifax or pop.emailprint).

        The POP session stores what it receives in the spool; by default this also waits
        (bounded) for the print worker to print it. `wait_printed=False` returns once the
        mailbox is drained (messages stored for good and deleted): see `wait_printed`.
        """
        return await self.mail.check_mail(store, wait_printed=wait_printed)

    async def wait_printed(self, store: str, timeout: float) -> bool:
        """Wait until everything `store` received is printed (or refused); False on timeout."""
        return await self.mail.wait_printed(store, timeout)

    # -------------------------------------------------------------- clock
    def now(self) -> float:
        return self.clock.now()

    async def advance_clock(self, seconds: float) -> float:
        if not isinstance(self.clock, VirtualClock):
            raise CommandError("the clock is real: only a device started with --clock virtual can advance it")
        if not 0 <= seconds <= 10 * 365 * 86400:
            raise CommandError("seconds must be from 0 to 315360000 (ten years)")
        return await self.clock.advance(seconds)

    # ------------------------------------------------------------- events
    def subscribe(self) -> Subscription:
        return self.events.subscribe()

    def listen(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return self.events.listen(callback)
