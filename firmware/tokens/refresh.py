"""When to renew an access token, and what a refresh answer means, without I/O.

The schedule comes from the token itself. A token living `L` seconds is renewed when
`min(REFRESH_MARGIN, L/2)` of its life is left: an Entra token of an hour at 55 minutes, a
Keycloak token of 300 s at 150 s, a 30 s token every 15 s. Nothing is ever asked more often
than `MIN_REFRESH_INTERVAL`, whatever the lifetime (a token of 1 s is renewed every 10 s and is
mostly expired: that is the provider's choice, not a reason to hammer it). After a failure
the next attempt backs off exponentially with jitter, never sooner than a `Retry-After`.

The refresh token can die first. Keycloak ends an online session after "SSO Session Idle"
(1800 s by default) without a refresh, and says so in every token answer
(`refresh_expires_in`, TokenManager.java): with 3600 s access tokens a device renewing only for
the access token would find its refresh token dead ("Token is not active"). When the provider
says it, the plan is the earlier of the access token's renewal and the refresh token's expiry
less `min(REFRESH_MARGIN, R/2)` of its life `R` (Keycloak's 1800 s: renewed every 1500 s).
Providers that do not say it (Entra, Google; Keycloak's offline tokens, announced with 0) keep
the access token's plan alone.

Who asks (`Urgency`) decides which limits apply:

    SCHEDULED  the store's own timer: the margin, the floor, back-off and Retry-After (after a
               failure, the back-off alone: a failed renewal is retried, due or not)
    NEEDED     a mail session wants the token and it is due: floor, back-off, Retry-After
    REFUSED    a server refused the token (535, -ERR): floor and Retry-After, not back-off,
               so that a revoked grant is noticed at once
    ASKED      the administrator's `token <store> check`: only Retry-After

Clock changes. The token's age is kept twice: on the monotonic clock (which `clock set` does
not move) and as a date. `remaining()` is the smaller of the two views, so setting the clock
back never makes a token look fresher than it is, and setting it forward past the expiry makes
it due at once (one refresh; the renewed token is dated after the jump, so no loop). After a
power cut only the date survives; a date earlier than the token's issue means the clock went
back while the device was off, and the token is then taken as due.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from ..sentences import Reason
from .answers import Answer, Garbled, Granted, Issued, Refused, Untrusted
from .reasons import advice_for
from .timing import Instant, backoff

__all__ = ["RefreshPolicy", "Renewed", "RetryLater", "GrantGone", "Urgency", "GRANT_GONE",
           "REFRESH_MARGIN", "MIN_REFRESH_INTERVAL", "BACKOFF_BASE", "BACKOFF_CAP"]

#: Renew at most this long before expiry (real clients use a few minutes).
REFRESH_MARGIN = 300.0
#: Never two refresh requests closer than this, scheduled or on demand.
MIN_REFRESH_INTERVAL = 10.0
#: Back-off after failed refreshes: 30 s, 1 min, 2 min … up to 15 min (with jitter).
BACKOFF_BASE = 30.0
BACKOFF_CAP = 900.0
#: A Retry-After beyond an hour is taken as an hour (msal caps it the same way).
MAX_RETRY_AFTER = 3600.0

#: Refresh errors that mean the grant is gone: the token becomes Invalid at once. RFC 6749
#: §5.2's codes (a well-formed refresh refused with them will be refused again) and OpenID
#: Connect's "a person must sign in again"; `no_refresh_token` is the device's own (nothing
#: to refresh with).
GRANT_GONE = frozenset({
    "invalid_grant", "invalid_client", "unauthorized_client", "invalid_request",
    "unsupported_grant_type", "invalid_scope", "interaction_required", "consent_required",
    "login_required", "no_refresh_token",
})


class Urgency(StrEnum):
    SCHEDULED = "scheduled"
    NEEDED = "needed"
    REFUSED = "refused"
    ASKED = "asked"


@dataclass(frozen=True)
class Renewed:
    grant: Granted


@dataclass(frozen=True)
class RetryLater:
    delay: float
    cause: str  # a clause ("the identity provider did not answer within 15 s")


@dataclass(frozen=True)
class GrantGone:
    cause: str
    advice: Reason  # who must act (`reasons.advice_for`)


RefreshOutcome = Renewed | RetryLater | GrantGone


class RefreshPolicy:
    def __init__(self, *, lifetime: float, now: Instant, age: float = 0.0,
                 refresh_lifetime: float | None = None,
                 rng: random.Random | None = None) -> None:
        self.lifetime = max(1.0, lifetime)
        #: How long the refresh token lives from the same issue, when the provider said.
        self.refresh_lifetime = None if refresh_lifetime is None else max(1.0, refresh_lifetime)
        self._issued_wall = now.wall - age
        self._issued_mono = now.mono - age
        self._rng = rng if rng is not None else random.Random()
        self.failures = 0
        self._not_before = -math.inf  # floor after an attempt, back-off after a failure (mono)
        self._hold_until = -math.inf  # the provider's Retry-After (mono)
        self._attempted = -math.inf  # the last refresh request (mono)

    @classmethod
    def issued(cls, grant: Granted, now: Instant, rng: random.Random | None = None) -> RefreshPolicy:
        return cls(lifetime=grant.expires_in, refresh_lifetime=grant.refresh_expires_in, now=now,
                   rng=rng)

    @classmethod
    def restore(cls, *, lifetime: float, issued_at: float, now: Instant,
                refresh_lifetime: float | None = None,
                rng: random.Random | None = None) -> RefreshPolicy:
        """After power-on, from the record's date of issue (see the module docstring)."""
        age = now.wall - issued_at
        if age < 0:  # the clock went back while off: the token's age is unknown
            age = max(1.0, lifetime)
        return cls(lifetime=lifetime, refresh_lifetime=refresh_lifetime, now=now, age=age, rng=rng)

    # ------------------------------------------------------------------ time
    @property
    def issued_at(self) -> float:
        """The date the token was issued, for the record."""
        return self._issued_wall

    @property
    def margin(self) -> float:
        return min(REFRESH_MARGIN, self.lifetime / 2)

    def remaining(self, now: Instant) -> float:
        return self._left(self.lifetime, now)

    def _left(self, lifetime: float, now: Instant) -> float:
        """Seconds left of something issued with the token and living `lifetime`."""
        by_age = lifetime - (now.mono - self._issued_mono)
        by_date = self._issued_wall + lifetime - now.wall
        return min(by_age, by_date)

    def until_due(self, now: Instant) -> float:
        """Seconds until the plan renews: the access token's margin, or the refresh token's
        lead when the provider said how long that lives (whichever comes first)."""
        until = self.remaining(now) - self.margin
        if self.refresh_lifetime is not None:
            lead = min(REFRESH_MARGIN, self.refresh_lifetime / 2)
            until = min(until, self._left(self.refresh_lifetime, now) - lead)
        return until

    def expires_at(self, now: Instant) -> float:
        return now.wall + self.remaining(now)

    def fresh(self, now: Instant) -> bool:
        return self.remaining(now) > 0

    def due(self, now: Instant) -> bool:
        return self.until_due(now) <= 0

    def wait_before(self, now: Instant, urgency: Urgency) -> float:
        """Seconds before a refresh may be asked for by `urgency` (0: now)."""
        hold = self._hold_until - now.mono
        if urgency is Urgency.ASKED:
            return max(0.0, hold)
        if urgency is Urgency.REFUSED:  # the floor after the last attempt, not the back-off
            floor = self._attempted + MIN_REFRESH_INTERVAL - now.mono
        else:
            floor = self._not_before - now.mono
        wait = max(0.0, hold, floor)
        if urgency is Urgency.SCHEDULED and self.failures == 0:
            # After a failure (even of a refresh asked early, by a 535 or `token check`) the
            # timer retries on the back-off schedule, as the reason says, not at the margin.
            wait = max(wait, self.until_due(now))
        return wait

    # --------------------------------------------------------------- answers
    def on_attempt(self, now: Instant) -> None:
        """A refresh request is going out now."""
        self._attempted = now.mono
        self._not_before = max(self._not_before, now.mono + MIN_REFRESH_INTERVAL)

    def on_answer(self, answer: Answer, now: Instant) -> RefreshOutcome:
        if isinstance(answer, Granted):
            self.lifetime = answer.expires_in
            self.refresh_lifetime = answer.refresh_expires_in
            self._issued_wall, self._issued_mono = now.wall, now.mono
            self.failures = 0
            self._hold_until = -math.inf
            self._not_before = now.mono + MIN_REFRESH_INTERVAL
            return Renewed(answer)
        if isinstance(answer, Refused) and not answer.temporary and answer.error in GRANT_GONE:
            return GrantGone(answer.words(), advice_for(answer.error, answer.codes))
        if isinstance(answer, Untrusted):  # the new tokens are not used, nor the grant again
            return GrantGone(answer.words(), advice_for(answer.error))
        if isinstance(answer, Issued):
            answer = Garbled("a device-code answer")
        cause: str
        if isinstance(answer, Refused):
            cause = Reason("cause.not_renewed", words=answer.words_with_status())
        else:
            cause = answer.words()
        self.failures += 1
        delay = max(MIN_REFRESH_INTERVAL,
                    backoff(self.failures, base=BACKOFF_BASE, cap=BACKOFF_CAP, rng=self._rng))
        if answer.retry_after:
            held = min(max(0.0, answer.retry_after), MAX_RETRY_AFTER)
            self._hold_until = now.mono + held
            delay = max(delay, held)
        self._not_before = now.mono + delay
        return RetryLater(delay, cause)
