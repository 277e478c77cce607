"""The token area of an SMTP or POP settings page: `Token: <status>`, [Get Token], [Clear].

The area is given the name the page knows (a store, or an SMTP function such as
`ifax_send`); the device maps functions to the one `smtp` store. It listens to the device's
event stream for that store, and re-reads the status from the device when an event arrives,
so what it shows never drifts from the device whoever made the change.

[Get Token] with no account set is refused before the confirmation, naming the field as the
page labels it: there is nothing to confirm yet, and the user must know which field to fill.
So is [Get Token] for a provider whose tokens come only through the web page's sign-in
(Google): the device's refusal says to sign in there, with the page's address.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Label

from mfp_sim.firmware.errors import FirmwareError
from mfp_sim.firmware.events import Event, SettingsChanged, TokenChanged
from mfp_sim.firmware.sentences import say
from mfp_sim.firmware.tokens.store import TokenStatus
from mfp_sim.firmware.words import TOKEN_LABELS, field_label

from ..base import DeviceListener
from ..requests import Confirm, ShowTokenCode

__all__ = ["TokenArea"]


class TokenArea(DeviceListener, Widget):
    """One store's token status and its two buttons, kept current from device events."""

    BINDINGS = [
        Binding("g", "get_token", "Get Token", show=False),
        Binding("c", "clear_token", "Clear", show=False),
    ]

    state: reactive[str] = reactive("not_retrieved", init=False)
    reason: reactive[str] = reactive("", init=False)
    #: Why the last command from this area was refused (shown until the state changes).
    refusal: reactive[str] = reactive("", init=False)

    #: Its store's token events; the settings of its section, so a refusal about a field
    #: the user has since saved goes away.
    LISTEN = (TokenChanged, SettingsChanged)

    class Changed(Message):
        """The state shown here changed; pages (the flow dialog) may react."""

        def __init__(self, area: TokenArea, store: str, state: str) -> None:
            super().__init__()
            self.area = area
            self.store = store
            self.state = state

    def __init__(self, target: str, *, actions: bool = True, id: str | None = None) -> None:
        super().__init__(id=id, classes="token-area")
        self.target = target
        self.actions = actions
        self.store = target

    def compose(self) -> ComposeResult:
        with Horizontal(classes="token-row"):
            yield Label(self._("Token") + ":", classes="token-caption")
            yield Label("", id="token-label")
            if self.actions:
                yield Button(self._("Get Token"), id="get-token", compact=True, variant="primary")
                yield Button(self._("Clear"), id="clear-token", compact=True, variant="warning")
        yield Label("", id="token-reason")

    def on_mount(self) -> None:
        status = self.api.token_status(self.target)
        self.store = status.store
        self._apply(status, seq=0)

    def wants(self, event: Event) -> bool:
        if isinstance(event, SettingsChanged):
            return event.section == self.store
        return isinstance(event, TokenChanged) and event.store == self.store

    def device_event(self, event: Event) -> None:
        if isinstance(event, SettingsChanged):
            self.refusal = ""
            return
        self._apply(self.api.token_status(self.target), seq=event.seq)

    def _apply(self, status: TokenStatus, *, seq: int) -> None:
        changed = status.state.value != self.state
        if changed:
            self.refusal = ""
        self.state = status.state.value
        self.reason = status.reason
        self._show()
        self.panel.note_token_shown(self.store, self.state, seq)
        if changed:
            self.post_message(self.Changed(self, self.store, self.state))

    def _show(self) -> None:
        label = self.query_one("#token-label", Label)
        label.update(self._(TOKEN_LABELS[self.state]))
        for state in TOKEN_LABELS:
            label.set_class(state == self.state, f"-{state}")
        reason = self.query_one("#token-reason", Label)
        reason.update(self.refusal or say(self.reason, self._))
        reason.set_class(bool(self.refusal), "-refused")

    def watch_refusal(self) -> None:
        if self.is_mounted:
            self._show()

    @property
    def label_text(self) -> str:
        """What the area shows after `Token:` (for tests and the benchmark)."""
        return str(self.query_one("#token-label", Label).content)

    # -------------------------------------------------------------- actions
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "get-token":
            event.stop()
            self.action_get_token()
        elif event.button.id == "clear-token":
            event.stop()
            self.action_clear_token()

    def action_get_token(self) -> None:
        if not self.actions:
            return
        if self.state == "waiting":  # the code is still valid: show it again, no new flow
            self.run_worker(self._start_flow(), group="token", exclusive=True)
            return
        missing = self.missing_account()
        if missing:
            self.refusal = missing
            return
        if self.api.web_sign_in(self.target) is not None:
            # No device flow for this provider's mail scope: the device refuses at once, saying
            # to sign in on the web page (and where): nothing to confirm.
            self.run_worker(self._start_flow(), group="token", exclusive=True)
            return
        status = self.api.token_status(self.target)
        question = self._("Get a token for {account} from {provider}?").format(
            account=status.account or "—", provider=self._provider_title(status.provider))
        self.panel.open(Confirm(self._("Get Token"), question), self._confirmed_get)

    def missing_account(self) -> str:
        """Why [Get Token] cannot start yet, in the page's words ("" when it can).

        The store's section is the mail context of the same name, whose `account` field the
        page shows under its own label (`Account Name`, or what the context calls it).
        """
        if self.api.get(f"{self.store}.account").strip():
            return ""
        label = self._(field_label(self.api.contexts, self.store, "account"))
        return self._("Set “{field}” first: the e-mail address to sign in with.").format(field=label)

    def _confirmed_get(self, ok: bool | None) -> None:
        if ok:
            self.run_worker(self._start_flow(), group="token", exclusive=True)

    async def _start_flow(self) -> None:
        try:
            prompt = await self.api.get_token(self.target)
        except FirmwareError as exc:
            self.refusal = str(exc)
            return
        self.refusal = ""
        self.panel.open(ShowTokenCode(self.target, prompt))

    def action_clear_token(self) -> None:
        if not self.actions:
            return
        question = self._("Delete the token? The status becomes “Not retrieved”.")
        self.panel.open(Confirm(self._("Clear"), question), self._confirmed_clear)

    def _confirmed_clear(self, ok: bool | None) -> None:
        if ok:
            self.run_worker(self._clear(), group="token", exclusive=True)

    async def _clear(self) -> None:
        try:
            await self.api.clear_token(self.target)
        except FirmwareError as exc:
            self.refusal = str(exc)

    def _provider_title(self, name: str) -> str:
        for provider in self.api.providers():
            if provider.name == name:
                return provider.display_name
        return name
