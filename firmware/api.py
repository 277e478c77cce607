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
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from mfp_sim.hwsim.clock import Clock, VirtualClock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.network import NetworkLink
from mfp_sim.hwsim.printer import OutputTray, TrayItem
from mfp_sim.hwsim.scanner import MAX_PAGES, Scanner

from .access import PasswordGuard
from .certinfo import CertificateInfo, check_ca, describe, load_certificates
from .contexts import Contexts, MailContext
from .errors import CommandError, ConfirmationNeeded, DeviceFlowError, SettingsError
from .events import Event, EventBus, Subscription
from .mail.connection_test import ConnectionReport, check_pop, check_smtp
from .mail.jobs import JobInfo, JobQueue
from .mail.outgoing import Outgoing, compose_fax, compose_scan
from .mail.smtp_sender import SmtpSender
from .providers import Provider, ProviderRegistry
from .receive.journal import JournalEntry, ReceiveJournal
from .receive.memory import FaxMemory, MemoryUse
from .receive.results import PollResult
from .receive.unit import ReceptionUnit
from .settings import DEVICE, SettingsErrors, SmtpSettings, parse_address
from .settings_store import SettingsStore
from .tokens.auth_code import SignIns
from .tokens.machine import TokenState
from .tokens.store import CheckResult, FlowPrompt, TokenStatus, TokenStore
from .trust import TrustError, TrustStore
from .vocabulary import JobKind

