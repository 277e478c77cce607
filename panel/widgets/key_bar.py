"""The key bar at the foot of every page: the keys the current page answers, in its language.

It is Textual's `Footer` (so it follows focus and the page's `check_action`, and a click on
a key presses it), with each key's description translated: the bindings' descriptions are
message ids (`N_("Get Token")`). The page decides which keys show (`PanelScreen.check_action`):
F5/F6 only where there is a token area with buttons, Ctrl+S only where there is a form.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

from ..base import PanelNode

__all__ = ["KeyBar"]


class KeyBar(PanelNode, Footer):
    def __init__(self) -> None:
        super().__init__(id="key-bar", show_command_palette=False, compact=True)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            # A FooterKey (Textual keeps the class private): translate its description.
            description = getattr(widget, "description", None)
            if isinstance(description, str) and description:
                widget.description = self._(description)  # type: ignore[attr-defined]
            yield widget

    def keys(self) -> list[tuple[str, str]]:
        """(key, description) as shown, left to right (for tests and the docs)."""
        return [(str(getattr(key, "key_display", "")), str(getattr(key, "description", "")))
                for key in self.query("FooterKey")]
