"""The title bar: the page's name with Back and Home, and the menu path that led here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label

from ..base import PanelNode
from ..requests import GoHome

__all__ = ["TitleBar"]


class TitleBar(PanelNode, Vertical):
    """`‹ Back  ⌂ Home  Services Setup` over `Settings (administrator) › … › Services Setup`.

    The second row is the path exactly as the manual writes it, so a reader can follow the
    manual's steps on the simulated panel.
    """

    def __init__(self, trail: tuple[str, ...]) -> None:
        super().__init__(id="title-bar")
        self.trail = trail

    def compose(self) -> ComposeResult:
        with Horizontal(id="title-row"):
            if self.trail:
                yield Button("‹ " + self._("Back"), id="back", compact=True)
                yield Button("⌂ " + self._("Home"), id="home", compact=True)
                yield Label(self._(self.trail[-1]), id="page-title")
            else:
                ready = self._("Ready")
                yield Label(f"{self.api.get('device.name')}  ·  {ready}", id="page-title")
        if len(self.trail) > 1:
            yield Label(" › ".join(self._(step) for step in self.trail), id="trail")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        screen = self.screen
        if event.button.id == "back" and hasattr(screen, "action_back"):
            screen.action_back()
        elif event.button.id == "home":
            self.panel.open(GoHome())
