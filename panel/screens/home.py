"""The home screen: the big keys of the touch panel."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Button

from mfp_sim.firmware.i18n import N_

from ..base import PanelScreen

__all__ = ["HomeScreen", "HOME_KEYS"]

#: (button id, message id) of each key, in the order of the number keys 1–4.
HOME_KEYS: tuple[tuple[str, str], ...] = (
    ("home-scan", N_("Scan to E-mail")),
    ("home-ifax", N_("Internet Fax")),
    ("home-jobs", N_("Job Status")),
    ("home-settings", N_("Settings (administrator)")),
)


class HomeScreen(PanelScreen):
    BINDINGS = [Binding(str(i + 1), f"open('{key}')", label, show=False)
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
        self.app.push_screen(self._screen_for(key))

    def _screen_for(self, key: str) -> Screen[Any]:
        from .jobs import JobStatusScreen
        from .login import AdminLoginScreen
        from .send import InternetFaxScreen, ScanToEmailScreen

        label = dict(HOME_KEYS)[key]
        if key == "home-scan":
            return ScanToEmailScreen((label,))
        if key == "home-ifax":
            return InternetFaxScreen((label,))
        if key == "home-jobs":
            return JobStatusScreen((label,))
        return AdminLoginScreen()

    def action_back(self) -> None:
        """Home has nowhere to go back to."""
