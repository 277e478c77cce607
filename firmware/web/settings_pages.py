"""Which settings page an address means, and what is on it, from the context table.

    /settings/device          Device Settings: device name, display language
    /settings/<context>       a mail context's page: every field of its section, its token,
                              [Connection Test] (the names of the context table)
    /settings/<function>      an SMTP function's page (scan_to_email, ...): the SMTP
                              authentication fields and the shared SMTP token

The administrator password is not on Device Settings: it is changed on the Security page,
which asks for the current one first.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contexts import Contexts
from ..i18n import N_
from ..menus import SMTP_AUTH_FIELDS
from ..settings import DEVICE

__all__ = ["SettingsPage", "settings_page"]

_DEVICE_FIELDS = tuple(f.name for f in DEVICE.fields if not f.secret)


@dataclass(frozen=True)
class SettingsPage:
    id: str  # the last part of the address
    section: str  # the settings section its form saves
    fields: tuple[str, ...]
    title: str  # message id
    trail: tuple[str, ...]  # message ids: the menu path down to this page
    token: str = ""  # the name the token commands take ("" when the page has no token)
    shared_by: tuple[str, ...] = ()  # message ids: the functions sharing this token


def settings_page(contexts: Contexts, page_id: str) -> SettingsPage | None:
    if page_id == DEVICE.name:
        return SettingsPage(page_id, DEVICE.name, _DEVICE_FIELDS, N_("Device Settings"),
                            (N_("System Settings"), N_("Device Settings")))
    if page_id in contexts:
        context = contexts.get(page_id)
        return SettingsPage(page_id, context.name, tuple(f.name for f in context.section.fields),
                            context.title, context.menu, token=context.name,
                            shared_by=tuple(f.title for f in context.functions))
    for function in contexts.functions():
        if function.name == page_id:
            context = contexts.get(page_id)
            return SettingsPage(page_id, context.name, SMTP_AUTH_FIELDS, function.title,
                                function.menu, token=function.name,
                                shared_by=tuple(f.title for f in context.functions))
    return None
