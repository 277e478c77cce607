"""Properties of the pure token policies over lifetimes, intervals, slow_downs, outages and clock jumps.

Hypothesis drives `RefreshPolicy` and `DeviceFlowPoller` through simulated days: a device clock
whose date the administrator sets forwards and backwards, a provider that fails for a while
(no answer, HTTP 500, 429 with Retry-After), mail sessions that want the token at random moments.
Whatever happens: nothing is ever stuck (every wait is finite and bounded, the token is renewed
soon after the provider recovers), a token never looks fresher than it is, and the provider is
asked at most about twice per token lifetime, plus a bounded number of retries per outage.
The default profile runs in a few seconds; `make soak` runs a longer one.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfp_sim.firmware.tokens.answers import Answer, Garbled, Granted, Refused, Unanswered
from mfp_sim.firmware.tokens.device_flow import Authorized, DeviceFlowPoller, Ended, PollAgain
from mfp_sim.firmware.tokens.refresh import (
    MIN_REFRESH_INTERVAL,
    RefreshPolicy,
    Renewed,
    RetryLater,
    Urgency,
)
from mfp_sim.firmware.tokens.timing import Instant

EPOCH = 1_800_000_000.0
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOAK = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FAILURES: list[Answer] = [
    Unanswered("provider_timeout", "the identity provider did not answer within 15 s"),
    Unanswered("provider_unreachable", "the identity provider cannot be reached"),
    Garbled("HTTP 500"),
    Garbled("HTTP 200, a JSON list"),
    Refused("temporarily_unavailable", "AADSTS90055: throttled", (90055,), 503),
]


@dataclass(frozen=True)
class Outage:
    start: float
    length: float
    answer: int  # index in FAILURES, or -1: 429 with Retry-After
    retry_after: float


@dataclass
class World:
    """The simulated device clock: `mono` only moves forward; the date is mono + offset."""

    mono: float = 0.0
    offset: float = 0.0
    jumps: list[tuple[float, float]] = field(default_factory=list)  # (at mono, delta)

    def now(self) -> Instant:
        return Instant(EPOCH + self.mono + self.offset, self.mono)


outages = st.lists(st.builds(Outage, start=st.floats(0, 40_000), length=st.floats(1, 20_000),
                             answer=st.integers(-1, len(FAILURES) - 1),
                             retry_after=st.floats(1, 7200)), max_size=4)
jumps = st.lists(st.tuples(st.floats(0, 40_000), st.floats(-3 * 86400, 3 * 86400)), max_size=4)
sends = st.lists(st.floats(0, 40_000), max_size=30)


def _answer(outs: list[Outage], t: float, lifetime: float) -> Answer:
    for o in outs:
        if o.start <= t < o.start + o.length:
            if o.answer < 0:
                return Garbled("HTTP 429", retry_after=o.retry_after)
            return FAILURES[o.answer]
    return Granted("token", lifetime, "alice@example.test")


def run_refresh(lifetime: float, outs: list[Outage], jump_list: list[tuple[float, float]],
                send_times: list[float], seed: int) -> None:
    horizon = min(86_400.0, max(3_000.0, 40 * lifetime)) + max(
        [o.start + o.length for o in outs], default=0.0)
    world = World(jumps=sorted(jump_list))
    policy = RefreshPolicy.issued(Granted("t0", lifetime, ""), world.now(), random.Random(seed))
    last_success = 0.0
    successes = failures = 0
    attempts: list[float] = []
    pending_sends = sorted(send_times)
    for _ in range(100_000):
        now = world.now()
        # A token never looks fresher than its age on the monotonic clock says.
        assert policy.remaining(now) <= lifetime - (world.mono - last_success) + 1e-6
        wait = policy.wait_before(now, Urgency.SCHEDULED)
        assert 0 <= wait <= max(lifetime, 3600.0) + 1e-6, wait  # never stuck, never forever
        due = world.mono + wait
        if world.jumps and world.jumps[0][0] <= due:  # the clock is set: plan again
            at, delta = world.jumps.pop(0)
            world.mono, world.offset = max(world.mono, at), world.offset + delta
            continue
        if pending_sends and pending_sends[0] <= due:  # a mail session wants the token
            world.mono = max(world.mono, pending_sends.pop(0))
            now = world.now()
            if not (policy.due(now) and policy.wait_before(now, Urgency.NEEDED) == 0):
                continue
        else:
            world.mono = due
        if world.mono > horizon:
            break
        now = world.now()
        attempts.append(world.mono)
        policy.on_attempt(now)
        outcome = policy.on_answer(_answer(outs, world.mono, lifetime), now)
        if isinstance(outcome, Renewed):
            successes += 1
            last_success = world.mono
        else:
            assert isinstance(outcome, RetryLater)
            failures += 1
    else:
        pytest.fail("the simulation did not end")
    # Never two requests closer than the floor.
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(g >= MIN_REFRESH_INTERVAL - 1e-6 for g in gaps), min(gaps)
    # About two requests per lifetime while the provider answers (a forward jump costs one more).
    period = max(MIN_REFRESH_INTERVAL, lifetime - min(300.0, lifetime / 2))
    forward = sum(1 for _, d in jump_list if d > 0)
    assert successes <= horizon / period + 2 + forward + len(outs), (successes, horizon / period)
    # A bounded number of retries per outage: back-off doubles to 15 minutes (with jitter).
    allowed = sum(8 + o.length / 450 + (o.retry_after > 0) for o in outs)
    assert failures <= allowed, (failures, allowed)
    # Renewed soon after the last outage ended (back-off ≤ 15 min, Retry-After ≤ 1 h).
    end = max([o.start + o.length for o in outs], default=0.0)
    if outs and end + 3600 + 900 + period < horizon:
        assert any(end <= a <= end + 3600 + 900 + period for a in attempts[-successes:] or [-1.0])
        assert last_success >= end


@FAST
@given(lifetime=st.floats(1, 7200), outs=outages, jump_list=jumps, send_times=sends,
       seed=st.integers(0, 2**32))
def test_refresh_is_never_stuck_and_never_floods(lifetime, outs, jump_list, send_times, seed):
    run_refresh(lifetime, outs, jump_list, send_times, seed)


@pytest.mark.soak
@SOAK
@given(lifetime=st.floats(1, 7200), outs=outages, jump_list=jumps, send_times=sends,
       seed=st.integers(0, 2**32))
def test_refresh_soak(lifetime, outs, jump_list, send_times, seed):
    run_refresh(lifetime, outs, jump_list, send_times, seed)


POLL_ANSWERS = st.sampled_from(["pending", "pending", "slow_down", "500", "timeout", "429"])


def run_poll(interval: int, expires_in: int, script: list[str], approve_at: float | None,
             jump_list: list[tuple[float, float]], retry_after: float) -> None:
    world = World(jumps=sorted(jump_list))
    poller = DeviceFlowPoller(interval=interval, expires_in=expires_in, now=world.now())
    polls: list[tuple[float, float]] = []  # (mono, the least wait the device owed before it)
    expected = float(interval)  # RFC 8628: +5 s for this and every later poll after slow_down
    answers = iter(script)
    for _ in range(10_000):
        now = world.now()
        if poller.expired(now):
            assert world.mono == pytest.approx(expires_in)  # dates never move a code's expiry
            break
        wait = poller.wait(now)
        assert 0 <= wait <= expires_in
        due = world.mono + wait
        if world.jumps and world.jumps[0][0] <= due:
            at, delta = world.jumps.pop(0)
            world.mono, world.offset = max(world.mono, min(at, due)), world.offset + delta
            continue
        world.mono = due
        if poller.expired(world.now()):
            continue
        if polls:
            assert world.mono - polls[-1][0] >= polls[-1][1] - 1e-6, "polled too early"
        kind = next(answers, "pending")
        if approve_at is not None and world.mono >= approve_at:
            kind = "grant"
        answer: Answer = {
            "pending": Refused("authorization_pending", status=400),
            "slow_down": Refused("slow_down", status=400),
            "500": Garbled("HTTP 500"),
            "timeout": Unanswered("provider_timeout", "no answer"),
            "429": Garbled("HTTP 429", retry_after=retry_after),
            "grant": Granted("t", 3600, ""),
        }[kind]
        action = poller.on_answer(answer, world.now())
        if isinstance(action, Authorized | Ended):
            assert kind == "grant"
            return
        assert isinstance(action, PollAgain)
        if kind == "slow_down":
            expected = min(expected + 5, 300)
        owed = expected if kind != "429" else max(expected, min(retry_after, 3600))
        polls.append((world.mono, owed))
    else:
        pytest.fail("polling did not end")
    assert len(polls) <= expires_in / interval + 1
    if approve_at is not None:  # approved in time, the next poll must have found it
        slack = max(expected, 60.0, retry_after if "429" in script else 0.0)
        assert approve_at + slack >= expires_in - 1e-6, "approved, but the flow never ended"


@FAST
@given(interval=st.integers(1, 30), expires_in=st.integers(60, 1800),
       script=st.lists(POLL_ANSWERS, max_size=40),
       approve_at=st.none() | st.floats(0, 1800), jump_list=jumps,
       retry_after=st.floats(1, 600))
def test_device_code_polling_keeps_its_interval_and_ends(interval, expires_in, script,
                                                         approve_at, jump_list, retry_after):
    run_poll(interval, expires_in, script, approve_at, jump_list, retry_after)


def test_the_thirty_second_token_of_the_issue_is_renewed_about_every_fifteen_seconds():
    """The example of issue 8, worked through: an hour of a 30 s token, no outage."""
    world = World()
    policy = RefreshPolicy.issued(Granted("t", 30, ""), world.now())
    count = 0
    while world.mono < 3600:
        world.mono += policy.wait_before(world.now(), Urgency.SCHEDULED)
        policy.on_attempt(world.now())
        policy.on_answer(Granted("t", 30, ""), world.now())
        count += 1
    assert count == math.ceil(3600 / 15)
