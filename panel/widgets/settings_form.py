"""A settings form: every field of one section, saved all at once with [Save].

Nothing reaches the device until [Save]; then only the fields the user changed are sent, in
one `DeviceApi.update` that the device accepts whole or refuses whole. A refused value is
shown under its own field with the device's message; the other fields keep what was typed.
Sending only the changes matters: choosing a provider lets the device fill that provider's
server, port and security, which it does only for fields the same update does not set. After
a save the form reads everything back from the device, so those presets appear.

A change made elsewhere (console, another page) is taken in for every field the user has not
touched here.

A new administrator password is taken only with the current one (the device refuses it
otherwise, on every face): the Device Settings form has a Current Password field beside it,
sent with the save (`DeviceApi.update(..., current_password=)`).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from mfp_sim.firmware.access import LoginRefused
from mfp_sim.firmware.errors import FirmwareError, SettingsError
from mfp_sim.firmware.events import Event, SettingsChanged
from mfp_sim.firmware.sentences import say
from mfp_sim.firmware.settings import DEVICE, SettingsErrors
from mfp_sim.firmware.words import HINTS, choices_of, field_label

from ..base import DeviceListener

__all__ = ["SettingsForm"]

#: The field whose change needs the current password, and the field that asks for it.
_ADMIN, _CURRENT = "admin_password", "current_password"

class SettingsForm(DeviceListener, Vertical):
    class Saved(Message):
        """The device accepted the form; `changed` maps each changed key to its new text."""

        def __init__(self, section: str, changed: dict[str, str]) -> None:
            super().__init__()
            self.section = section
            self.changed = changed

    LISTEN = (SettingsChanged,)

    def __init__(self, section: str, fields: Sequence[str] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="settings-form")
        self.section = section
        self._table = None if fields is None else tuple(fields)
        self.fields: tuple[str, ...] = ()
        self._secret: set[str] = set()
        self._loaded: dict[str, str] = {}

    # --------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        table = self.api.settings.section(self.section).fields
        self.fields = self._table or tuple(f.name for f in table)
        self._secret = {f.name for f in table if f.secret}
        self._loaded = self._device_texts()
        for name in self.fields:
            with Horizontal(classes="field-row", id=f"row-{name}"):
                yield Label(self._(field_label(self.api.contexts, self.section, name)),
                            classes="field-label")
                yield self._editor(name, self._loaded[name])
                yield Label(HINTS.get(name, ""), classes="field-hint")
            yield Static("", id=f"error-{name}", classes="field-error")
            if name == _ADMIN and self.section == DEVICE.name:
                with Horizontal(classes="field-row", id=f"row-{_CURRENT}"):
                    yield Label(self._(field_label(self.api.contexts, self.section, _CURRENT)),
                                classes="field-label")
                    yield Input("", password=True, compact=True, id=f"field-{_CURRENT}")
                    yield Label("", classes="field-hint")
                yield Static("", id=f"error-{_CURRENT}", classes="field-error")
        with Horizontal(classes="form-buttons"):
            yield Button(self._("Save"), id="save", variant="primary", compact=True)
            yield Button(self._("Cancel"), id="revert", compact=True)
            if self.section in self.api.contexts:
                yield Button(self._("Connection Test"), id="test-connection", compact=True)
        yield Static("", id="form-message")

    def _editor(self, name: str, text: str) -> Widget:
        wid = f"field-{name}"
        options = self._options(name, text)
        if options is not None:
            return Select(options, value=text, allow_blank=False, compact=True, id=wid)
        if name in self._secret:
            hint = self._("(unchanged)") if text else ""
            return Input("", password=True, placeholder=hint, compact=True, id=wid)
        return Input(text, compact=True, id=wid)

    def _options(self, name: str, current: str) -> list[tuple[str, str]] | None:
        if name == "provider":
            options = [(p.display_name, p.name) for p in self.api.providers()]
        else:
            choices = choices_of(self.api.contexts, self.section, name)
            if choices is None:
                return None
            options = [(self._(label), value) for value, label in choices]
        if current not in {value for _, value in options}:
            options.append((current or "—", current))  # a value the list no longer offers
        return options

    # ---------------------------------------------------------------- state
    def _device_texts(self) -> dict[str, str]:
        prefix = f"{self.section}."
        return {key.removeprefix(prefix): text for key, text in self.api.settings_items(self.section)}

    def editor_text(self, name: str) -> str:
        widget = self.query_one(f"#field-{name}")
        if isinstance(widget, Select):
            return str(widget.value)
        assert isinstance(widget, Input)
        return widget.value

    def changes(self) -> dict[str, str]:
        """The fields the user changed, as texts for the device."""
        out: dict[str, str] = {}
        for name in self.fields:
            text = self.editor_text(name)
            if name in self._secret:
                if text:
                    out[name] = text
            elif text != self._loaded[name]:
                out[name] = text
        return out

    def load(self, *, keep_edits: bool) -> None:
        """Show the device's values; with `keep_edits`, leave fields the user changed alone."""
        texts = self._device_texts()
        for name in self.fields:
            widget = self.query_one(f"#field-{name}")
            edited = self.editor_text(name) != ("" if name in self._secret else self._loaded[name])
            if keep_edits and edited:
                continue
            if isinstance(widget, Select):
                options = self._options(name, texts[name])
                assert options is not None
                widget.set_options(options)
                widget.value = texts[name]
            elif isinstance(widget, Input):
                if name in self._secret:
                    widget.value = ""
                    widget.placeholder = self._("(unchanged)") if texts[name] else ""
                else:
                    widget.value = texts[name]
        self._loaded = texts

    # --------------------------------------------------------------- saving
    async def save(self) -> bool:
        """[Save]: send the changes; True when the device took them (or there were none)."""
        self._clear_errors()
        texts = self.changes()
        if not texts:
            self._say(self._("No changes to save."))
            return True
        current = None
        if _ADMIN in texts and self.query(f"#field-{_CURRENT}"):
            current = self.query_one(f"#field-{_CURRENT}", Input).value or None
        try:
            changed = await self.api.update(self.section, texts, current_password=current)
        except LoginRefused as exc:
            self._refused([SettingsError(f"{self.section}.{_CURRENT}", str(exc))])
            return False
        except SettingsErrors as exc:
            self._refused(exc.errors)
            return False
        except SettingsError as exc:
            self._refused([exc])
            return False
        except FirmwareError as exc:
            self._say(str(exc), error=True)
            return False
        self.load(keep_edits=False)
        for field in self.query(f"#field-{_CURRENT}").results(Input):
            field.value = ""
        self._say(self._("Saved."))
        self.post_message(self.Saved(self.section, changed))
        return True

    def _refused(self, errors: list[SettingsError]) -> None:
        elsewhere: list[str] = []
        first: Widget | None = None
        for error in errors:
            name = error.key.rpartition(".")[2]
            if name in self.fields or (name == _CURRENT and self.query(f"#field-{_CURRENT}")):
                error_line = self.query_one(f"#error-{name}", Static)
                error_line.update(error.message)
                error_line.add_class("-shown")
                self.query_one(f"#row-{name}").add_class("-invalid")
                first = first or self.query_one(f"#field-{name}")
            else:
                elsewhere.append(str(error))
        self._say(" ".join([self._("Not saved: correct the marked fields.")] + elsewhere), error=True)
        if first is not None:
            first.focus()

    def _clear_errors(self) -> None:
        extra = (_CURRENT,) if self.query(f"#field-{_CURRENT}") else ()
        for name in (*self.fields, *extra):
            error_line = self.query_one(f"#error-{name}", Static)
            error_line.update("")
            error_line.remove_class("-shown")
            self.query_one(f"#row-{name}").remove_class("-invalid")

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#form-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    def error_text(self, name: str) -> str:
        """The refusal shown under a field ("" when none), for tests."""
        return str(self.query_one(f"#error-{name}", Static).content)

    # ---------------------------------------------------------------- input
    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            event.stop()
            await self.save()
        elif event.button.id == "revert":
            event.stop()
            self._clear_errors()
            self.load(keep_edits=False)
            self._say("")
        elif event.button.id == "test-connection":
            event.stop()
            self.run_worker(self._test_connection(), group="test", exclusive=True)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.save()

    async def _test_connection(self) -> None:
        self._say(self._("Testing the connection…"))
        try:
            report = await self.api.test_connection(self.section)
        except FirmwareError as exc:
            self._say(str(exc), error=True)
            return
        ok = bool(getattr(report, "ok", False))
        message = getattr(report, "message", report)
        text = say(message, self._) if isinstance(message, str) else str(message)
        self._say((self._("Connection OK.") + " " + text) if ok else text, error=not ok)

    # ------------------------------------------------------- device changes
    def wants(self, event: Event) -> bool:
        return isinstance(event, SettingsChanged) and event.section == self.section

    def device_event(self, event: Event) -> None:
        self.load(keep_edits=True)
