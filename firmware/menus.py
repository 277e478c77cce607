"""The administrator's menu tree, as data: the real device's paths, step by step.

With the real device's contexts the tree is:

    Settings (administrator)
    └── System Settings
        ├── Device Settings                  the device section (name, language, password)
        ├── Network Settings
        │   └── Services Setup               [SMTP] tab: the SMTP setting and its token
        ├── Image Send Settings
        │   ├── Scan Settings
        │   │   └── SMTP Authentication      shared SMTP token (Scan to E-mail)
        │   └── Internet Fax Settings
        │       ├── Server Settings          Internet Fax receive (POP3), its own token
        │       └── Send Settings            shared SMTP token (Internet Fax send)
        ├── Printer Settings
        │   └── E-mail Print Settings        E-mail Print (POP3), its own token
        └── E-mail Alert and Status Settings
            ├── E-mail Alert                 shared SMTP token (e-mail alerts)
            └── Status Notice                shared SMTP token (status notices)

The menus are the device's (`_SKELETON`); every page in them comes from the context table
(`firmware.contexts`: each row's and each SMTP function's `menu` path), so a new context
appears here without a change to this module. The panel's `menu.MenuScreen` opens a
`Page`'s screen; the web page draws the same tree as its left-hand menu (`firmware.web.menu`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .contexts import Contexts
from .i18n import N_
from .settings import DEVICE

__all__ = ["Menu", "Page", "ADMIN_MENU", "admin_menu", "SMTP_AUTH_FIELDS"]

#: The SMTP fields an SMTP function's page shows (Scan to E-mail → SMTP Authentication, ...):
#: its authentication; the server itself is on Services Setup's SMTP tab.
SMTP_AUTH_FIELDS: tuple[str, ...] = ("auth", "user", "password", "provider", "account")


@dataclass(frozen=True)
class Page:
    """A settings page: a section's form (and token area), or an SMTP function's page."""

    label: str
    section: str
    function: str = ""


@dataclass(frozen=True)
class Menu:
    label: str
    entries: tuple[Menu | Page, ...]


#: The menus of the real device, in its order; pages are hung in them from the context table.
_SKELETON = Menu(N_("Settings (administrator)"), (
    Menu(N_("System Settings"), (
        Page(N_("Device Settings"), DEVICE.name),
        Menu(N_("Network Settings"), ()),
        Menu(N_("Image Send Settings"), (
            Menu(N_("Scan Settings"), ()),
            Menu(N_("Internet Fax Settings"), ()),
        )),
        Menu(N_("Printer Settings"), ()),
        Menu(N_("E-mail Alert and Status Settings"), ()),
    )),
))


def admin_menu(contexts: Contexts) -> Menu:
    """The administrator's menu for a device with these contexts: each context's page and each
    SMTP function's page at its menu path, after what the menu already holds; empty menus left out."""
    menu = _SKELETON
    for context in contexts:
        menu = _place(menu, context.menu, Page(context.menu[-1], context.name))
    smtp = contexts.smtp().name
    for function in contexts.functions():
        menu = _place(menu, function.menu, Page(function.menu[-1], smtp, function.name))
    return _prune(menu)


def _place(menu: Menu, path: tuple[str, ...], page: Page) -> Menu:
    if len(path) == 1:
        return replace(menu, entries=(*menu.entries, page))
    for i, entry in enumerate(menu.entries):
        if isinstance(entry, Menu) and entry.label == path[0]:
            entries = list(menu.entries)
            entries[i] = _place(entry, path[1:], page)
            return replace(menu, entries=tuple(entries))
    return replace(menu, entries=(*menu.entries, _place(Menu(path[0], ()), path[1:], page)))


def _prune(menu: Menu) -> Menu:
    kept: list[Menu | Page] = []
    for entry in menu.entries:
        if isinstance(entry, Menu):
            entry = _prune(entry)
            if not entry.entries:
                continue
        kept.append(entry)
    return replace(menu, entries=tuple(kept))


#: The menu of a device with the real device's contexts (firmware.contexts.CONTEXTS).
ADMIN_MENU = admin_menu(Contexts())
