"""One simulated MFP: its hardware, its firmware components, and their wiring.

Several devices can live in one process (a fleet in a test): nothing here is global; each
device gets its own NVRAM folder, key, trust store, event bus and token stores, and shares
only the clock it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from hwsim.clock import Clock
from hwsim.keystore import KeyStore
from hwsim.nvram import Nvram

from .api import STORE_NAMES, DeviceApi
from .events import EventBus
from .providers import ProviderRegistry
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
    ) -> None:
        self.dir = Path(nvram_dir)
        self.clock = clock
        self.providers = providers
        self.nvram = Nvram(self.dir)
        self.keystore = KeyStore(self.dir)
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
        self.api = DeviceApi(clock=clock, settings=self.settings, stores=self.stores,
                             providers=providers, events=self.events)
        self.shell = Shell(self.api)

    def _target_of(self, store: str):  # type: ignore[no-untyped-def]
        def target() -> tuple[str, str]:
            s = self.settings.section(store)
            return s.provider, s.account
        return target

    async def _settings_changed(self, section: str, changed: set[str]) -> None:
        if section in self.stores and changed & {"provider", "account"}:
            await self.stores[section].settings_changed()

    async def start(self) -> None:
        for store in self.stores.values():
            await store.start()

    async def stop(self) -> None:
        for store in self.stores.values():
            await store.stop()
        self.nvram.close()
