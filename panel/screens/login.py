"""The administrator login in front of every setting.

The device checks the password (`DeviceApi.check_admin_password`); a wrong one is refused with
a message and the field is emptied. On success the login screen gives way to the top menu of
Settings (administrator); going Home ends the session, as on the real panel.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..base import PanelNode
from ..requests import OpenAdminMenu

__all__ = ["AdminLoginScreen"]


class AdminLoginScreen(PanelNode, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="login"):
            yield Label(self._("Settings (administrator)"), classes="dialog-title")
            yield Static(self._("Enter the administrator password."))
            yield Input(password=True, id="admin-password")
            yield Static("", id="login-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._("OK"), id="ok", variant="primary")
                yield Button(self._("Cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#admin-password", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._try()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try()

    def _try(self) -> None:
        field = self.query_one("#admin-password", Input)
        if self.api.check_admin_password(field.value):
            self.panel.open(OpenAdminMenu())
            return
        field.value = ""
        message = self.query_one("#login-message", Static)
        message.update(self._("The password is not correct."))
        message.add_class("-error")
        field.focus()

    def action_cancel(self) -> None:
        self.dismiss(False)
