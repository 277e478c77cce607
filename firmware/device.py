"""One simulated MFP: its hardware, its firmware components, and their wiring.

Several devices can live in one process (a fleet in a test): nothing here is global; each
device gets its own NVRAM folder, key, trust store, event bus and token stores, and shares
only the clock it is given.

What the device has comes from its table of mail contexts (`firmware.contexts`): one
settings section and one token store per context, one POP receiver per POP context. A test
(or a new model of MFP) passes its own table; nothing below names a context.

Hardware (key store, network link, scanner, output tray) is made once. The firmware's parts
(NVRAM handle, trust store, settings, token stores, job queue, receivers) are made at every
boot from what NVRAM holds, so a power cycle, a reset and a first start all go the same way.
Faces keep what they were given: the API object, the event bus and the console's shell stay
the same across a restart (the API is re-attached to the new parts), so the console
connection and the panel live through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.network import NetworkLink
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.hwsim.nvram_lock import NvramLock
from mfp_sim.hwsim.printer import OutputTray
from mfp_sim.hwsim.scanner import Scanner

from .api import DeviceApi, DeviceParts
from .console import COMMANDS, Shell
from .contexts import CONTEXTS, Contexts, MailContext
from .deadlines import IDP_DEADLINES, IDP_WORKERS, IdpDeadlines
from .events import EventBus, NetworkChanged
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
        network: NetworkLink | None = None,
        limits: ReceiveLimits | None = None,
        idp_deadlines: IdpDeadlines = IDP_DEADLINES,
        nvram: Callable[[], Nvram] | None = None,
        idp_executor: Executor | None = None,
    ) -> None:
        """For many devices in one process (a fleet shard, tools/fleet): `nvram` opens this
        device's records at each boot when they are kept elsewhere than
        `<nvram_dir>/nvram.sqlite`, by an owner that also keeps the folder to this one device
        (by default the device opens its own file and locks its folder); `idp_executor` runs
        its msal calls on threads shared with other devices (by default its own few)."""
        self.dir = Path(nvram_dir)
        #: What tells this device from others in a fleet: its NVRAM folder's name (stable
        #: across power cycles; it spreads the devices' POP checks in time).
        self.serial = self.dir.resolve().name
        self.clock = clock
        self.providers = providers
        self.contexts = Contexts(contexts)
        self._ca_pems = list(ca_pems)
        self._open_nvram = nvram if nvram is not None else lambda: Nvram(self.dir)
        # One device per NVRAM folder: the lock is held until stop, across power cycles (the
        # process is the device); the key is kept apart (default <nvram>.keystore).
        self.lock = NvramLock(self.dir) if nvram is None else None
        try:
            # Hardware: made once, kept across power cycles.
            self.keystore = KeyStore.for_device(self.dir, keystore_dir)
            self.network = network if network is not None else NetworkLink()
            self.scanner = scanner if scanner is not None else Scanner()
            self.tray = OutputTray(self.dir / "tray")
            self.limits = limits if limits is not None else ReceiveLimits()
            # msal is blocking: its calls run on the device's own few threads (never the
            # loop's shared default executor), each with a deadline.
            self._own_executor = idp_executor is None
            self.idp_executor: Executor = (idp_executor if idp_executor is not None else
                                           ThreadPoolExecutor(IDP_WORKERS, thread_name_prefix="idp"))
            self._idp_deadlines = idp_deadlines
            self.events = EventBus(clock.now)
            self.network.on_change(self._link_changed)
            self.boots = 0
            self._running = False
            parts = self._boot()
        except BaseException:
            # A refused start (integrity check, bad settings file...) leaves nothing open: the
            # NVRAM file closed, the threads gone, the folder free for the next try.
            nvram = getattr(self, "nvram", None)
            if nvram is not None:
                nvram.close()
            if getattr(self, "_own_executor", False):
                self.idp_executor.shutdown(wait=False)
            if self.lock is not None:
                self.lock.release()
            raise
        self.api = DeviceApi(clock=clock, contexts=self.contexts, providers=providers,
                             events=self.events, scanner=self.scanner, tray=self.tray,
                             network=self.network, control=self, parts=parts)
        self.shell = Shell(self.api, COMMANDS)

    def _link_changed(self, up: bool) -> None:
        """The PHY noticed the cable: tell every face (the panel's status line shows it)."""
        self.events.publish(NetworkChanged(up))

    # ------------------------------------------------------------------ boot
    def _boot(self) -> DeviceParts:
        """Make the firmware's parts from what NVRAM holds (power-on)."""
        self.boots += 1
        self.nvram = self._open_nvram()
        stored = self.nvram.read(_TRUST_KEY)
        imported = [p for p in (stored.split(_SEP) if stored else []) if p.strip()]
        self.trust = TrustStore(self.dir / "trust", imported, link=self.network)
        for pem in self._ca_pems:
            self.trust.add(pem)
        self.save_trust()
        self.settings = SettingsStore(self.nvram, self.keystore, self.providers, self.events,
                                      self.contexts)
        for problem in self.settings.load_problems:
            log.warning(problem)
        # OIDC discovery documents are fetched once per boot of the device (RAM).
        discovery = DiscoveryCache()
        self.stores: dict[str, TokenStore] = {
            c.name: TokenStore(
                c.name, c.service, clock=self.clock, nvram=self.nvram, keystore=self.keystore,
                trust=self.trust, providers=self.providers, events=self.events,
                target=self._target_of(c), executor=self.idp_executor,
                deadlines=self._idp_deadlines, discovery=discovery,
            )
            for c in self.contexts
        }
        self.settings.on_change(self._settings_changed)
        smtp = self.contexts.smtp()
        self.sender = SmtpSender(self.settings.smtp, self.stores[smtp.name], self.trust)
        self.jobs = JobQueue(nvram=self.nvram, keystore=self.keystore, clock=self.clock,
                             events=self.events, sender=self.sender)
        self.reception = Reception()  # printing waits while a POP session receives
        # The fax memory (all POP settings) is counted from the spool at every boot; `mail
        # log` is RAM: both start again at power-on, as on a real device.
        self.fax_memory = FaxMemory(self.limits.memory_messages, self.limits.memory_bytes)
        self.journal = ReceiveJournal(self.clock.now)
        self.receivers: dict[str, ReceptionUnit] = {
            c.name: self._reception_unit(c, c.receive)
            for c in self.contexts.pop() if c.receive is not None
        }
        return DeviceParts(settings=self.settings, stores=self.stores, sender=self.sender,
                           jobs=self.jobs, receivers=self.receivers,
                           fax_memory=self.fax_memory, journal=self.journal, trust=self.trust)

    def save_trust(self) -> None:
        """Keep the imported CAs in NVRAM (they come back after a power cycle)."""
        self.nvram.write(_TRUST_KEY, _SEP.join(self.trust.imported))

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

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.trust.prepare()  # the TLS context, built in a thread meanwhile (not awaited)
        for store in self.stores.values():
            await store.start()
        for unit in self.receivers.values():  # reads its ledger off the loop: awaits
            await unit.start()
        await self.jobs.start()  # last: nothing awaits between it and the caller's next step
        self._running = True

    async def _halt(self) -> None:
        """Stop every firmware task; a failure of one (NVRAM already off) stops no other."""
        self._running = False
        self.api.cancel_sign_ins()
        stops = [u.stop for u in self.receivers.values()] + [self.jobs.stop]
        stops += [s.stop for s in self.stores.values()]
        for stop in stops:
            try:
                await stop()
            except Exception as exc:  # a task that tried to write after the cut
                log.debug("stopping after the cut: %r", exc)

    async def stop(self) -> None:
        await self._halt()
        if self._own_executor:
            self.idp_executor.shutdown(wait=False, cancel_futures=True)
        self.nvram.close()
        if self.lock is not None:
            self.lock.release()

    async def power_cycle(self) -> None:
        """Cut the power at this instant and switch the device on again.

        NVRAM is switched off first, so nothing the firmware was about to write (a token
        refresh, a job's state) reaches it: what is stored is what a real cut would leave.
        Then every task is stopped, and the device boots from NVRAM and starts.
        """
        was_running = self._running
        self.nvram.cut()
        await self._halt()
        self.api.attach(self._boot())
        if was_running:
            await self.start()
        log.info("power cycle: boot %d", self.boots)

    async def reset(self, sections: Sequence[str] | None) -> list[str]:
        """Factory values for `sections` (None: the factory reset), in one NVRAM transaction.

        A section's reset deletes its settings record and, for a mail context, its token;
        the factory reset deletes every setting, every token and every send job (the
        imported CA certificates and the job counter stay). The firmware stops in order, the
        records go in one transaction, and the device restarts from NVRAM, as a real MFP
        restarts after restoring factory settings. Returns the NVRAM keys deleted.
        """
        names = list(self.contexts.sections) if sections is None else list(sections)
        for name in names:
            self.settings.section(name)  # unknown names refused before anything stops
        keys = self.settings.record_keys(names)
        keys += [self.stores[n].key for n in names if n in self.stores]
        if sections is None:
            keys += self.jobs.record_keys()
        was_running = self._running
        await self._halt()
        self.nvram.delete(keys)
        self.nvram.close()
        self.api.attach(self._boot())
        if was_running:
            await self.start()
        return keys
