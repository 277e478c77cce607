"""What a page or widget may ask the panel to open, as small frozen values.

A widget never imports a screen and a screen never imports another: each asks the app
(`PanelNode.panel.open(request, on_result)`), and the app's `navigation.Navigator` decides
which screen answers the request. So the token area asks for a `Confirm` and a
`ShowTokenCode` without knowing the dialogs, and a menu key asks for an `OpenEntry`
without knowing the settings pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfp_sim.firmware.menus import Menu, Page
from mfp_sim.firmware.tokens.store import FlowPrompt

__all__ = [
    "Request", "GoHome", "OpenHomeKey", "OpenAdminMenu", "OpenEntry", "Confirm", "ShowTokenCode",
]


@dataclass(frozen=True)
class GoHome:
    """Back to the home screen (ends the administrator session)."""


@dataclass(frozen=True)
class OpenHomeKey:
    """The page behind one of the home screen's keys (`screens.home.HOME_KEYS`, by button id)."""

    key: str


@dataclass(frozen=True)
class OpenAdminMenu:
    """The top menu of Settings (administrator), in place of the login that let the user in."""


@dataclass(frozen=True)
class OpenEntry:
    """A menu or a settings page of the administrator's menu, reached by `trail`."""

    entry: Menu | Page
    trail: tuple[str, ...]


@dataclass(frozen=True)
class Confirm:
    """A question with [OK] and [Cancel]; the answer (True for OK) goes to `on_result`."""

    title: str
    question: str


@dataclass(frozen=True)
class ShowTokenCode:
    """The code dialog of a device flow that has started: address, user code, time left."""

    target: str
    prompt: FlowPrompt


Request = GoHome | OpenHomeKey | OpenAdminMenu | OpenEntry | Confirm | ShowTokenCode
