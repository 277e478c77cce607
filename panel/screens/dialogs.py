"""The panel's dialogs: the confirmation before [Get Token] and [Clear], and the code dialog.

The code dialog is what the user reads while signing in on another device: the address, the
user code, a QR code of the address, and the time left on the *device* clock. It watches its
store like a token area does, so it turns to Retrieved (or says why the flow ended) by itself.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from mfp_sim.firmware.events import Event, TokenChanged
from mfp_sim.firmware.sentences import say
from mfp_sim.firmware.tokens.store import FlowPrompt
from mfp_sim.firmware.words import TOKEN_LABELS

from ..base import DeviceListener, PanelNode
from ..widgets.qr import QrCode

__all__ = ["ConfirmDialog", "TokenFlowDialog", "time_left"]


def time_left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class ConfirmDialog(PanelNode, ModalScreen[bool]):
    """A question with [OK] and [Cancel]; dismisses with True for OK."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, title: str, question: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.question, id="question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._("OK"), id="ok", variant="primary")
                yield Button(self._("Cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "ok")

    def action_cancel(self) -> None:
        self.dismiss(False)


class TokenFlowDialog(DeviceListener, ModalScreen[None]):
    """Where to sign in and which code to enter; closes with [Close] (polling goes on)."""

    BINDINGS = [Binding("escape", "close", "Close", show=False)]
    LISTEN = (TokenChanged,)

    def __init__(self, target: str, prompt: FlowPrompt) -> None:
        super().__init__(classes="dialog-screen")
        self.target = target
        self.prompt = prompt
        self.store = target
        self.state = "waiting"

    def compose(self) -> ComposeResult:
        p = self.prompt
        with Vertical(classes="dialog", id="token-flow"):
            yield Label(self._("Get Token"), classes="dialog-title")
            with Horizontal(id="flow-body"):
                yield QrCode(p.verification_uri_complete or p.verification_uri, id="flow-qr")
                with Vertical(id="flow-info"):
                    yield Static(self._("On a phone or computer, open this address:"))
                    yield Static(p.verification_uri, id="flow-uri")
                    yield Static(self._("and enter the code:"))
                    yield Static(p.user_code, id="flow-code")
                    yield Static("", id="flow-time")
                    yield Static("", id="flow-state")
                    yield Static("", id="flow-reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._("Close"), id="close", variant="primary")

    def on_mount(self) -> None:
        status = self.api.token_status(self.target)
        self.store = status.store
        self._show(seq=0)
        self.set_interval(1.0, self._tick)
        self.query_one("#close", Button).focus()

    def wants(self, event: Event) -> bool:
        return isinstance(event, TokenChanged) and event.store == self.store

    def device_event(self, event: Event) -> None:
        self._show(seq=event.seq)

    def _show(self, *, seq: int) -> None:
        status = self.api.token_status(self.target)
        self.state = status.state.value
        state = self.query_one("#flow-state", Static)
        token = self._("Token")
        state.update(f"{token}: {self._(TOKEN_LABELS[self.state])}")
        for name in TOKEN_LABELS:
            state.set_class(name == self.state, f"-{name}")
        if self.state == "retrieved":
            reason = self._("The token was retrieved. You can close this window.")
        else:
            reason = say(status.reason, self._)
        self.query_one("#flow-reason", Static).update(reason)
        self._tick()
        if seq:
            self.panel.note_token_shown(self.store, self.state, seq)

    def _tick(self) -> None:
        left = self.prompt.expires_at - self.api.now()
        if self.state != "waiting":
            text = ""
        elif left <= 0:
            text = self._("The code has expired.")
        else:
            text = self._("Time left: {time}").format(time=time_left(left))
        self.query_one("#flow-time", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
