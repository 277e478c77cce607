"""The send queue on its own (no network): which job goes next, how finished jobs are forgotten,
and what one submit writes. A stand-in sender answers like a server would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.firmware.events import EventBus
from mfp_sim.firmware.mail.errors import MailConnectError
from mfp_sim.firmware.mail.jobs import KEEP_FINISHED, PRUNE_BATCH, JobQueue
from mfp_sim.firmware.vocabulary import JobKind, JobState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from .conftest import wait_for


class Sender:
    """Accepts every message, or refuses (temporarily) the recipients in `down`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down: set[str] = set()

    async def send(self, sender: str, recipients: list[str], message: bytes, *,
                   before_data: Callable[[], None] | None = None) -> str:
        if recipients[0] in self.down:
            raise MailConnectError("connection refused")
        if before_data is not None:
            before_data()
        self.sent.append(recipients[0])
        return "250 2.0.0 OK"


@pytest.fixture
def parts(tmp_path: Path) -> dict[str, Any]:
    return {"dir": tmp_path, "clock": VirtualClock(), "sender": Sender()}


def make_queue(parts: dict[str, Any]) -> JobQueue:
    nvram = Nvram(parts["dir"])
    parts.setdefault("nvrams", []).append(nvram)
    return JobQueue(nvram=nvram, keystore=KeyStore(parts["dir"]), clock=parts["clock"],
                    events=EventBus(parts["clock"].now), sender=parts["sender"])


def submit(queue: JobQueue, to: str) -> str:
    job_id = queue.allocate_id()
    queue.submit(job_id, kind=JobKind.SCAN, to=to, sender="mfp@example.test", subject="s",
                 message_id=f"<{job_id}@example.test>", message=b"Subject: s\r\n\r\nbody\r\n")
    return job_id


async def test_finished_jobs_are_forgotten_in_batches_oldest_first(parts):
    queue = make_queue(parts)
    await queue.start()
    total = KEEP_FINISHED + PRUNE_BATCH + 30
    ids = [submit(queue, f"r{n}@example.test") for n in range(total)]
    await wait_for(lambda: len(parts["sender"].sent) == total, what="every job sent")
    await queue.stop()
    kept = [j.id for j in queue.list()]
    assert KEEP_FINISHED <= len(kept) <= KEEP_FINISHED + PRUNE_BATCH
    assert kept == ids[-len(kept):]  # the newest stay, the oldest went
    for nvram in parts["nvrams"]:
        nvram.close()

    again = make_queue(parts)  # after a restart: the same jobs, and no id is handed out twice
    assert [j.id for j in again.list()] == kept
    assert int(again.allocate_id()) == total + 1


async def test_one_submit_is_one_nvram_write_holding_the_counter(parts):
    queue = make_queue(parts)
    nvram = parts["nvrams"][0]
    writes: list[set[str]] = []
    original = nvram.write_many

    def counting(values: Any, **options: Any) -> None:
        writes.append(set(values))
        original(values, **options)

    nvram.write_many = counting  # type: ignore[method-assign]
    job_id = submit(queue, "bob@example.test")
    assert writes == [{f"job.{job_id}", f"jobdata.{job_id}", "jobs.counter"}]


async def test_the_job_due_first_goes_first_whatever_the_backlog(parts):
    clock, sender = parts["clock"], parts["sender"]
    queue = make_queue(parts)
    sender.down = {"late@example.test"}
    await queue.start()
    late = submit(queue, "late@example.test")
    await wait_for(lambda: queue.get(late).attempts == 1, what="the first attempt")
    assert queue.get(late).state is JobState.QUEUED  # retried in 60 s
    sender.down = set()
    backlog = [submit(queue, f"n{n}@example.test") for n in range(20)]
    await wait_for(lambda: len(sender.sent) == 20, what="the backlog")
    assert sender.sent == [f"n{n}@example.test" for n in range(20)]  # oldest first
    assert queue.get(late).state is JobState.QUEUED and backlog
    await clock.advance(60)
    await wait_for(lambda: queue.get(late).state is JobState.SENT, what="the retry")
    await queue.stop()
