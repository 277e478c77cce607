"""What every panel screen and widget shares: the app they ask things of, the device, the language.

This module is the bottom of the panel: it imports no screen and no widget. Widgets and
screens reach the app through `PanelHost`, the few things they need of it (the device API,
the language, the alerts and notes, and `open` for anything that puts a new screen up), so none of them
imports the app or each other. The page frame (title bar, page, status line, keys) is
`screens.frame.PanelScreen`.

The page keys F5, F6 and Ctrl+S are the page's, but what they press belongs to a widget (the
token area's [Get Token] and [Clear], the form's [Save]). The frame finds those widgets by
the protocols below, not by their classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

from textual.message import Message

from mfp_sim.firmware.api import DeviceApi
from mfp_sim.firmware.events import Event
from mfp_sim.firmware.i18n import Catalog

from .notices import Alert, Note
from .requests import Request

__all__ = [
    "DeviceListener", "PanelHost", "PanelNode", "ResultCallback", "SaveKey", "TokenKeys", "slug",
]

#: Called with what a dialog answered (True for [OK]), or None when it was closed.
ResultCallback = Callable[[Any], None]


def slug(message_id: str) -> str:
    """A widget id from an English message id: `Services Setup` → `services-setup`."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in message_id)
    return "-".join(p for p in out.split("-") if p)


class PanelHost(Protocol):
    """What the panel's screens and widgets need of the app (`app.PanelApp` is the one)."""

    @property
    def api(self) -> DeviceApi: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def network(self) -> str: ...
    @property
    def console_address(self) -> str: ...
    @property
    def web_address(self) -> str: ...
    @property
    def alerts(self) -> tuple[Alert, ...]: ...
    @property
    def notes(self) -> tuple[Note, ...]: ...

    def open(self, request: Request, on_result: ResultCallback | None = None) -> None:
        """Put up the screen that answers `request` (see `requests`)."""

    def note_ready(self) -> None:
        """The home screen is mounted: the panel takes input."""

    def note_token_shown(self, store: str, state: str, seq: int) -> None:
        """A widget has just put a token state on screen."""

    def dismiss_alerts(self) -> None:
        """The user acknowledged the firmware's alerts."""

    def dismiss_notes(self) -> None:
        """The user has read the start-up notes."""


@runtime_checkable
class TokenKeys(Protocol):
    """What F5 and F6 press on a page: a token area's [Get Token] and [Clear].

    `actions` is False where the area only shows the status (the sending pages).
    """

    actions: bool

    def action_get_token(self) -> None: ...
    def action_clear_token(self) -> None: ...


@runtime_checkable
class SaveKey(Protocol):
    """What Ctrl+S presses on a page: a settings form's [Save]."""

    async def save(self) -> bool: ...


class PanelNode:
    """Mixin for panel widgets and screens: reach the device and speak the panel's language.

    Widgets never hold the device or settings themselves; they ask the one `DeviceApi` the
    app was given, so the panel stays a thin face like the console and the web page.
    """

    app: Any  # provided by textual.dom.DOMNode

    @property
    def panel(self) -> PanelHost:
        return cast(PanelHost, self.app)

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
