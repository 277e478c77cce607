"""The administrator's menu tree, as data: the real device's paths, step by step.

    Settings (administrator)
    └── System Settings
        ├── Device Settings                              device (name, language, password)
        ├── Network Settings
        │   └── Services Setup                           [SMTP] tab: smtp, token `smtp`
        ├── Image Send Settings
        │   ├── Scan Settings
        │   │   └── SMTP Authentication                  shared token (Scan to E-mail)
        │   └── Internet Fax Settings
        │       ├── Server Settings                      pop.ifax, token `pop.ifax`
        │       └── Send Settings                        shared token (Internet Fax send)
        ├── Printer Settings
        │   └── E-mail Print Settings                    pop.emailprint, its own token
        └── E-mail Alert and Status Settings
            ├── E-mail Alert                             shared token (e-mail alerts)
            └── Status Notice                            shared token (status notices)

Each `Page` builds its screen from the trail that led to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen

from ..i18n import N_

__all__ = ["Menu", "Page", "ADMIN_MENU"]

Trail = tuple[str, ...]


@dataclass(frozen=True)
class Page:
    label: str
    build: Callable[[Trail], Screen[None]]


@dataclass(frozen=True)
class Menu:
    label: str
    entries: tuple[Menu | Page, ...]


def _settings(section: str, token: str | None = None) -> Callable[[Trail], Screen[None]]:
    def build(trail: Trail) -> Screen[None]:
        from .settings import SettingsScreen

        return SettingsScreen(trail, section, token=token)
    return build


def _smtp_function(function: str) -> Callable[[Trail], Screen[None]]:
    def build(trail: Trail) -> Screen[None]:
        from .settings import SmtpAuthenticationScreen

        return SmtpAuthenticationScreen(trail, function)
    return build


def _services_setup(trail: Trail) -> Screen[None]:
    from .settings import ServicesSetupScreen

    return ServicesSetupScreen(trail)


ADMIN_MENU = Menu(N_("Settings (administrator)"), (
    Menu(N_("System Settings"), (
        Page(N_("Device Settings"), _settings("device")),
        Menu(N_("Network Settings"), (
            Page(N_("Services Setup"), _services_setup),
        )),
        Menu(N_("Image Send Settings"), (
            Menu(N_("Scan Settings"), (
                Page(N_("SMTP Authentication"), _smtp_function("scan_to_email")),
            )),
            Menu(N_("Internet Fax Settings"), (
                Page(N_("Server Settings"), _settings("pop.ifax", token="pop.ifax")),
                Page(N_("Send Settings"), _smtp_function("ifax_send")),
            )),
        )),
        Menu(N_("Printer Settings"), (
            Page(N_("E-mail Print Settings"), _settings("pop.emailprint", token="pop.emailprint")),
        )),
        Menu(N_("E-mail Alert and Status Settings"), (
            Page(N_("E-mail Alert"), _smtp_function("email_alert")),
            Page(N_("Status Notice"), _smtp_function("status_notice")),
        )),
    )),
))
