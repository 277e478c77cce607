"""One simulated MFP: its hardware, its firmware components, and their wiring.

Several devices can live in one process (a fleet in a test): nothing here is global; each
device gets its own NVRAM folder, key, trust store, event bus and token stores, and shares
only the clock it is given.

What the device has comes from its table of mail contexts (`firmware.contexts`): one
settings section and one token store per context, one POP receiver per POP context. A test
(or a new model of MFP) passes its own table; nothing below names a context.
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

from .api import DeviceApi
from .console import COMMANDS, Shell
from .contexts import CONTEXTS, Contexts, MailContext
from .events import EventBus
from .mail.jobs import JobQueue
from .mail.pop_poller import PopPoller
from .mail.print_worker import Reception
from .mail.smtp_sender import SmtpSender
from .providers import ProviderRegistry
from .settings import PopSettings
from .settings_store import SettingsStore
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
        contexts: Iterable[MailContext] = CONTEXTS,
    ) -> None:
        self.dir = Path(nvram_dir)
        self.clock = clock
        self.providers = providers
        self.contexts = Contexts(contexts)
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
        self.settings = SettingsStore(self.nvram, self.keystore, providers, self.events,
                                      self.contexts)
        for problem in self.settings.load_problems:
            log.warning(problem)
        self.stores: dict[str, TokenStore] = {
            c.name: TokenStore(
                c.name, c.service, clock=clock, nvram=self.nvram, keystore=self.keystore,
                trust=self.trust, providers=providers, events=self.events,
                target=self._target_of(c),
            )
            for c in self.contexts
        }
        self.settings.on_change(self._settings_changed)
        # Hardware around the mail functions: the feeder, and the printer's output tray.
        self.scanner = scanner if scanner is not None else Scanner()
        self.tray = OutputTray(self.dir / "tray")
        smtp = self.contexts.smtp()
        self.sender = SmtpSender(self.settings.smtp, self.stores[smtp.name], self.trust)
        self.jobs = JobQueue(nvram=self.nvram, keystore=self.keystore, clock=clock,
                             events=self.events, sender=self.sender)
        self.reception = Reception()  # printing waits while a POP session receives
        self.pollers: dict[str, PopPoller] = {
            c.name: PopPoller(
                c.name, c.receive, settings=self._pop_settings(c), store=self.stores[c.name],
                trust=self.trust, clock=clock, nvram=self.nvram, events=self.events,
                tray=self.tray, spool_dir=self.dir / "spool" / c.name,
                reception=self.reception,
            )
            for c in self.contexts.pop() if c.receive is not None
        }
        self.api = DeviceApi(clock=clock, contexts=self.contexts, settings=self.settings,
                             stores=self.stores, providers=providers, events=self.events,
                             scanner=self.scanner, tray=self.tray, sender=self.sender,
                             jobs=self.jobs, pollers=self.pollers)
        self.shell = Shell(self.api, COMMANDS)

    def _pop_settings(self, context: MailContext) -> Callable[[], PopSettings]:
        return lambda: self.settings.pop(context.name)

    def _target_of(self, context: MailContext) -> Callable[[], tuple[str, str]]:
        def target() -> tuple[str, str]:
            s = self.settings.value(context.section)
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
        await self.jobs.start()
        for poller in self.pollers.values():
            await poller.start()

    async def stop(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        await self.jobs.stop()
        for store in self.stores.values():
            await store.stop()
        self.nvram.close()
        self.lock.release()
