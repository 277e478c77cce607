"""The front panel application: one per device, a thin face on its `DeviceApi`.

The app listens to the device's event stream once for panel-wide things (the alerts in the
status line, the panel language); each widget that shows a token listens for its own store,
so a change made anywhere (console, a refresh that failed, another screen) shows at once on
every page that displays it, including pages lower in the screen stack.

For measurement (the lead's benchmark, and tests) the app records when it became interactive
(`ready_at`, the `ready` event, the `Ready` message) and, per token store, which event it last
showed and when (`token_shown`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from mfp_sim.firmware.api import DeviceApi
from mfp_sim.firmware.events import Alert as DeviceAlert
from mfp_sim.firmware.events import Event, JobChanged, Refused, SettingsChanged, TokenChanged
from mfp_sim.firmware.i18n import N_, Catalog
from mfp_sim.firmware.settings import DEVICE
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.vocabulary import JobState, Step
from mfp_sim.firmware.words import context_title

from .base import PanelHost, ResultCallback
from .navigation import Navigator
from .notices import Alert, Note
from .requests import Request

__all__ = ["PanelApp", "Alert", "Note", "TokenShown"]

#: The most alerts the status line remembers; the oldest go first.
MAX_ALERTS = 20


@dataclass(frozen=True)
class TokenShown:
    """The last token state the panel put on screen for a store, and when (perf_counter)."""

    store: str
    state: str
    seq: int
    at: float


class PanelApp(App[None]):
    """The panel of one device. `console_address` and `web_address` are shown in the status line."""

    CSS_PATH = "panel.tcss"
    TITLE = "mfp-sim panel"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", N_("Quit"), key_display="Ctrl+Q")]

    language: reactive[str] = reactive("en", init=False)
    alerts: reactive[tuple[Alert, ...]] = reactive((), init=False)
    notes: reactive[tuple[Note, ...]] = reactive((), init=False)

    class Ready(Message):
        """The home screen is mounted: the panel takes input from here on."""

    class DeviceEvent(Message):
        """An event from the device, carried into the app's message queue."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def __init__(self, api: DeviceApi, *, console_address: str = "", network: str = "LAN",
                 notes: Sequence[Note] = (), web_address: str = "") -> None:
        super().__init__()
        self.api = api
        self.console_address = console_address
        self.web_address = web_address
        self.network = network
        self.catalog = Catalog(api.get("device.language"))
        self.set_reactive(PanelApp.language, self.catalog.language)
        self.set_reactive(PanelApp.notes, tuple(notes))
        self.created_at = perf_counter()
        self.ready_at: float | None = None
        self.ready = asyncio.Event()
        self.token_shown: dict[str, TokenShown] = {}
        self._unlisten: Callable[[], None] | None = None
        self.navigator = Navigator(self, api)

    # ------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self._unlisten = self.api.listen(
            self._heard, TokenChanged, DeviceAlert, Refused, JobChanged, SettingsChanged)
        self.alerts = tuple(
            self._token_alert(name) for name in self.api.store_names()
            if self.api.token_status(name).state is TokenState.INVALID
        )
        self.push_screen(self.navigator.home())

    def on_unmount(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    def _heard(self, event: Event) -> None:
        """From the device's listener (synchronous, any thread): queue it for the app."""
        self.post_message(self.DeviceEvent(event))

    def note_ready(self) -> None:
        """Called by the home screen once it is mounted."""
        if self.ready_at is None:
            self.ready_at = perf_counter()
            self.ready.set()
            self.post_message(self.Ready())

    def note_token_shown(self, store: str, state: str, seq: int) -> None:
        """Called by every widget that has just put a token state on screen."""
        self.token_shown[store] = TokenShown(store, state, seq, perf_counter())

    def open(self, request: Request, on_result: ResultCallback | None = None) -> None:
        """Put up the screen that answers a page's or widget's request (`navigation`)."""
        self.navigator.open(request, on_result)

    def go_home(self) -> None:
        self.navigator.go_home()

    # --------------------------------------------------------------- events
    def on_panel_app_device_event(self, message: DeviceEvent) -> None:
        event = message.event
        if isinstance(event, TokenChanged):
            key = f"token.{event.store}"
            kept = tuple(a for a in self.alerts if a.key != key)
            if event.state is TokenState.INVALID:
                kept += (self._token_alert(event.store),)
            if kept != self.alerts:
                self.alerts = kept
        elif isinstance(event, DeviceAlert):
            # A POP check or print that failed: one alert per source and step, the latest wins.
            self._raise(Alert(f"alert.{event.source}.{event.step}", event.reason,
                              title=self._title(event.source), verbatim=True))
        elif isinstance(event, Refused):
            self._raise(Alert(f"alert.{event.source}.{Step.PRINT}", event.summary(),
                              title=self._title(event.source), verbatim=True))
        elif isinstance(event, JobChanged) and event.state is JobState.FAILED:
            self._raise(Alert(f"job.{event.id}", N_("Job {job} failed: {reason}"),
                              params=(("job", event.id), ("reason", event.reason))))
        elif isinstance(event, SettingsChanged) and event.section == DEVICE.name:
            self.language = self.api.settings.device().language.value

    def _raise(self, alert: Alert) -> None:
        kept = tuple(a for a in self.alerts if a.key != alert.key)
        self.alerts = (kept + (alert,))[-MAX_ALERTS:]

    def _title(self, name: str) -> str:
        return context_title(self.api.contexts, name)

    def _token_alert(self, store: str) -> Alert:
        return Alert(f"token.{store}", N_("{store} token is Invalid"), title=self._title(store))

    def dismiss_alerts(self) -> None:
        """Forget the alerts the firmware raised; token alerts stay until the token changes."""
        self.alerts = tuple(a for a in self.alerts if a.key.startswith("token."))

    def dismiss_notes(self) -> None:
        """The user has read the start-up notes: every page's note bar goes away."""
        self.notes = ()

    # ------------------------------------------------------------- language
    async def watch_language(self, language: str) -> None:
        """Switch the catalog and draw every page again, as a real panel does."""
        self.catalog = Catalog(language)
        for screen in list(self.screen_stack):
            await screen.recompose()


def _is_a_host(app: PanelApp) -> PanelHost:
    """Never called: mypy checks here that the app gives widgets all that `PanelHost` promises."""
    return app
