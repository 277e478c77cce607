"""A menu page: one key per entry of a `Menu` (see menus.py for the tree)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button

from mfp_sim.firmware.contexts import Contexts

from ..base import PanelScreen, slug
from .menus import Menu, Page
from .settings import ServicesSetupScreen, SettingsScreen, SmtpAuthenticationScreen

__all__ = ["MenuScreen", "page_screen"]


class MenuScreen(PanelScreen):
    BINDINGS = [
        Binding("down", "app.focus_next", "Next", show=False),
        Binding("up", "app.focus_previous", "Previous", show=False),
    ]

    def __init__(self, menu: Menu, trail: tuple[str, ...]) -> None:
        super().__init__(trail, id=f"screen-{slug(menu.label)}")
        self.menu = menu

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="menu"):
            for entry in self.menu.entries:
                yield Button(self._(entry.label), id=f"menu-{slug(entry.label)}", classes="menu-key")

    def on_mount(self) -> None:
        self.query(".menu-key").first(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        for entry in self.menu.entries:
            if event.button.id == f"menu-{slug(entry.label)}":
                event.stop()
                trail = self.trail + (entry.label,)
                if isinstance(entry, Page):
                    self.app.push_screen(page_screen(entry, trail, self.api.contexts))
                else:
                    self.app.push_screen(MenuScreen(entry, trail))


def page_screen(page: Page, trail: tuple[str, ...], contexts: Contexts) -> Screen[None]:
    """The screen of a settings page: an SMTP function's, the SMTP tab, or a section's form
    (with the token area when the section is a mail context)."""
    if page.function:
        return SmtpAuthenticationScreen(trail, page.function)
    if page.section == contexts.smtp().name:
        return ServicesSetupScreen(trail)
    token = page.section if page.section in contexts else None
    return SettingsScreen(trail, page.section, token=token)
