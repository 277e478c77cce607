"""Which screen answers each request (`requests`): the one place that knows every screen.

The app owns one `Navigator`. Screens and widgets ask through `PanelHost.open(request)`,
so none of them imports another screen, and the panel's import graph has no circle: this
module and the app sit above the screens, the screens above the widgets, the widgets above
`base`, `requests` and `words`.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.screen import Screen

from mfp_sim.firmware.api import DeviceApi
from mfp_sim.firmware.contexts import Contexts
from mfp_sim.firmware.menus import Menu, Page, admin_menu

from .base import ResultCallback
from .requests import (
    Confirm,
    GoHome,
    OpenAdminMenu,
    OpenEntry,
    OpenHomeKey,
    Request,
    ShowTokenCode,
)
from .screens.dialogs import ConfirmDialog, TokenFlowDialog
from .screens.home import HOME_KEYS, HomeScreen
from .screens.jobs import JobStatusScreen
from .screens.login import AdminLoginScreen
from .screens.menu import MenuScreen
from .screens.send import InternetFaxScreen, ScanToEmailScreen
from .screens.settings import ServicesSetupScreen, SettingsScreen, SmtpAuthenticationScreen

__all__ = ["Navigator", "page_screen"]


def page_screen(page: Page, trail: tuple[str, ...], contexts: Contexts) -> Screen[None]:
    """The screen of a settings page: an SMTP function's, the SMTP tab, or a section's form
    (with the token area when the section is a mail context)."""
    if page.function:
        return SmtpAuthenticationScreen(trail, page.function)
    if page.section == contexts.smtp().name:
        return ServicesSetupScreen(trail)
    token = page.section if page.section in contexts else None
    return SettingsScreen(trail, page.section, token=token)


class Navigator:
    """Puts up the screen for each request on one app's screen stack."""

    def __init__(self, app: App[Any], api: DeviceApi) -> None:
        self.app = app
        self.api = api

    def home(self) -> HomeScreen:
        return HomeScreen()

    def open(self, request: Request, on_result: ResultCallback | None = None) -> None:
        app = self.app
        if isinstance(request, GoHome):
            self.go_home()
        elif isinstance(request, OpenAdminMenu):
            menu = admin_menu(self.api.contexts)
            app.switch_screen(MenuScreen(menu, (menu.label,)))
        elif isinstance(request, Confirm):
            app.push_screen(ConfirmDialog(request.title, request.question), on_result)
        elif isinstance(request, ShowTokenCode):
            app.push_screen(TokenFlowDialog(request.target, request.prompt), on_result)
        else:
            app.push_screen(self.screen_for(request), on_result)

    def screen_for(self, request: OpenHomeKey | OpenEntry) -> Screen[Any]:
        if isinstance(request, OpenEntry):
            entry = request.entry
            if isinstance(entry, Menu):
                return MenuScreen(entry, request.trail)
            return page_screen(entry, request.trail, self.api.contexts)
        label = dict(HOME_KEYS)[request.key]
        if request.key == "home-scan":
            return ScanToEmailScreen((label,))
        if request.key == "home-ifax":
            return InternetFaxScreen((label,))
        if request.key == "home-jobs":
            return JobStatusScreen((label,))
        return AdminLoginScreen()

    def go_home(self) -> None:
        """Pop every page above the home screen (the bottom of the stack is Textual's own)."""
        app = self.app
        while len(app.screen_stack) > 2 and not isinstance(app.screen, HomeScreen):
            app.pop_screen()
