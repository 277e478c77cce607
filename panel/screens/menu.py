"""A menu page: one key per entry of a `Menu` (see menus.py for the tree)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button

from mfp_sim.firmware.menus import Menu

from ..base import slug
from ..requests import OpenEntry
from .frame import PanelScreen

__all__ = ["MenuScreen"]


class MenuScreen(PanelScreen):
    """The keys of one menu; a key asks the panel to open its submenu or page."""

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
                self.panel.open(OpenEntry(entry, self.trail + (entry.label,)))
