"""Job Status: the send queue (queued, sending, sent, failed with the reason) and the output tray.

The page re-reads `DeviceApi.jobs()` and `DeviceApi.tray()` whenever the device reports a job
or a printed document, so a retry, a failure or a received fax shows without a refresh key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from mfp_sim.firmware.events import Event

from ..base import PanelScreen
from ..i18n import N_

__all__ = ["JobStatusScreen"]

_JOB_STATES = {"queued": N_("Queued"), "sending": N_("Sending"), "sent": N_("Sent"), "failed": N_("Failed")}
_JOB_KINDS = {"scan": N_("Scan to E-mail"), "ifax": N_("Internet Fax"), "alert": N_("E-mail Alert")}
#: Events after which the tables are read again.
_REFRESH_ON = frozenset({"job", "fax", "print", "tray"})


class JobStatusScreen(PanelScreen):
    class Heard(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def __init__(self, trail: tuple[str, ...]) -> None:
        super().__init__(trail, id="screen-job-status")
        self._unlisten: Callable[[], None] | None = None

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="job-tabs"):
            with TabPane(self._("Send Jobs"), id="tab-jobs"):
                if hasattr(self.api, "jobs"):
                    yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
                else:
                    yield Static(self._("Not available on this firmware."), classes="page-note")
            with TabPane(self._("Output Tray"), id="tab-tray"):
                if hasattr(self.api, "tray"):
                    yield DataTable(id="tray", cursor_type="row", zebra_stripes=True)
                else:
                    yield Static(self._("Not available on this firmware."), classes="page-note")

    def on_mount(self) -> None:
        if hasattr(self.api, "jobs"):
            self.query_one("#jobs", DataTable).add_columns(
                self._("Job"), self._("Type"), self._("Address"), self._("Status"),
                self._("Attempts"), self._("Time"), self._("Reason"))
        if hasattr(self.api, "tray"):
            self.query_one("#tray", DataTable).add_columns(self._("Document"), self._("Size"))
        self.reload()
        self._unlisten = self.api.listen(self._heard)

    def on_unmount(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    def _heard(self, event: Event) -> None:
        if event.kind in _REFRESH_ON:
            self.post_message(self.Heard(event))

    def on_job_status_screen_heard(self, message: Heard) -> None:
        message.stop()
        self.reload()

    def reload(self) -> None:
        if hasattr(self.api, "jobs"):
            table = self.query_one("#jobs", DataTable)
            table.clear()
            for job in reversed(self.api.jobs()):
                table.add_row(*self._job_row(job), key=str(job.id))
        if hasattr(self.api, "tray"):
            table = self.query_one("#tray", DataTable)
            table.clear()
            for item in self.api.tray():
                table.add_row(str(getattr(item, "name", item)), _size(getattr(item, "size", None)))

    def _job_row(self, job: Any) -> tuple[str, ...]:
        state = str(getattr(job.state, "value", job.state))
        kind = str(job.kind)
        when = time.strftime("%H:%M:%S", time.gmtime(float(job.created)))
        return (str(job.id), self._(_JOB_KINDS.get(kind, kind)), str(job.to),
                self._(_JOB_STATES.get(state, state)), str(job.attempts), when, str(job.reason))


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
