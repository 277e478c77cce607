"""A send job's reason, said once and in the device's language (issue 8).

The bench's mail server refuses a message (`550 5.1.1`, a permanent refusal) and, with the
`temp_unavailable` fault armed, greets with `421 4.3.2` (a temporary one: the job waits for
its retry). The console keeps the English sentences QA scripts read (docs/mail.md,
docs/shell.md); the panel's job list, its status line and the web page's job table say the
same reasons in Italian once `device.language` is `it`, the server's own reply untouched; the
connection test says the same sentence, Italian on the panel and the web page.
A job record written before reasons were sentences (a plain-text reason) still loads and
shows. All on the virtual clock, against the real bench over sockets.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.mail.jobs import JobInfo, JobQueue
from mfp_sim.firmware.sentences import Reason
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.tools.testbed import Testbed

from .conftest import BOB, sh
from .mail_helpers import setup_smtp, wait_job
from .panel_fixtures import SIZE, make_panel, open_page, until, walk
from .test_fault_outcomes import Bench
from .test_panel import text_of
from .web_helpers import Client, start_web

pytestmark = pytest.mark.timeout(60)

NOBODY = "nobody@example.test"
UNKNOWN = f"550 5.1.1 <{NOBODY}>: Recipient address rejected: User unknown"
UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"


def where(device: Device) -> str:
    smtp = device.api.settings.smtp()
    return f"{smtp.server}:{smtp.port}"


async def refused_and_retried(device: Device, bench: Testbed, clock: VirtualClock) -> tuple[str, str]:
    """A job refused for good (5xx) and one waiting for its retry (4xx): their ids."""
    await setup_smtp(device, bench, clock)
    refused = (await sh(device, f"scan to={NOBODY}"))["job"]
    await wait_job(device, refused, "failed")
    await Bench(bench).arm("temp_unavailable")
    retried = (await sh(device, f"scan to={BOB}"))["job"]
    await wait_job(device, retried, "queued", attempts=1)
    disarmed = await Bench(bench).wire.control("DELETE", "fault")
    assert disarmed.status_code == 200, disarmed.text
    return refused, retried


def english(device: Device) -> tuple[str, str]:
    return (f"the server refused the message: {UNKNOWN}",
            f"{where(device)} refused the connection: {UNAVAILABLE} (attempt 1 of 8; next in 60 s)")


def italian(device: Device) -> tuple[str, str]:
    return (f"il server ha rifiutato il messaggio: {UNKNOWN}",
            f"{where(device)} ha rifiutato la connessione: {UNAVAILABLE} "
            "(tentativo 1 di 8; prossimo tra 60 s)")


async def test_a_jobs_reason_in_italian_on_the_panel_and_in_english_on_the_console(
        device: Device, bench: Testbed, clock: VirtualClock) -> None:
    refused, retried = await refused_and_retried(device, bench, clock)
    await sh(device, "set device.language it")
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "home-jobs")
        table = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="the two jobs")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(2)}
        assert rows[refused][3] == "Non riuscito" and rows[retried][3] == "In coda"
        assert (rows[refused][6], rows[retried][6]) == italian(device)
        # A job failing while the panel is up: its alert says the reason in Italian too.
        late = (await sh(device, f"scan to={NOBODY}"))["job"]
        await until(pilot, lambda: text_of(app.screen, "#status-alerts").startswith(
            f"⚠ Lavoro {late} non riuscito: il server ha rifiutato il messaggio: {UNKNOWN}"),
            what="the job alert in Italian")
    # The console speaks English, whatever the device's language: the scripts' words.
    for job_id, reason in zip((refused, retried), english(device), strict=True):
        assert (await sh(device, f"job {job_id}"))["reason"] == reason
    lines = await device.shell.execute(f"job {late}")
    assert f"reason=the server refused the message: {UNKNOWN}" in lines


async def test_a_jobs_reason_in_italian_on_the_web_page(device: Device, bench: Testbed,
                                                        clock: VirtualClock) -> None:
    await refused_and_retried(device, bench, clock)
    server = await start_web(device, bench)
    try:
        admin = Client(server.url, str(bench.ca_file))
        await admin.login()
        before = html.unescape((await admin.get("/jobs")).text)
        await sh(device, "set device.language it")
        after = html.unescape((await admin.get("/jobs")).text)
        part = html.unescape((await admin.get("/part/jobs")).text)  # what live updates fetch
    finally:
        await server.stop()
    for said in english(device):
        assert said in before and said not in after
    for said in italian(device):
        assert after.count(said) == 1 and part.count(said) == 1
    assert "Please" not in after and "attempt 1 of" not in after


async def test_a_jobs_sentence_survives_a_power_cut(make_device: Any, bench: Testbed,
                                                    clock: VirtualClock, tmp_path: Path) -> None:
    device = await make_device(nvram_dir=tmp_path / "nv")
    refused, retried = await refused_and_retried(device, bench, clock)
    await device.stop()
    again = await make_device(nvram_dir=tmp_path / "nv")
    await sh(again, "set device.language it")
    reasons = (again.api.job(refused).reason, again.api.job(retried).reason)
    assert all(isinstance(r, Reason) for r in reasons)
    assert reasons == english(again)
    app = make_panel(again)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "home-jobs")
        table = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="the two jobs")
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[6]) for i in range(2)}
    assert (rows[refused], rows[retried]) == italian(again)


#: A job record as the firmware before this change wrote it: the reason is plain text.
OLD_RECORD = {"id": "7", "kind": "scan", "to": BOB, "state": "failed",
              "reason": "the server refused the message: 554 5.7.1 Message rejected as spam",
              "attempts": 1, "created": 1800000000.0, "sender": "alice@example.test",
              "subject": "Scan", "message_id": "<7.mfp@example.test>", "pages": 1,
              "format": "pdf", "updated": 1800000001.0, "next_attempt_at": 1800000000.0,
              "data_started": True, "reply": "", "maybe_duplicate": False}


def test_an_old_record_loads_with_its_plain_reason() -> None:
    job = JobInfo.from_json(dict(OLD_RECORD))
    assert job.reason == OLD_RECORD["reason"] and not isinstance(job.reason, Reason)
    assert "said" not in job.to_json()  # written back as it was
    # and a record whose sentence this firmware does not know keeps its English
    newer = {**OLD_RECORD, "said": {"code": "job.from_the_future", "params": {}}}
    assert JobInfo.from_json(newer).reason == OLD_RECORD["reason"]


async def test_an_old_record_still_loads_and_shows(make_device: Any, tmp_path: Path) -> None:
    nvram = Nvram(tmp_path / "old")
    nvram.write_many({JobQueue.RECORD + "7": json.dumps(OLD_RECORD).encode()})
    nvram.close()
    device = await make_device(nvram_dir=tmp_path / "old")
    reply = await sh(device, "job 7")
    assert reply["_ok"] and reply["state"] == "failed" and reply["reason"] == OLD_RECORD["reason"]
    await sh(device, "set device.language it")
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "home-jobs")
        table = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.row_count == 1, what="the old job")
        row = table.get_row_at(0)
    assert row[0] == "7" and row[3] == "Non riuscito" and row[6] == OLD_RECORD["reason"]


async def test_a_failed_connection_test_says_the_same_sentence_in_italian(
        device: Device, bench: Testbed, clock: VirtualClock) -> None:
    """`test smtp` on the console and [Connection Test] on the web page meet the same 421: the
    console reads English, the page Italian, the server's words untouched in both."""
    await setup_smtp(device, bench, clock)
    await Bench(bench).arm("temp_unavailable")
    console = await sh(device, "test smtp")
    assert console["message"] == f"{where(device)} refused the connection: {UNAVAILABLE}"
    await sh(device, "set device.language it")
    server = await start_web(device, bench)
    try:
        admin = Client(server.url, str(bench.ca_file))
        await admin.login()
        await Bench(bench).arm("temp_unavailable")
        answer = html.unescape((await admin.form_post("/settings/smtp",
                                                      "/settings/smtp/test")).text)
    finally:
        await server.stop()
    assert f"{where(device)} ha rifiutato la connessione: {UNAVAILABLE}" in answer
    assert "refused the connection" not in answer
    app = make_panel(device)  # and the panel's [Connection Test], in Italian too
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        await Bench(bench).arm("temp_unavailable")
        await pilot.click("#test-connection")
        await until(pilot, lambda: "421" in text_of(app.screen, "#form-message"),
                    what="the connection test's answer")
        assert text_of(app.screen, "#form-message") == (
            f"{where(device)} ha rifiutato la connessione: {UNAVAILABLE}")
