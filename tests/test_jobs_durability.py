"""The send queue across restarts and power cuts: never lost; sent twice only in the one
window SMTP cannot close (after DATA, before the device records the 250), and then with the
same Message-ID, which the receiving side uses to print it once.

In-process restarts build a new `Device` on the same NVRAM folder; the last test kills real
device processes with SIGKILL at random instants.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from mfp_sim.firmware.mail.jobs import JobInfo, JobState
from mfp_sim.firmware.receive.drain import Drain
from mfp_sim.hwsim.nvram import Nvram

from .conftest import BOB, sh, wait_for
from .mail_helpers import closed_port, maildir, setup_pop, setup_smtp, tray_names, wait_job

pytestmark = [
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(60),
]

ROOT = Path(__file__).resolve().parent.parent


def stored_job(directory: Path, job_id: str) -> JobInfo:
    """The job as a rebooting device reads it from NVRAM."""
    nvram = Nvram(directory)
    try:
        blob = nvram.read(f"job.{job_id}")
        assert blob is not None
        return JobInfo.from_json(json.loads(blob))
    finally:
        nvram.close()


async def test_job_waiting_for_a_retry_survives_a_restart(make_device, bench, clock, tmp_path):
    a = await make_device("dev")
    await setup_smtp(a, bench, clock)
    assert (await sh(a, f"set smtp.port {closed_port()} --confirm"))["_ok"]
    job_id = (await sh(a, f"scan to={BOB}"))["job"]
    await wait_job(a, job_id, "queued", attempts=1)
    await a.stop()  # power off while the job waits for its retry

    b = await make_device("dev2", nvram_dir=tmp_path / "dev")
    assert (await sh(b, f"set smtp.port {bench.mail.smtp_port} --confirm"))["_ok"]  # the admin fixes it
    assert (await sh(b, f"job {job_id}"))["state"] == "queued"
    await clock.advance(60)
    job = await wait_job(b, job_id)
    assert (job.state, job.attempts) == (JobState.SENT, 2)
    assert len(maildir(bench, BOB)) == 1
    assert (await sh(b, f"scan to={BOB}"))["job"] == str(int(job_id) + 1)  # ids never reused


async def test_power_cut_before_data_sends_once(make_device, bench, clock, tmp_path):
    held: list[asyncio.StreamWriter] = []

    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    silent = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    try:
        a = await make_device("dev")
        await setup_smtp(a, bench, clock)
        assert (await sh(a, f"set smtp.port {silent.sockets[0].getsockname()[1]} --confirm"))["_ok"]
        job_id = (await sh(a, f"scan to={BOB}"))["job"]
        await wait_job(a, job_id, "sending")
        await a.stop()  # the power goes while the device waits for the greeting
    finally:
        for writer in held:
            writer.close()
        silent.close()
    record = stored_job(tmp_path / "dev", job_id)
    assert (record.state, record.data_started) == (JobState.SENDING, False), record

    b = await make_device("dev2", nvram_dir=tmp_path / "dev")
    assert (await sh(b, f"set smtp.port {bench.mail.smtp_port} --confirm"))["_ok"]
    await clock.advance(0)
    job = await wait_job(b, job_id)
    assert job.state is JobState.SENT and not job.maybe_duplicate
    assert job.attempts == 2
    [message] = maildir(bench, BOB)
    assert message["Message-ID"] == record.message_id


async def test_power_cut_after_data_resends_with_the_same_message_id(make_device, bench, clock,
                                                                     tmp_path):
    a = await make_device("dev")
    await setup_smtp(a, bench, clock)
    real_send = a.sender.send

    async def send_then_lose_power(*args, **kwargs):  # type: ignore[no-untyped-def]
        await real_send(*args, **kwargs)  # the server answered 250 ...
        await asyncio.Event().wait()  # ... and the power went before the device wrote it down

    a.sender.send = send_then_lose_power  # type: ignore[method-assign]
    job_id = (await sh(a, f"scan to={BOB}"))["job"]
    await wait_for(lambda: len(maildir(bench, BOB)) == 1, what="first copy delivered")
    await a.stop()
    record = stored_job(tmp_path / "dev", job_id)
    assert (record.state, record.data_started) == (JobState.SENDING, True)

    b = await make_device("dev2", nvram_dir=tmp_path / "dev")
    job = await wait_job(b, job_id)
    assert job.state is JobState.SENT and job.maybe_duplicate
    assert "may have two copies" in job.reason and job.message_id in job.reason
    copies = maildir(bench, BOB)
    assert [m["Message-ID"] for m in copies] == [record.message_id] * 2

    # The receiving device prints it once: the second copy is a duplicate by Message-ID.
    receiver = await make_device("receiver")
    await setup_pop(receiver, bench, clock, "pop.emailprint")
    result = await receiver.api.check_mail("pop.emailprint")
    assert (result.printed, result.duplicates, result.deleted) == (1, 1, 2)
    assert len(tray_names(receiver)) == 1


async def test_sent_jobs_stay_sent_after_a_restart(make_device, bench, clock, tmp_path):
    a = await make_device("dev")
    await setup_smtp(a, bench, clock)
    ids = [(await sh(a, f"scan to={BOB}"))["job"] for _ in range(3)]
    for job_id in ids:
        await wait_job(a, job_id)
    await a.stop()
    b = await make_device("dev2", nvram_dir=tmp_path / "dev")
    await clock.advance(3600)
    await asyncio.sleep(0.1)
    assert [j.state for j in b.api.jobs()] == [JobState.SENT] * 3
    assert len(maildir(bench, BOB)) == 3


async def test_receiver_power_cut_before_quit_neither_loses_nor_reprints(make_device, bench,
                                                                         clock, tmp_path,
                                                                         monkeypatch):
    """Stored in the spool, recorded or not, but the power went before QUIT: nothing was
    deleted, and the next power-on prints each message once."""
    a = await make_device("sender")
    await setup_smtp(a, bench, clock)
    for _ in range(3):
        await wait_job(a, (await sh(a, f"ifax send to={BOB}"))["job"])
    b = await make_device("rx")
    await setup_pop(b, bench, clock, "pop.ifax")
    calls = 0

    async def commit_then_lose_power(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()  # spooled all three; the power goes before the ledger

    monkeypatch.setattr(Drain, "commit", commit_then_lose_power)
    task = asyncio.ensure_future(b.api.check_mail("pop.ifax"))
    await wait_for(lambda: calls == 1, what="spooling done")
    task.cancel()
    await b.stop()
    # Stored for good, not yet printed (the worker waits for the ledger), nothing deleted.
    [batch] = list((tmp_path / "rx" / "spool" / "pop.ifax").glob("*.batch"))
    assert batch.read_bytes().startswith(b"MFP-SPOOL-BATCH 1 3\n")  # one batch of three
    assert len(tray_names(b)) == 0 and len(maildir(bench, BOB)) == 3
    monkeypatch.undo()
    await wait_for(lambda: not bench.mail.store.is_locked(BOB), what="POP session gone")

    c = await make_device("rx2", nvram_dir=tmp_path / "rx")
    result = await c.api.check_mail("pop.ifax")
    assert (result.printed, result.duplicates, result.deleted) == (0, 3, 3), result
    assert await c.api.wait_printed("pop.ifax", 10)  # the spool is printed after power-on
    assert len(tray_names(c)) == 3 and maildir(bench, BOB) == []


async def _read_until(proc: asyncio.subprocess.Process, word: str, timeout: float) -> list[str]:
    lines: list[str] = []
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                return lines
            line = raw.decode().strip()
            lines.append(line)
            if line == word:
                return lines


async def test_sigkill_at_random_instants_loses_nothing(bench, tmp_path):
    """Real device processes, killed with SIGKILL while sending; the last run finishes."""
    nvram, count, rng = tmp_path / "killed", 12, random.Random(20270115)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(4):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.mail_child", str(nvram), str(bench.mail.smtp_port),
            str(count), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE)
        await _read_until(proc, "ready", 30)
        if run < 3:
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            with contextlib.suppress(ProcessLookupError):  # a fast run may be done already
                proc.send_signal(signal.SIGKILL)
            assert proc.stdout is not None
            rest = (await proc.stdout.read()).decode().split("\n")
        else:
            rest = await _read_until(proc, "done", 30)
            assert "done" in rest
        await proc.wait()
        print(f"run {run}: {sum(1 for ln in rest if ln.endswith(' sent'))} sent", flush=True)

    nvram_db = Nvram(nvram)
    try:
        jobs = [JobInfo.from_json(json.loads(b)) for b in nvram_db.read_prefix("job.").values()]
    finally:
        nvram_db.close()
    assert len(jobs) == count and all(j.state is JobState.SENT for j in jobs), jobs
    copies = collections.Counter(m["Message-ID"] for m in maildir(bench, BOB))
    assert set(copies) == {j.message_id for j in jobs}  # none lost
    for job in jobs:  # a second copy only where the device knows it may have sent one
        assert copies[job.message_id] == 1 or job.maybe_duplicate, (job, copies)
