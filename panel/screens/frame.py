"""The frame of every panel page: title bar, the page itself, status line, key bar.

A panel page is framed like the real touch panel: a title bar with the menu path (and Back /
Home for a finger or a mouse), the page itself, the status line (device clock, network,
alerts) and, for keyboard users, a bar of the keys this page answers. Start-up notes, while
there are any, sit above the status line. `PanelScreen` draws
that frame; subclasses only write `compose_body`.

The page keys (F5 Get Token, F6 Clear, Ctrl+S Save) press buttons that belong to widgets of
the page; the frame finds them by protocol (`base.TokenKeys`, `base.SaveKey`) and the CSS
class each such widget carries, so it does not know the widgets' classes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen

from mfp_sim.firmware.i18n import N_

from ..base import PanelNode, SaveKey, TokenKeys
from ..requests import GoHome
from ..widgets.key_bar import KeyBar
from ..widgets.note_bar import NoteBar
from ..widgets.status_line import StatusLine
from ..widgets.title_bar import TitleBar

__all__ = ["PanelScreen"]


class PanelScreen(PanelNode, Screen[None]):
    """A page of the panel, under the title bar and above the status line.

    `trail` holds the message ids of the menu path down to this page (its own title last), so
    the title bar shows where the user is exactly as the manual writes the path.
    """

    #: The page keys, in the order the key bar shows them; descriptions are message ids.
    BINDINGS = [
        Binding("f5", "get_token", N_("Get Token"), key_display="F5"),
        Binding("f6", "clear_token", N_("Clear"), key_display="F6"),
        Binding("ctrl+s", "save", N_("Save"), key_display="Ctrl+S"),
        Binding("escape", "back", N_("Back"), key_display="Esc"),
        Binding("f2", "home", N_("Home"), key_display="F2"),
    ]
    #: Where the keyboard starts on a page: its first field, else its first key or table.
    AUTO_FOCUS = ".field-row Input, .field-row Select, .menu-key, .home-key, DataTable"

    def __init__(self, trail: tuple[str, ...] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trail = trail

    def compose(self) -> ComposeResult:
        yield TitleBar(self.trail)
        with Vertical(id="body"):
            yield from self.compose_body()
        with Vertical(id="page-foot"):
            yield NoteBar()
            yield StatusLine()
            yield KeyBar()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def token_keys(self) -> TokenKeys | None:
        """The page's token area that takes F5/F6, if it has one with buttons."""
        for node in self.query(".token-area"):
            if isinstance(node, TokenKeys) and node.actions:
                return node
        return None

    def save_key(self) -> SaveKey | None:
        """The page's settings form that takes Ctrl+S, if it has one."""
        for node in self.query(".settings-form"):
            if isinstance(node, SaveKey):
                return node
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which page keys this page answers: the key bar shows only those, and only they act."""
        if action in ("get_token", "clear_token"):
            return self.token_keys() is not None
        if action == "save":
            return self.save_key() is not None
        if action in ("back", "home"):
            return self.can_go_back()
        return True

    def can_go_back(self) -> bool:
        """Home is the bottom of the panel's stack (Textual's default screen is below it)."""
        return len(self.app.screen_stack) > 2

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2 and self.app.screen is self:
            self.app.pop_screen()

    def action_home(self) -> None:
        self.panel.open(GoHome())

    async def action_save(self) -> None:
        """Ctrl+S: [Save] of the page's form, for keyboard users."""
        form = self.save_key()
        if form is not None:
            await form.save()

    def action_get_token(self) -> None:
        """F5: [Get Token] of the page's token area."""
        area = self.token_keys()
        if area is not None:
            area.action_get_token()

    def action_clear_token(self) -> None:
        """F6: [Clear] of the page's token area."""
        area = self.token_keys()
        if area is not None:
            area.action_clear_token()
