"""The two copies the send and receive paths make without `dataclasses.replace` (docs/bench.md,
issue 9): an event stamped by the bus, a job moved by the queue. Each must be exactly what
`replace` would give, which holds only while the classes set nothing up in `__init__`."""

from __future__ import annotations

import dataclasses

import pytest

from mfp_sim.firmware.events import EVENT_KINDS, EventBus, JobChanged
from mfp_sim.firmware.mail.jobs import JobInfo, _changed
from mfp_sim.firmware.vocabulary import JobKind, JobState


@pytest.mark.parametrize("cls", [*EVENT_KINDS.values(), JobInfo], ids=lambda c: c.__name__)
def test_the_copied_classes_set_nothing_up_at_construction(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert not hasattr(cls, "__post_init__"), f"{cls.__name__}: the fast copy would skip it"
    assert "__slots__" not in vars(cls), f"{cls.__name__}: the fast copy needs __dict__"


def test_a_published_event_is_the_event_with_its_stamp() -> None:
    bus = EventBus(lambda: 42.5)
    seen: list[JobChanged] = []
    bus.listen(seen.append, JobChanged)
    event = JobChanged("7", JobState.SENT, "250 ok")
    stamped = bus.publish(event)
    assert seen == [stamped] and type(stamped) is JobChanged
    assert stamped == dataclasses.replace(event, time=42.5, seq=stamped.seq)
    assert (stamped.time, stamped.id, stamped.state) == (42.5, "7", JobState.SENT)
    assert (event.time, event.seq) == (0.0, 0)  # the original is left as it was
    assert bus.publish(event).seq == stamped.seq + 1


def test_a_moved_job_is_what_replace_gives() -> None:
    job = JobInfo(id="3", kind=JobKind.SCAN, to="bob@example.test", state=JobState.QUEUED,
                  reason="", attempts=0, created=1.0)
    moved = _changed(job, state=JobState.SENDING, attempts=1, updated=2.0)
    assert moved == dataclasses.replace(job, state=JobState.SENDING, attempts=1, updated=2.0)
    assert moved.to_json() == dataclasses.replace(job, state=JobState.SENDING, attempts=1,
                                                  updated=2.0).to_json()
    assert job.state is JobState.QUEUED  # frozen: the original is unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.attempts = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field"):
        _changed(job, colour="red")
