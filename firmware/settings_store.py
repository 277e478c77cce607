"""The device's settings, kept in NVRAM, changed only through validated updates.

An update (one `set` on the console, or a whole form on the panel) is parsed completely before
anything is stored, then written in one NVRAM transaction: nothing is ever half-saved. Sections
are sealed at rest because they hold passwords.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mfp_sim.hwsim.errors import KeystoreError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from .errors import ProviderError, SettingsError
from .events import EventBus
from .providers import ProviderRegistry
from .settings import (
    FIELDS,
    SECTIONS,
    SettingsErrors,
    field_of,
    format_field,
    from_json,
    replace_fields,
    to_json,
)

__all__ = ["SettingsStore", "split_key"]

Listener = Callable[[str, set[str]], Awaitable[None]]


def split_key(key: str) -> tuple[str, str]:
    """`pop.ifax.port` → (`pop.ifax`, `port`), checked against the known sections."""
    section, _, name = key.rpartition(".")
    if section not in SECTIONS:
        raise SettingsError(key, f"unknown setting; keys look like smtp.server, pop.ifax.port, "
                                 f"device.language (sections: {', '.join(SECTIONS)})")
    field_of(section, name)
    return section, name


class SettingsStore:
    def __init__(self, nvram: Nvram, keystore: KeyStore, providers: ProviderRegistry, events: EventBus) -> None:
        self._nvram = nvram
        self._keys = keystore
        self._providers = providers
        self._events = events
        self._listeners: list[Listener] = []
        self._values: dict[str, Any] = {}
        self.load_problems: list[str] = []
        for section, cls in SECTIONS.items():
            self._values[section] = self._load(section, cls)

    def _load(self, section: str, cls: type[Any]) -> Any:
        blob = self._nvram.read(f"settings.{section}")
        if blob is None:
            return cls()
        try:
            return from_json(section, json.loads(self._keys.open(blob, context=f"settings.{section}")))
        except (KeystoreError, ValueError, SettingsError) as exc:
            self.load_problems.append(f"settings.{section} could not be read ({exc}); factory values used")
            return cls()

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def section(self, section: str) -> Any:
        if section not in SECTIONS:
            raise SettingsError(section, f"unknown section: one of {', '.join(SECTIONS)}")
        return self._values[section]

    def items(self, section: str, *, reveal: bool = False) -> list[tuple[str, str]]:
        obj = self.section(section)
        return [(f"{section}.{f.name}", format_field(section, f.name, getattr(obj, f.name), reveal=reveal))
                for f in FIELDS[section]]

    def get_text(self, key: str, *, reveal: bool = False) -> str:
        section, name = split_key(key)
        return format_field(section, name, getattr(self._values[section], name), reveal=reveal)

    async def set_text(self, key: str, value: str) -> dict[str, str]:
        section, name = split_key(key)
        return await self.update(section, {name: value})

    async def update(self, section: str, texts: Mapping[str, str]) -> dict[str, str]:
        """Apply a form of field texts; all or nothing. Returns every changed key with its new text.

        Choosing a provider also fills the section's server, port and security from the
        provider's presets, unless the same update sets them explicitly.
        """
        current = self.section(section)
        texts = dict(texts)
        if "provider" in texts:
            name = texts["provider"].strip().lower()
            if name not in self._providers:
                raise SettingsErrors([SettingsError(
                    f"{section}.provider",
                    f"unknown provider {texts['provider']!r}: one of {', '.join(self._providers.names())}")])
            service = "pop" if section.startswith("pop.") else "smtp"
            try:
                preset = self._providers.get(name).presets.get(service)
            except ProviderError:
                preset = None
            if preset is not None:
                texts.setdefault("server", preset.server)
                texts.setdefault("port", str(preset.port))
                texts.setdefault("security", preset.security.value)
        new = replace_fields(current, section, texts)
        changed = {f.name for f in FIELDS[section] if getattr(new, f.name) != getattr(current, f.name)}
        if not changed:
            return {}
        blob = json.dumps(to_json(new)).encode()
        self._nvram.write(f"settings.{section}", self._keys.seal(blob, context=f"settings.{section}"))
        self._values[section] = new
        shown = {f"{section}.{n}": format_field(section, n, getattr(new, n)) for n in sorted(changed)}
        self._events.publish("settings", section=section, keys=",".join(sorted(shown)))
        for listener in list(self._listeners):
            await listener(section, changed)
        return shown

    def replace_section(self, section: str, obj: Any) -> None:
        """For tests and factory reset: store a whole, already valid, section object."""
        if not dataclasses.is_dataclass(obj) or type(obj) is not SECTIONS[section]:
            raise SettingsError(section, "not a settings object of this section")
        blob = json.dumps(to_json(obj)).encode()
        self._nvram.write(f"settings.{section}", self._keys.seal(blob, context=f"settings.{section}"))
        self._values[section] = obj