__all__ = ["DeviceApi", "DeviceControl", "DeviceParts", "SCAN_FORMATS", "PASSWORD_CHANGE"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

#: The file formats Scan to E-mail can attach.
SCAN_FORMATS = ("pdf", "tiff")
#: The longest a virtual clock may be advanced in one command (ten years).
MAX_ADVANCE = 10 * 365 * 86400
#: Why a plain settings change of the administrator password is refused, on every face.
PASSWORD_CHANGE = ("changing the administrator password needs the current one: on the console "
                   "`password <current> <new>`; on the panel, Device Settings asks for the "
                   "current password")
_ADMIN_PASSWORD = "admin_password"


@dataclass(frozen=True)
class DeviceParts:
    """The firmware parts the API works on; new ones after every boot (power cycle, reset)."""

    settings: SettingsStore
    stores: Mapping[str, TokenStore]
    sender: SmtpSender
    jobs: JobQueue
    receivers: Mapping[str, ReceptionUnit]
    fax_memory: FaxMemory
    journal: ReceiveJournal
    trust: TrustStore


class DeviceControl(Protocol):
    """What only the device as a whole can do: restart itself, from power or after a reset."""

    async def power_cycle(self) -> None: ...

    async def reset(self, sections: Sequence[str] | None) -> list[str]: ...

    def save_trust(self) -> None: ...


#: The most CAs an administrator may import (each is kept in NVRAM and in every TLS context).
MAX_IMPORTED_CAS = 20
#: The dates `set_clock` accepts: what a device's real-time clock can hold, give or take.
CLOCK_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class DeviceApi:
    def __init__(
        self,
        *,
        clock: Clock,
        contexts: Contexts,
        providers: ProviderRegistry,
        events: EventBus,
        scanner: Scanner,
        tray: OutputTray,
        network: NetworkLink,
        control: DeviceControl,
        parts: DeviceParts,
    ) -> None:
        self.clock = clock
        self.contexts = contexts
        self.events = events
        self.guard = PasswordGuard()
        self._providers = providers
        self._scanner = scanner
        self._tray = tray
        self._network = network
        self._control = control
        #: The device's web page (`https://HOST:PORT/`) while it runs: set by the web server,
        #: so the panel and the console can send a person there to sign in ("" otherwise).
        self.web_address = ""
        self._sign_ins: SignIns | None = None
        self.attach(parts)

    def attach(self, parts: DeviceParts) -> None:
        """Work on these parts from now on (the device booted again); faces keep this object."""
        self.settings = parts.settings
        self._stores = parts.stores
        self._sender = parts.sender
        self._jobs = parts.jobs
        self._receivers = parts.receivers
        self._fax_memory = parts.fax_memory
        self._journal = parts.journal
        self._trust = parts.trust
        self.cancel_sign_ins()  # a sign-in under way is RAM: a boot forgets it
        self._sign_ins = SignIns(self.clock.monotonic)

    # ----------------------------------------------------------- settings
    def settings_items(self, section: str) -> list[tuple[str, str]]:
        return self.settings.items(section)

    def get(self, key: str) -> str:
        return self.settings.get_text(key)

    async def set(self, key: str, value: str, *, confirm: bool = False) -> dict[str, str]:
        """Change one setting; every key that changed with its new text (see `update`)."""
        section, name = self.settings.split_key(key)
        return await self.update(section.name, {name: value}, confirm=confirm)

    async def update(self, section: str, texts: dict[str, str], *, confirm: bool = False,
                     current_password: str | None = None) -> dict[str, str]:
        """Apply a form of field texts, all or nothing; every changed key with its new text.

        The administrator password changes only with the current one (`current_password`,
        checked by the guard). Moving a context that holds a token to another server or port
        raises `ConfirmationNeeded` unless `confirm`: the token would be sent there.
        """
        if section == DEVICE.name and _ADMIN_PASSWORD in texts:
            if current_password is None:
                raise SettingsErrors([SettingsError(f"{DEVICE.name}.{_ADMIN_PASSWORD}",
                                                    PASSWORD_CHANGE)])
            await self.guard.check(current_password, self.settings.device().admin_password,
                                   what="current administrator password")
        if not confirm:
            self._check_token_target(section, texts)
        return await self.settings.update(section, texts)

    async def change_admin_password(self, current: str, new: str) -> None:
        """The administrator password, changed only by whoever knows the current one."""
        await self.update(DEVICE.name, {_ADMIN_PASSWORD: new}, current_password=current)

    def _check_token_target(self, section: str, texts: Mapping[str, str]) -> None:
        if section not in self.contexts or not ({"server", "port"} & set(texts)):
            return
        status = self._stores[section].status()
        if status.state is not TokenState.RETRIEVED:
            return
        old, new = self.settings.preview(section, texts)
        if (old.provider, old.account) != (new.provider, new.account):
            return  # the token becomes invalid with this change: it is never sent anywhere
        if (old.server, old.port) == (new.server, new.port):
            return
        raise ConfirmationNeeded(
            f"{section} holds a token for {status.account or 'its account'}: with this change "
            f"the device would send that token to {new.server}:{new.port} instead of "
            f"{old.server or '(no server)'}:{old.port}")

    def check_admin_password(self, password: str) -> bool:
        """A plain check, without the attempt limit (see `verify_admin_password`)."""
        expected = self.settings.device().admin_password
        return hmac.compare_digest(password.encode(), expected.encode())

    async def verify_admin_password(self, password: str) -> None:
        """Return when it is the administrator password; else `LoginRefused`, after the
        guard's delay, and nothing at all while the guard is locked."""
        await self.guard.check(password, self.settings.device().admin_password,
                               what="administrator password")

    def providers(self) -> list[Provider]:
        return [self._providers.get(n) for n in self._providers.names()]

    # ------------------------------------------------------------- device
    @property
    def network_up(self) -> bool:
        return self._network.up

    def set_network(self, up: bool) -> bool:
        """Plug or pull the network cable (`NetworkChanged` follows); True if it changed."""
        return self._network.set_up(up)

    async def power_cycle(self) -> None:
        """Cut the power now and switch on again (for power-cut tests); returns once started."""
        await self._control.power_cycle()

    async def factory_reset(self) -> list[str]:
        """Every setting to its factory value, every token and send job gone, in one NVRAM
        transaction; the device restarts. Returns the NVRAM keys deleted."""
        return await self._control.reset(None)

    async def reset_section(self, section: str) -> list[str]:
        """One section to its factory values (and its context's token gone), one transaction."""
        self.settings.section(section)
        return await self._control.reset([section])

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
        provider = self.web_sign_in(store)
        if provider is not None and self.token_status(store).state is not TokenState.WAITING:
            name = provider.display_name
            where = (f"open the device's web page, {self.web_address}, this setting's page, and "
                     if self.web_address else
                     "start the device's web page (mfp-sim device --web tcp:127.0.0.1:0; the "
                     "demo starts it), open this setting's page there and ")
            raise DeviceFlowError("web_sign_in", f"{name} does not give devices a mail token "
                                  f"through a code (its device flow refuses the mail scope): "
                                  f"{where}press “Sign in with {name}”")
        return await self._store(store).get_token()

    def web_sign_in(self, store: str) -> Provider | None:
        """The provider of a context's settings when its tokens come only through the web
        page's sign-in (Google), else None."""
        name = self.get(f"{self.contexts.get(store).name}.provider")
        if name not in self._providers:
            return None
        provider = self._providers.get(name)
        return provider if provider.web_sign_in else None

    async def begin_sign_in(self, store: str, redirect_uri: str, owner: str = "") -> str:
        """[Sign in with …] on the web page: the provider's address to send the browser to,
        which comes back to `redirect_uri` (`tokens.auth_code`). `owner` names the web session."""
        assert self._sign_ins is not None
        return await self._sign_ins.begin(self._store(store), redirect_uri, owner)

    async def finish_sign_in(self, reply: Mapping[str, str], redirect_uri: str,
                             owner: str = "") -> str:
        """The browser came back from the provider to `redirect_uri` with `reply` (the query):
        the store that now holds the token; `SignInError` with the reason otherwise."""
        assert self._sign_ins is not None
        return await self._sign_ins.finish(reply, redirect_uri, owner)

    def cancel_sign_ins(self) -> None:
        if self._sign_ins is not None:
            self._sign_ins.cancel()

    async def clear_token(self, store: str) -> None:
        await self._store(store).clear()

    async def refresh_token(self, store: str) -> None:
        await self._store(store).refresh()

    async def check_token(self, store: str) -> CheckResult:
        """Renew the token now (only a provider's Retry-After holds it back) and report."""
        return await self._store(store).check()

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
    def _receiver(self, store: str) -> ReceptionUnit:
        return self._receivers[self.contexts.receiver(store).name]

    async def check_mail(self, store: str, *, wait_printed: bool = True) -> PollResult:
        """Poll a POP mailbox now.

        The POP session stores what it receives in the spool; by default this also waits
        (bounded) for the print worker to print it. `wait_printed=False` returns once the
        mailbox is drained (messages stored for good and deleted): see `wait_printed`.
        """
        return await self._receiver(store).check_now(wait_printed=wait_printed)

    async def wait_printed(self, store: str, timeout: float) -> bool:
        """Wait until everything `store` received is printed (or refused); False on timeout."""
        return await self._receiver(store).wait_printed(timeout)

    def mail_log(self, store: str | None = None, count: int = 20) -> list[JournalEntry]:
        """The last `count` receive outcomes (of one POP setting, or all), newest last."""
        source = None if store is None else self.contexts.receiver(store).name
        size = self._journal.size
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= size:
            raise CommandError(f"count {count!r} is not allowed: a whole number from 1 to {size}")
        return self._journal.recent(source, count)

    def fax_memory(self) -> MemoryUse:
        """What the fax memory holds (all POP settings); `.full` is the panel's "memory full"."""
        return self._fax_memory.use()

    async def test_connection(self, store: str) -> ConnectionReport:
        """[Connection Test] of the SMTP screen (or any SMTP function's) or a POP screen."""
        context = self.contexts.setting(store)
        token = self._stores[context.name]
        if context.receive is None:
            return await check_smtp(self._sender, token)
        return await check_pop(self._receivers[context.name], token)

    # --------------------------------------------------------------- trust
    def imported_cas(self) -> list[CertificateInfo]:
        """The CAs the administrator imported (the public roots are not listed)."""
        return [describe(cert) for pem in self._trust.imported
                for cert in load_certificates(pem, "imported CA")]

    def import_ca(self, pem: bytes, origin: str = "the file") -> list[CertificateInfo]:
        """Trust one more CA (what `--ca FILE` does at start), kept in NVRAM.

        Refused with the reason when it is not a PEM CA certificate valid now, or when the
        device already holds `MAX_IMPORTED_CAS`.
        """
        infos = check_ca(pem, origin, self.clock.now())
        if pem.strip() + b"\n" not in self._trust.imported and \
                len(self._trust.imported) >= MAX_IMPORTED_CAS:
            raise TrustError(f"the device holds {MAX_IMPORTED_CAS} imported CAs already: "
                             "no more can be added")
        self._trust.add(pem)
        self._control.save_trust()
        log.info("CA imported: %s", ", ".join(i.subject for i in infos))
        return infos

    # -------------------------------------------------------------- clock
    def now(self) -> float:
        return self.clock.now()

    async def advance_clock(self, seconds: float) -> float:
        if not isinstance(self.clock, VirtualClock):
            raise CommandError("the clock is real: only a device started with --clock virtual can advance it")
        if not 0 <= seconds <= MAX_ADVANCE:
            raise CommandError(f"seconds must be from 0 to {MAX_ADVANCE} (ten years)")
        return await self.clock.advance(seconds)

    async def set_clock(self, when: str | float) -> float:
        """Set the device's date and time (an ISO 8601 text, or seconds since the epoch).

        Every token store plans its polls and refreshes again; a token's age is kept on the
        monotonic clock, so setting the time back never makes a token look fresh.
        """
        if isinstance(when, str):
            text = when.strip()
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise CommandError(f"{text!r} is not an ISO 8601 time: for example "
                                   "2027-01-15T08:00:00Z (UTC when no offset is given)") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        else:
            if isinstance(when, bool) or not math.isfinite(when):
                raise CommandError("the time must be a number of seconds since 1970 or an ISO text")
            moment = datetime.fromtimestamp(when, UTC) if abs(when) < 1e11 else CLOCK_RANGE[1]
        low, high = CLOCK_RANGE
        if not low <= moment < high:
            raise CommandError(f"{moment.isoformat()} is out of range: from {low:%Y-%m-%d} "
                               f"to before {high:%Y-%m-%d}")
        return await self.clock.set(moment.timestamp())

    # ------------------------------------------------------------- events
    def subscribe(self, *types: type[Event]) -> Subscription:
        return self.events.subscribe(*types)

    def listen(self, callback: Callable[[E], None], *types: type[E]) -> Callable[[], None]:
        return self.events.listen(callback, *types)
