"""Job Status: the send queue (queued, sending, sent, failed with the reason) and the output tray.

The page re-reads `DeviceApi.jobs()` and `DeviceApi.tray()` whenever the device reports a job
or a printed document, so a retry, a failure or a received fax shows without a refresh key.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.widgets import DataTable, TabbedContent, TabPane

from mfp_sim.firmware.events import Event, JobChanged, Printed
from mfp_sim.firmware.i18n import N_
from mfp_sim.firmware.mail.jobs import JobInfo
from mfp_sim.firmware.sentences import say
from mfp_sim.firmware.vocabulary import JobKind, JobState

from ..base import DeviceListener
from .frame import PanelScreen

__all__ = ["JobStatusScreen"]

_JOB_STATES = {JobState.QUEUED: N_("Queued"), JobState.SENDING: N_("Sending"),
               JobState.SENT: N_("Sent"), JobState.FAILED: N_("Failed")}
_JOB_KINDS = {JobKind.SCAN: N_("Scan to E-mail"), JobKind.IFAX: N_("Internet Fax"),
              JobKind.ALERT: N_("E-mail Alert")}


class JobStatusScreen(DeviceListener, PanelScreen):
    #: Events after which the tables are read again: a job moved, the tray gained a document.
    LISTEN = (JobChanged, Printed)

    def __init__(self, trail: tuple[str, ...]) -> None:
        super().__init__(trail, id="screen-job-status")

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="job-tabs"):
            with TabPane(self._("Send Jobs"), id="tab-jobs"):
                yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
            with TabPane(self._("Output Tray"), id="tab-tray"):
                yield DataTable(id="tray", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#jobs", DataTable).add_columns(
            self._("Job"), self._("Type"), self._("Address"), self._("Status"),
            self._("Attempts"), self._("Time"), self._("Reason"))
        self.query_one("#tray", DataTable).add_columns(self._("Document"), self._("Size"))
        self.reload()

    def device_event(self, event: Event) -> None:
        self.reload()

    def reload(self) -> None:
        table = self.query_one("#jobs", DataTable)
        table.clear()
        for job in reversed(self.api.jobs()):
            table.add_row(*self._job_row(job), key=job.id)
        table = self.query_one("#tray", DataTable)
        table.clear()
        for item in self.api.tray():
            table.add_row(item.name, _size(item.size))

    def _job_row(self, job: JobInfo) -> tuple[str, ...]:
        when = time.strftime("%H:%M:%S", time.gmtime(job.created))
        return (job.id, self._(_JOB_KINDS.get(job.kind, job.kind)), job.to,
                self._(_JOB_STATES.get(job.state, job.state)), str(job.attempts), when,
                say(job.reason, self._))


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
