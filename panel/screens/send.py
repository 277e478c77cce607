"""The sending pages: Scan to E-mail and Internet Fax.

Each page takes an address and a page count (and, for e-mail, a file format), hands them to
the device with [Start], and says which job was queued; the job's progress is on the Job
Status page. The shared SMTP token is shown (read-only) because it decides whether the job
can authenticate.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from mfp_sim.firmware.errors import FirmwareError
from mfp_sim.firmware.i18n import N_

from ..widgets.token_area import TokenArea
from .frame import PanelScreen

__all__ = ["ScanToEmailScreen", "InternetFaxScreen"]


class SendScreen(PanelScreen):
    #: The SMTP function whose token this page uses.
    FUNCTION: ClassVar[str]
    FORMATS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="send-form"):
            with Horizontal(classes="field-row"):
                yield Label(self._("Address"), classes="field-label")
                yield Input(placeholder="name@example.com", compact=True, id="send-to")
            with Horizontal(classes="field-row"):
                yield Label(self._("Pages"), classes="field-label")
                yield Input("1", compact=True, id="send-pages", type="integer")
            if self.FORMATS:
                with Horizontal(classes="field-row"):
                    yield Label(self._("File Format"), classes="field-label")
                    yield Select([(self._(label), value) for value, label in self.FORMATS],
                                 value=self.FORMATS[0][0], allow_blank=False, compact=True,
                                 id="send-format")
            with Horizontal(classes="form-buttons"):
                yield Button(self._("Start"), id="start", variant="success", compact=True)
            yield Static("", id="send-message")
        yield TokenArea(self.FUNCTION, actions=False)

    def on_mount(self) -> None:
        self.query_one("#send-to", Input).focus()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            await self.start()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.start()

    async def start(self) -> str | None:
        """[Start]: queue the job; the job id, or None when the device refused."""
        to = self.query_one("#send-to", Input).value.strip()
        pages_text = self.query_one("#send-pages", Input).value.strip()
        message = self.query_one("#send-message", Static)
        try:
            pages = int(pages_text)
        except ValueError:
            message.update(self._("Pages: enter a whole number."))
            message.add_class("-error")
            return None
        try:
            job_id = await self._submit(to, pages)
        except FirmwareError as exc:
            message.update(str(exc))
            message.add_class("-error")
            return None
        message.remove_class("-error")
        message.update(self._("Job {job} queued: see Job Status.").format(job=job_id))
        return job_id

    async def _submit(self, to: str, pages: int) -> str:
        raise NotImplementedError


class ScanToEmailScreen(SendScreen):
    FUNCTION = "scan_to_email"
    FORMATS = (("pdf", N_("PDF")), ("tiff", N_("TIFF")))

    async def _submit(self, to: str, pages: int) -> str:
        fmt = str(self.query_one("#send-format", Select).value)
        return await self.api.scan_to_email(to, pages=pages, fmt=fmt)


class InternetFaxScreen(SendScreen):
    FUNCTION = "ifax_send"

    async def _submit(self, to: str, pages: int) -> str:
        return await self.api.ifax_send(to, pages=pages)
