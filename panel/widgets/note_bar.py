"""The note bar above the status line: the start-up notes, until the user presses [OK].

Start-up notes (`notices.Note`, from whoever started the panel: the demo) are things to read
once, such as a token of the previous run that had to be cleared. They are the app's; every
page's note bar shows them, so they are read on whatever page the user is on, and [OK] on any
page dismisses them everywhere. With no notes the bar takes no room.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from ..base import PanelNode

__all__ = ["NoteBar"]


class NoteBar(PanelNode, Horizontal):
    def __init__(self) -> None:
        super().__init__(id="note-bar")

    def compose(self) -> ComposeResult:
        yield Static("", id="notes")
        yield Button(self._("OK"), id="dismiss-notes", compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "notes", self._show_notes)

    def _show_notes(self) -> None:
        notes = self.panel.notes
        self.display = bool(notes)
        self.query_one("#notes", Static).update(
            "\n".join("ℹ " + note.text(self._) for note in notes))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dismiss-notes":
            event.stop()
            self.panel.dismiss_notes()

    @property
    def text(self) -> str:
        """The notes as shown ("" when none), for tests."""
        return str(self.query_one("#notes", Static).content) if self.display else ""
