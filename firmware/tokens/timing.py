"""Time as the token policies see it: a reading of both device clocks, and back-off.

An `Instant` is what the caller read from the device clock: the date and time (`wall`, which
the administrator can set) and the monotonic counter (`mono`, which only moves forward). The
policies keep ages on `mono`, so setting the clock back never makes a token look younger, and
compare with `wall` as well, so setting it forward past an expiry is noticed (see
`refresh.RefreshPolicy.remaining`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Instant", "backoff"]


@dataclass(frozen=True)
class Instant:
    wall: float
    mono: float

    def later(self, seconds: float) -> Instant:
        return Instant(self.wall + seconds, self.mono + seconds)


def backoff(failures: int, *, base: float, cap: float, rng: random.Random | None) -> float:
    """Exponential back-off with "equal jitter": between half and all of base·2^(n-1), capped.

    Half of the wait is fixed so that a device never retries at once after a failure; the
    other half is random so that many devices that lost the provider together do not come
    back in step. `rng=None` gives the upper bound (for tests and for planning).
    """
    if failures <= 0:
        return 0.0
    full = float(min(cap, base * 2.0 ** min(failures - 1, 30)))
    if rng is None:
        return full
    return full / 2 + rng.random() * full / 2
