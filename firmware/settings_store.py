"""The device's settings, kept in NVRAM, changed only through validated updates.

An update (one `set` on the console, or a whole form on the panel) is parsed completely before
anything is stored, then written in one NVRAM transaction: nothing is ever half-saved. Sections
are sealed at rest because they hold passwords.

The sections are the device section and one per mail context (`firmware.contexts`); the
store reads them back typed: `device()`, `smtp()`, `pop(name)`, or `value(section)` for any
`Section[T]`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from mfp_sim.hwsim.errors import KeystoreError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from .contexts import Contexts
from .errors import ProviderError, SettingsError
from .events import EventBus, SettingsChanged
from .providers import ProviderRegistry
from .settings import DEVICE, DeviceSettings, PopSettings, Section, SettingsErrors, SmtpSettings

__all__ = ["SettingsStore"]

S = TypeVar("S")
Listener = Callable[[str, set[str]], Awaitable[None]]


class SettingsStore:
    def __init__(
        self,
        nvram: Nvram,
        keystore: KeyStore,
        providers: ProviderRegistry,
        events: EventBus,
        contexts: Contexts,
    ) -> None:
        self._nvram = nvram
        self._keys = keystore
        self._providers = providers
        self._events = events
        self._contexts = contexts
        self._listeners: list[Listener] = []
        self._values: dict[str, Any] = {}
        self.load_problems: list[str] = []
        for section in contexts.sections.values():
            self._values[section.name] = self._load(section)

    def _load(self, section: Section[S]) -> S:
        blob = self._nvram.read(self._key(section))
        if blob is None:
            return section.default()
        try:
            return section.from_json(json.loads(self._keys.open(blob, context=self._key(section))))
        except (KeystoreError, ValueError, SettingsError) as exc:
            self.load_problems.append(f"{self._key(section)} could not be read ({exc}); "
                                      "factory values used")
            return section.default()

    @staticmethod
    def _key(section: Section[Any]) -> str:
        return f"settings.{section.name}"

    def record_keys(self, sections: list[str]) -> list[str]:
        """The NVRAM keys of these sections' records (a reset deletes them: factory values)."""
        return [self._key(self.section(name)) for name in sections]

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # ---------------------------------------------------------------- reading
    def section(self, name: str) -> Section[Any]:
        section = self._contexts.sections.get(name)
        if section is None:
            raise SettingsError(name, f"unknown section: one of {', '.join(self._contexts.sections)}")
        return section

    def value(self, section: Section[S]) -> S:
        value: S = self._values[section.name]
        return value

    def device(self) -> DeviceSettings:
        return self.value(DEVICE)

    def smtp(self) -> SmtpSettings:
        value: SmtpSettings = self._values[self._contexts.smtp().name]
        return value

    def pop(self, name: str) -> PopSettings:
        value: PopSettings = self._values[self._contexts.receiver(name).name]
        return value

    def split_key(self, key: str) -> tuple[Section[Any], str]:
        """`pop.ifax.port` → (the pop.ifax section, `port`), checked against the table."""
        name, _, field = key.rpartition(".")
        section = self._contexts.sections.get(name)
        if section is None:
            examples = ", ".join(f"{s}.{f.name}" for s, f in
                                 ((s, sec.fields[0]) for s, sec in self._contexts.sections.items()))
            raise SettingsError(key, f"unknown setting; keys look like {examples}")
        section.field(field)
        return section, field

    def items(self, name: str, *, reveal: bool = False) -> list[tuple[str, str]]:
        section = self.section(name)
        return section.items(self._values[name], reveal=reveal)

    def get_text(self, key: str, *, reveal: bool = False) -> str:
        section, name = self.split_key(key)
        return section.format(name, getattr(self._values[section.name], name), reveal=reveal)

    # ---------------------------------------------------------------- changing
    async def set_text(self, key: str, value: str) -> dict[str, str]:
        section, name = self.split_key(key)
        return await self.update(section.name, {name: value})

    async def update(self, name: str, texts: Mapping[str, str]) -> dict[str, str]:
        """Apply a form of field texts; all or nothing. Returns every changed key with its new text.

        Choosing a provider also fills the section's server, port and security from the
        provider's presets, unless the same update sets them explicitly.
        """
        section = self.section(name)
        current, new = self.preview(name, texts)
        changed = {f.name for f in section.fields if getattr(new, f.name) != getattr(current, f.name)}
        if not changed:
            return {}
        self._write(section, new)
        shown = {f"{name}.{n}": section.format(n, getattr(new, n)) for n in sorted(changed)}
        self._events.publish(SettingsChanged(name, tuple(sorted(shown))))
        for listener in list(self._listeners):
            await listener(name, changed)
        return shown

    def preview(self, name: str, texts: Mapping[str, str]) -> tuple[Any, Any]:
        """(current, what `update` would make of it), or `SettingsErrors`; nothing is stored."""
        section = self.section(name)
        current = self._values[name]
        texts = dict(texts)
        if "provider" in texts and name in self._contexts:
            self._fill_presets(name, texts)
        return current, section.replace(current, texts)

    def _fill_presets(self, name: str, texts: dict[str, str]) -> None:
        provider = texts["provider"].strip().lower()
        if provider not in self._providers:
            raise SettingsErrors([SettingsError(
                f"{name}.provider",
                f"unknown provider {texts['provider']!r}: one of {', '.join(self._providers.names())}")])
        try:
            preset = self._providers.get(provider).presets.get(self._contexts.get(name).service)
        except ProviderError:
            preset = None
        if preset is not None:
            texts.setdefault("server", preset.server)
            texts.setdefault("port", str(preset.port))
            texts.setdefault("security", preset.security.value)

    def replace_section(self, name: str, obj: Any) -> None:
        """For tests and factory reset: store a whole, already valid, section object."""
        section = self.section(name)
        if type(obj) is not section.type:
            raise SettingsError(name, "not a settings object of this section")
        self._write(section, obj)

    def _write(self, section: Section[Any], obj: Any) -> None:
        blob = json.dumps(section.to_json(obj)).encode()
        self._nvram.write(self._key(section), self._keys.seal(blob, context=self._key(section)))
        self._values[section.name] = obj
