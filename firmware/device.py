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
from concurrent.futures import ThreadPoolExecutor
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
from .deadlines import IDP_DEADLINES, IDP_WORKERS, IdpDeadlines
from .events import EventBus
from .mail.jobs import JobQueue
from .mail.session_token import SessionToken
from .mail.smtp_sender import SmtpSender
from .providers import ProviderRegistry
from .receive.journal import ReceiveJournal
from .receive.ledger import ReceiveLedger
from .receive.limits import ReceiveLimits
from .receive.memory import FaxMemory
from .receive.poller import PopPoller, phase_of
from .receive.print_worker import PrintWorker, Reception
from .receive.signin import Mailbox
from .receive.spool import ReceiveSpool
from .receive.unit import ReceptionUnit
from .settings import PopSettings
from .settings_store import SettingsStore
from .tokens.http import DiscoveryCache
from .tokens.store import TokenStore
from .trust import TrustStore
from .vocabulary import ReceiveKind, Step

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
        limits: ReceiveLimits | None = None,
        idp_deadlines: IdpDeadlines = IDP_DEADLINES,
    ) -> None:
        self.dir = Path(nvram_dir)
        #: What tells this device from others in a fleet: its NVRAM folder's name (stable
        #: across power cycles; it spreads the devices' POP checks in time).
        self.serial = self.dir.resolve().name
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
        # msal is blocking: its calls run on the device's own few threads (never the loop's
        # shared default executor), and OIDC discovery documents are fetched once per device.
        self.idp_executor = ThreadPoolExecutor(IDP_WORKERS, thread_name_prefix="idp")
        discovery = DiscoveryCache()
        self.stores: dict[str, TokenStore] = {
            c.name: TokenStore(
                c.name, c.service, clock=clock, nvram=self.nvram, keystore=self.keystore,
                trust=self.trust, providers=providers, events=self.events,
                target=self._target_of(c), executor=self.idp_executor,
                deadlines=idp_deadlines, discovery=discovery,
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
        self.limits = limits if limits is not None else ReceiveLimits()
        self.fax_memory = FaxMemory(self.limits.memory_messages, self.limits.memory_bytes)  # all POP
        self.journal = ReceiveJournal(clock.now)  # `mail log`: every POP setting, in memory
        self.receivers: dict[str, ReceptionUnit] = {
            c.name: self._reception_unit(c, c.receive)
            for c in self.contexts.pop() if c.receive is not None
        }
        self.api = DeviceApi(clock=clock, contexts=self.contexts, settings=self.settings,
                             stores=self.stores, providers=providers, events=self.events,
                             scanner=self.scanner, tray=self.tray, sender=self.sender,
                             jobs=self.jobs, receivers=self.receivers,
                             fax_memory=self.fax_memory, journal=self.journal)
        self.shell = Shell(self.api, COMMANDS)

    def _reception_unit(self, context: MailContext, kind: ReceiveKind) -> ReceptionUnit:
        """One POP setting's receive path: every part made here, and handed to the others."""
        name = context.name
        spool = ReceiveSpool(self.dir / "spool" / name, self.fax_memory)
        ledger = ReceiveLedger(self.nvram, name)
        printer = PrintWorker(name, kind, spool=spool, tray=self.tray, ledger=ledger,
                              events=self.events, clock=self.clock, reception=self.reception,
                              limits=self.limits, journal=self.journal)
        mailbox = Mailbox(name, SessionToken(self.stores[name], step=Step.TOKEN), self.trust,
                          self.limits)
        poller = PopPoller(name, kind, settings=self._pop_settings(context), mailbox=mailbox,
                           clock=self.clock, events=self.events, spool=spool, ledger=ledger,
                           printer=printer, tray=self.tray, reception=self.reception,
                           limits=self.limits, journal=self.journal,
                           phase=phase_of(self.serial, name))
        return ReceptionUnit(name, kind, poller, spool, ledger, printer, self.tray)

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
        if section in self.receivers:
            self.receivers[section].settings_changed()

    async def start(self) -> None:
        for store in self.stores.values():
            await store.start()
        for unit in self.receivers.values():  # reads its ledger off the loop: awaits
            await unit.start()
        await self.jobs.start()  # last: nothing awaits between it and the caller's next step

    async def stop(self) -> None:
        for unit in self.receivers.values():
            await unit.stop()
        await self.jobs.stop()
        for store in self.stores.values():
            await store.stop()
        self.idp_executor.shutdown(wait=False, cancel_futures=True)
        self.nvram.close()
        self.lock.release()
