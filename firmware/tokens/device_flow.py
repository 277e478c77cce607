"""When to poll a device code, and what each answer means (RFC 8628 §3.4–3.5), without I/O.

`DeviceFlowPoller` is told the time (`Instant`) and the provider's answers; it says how long to
wait before the next poll and what an answer leads to:

    PollAgain(delay, note)   authorization_pending, slow_down (+5 s to the interval from then
                             on), or a passing failure (no answer, HTTP 5xx, garbage, 429):
                             back-off from the interval up to a minute, and never sooner than a
                             Retry-After; `note` is the reason to show while it lasts
    Authorized(grant)        the user approved: a token
    Ended(reason)            declined, code expired, unknown code, any other OAuth error (with
                             who must act: `reasons.advice_for`), tokens from another issuer

The code's lifetime is kept on the monotonic clock: setting the device's date forwards or
backwards neither ends a code the provider still honours nor keeps one it has dropped. After a
power cut only the date is known, so `resume` starts again from the wall-clock expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sentences import Reason
from .answers import Answer, Garbled, Granted, Issued, Refused, Untrusted
from .reasons import advice_for, seconds
from .timing import Instant, backoff

__all__ = ["DeviceFlowPoller", "PollAgain", "Authorized", "Ended", "FLOW_ENDINGS",
           "OUTAGE_BACKOFF_CAP", "SLOW_DOWN_STEP"]

#: RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
#: requests".
SLOW_DOWN_STEP = 5.0
#: The longest pause between polls while the provider is failing (the code lives 15 minutes).
OUTAGE_BACKOFF_CAP = 60.0
#: The longest interval a provider may impose (slow_down after slow_down).
MAX_INTERVAL = 300.0
#: A Retry-After beyond this is taken as this: the code would be long gone anyway.
MAX_RETRY_AFTER = 3600.0

#: OAuth errors that end a device flow, with the sentence the device shows (`sentences`).
FLOW_ENDINGS = {
    "authorization_declined": "flow.declined",
    "access_denied": "flow.declined",
    "expired_token": "flow.expired",
    "bad_verification_code": "flow.unknown_code",
}


@dataclass(frozen=True)
class PollAgain:
    delay: float
    note: str = ""
    interval_changed: bool = False


@dataclass(frozen=True)
class Authorized:
    grant: Granted


@dataclass(frozen=True)
class Ended:
    reason: str


FlowAction = PollAgain | Authorized | Ended


def expired_reason() -> str:
    return Reason(FLOW_ENDINGS["expired_token"], error="expired_token")


class DeviceFlowPoller:
    def __init__(self, *, interval: float, expires_in: float, now: Instant,
                 first_poll_in: float | None = None) -> None:
        self.interval = min(max(1.0, interval), MAX_INTERVAL)
        self._deadline = now.mono + max(0.0, expires_in)
        self._next = now.mono + (self.interval if first_poll_in is None else first_poll_in)
        self.failures = 0

    @classmethod
    def begin(cls, issued: Issued, now: Instant) -> DeviceFlowPoller:
        return cls(interval=issued.interval, expires_in=issued.expires_in, now=now)

    @classmethod
    def resume(cls, *, interval: float, expires_at: float, now: Instant) -> DeviceFlowPoller | None:
        """After power-on: poll after one interval if the code is still valid by the date."""
        left = expires_at - now.wall
        if left <= 0:
            return None
        return cls(interval=interval, expires_in=left, now=now)

    # ------------------------------------------------------------------ time
    def expires_in(self, now: Instant) -> float:
        return max(0.0, self._deadline - now.mono)

    def expires_at(self, now: Instant) -> float:
        """The code's expiry as a date, for the prompt and the record."""
        return now.wall + self.expires_in(now)

    def expired(self, now: Instant) -> bool:
        return now.mono >= self._deadline

    def wait(self, now: Instant) -> float:
        """Seconds until the next poll, or until the code expires if that comes first."""
        return max(0.0, min(self._next, self._deadline) - now.mono)

    # --------------------------------------------------------------- answers
    def on_answer(self, answer: Answer, now: Instant) -> FlowAction:
        if isinstance(answer, Granted):
            return Authorized(answer)
        if isinstance(answer, Refused):
            return self._refused(answer, now)
        if isinstance(answer, Untrusted):  # tokens from another issuer: never Retrieved
            return Ended(Reason("token.get_refused", cause=answer.words(),
                                advice=advice_for(answer.error, get_token=True)))
        if isinstance(answer, Issued):  # a device-code answer where a token answer belongs
            answer = Garbled("a device-code answer")
        return self._trouble(answer.words(), answer.retry_after, now)

    def _refused(self, answer: Refused, now: Instant) -> FlowAction:
        if answer.error == "authorization_pending":
            self.failures = 0
            self._next = now.mono + self.interval
            return PollAgain(self.interval)
        if answer.error == "slow_down":
            self.failures = 0
            self.interval = min(self.interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            self._next = now.mono + self.interval
            return PollAgain(self.interval, interval_changed=True)
        if answer.temporary:
            return self._trouble(Reason("flow.not_answering", cause=answer.words_with_status()),
                                 answer.retry_after, now)
        ending = FLOW_ENDINGS.get(answer.error)
        if ending is not None:
            return Ended(Reason(ending, error=answer.error))
        if not (answer.description or answer.codes):
            return Ended(Reason("flow.ended", error=answer.error))
        return Ended(Reason("token.get_refused", cause=answer.words(),
                            advice=advice_for(answer.error, answer.codes, get_token=True)))

    def _trouble(self, what: str, retry_after: float | None, now: Instant) -> PollAgain:
        self.failures += 1
        delay = max(self.interval,
                    backoff(self.failures, base=self.interval, cap=OUTAGE_BACKOFF_CAP, rng=None),
                    min(retry_after or 0.0, MAX_RETRY_AFTER))
        self._next = now.mono + delay
        return PollAgain(delay, Reason("flow.polling", capital=True, trouble=what,
                                       wait=seconds(delay)))
