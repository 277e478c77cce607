"""What every panel screen and widget shares: the device API, the panel language, the frame.

A panel page is framed like the real touch panel: a title bar with the menu path (and Back /
Home for a finger or a mouse), the page itself, and the status line (device clock, network,
alerts). `PanelScreen` draws that frame; subclasses only write `compose_body`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen

from mfp_sim.firmware.api import DeviceApi
from mfp_sim.firmware.events import Event

if TYPE_CHECKING:
    from .app import PanelApp

__all__ = ["DeviceListener", "PanelNode", "PanelScreen", "slug"]


def slug(message_id: str) -> str:
    """A widget id from an English message id: `Services Setup` → `services-setup`."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in message_id)
    return "-".join(p for p in out.split("-") if p)


class PanelNode:
    """Mixin for panel widgets and screens: reach the device and speak the panel's language.

    Widgets never hold the device or settings themselves; they ask the one `DeviceApi` the
    app was given, so the panel stays a thin face like the console and the web page.
    """

    app: Any  # provided by textual.dom.DOMNode

    @property
    def panel(self) -> PanelApp:
        return cast("PanelApp", self.app)

    @property
    def api(self) -> DeviceApi:
        return self.panel.api

    def _(self, message: str) -> str:
        """The text of `message` in the panel's current language."""
        return self.panel.catalog.gettext(message)


class DeviceListener(PanelNode):
    """Mixin: hear the device's events of the types in `LISTEN` while mounted.

    The device calls its listeners synchronously; the mixin carries each event into the
    widget's own message queue (`Heard`) and hands it to `device_event`, on the panel's loop,
    in order. `wants(event)` narrows further (a token area wants its own store only). The
    listener is removed when the widget is unmounted, so a closed page costs the device nothing.
    """

    LISTEN: ClassVar[tuple[type[Event], ...]] = ()
    _unlisten: Callable[[], None] | None = None

    class Heard(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def wants(self, event: Event) -> bool:
        return True

    def device_event(self, event: Event) -> None:
        """Called on the panel's loop for every event this widget wants."""

    def _heard(self, event: Event) -> None:
        if self.wants(event):
            cast(Any, self).post_message(DeviceListener.Heard(event))

    def on_mount(self) -> None:
        if self.LISTEN and self._unlisten is None:
            self._unlisten = self.api.listen(self._heard, *self.LISTEN)

    def on_unmount(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    def on_device_listener_heard(self, message: DeviceListener.Heard) -> None:
        message.stop()  # a parent that listens too hears the device itself, not its child
        self.device_event(message.event)


class PanelScreen(PanelNode, Screen[None]):
    """A page of the panel, under the title bar and above the status line.

    `trail` holds the message ids of the menu path down to this page (its own title last), so
    the title bar shows where the user is exactly as the manual writes the path.
    """

    BINDINGS = [
        Binding("escape", "back", "Back", show=False),
        Binding("f2", "home", "Home", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
        Binding("f5", "get_token", "Get Token", show=False),
        Binding("f6", "clear_token", "Clear", show=False),
    ]
    #: Where the keyboard starts on a page: its first field, else its first key or table.
    AUTO_FOCUS = ".field-row Input, .field-row Select, .menu-key, .home-key, DataTable"

    def __init__(self, trail: tuple[str, ...] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trail = trail

    def compose(self) -> ComposeResult:
        from .widgets.status_line import StatusLine
        from .widgets.title_bar import TitleBar

        yield TitleBar(self.trail)
        with Vertical(id="body"):
            yield from self.compose_body()
        yield StatusLine()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2 and self.app.screen is self:
            self.app.pop_screen()

    def action_home(self) -> None:
        self.panel.go_home()

    async def action_save(self) -> None:
        """Ctrl+S: [Save] of the page's form, for keyboard users."""
        from .widgets.settings_form import SettingsForm

        for form in self.query(SettingsForm):
            await form.save()
            return

    def action_get_token(self) -> None:
        """F5: [Get Token] of the page's token area."""
        from .widgets.token_area import TokenArea

        for area in self.query(TokenArea):
            area.action_get_token()
            return

    def action_clear_token(self) -> None:
        """F6: [Clear] of the page's token area."""
        from .widgets.token_area import TokenArea

        for area in self.query(TokenArea):
            area.action_clear_token()
            return
