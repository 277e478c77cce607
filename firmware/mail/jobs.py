"""The send queue: every outgoing message is a job kept in NVRAM until it is sent or given up.

A job is written (record and message, one atomic NVRAM transaction) before the device tries
to send it, and every change of state is written before the device acts on it, so a power
cut at any instant leaves a job in a state the next power-on knows what to do with. Every
write but one is synced before the device goes on; the attempt record is not waited for,
since losing it leaves the job `queued`, which power-on handles as it handles `sending`
(docs/reliability.md, "Sending").

States, and every move the queue makes (`TRANSITIONS`):

    queued ──attempt──▶ sending ──delivered──▶ sent
       ▲                  │ └──────refused────▶ failed     (5xx, bad certificate, token invalid,
       └──retry_later─────┤                                 or the last attempt failed)
       └──power_on────────┘                                (found `sending` at power-on)

Temporary failures (connection refused, timeouts, 4xx replies, a token that cannot be renewed
*yet*) are retried with exponential back-off on the device clock: `RETRY_BASE` seconds, doubled
each time, at most `RETRY_CAP`, `MAX_ATTEMPTS` attempts in all (60, 120, 240, ... 3600 s: about
two hours before giving up). Permanent failures end the job at once with the server's reply.

Delivery guarantee (docs/mail.md): at-least-once, with a duplicate only possible in one
narrow window, and then recognisable. Before DATA the job records `data_started`; a power
cut before that point means the server never took the message, and the job is simply sent
again. A power cut after it (between DATA and the NVRAM write that follows the server's 250)
is ambiguous: SMTP has no way to ask "did you get it?". The job is then sent again with the
*same* Message-ID, and its reason says so; receivers (this device's POP pollers included)
drop a second copy by Message-ID. Choosing at-most-once instead would silently lose scans
whenever the cut fell in that window, which an MFP user never finds out about.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from ..errors import CommandError, FirmwareError
from ..events import EventBus, JobChanged
from ..sentences import Reason
from ..vocabulary import JobKind, JobState
from .errors import MailFailure
from .smtp_sender import SmtpSender
from .task import stop_task

__all__ = [
    "KEEP_FINISHED",
    "MEMORY_BYTES",
    "PRUNE_BATCH",
    "MAX_ATTEMPTS",
    "RETRY_BASE",
    "RETRY_CAP",
    "TRANSITIONS",
    "JobInfo",
    "JobQueue",
    "retry_delay",
]

log = logging.getLogger(__name__)

#: First retry after this many seconds of device time; doubled at each further failure.
RETRY_BASE = 60.0
#: No wait between attempts is longer than this.
RETRY_CAP = 3600.0
#: Attempts in all (the first one included) before a temporary failure becomes final.
MAX_ATTEMPTS = 8
#: Finished (sent or failed) jobs kept for `jobs`; older ones are forgotten.
KEEP_FINISHED = 200
#: Forgotten this many at a time (one NVRAM write), so a busy queue does not prune per job.
PRUNE_BATCH = 50
#: Messages of jobs not tried yet are also kept in RAM, up to this many bytes in all, so the
#: first attempt sends from memory instead of reading NVRAM and unsealing: a scan is sent
#: from the memory it was composed in. NVRAM stays the copy that counts (written before the
#: submit returns); a retry, a power-on or a job beyond this bound reads it from there.
MEMORY_BYTES = 16 * 2**20


#: The whole behaviour: (state, trigger) -> new state. Anything else is a bug, and says so.
TRANSITIONS: dict[tuple[JobState, str], JobState] = {
    (JobState.QUEUED, "attempt"): JobState.SENDING,
    (JobState.SENDING, "delivered"): JobState.SENT,
    (JobState.SENDING, "retry_later"): JobState.QUEUED,
    (JobState.SENDING, "refused"): JobState.FAILED,
    (JobState.SENDING, "power_on"): JobState.QUEUED,
}


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 60, 120, 240, ... up to 3600."""
    return float(min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class JobInfo:
    """One job as faces show it (and as NVRAM keeps it, without the message)."""

    id: str
    kind: JobKind
    to: str
    state: JobState
    reason: str
    attempts: int
    created: float
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    pages: int = 0
    format: str = ""
    updated: float = 0.0
    next_attempt_at: float = 0.0
    data_started: bool = False
    reply: str = ""
    #: Sent again after a power cut that came after DATA: the recipient may have two copies.
    maybe_duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        # Every field is a plain value, so a copy of the fields is what `asdict` would give,
        # without its recursive deep copy (several writes per job: docs/bench.md).
        data = dict(self.__dict__)
        data["state"] = self.state.value
        if isinstance(self.reason, Reason):
            data["reason"] = str(self.reason)
            data["said"] = self.reason.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobInfo:
        """A stored record. The reason is kept twice: `reason`, its English text (what every
        record has held since the first firmware, and all a record written before reasons
        were sentences has), and `said`, the same reason as a sentence (`Reason.to_json`),
        so the panel and the web page can say it in the device's language after a power cut.
        A record without `said` (an old one, or a reason that is the server's own words)
        loads with its plain-text reason; a `said` this firmware cannot rebuild (a sentence
        code a newer firmware wrote) falls back to that English text."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["state"] = JobState(known["state"])
        known["kind"] = JobKind(known["kind"])
        if "said" in data:
            known["reason"] = Reason.from_json(data["said"], str(known.get("reason", "")))
        return cls(**known)


class JobQueue:
    """Durable outgoing jobs and the one task that sends them, oldest first, one at a time."""

    RECORD = "job."
    BODY = "jobdata."
    COUNTER = "jobs.counter"

    def __init__(
        self,
        *,
        nvram: Nvram,
        keystore: KeyStore,
        clock: Clock,
        events: EventBus,
        sender: SmtpSender,
    ) -> None:
        self._nvram = nvram
        self._keys = keystore
        self._clock = clock
        self._events = events
        self._sender = sender
        self._jobs: dict[str, JobInfo] = {}
        # Queued jobs by (next attempt, id), and finished jobs by id, both as heaps: the sender
        # finds the next due job and the oldest finished ones in O(log n) whatever the
        # backlog. Entries go stale when a job moves; they are skipped when met.
        self._due: list[tuple[float, int, str]] = []
        self._finished: list[int] = []
        self._last_id = 0
        self._unsent: dict[str, bytes] = {}  # job id -> message, until its first attempt
        self._unsent_bytes = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_settled: list[Callable[[JobInfo], None]] = []
        self._load()

    # ------------------------------------------------------------ faces
    def list(self) -> list[JobInfo]:
        return sorted(self._jobs.values(), key=lambda j: int(j.id))

    def get(self, job_id: str) -> JobInfo:
        job = self._jobs.get(job_id.strip())
        if job is None:
            known = ", ".join(j.id for j in self.list()[-10:]) or "none yet"
            raise CommandError(f"no job {job_id!r} (recent jobs: {known})")
        return job

    def allocate_id(self) -> str:
        """The id the next job will have (its Message-ID is made from it before it is stored).

        Nothing is written here: the counter goes to NVRAM with the job, in `submit`'s one
        transaction. So an id is taken for good once a job holds it, and never reused even
        across power cuts; an id handed out for a scan that never became a job (the feeder
        jammed, the power went) may be handed out again, since nothing anywhere carries it.
        """
        self._last_id += 1
        return str(self._last_id)

    def submit(
        self,
        job_id: str,
        *,
        kind: JobKind,
        to: str,
        sender: str,
        subject: str,
        message_id: str,
        message: bytes,
        pages: int = 0,
        fmt: str = "",
    ) -> JobInfo:
        """Store the job and its message in one transaction, then wake the sender task."""
        now = self._clock.now()
        job = JobInfo(id=job_id, kind=kind, to=to, state=JobState.QUEUED, reason="", attempts=0,
                      created=now, sender=sender, subject=subject, message_id=message_id,
                      pages=pages, format=fmt, updated=now, next_attempt_at=now)
        sealed = self._keys.seal(message, context=self.BODY + job_id)
        counter = str(max(int(job_id), self._last_id)).encode()
        self._nvram.write_many({self.RECORD + job_id: _encode(job), self.BODY + job_id: sealed,
                                self.COUNTER: counter})
        self._jobs[job_id] = job
        if self._unsent_bytes + len(message) <= MEMORY_BYTES:
            self._unsent[job_id] = message
            self._unsent_bytes += len(message)
        self._schedule(job)
        self._publish(job)
        self._wake.set()
        return job

    def record_keys(self) -> tuple[str, ...]:
        """The NVRAM keys of every job (record and message): what a factory reset deletes.

        The id counter is not among them, so an id is never reused, not even after a reset.
        """
        return (*self._nvram.keys(self.RECORD), *self._nvram.keys(self.BODY))

    # --------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Power-on: jobs caught mid-send go back to the queue, then the sender task runs."""
        for job in self.list():
            if job.state is JobState.SENDING:
                if job.data_started:
                    reason = Reason("job.power_lost_after_data", message_id=job.message_id)
                else:
                    reason = Reason("job.power_lost_before_data")
                self._move(job, "power_on", reason=reason, next_attempt_at=self._clock.now(),
                           data_started=False,
                           maybe_duplicate=job.maybe_duplicate or job.data_started)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="jobs")

    async def stop(self) -> None:
        """Stop sending. A job being sent stays `sending` in NVRAM, as after a power cut."""
        task, self._task = self._task, None
        await stop_task(task)

    def wake(self) -> None:
        """Try due jobs now (settings changed, a token was obtained)."""
        self._wake.set()

    # ----------------------------------------------------------- sending
    async def _run(self) -> None:
        # While jobs go out back to back, NVRAM holds its reclaim steps: they would move the
        # messages about to be sent and deleted (hwsim.nvram); it takes them once idle.
        holding = False
        try:
            while True:
                self._wake.clear()
                first = self._first_queued()
                if first is not None and first.next_attempt_at <= self._clock.now():
                    if not holding:
                        holding = True
                        self._nvram.hold_reclaim(True)
                    await self._attempt(first)
                    continue
                if holding:
                    holding = False
                    self._nvram.hold_reclaim(False)
                await self._wait(first.next_attempt_at if first is not None else None)
        finally:
            if holding:
                self._nvram.hold_reclaim(False)

    def _schedule(self, job: JobInfo) -> None:
        if job.state is JobState.QUEUED:
            heapq.heappush(self._due, (job.next_attempt_at, int(job.id), job.id))

    def _first_queued(self) -> JobInfo | None:
        """The queued job due first (oldest id first among equals), dropping stale entries."""
        while self._due:
            at, _, job_id = self._due[0]
            job = self._jobs.get(job_id)
            if job is not None and job.state is JobState.QUEUED and job.next_attempt_at == at:
                return job
            heapq.heappop(self._due)
        return None

    async def _wait(self, until: float | None) -> None:
        waiters: list[asyncio.Task[Any]] = [asyncio.ensure_future(self._wake.wait())]
        if until is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep_until(until)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _attempt(self, job: JobInfo) -> None:
        body = self._body(job)
        if body is None:
            self._move(self._move(job, "attempt"), "refused",
                       reason=Reason("job.unreadable"))
            return
        # Not synced: if the power goes before the next synced write (before DATA, or the
        # outcome), NVRAM still says `queued` and the job is simply sent at power-on, as it
        # would be from `sending` (docs/reliability.md, "Sending").
        job = self._move(job, "attempt", sync=False, attempts=job.attempts + 1, reason="")

        def before_data() -> None:
            nonlocal job
            job = self._write(_changed(job, data_started=True))

        try:
            reply = await self._sender.send(job.sender, [job.to], body, before_data=before_data)
        except MailFailure as exc:
            self._failed(job, exc.reason, exc.temporary)
        except FirmwareError as exc:
            self._failed(job, str(exc), temporary=False)
        except Exception as exc:  # a bug or a library surprise: fail this job, keep the queue
            log.exception("job %s: unexpected failure", job.id)
            self._failed(job, Reason("job.internal_error", error=f"{type(exc).__name__}: {exc}"),
                         temporary=False)
        else:
            # The server's reply is its own words: a reason only when the device adds some.
            reason: str = reply
            if job.maybe_duplicate:
                reason = Reason("job.sent_again", reply=reply, message_id=job.message_id)
            self._move(job, "delivered", reason=reason, reply=reply)

    def _failed(self, job: JobInfo, why: str, temporary: bool) -> None:
        """`why` is the session's reason (a `Reason` where the device worded it)."""
        if temporary and job.attempts < MAX_ATTEMPTS:
            delay = retry_delay(job.attempts)
            reason = Reason("job.retrying", why=why, attempt=str(job.attempts),
                            attempts=str(MAX_ATTEMPTS), delay=str(int(delay)))
            self._move(job, "retry_later", reason=reason,
                       next_attempt_at=self._clock.now() + delay, data_started=False)
        else:
            if temporary:
                why = Reason("job.gave_up", why=why, attempts=str(job.attempts))
            self._move(job, "refused", reason=why)

    # --------------------------------------------------------- NVRAM
    def _move(self, job: JobInfo, trigger: str, *, sync: bool = True, **changes: Any) -> JobInfo:
        new_state = TRANSITIONS.get((job.state, trigger))
        if new_state is None:
            raise FirmwareError(f"job {job.id}: {trigger!r} is impossible while {job.state.value}")
        job = _changed(job, state=new_state, updated=self._clock.now(), **changes)
        finished = new_state in (JobState.SENT, JobState.FAILED)
        extra: dict[str, bytes | None] = {self.BODY + job.id: None} if finished else {}
        if finished:
            heapq.heappush(self._finished, int(job.id))
            extra.update(self._prune())  # forgotten in the same transaction
        job = self._write(job, extra, sync=sync)
        self._schedule(job)
        self._publish(job)
        if finished:
            for callback in list(self.on_settled):
                callback(job)
        return job

    def _write(self, job: JobInfo, extra: dict[str, bytes | None] | None = None, *,
               sync: bool = True) -> JobInfo:
        self._nvram.write_many({self.RECORD + job.id: _encode(job), **(extra or {})}, sync=sync)
        self._jobs[job.id] = job
        return job

    def _body(self, job: JobInfo) -> bytes | None:
        message = self._unsent.pop(job.id, None)
        if message is not None:
            self._unsent_bytes -= len(message)
            return message
        blob = self._nvram.read(self.BODY + job.id)
        if blob is None:
            return None
        try:
            return self._keys.open(blob, context=self.BODY + job.id)
        except HwsimError as exc:
            log.warning("job %s: %s", job.id, exc)
            return None

    def _prune(self) -> dict[str, bytes | None]:
        """The keys of the oldest finished jobs to forget, once `PRUNE_BATCH` have piled up
        beyond `KEEP_FINISHED` (they leave memory now, NVRAM with the caller's write)."""
        keys: dict[str, bytes | None] = {}
        if len(self._finished) <= KEEP_FINISHED + PRUNE_BATCH:
            return keys
        while len(self._finished) > KEEP_FINISHED:
            job_id = str(heapq.heappop(self._finished))
            keys[self.RECORD + job_id] = None
            keys[self.BODY + job_id] = None
            self._jobs.pop(job_id, None)
        return keys

    def _load(self) -> None:
        for key, blob in self._nvram.read_prefix(self.RECORD).items():
            try:
                job = JobInfo.from_json(json.loads(blob))
                int(job.id)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s could not be read (%s); skipped", key, exc)
                continue
            self._jobs[job.id] = job
            self._schedule(job)
            if job.state in (JobState.SENT, JobState.FAILED):
                self._finished.append(int(job.id))
        heapq.heapify(self._finished)
        raw = self._nvram.read(self.COUNTER)
        stored = int(raw.decode()) if raw and raw.decode().isdigit() else 0
        self._last_id = max(stored, max((int(k) for k in self._jobs), default=0))

    def _publish(self, job: JobInfo) -> None:
        self._events.publish(JobChanged(job.id, job.state, job.reason))


def _changed(job: JobInfo, **changes: Any) -> JobInfo:
    """`dataclasses.replace` without its `__init__` call (a frozen dataclass sets each of its
    18 fields through `object.__setattr__`): a job changes several times per send. Every
    field is a plain value and `JobInfo` checks nothing at construction."""
    unknown = changes.keys() - JobInfo.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"JobInfo has no field {sorted(unknown)}")
    new = object.__new__(JobInfo)
    new.__dict__.update(job.__dict__, **changes)
    return new


def _encode(job: JobInfo) -> bytes:
    return json.dumps(job.to_json(), separators=(",", ":")).encode()
