"""The home screen: the big keys of the touch panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Button

from mfp_sim.firmware.i18n import N_

from ..requests import OpenHomeKey
from .frame import PanelScreen

__all__ = ["HomeScreen", "HOME_KEYS"]

#: (button id, message id) of each key, in the order of the number keys 1–4.
HOME_KEYS: tuple[tuple[str, str], ...] = (
    ("home-scan", N_("Scan to E-mail")),
    ("home-ifax", N_("Internet Fax")),
    ("home-jobs", N_("Job Status")),
    ("home-settings", N_("Settings (administrator)")),
)


class HomeScreen(PanelScreen):
    BINDINGS = [Binding(str(i + 1), f"open('{key}')", label)
                for i, (key, label) in enumerate(HOME_KEYS)]

    def compose_body(self) -> ComposeResult:
        with Grid(id="home-keys"):
            for key, label in HOME_KEYS:
                yield Button(self._(label), id=key, classes="home-key")

    def on_mount(self) -> None:
        self.query_one("#home-scan", Button).focus()
        self.panel.note_ready()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("home-"):
            event.stop()
            self.action_open(event.button.id)

    def action_open(self, key: str) -> None:
        self.panel.open(OpenHomeKey(key))

    def can_go_back(self) -> bool:
        """Home has nowhere to go back to (Esc and F2 are not on its key bar)."""
        return False

    def action_back(self) -> None:
        """Home has nowhere to go back to."""
