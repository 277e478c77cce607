"""One simulated MFP: its hardware, its firmware components, and their wiring.

Several devices can live in one process (a fleet in a test): nothing here is global; each
device gets its own NVRAM folder, key, trust store, event bus and token stores, and shares
only the clock it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.hwsim.nvram_lock import NvramLock
from mfp_sim.hwsim.printer import OutputTray
from mfp_sim.hwsim.scanner import Scanner

from .api import STORE_NAMES, DeviceApi
from .events import EventBus
from .mail.commands import MAIL_COMMANDS
from .mail.jobs import JobQueue
from .mail.pop_poller import PopPoller
from .mail.print_worker import Reception
from .mail.service import MailService
from .mail.smtp_sender import SmtpSender
from .providers import ProviderRegistry
from .settings import POP_SECTIONS, PopSettings, SmtpSettings
from .settings_store import SettingsStore
from .shell import Shell
from .tokens.store import TokenStore
from .trust import TrustStore

__all__ = ["Device"]

log = logging.getLogger(__name__)

_TRUST_KEY = "trust.imported"
_SEP = b"\n--\n"


class Device:
    def __init__(
        self,
        nvram_dir: Path,
        *,
        clock: Clock,
        providers: ProviderRegistry,
        ca_pems: Iterable[bytes] = (),
        scanner: Scanner | None = None,
        keystore_dir: Path | None = None,
    ) -> None:
        self.dir = Path(nvram_dir)
        self.clock = clock
        self.providers = providers
        # One device per NVRAM folder (held until stop); the key apart (default <nvram>.keystore).
        self.lock = NvramLock(self.dir)
        try:
            self.keystore = KeyStore.for_device(self.dir, keystore_dir)
            self.nvram = Nvram(self.dir)
        except BaseException:
            self.lock.release()
            raise
        stored = self.nvram.read(_TRUST_KEY)
        imported = [p for p in (stored.split(_SEP) if stored else []) if p.strip()]
        self.trust = TrustStore(self.dir / "trust", imported)
        for pem in ca_pems:
            self.trust.add(pem)
        self.nvram.write(_TRUST_KEY, _SEP.join(self.trust.imported))
        self.events = EventBus(clock.now)
        self.settings = SettingsStore(self.nvram, self.keystore, providers, self.events)
        for problem in self.settings.load_problems:
            log.warning(problem)
        self.stores: dict[str, TokenStore] = {
            name: TokenStore(
                name, "smtp" if name == "smtp" else "pop",
                clock=clock, nvram=self.nvram, keystore=self.keystore, trust=self.trust,
                providers=providers, events=self.events, target=self._target_of(name),
            )
            for name in STORE_NAMES
        }
        self.settings.on_change(self._settings_changed)
        # Hardware around the mail functions: the feeder, and the printer's output tray.
        self.scanner = scanner if scanner is not None else Scanner()
        self.tray = OutputTray(self.dir / "tray")
        self.sender = SmtpSender(self._smtp_settings, self.stores["smtp"], self.trust)
        self.jobs = JobQueue(nvram=self.nvram, keystore=self.keystore, clock=clock,
                             events=self.events, sender=self.sender)
        self.reception = Reception()  # printing waits while a POP session receives
        self.pollers: dict[str, PopPoller] = {
            section: PopPoller(
                section, settings=self._pop_settings(section), store=self.stores[section],
                trust=self.trust, clock=clock, nvram=self.nvram, events=self.events,
                tray=self.tray, spool_dir=self.dir / "spool" / section,
                reception=self.reception,
            )
            for section in POP_SECTIONS
        }
        self.mail = MailService(clock=clock, smtp_settings=self._smtp_settings,
                                scanner=self.scanner, tray=self.tray, sender=self.sender,
                                jobs=self.jobs, pollers=self.pollers, stores=self.stores)
        self.api = DeviceApi(clock=clock, settings=self.settings, stores=self.stores,
                             providers=providers, events=self.events, mail=self.mail)
        self.shell = Shell(self.api)
        for command in MAIL_COMMANDS:
            self.shell.register(command)

    def _smtp_settings(self) -> SmtpSettings:
        settings: SmtpSettings = self.settings.section("smtp")
        return settings

    def _pop_settings(self, section: str) -> Callable[[], PopSettings]:
        def current() -> PopSettings:
            settings: PopSettings = self.settings.section(section)
            return settings
        return current

    def _target_of(self, store: str) -> Callable[[], tuple[str, str]]:
        def target() -> tuple[str, str]:
            s = self.settings.section(store)
            return str(s.provider), str(s.account)
        return target

    async def _settings_changed(self, section: str, changed: set[str]) -> None:
        if section in self.stores and changed & {"provider", "account"}:
            await self.stores[section].settings_changed()
        if section in self.pollers:
            self.pollers[section].settings_changed()

    async def start(self) -> None:
        for store in self.stores.values():
            await store.start()
        await self.mail.start()

    async def stop(self) -> None:
        await self.mail.stop()
        for store in self.stores.values():
            await store.stop()
        self.nvram.close()
        self.lock.release()
