"""The left-hand menu of the web page, laid out like an MFP's web UI, as data.

    Status · Jobs · Output Tray
    System Settings                 the administrator's menu tree (`firmware.menus`):
      Device Settings               every page of the context table at its menu path, so a
      Network Settings              new mail context appears here with no template change
        Services Setup              (SMTP)
      Image Send Settings …         (Internet Fax → Server Settings: POP3)
      Printer Settings …            (E-mail Print)
    Security                        certificates, administrator password
    Logs

Labels are message ids, translated when the page is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contexts import Contexts
from ..i18n import N_
from ..menus import Menu, Page, admin_menu

__all__ = ["Link", "web_menu", "page_href"]


@dataclass(frozen=True)
class Link:
    label: str  # message id
    href: str  # "" for a heading whose entries are the links
    entries: tuple[Link, ...] = ()

    def contains(self, path: str) -> bool:
        return self.href == path or any(e.contains(path) for e in self.entries)


def page_href(page: Page) -> str:
    """The address of a settings page: its SMTP function's name, or its section's."""
    return f"/settings/{page.function or page.section}"


def _link(entry: Menu | Page) -> Link:
    if isinstance(entry, Page):
        return Link(entry.label, page_href(entry))
    return Link(entry.label, "", tuple(_link(e) for e in entry.entries))


def web_menu(contexts: Contexts) -> tuple[Link, ...]:
    admin = admin_menu(contexts)  # "Settings (administrator)": its entries are the menus
    return (
        Link(N_("Status"), "/status"),
        Link(N_("Job Status"), "/jobs"),
        Link(N_("Output Tray"), "/tray"),
        *(_link(entry) for entry in admin.entries),
        Link(N_("Security"), "/security"),
        Link(N_("Logs"), "/logs"),
    )
