"""Who may act on the device: the administrator password, its attempt limit, and which
addresses are reachable from beyond the device's own machine.

The console's `login` and the current password of a password change (on every face) go through
one `PasswordGuard` (the API's), so that limit holds whichever of them a guesser uses: each wrong
password is answered only after a delay, and after `MAX_FAILURES` wrong ones in a row every
check is refused for `LOCKOUT_SECONDS`, the right password included. The web page's login has
its own limit on the device clock (`firmware.web.guard.LoginGuard`: the page says until when it
is locked); the panel's login is physical access and, as on a real MFP, unlimited. The guard counts on the event loop's clock,
not the device clock: guessing happens in real time, and a virtual clock that stands still in
a test must not lock the console for ever.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Callable

from .errors import CommandError

__all__ = ["PasswordGuard", "LoginRefused", "is_loopback", "MAX_FAILURES", "LOCKOUT_SECONDS",
           "FAILURE_DELAY"]

#: Wrong passwords in a row before the guard locks.
MAX_FAILURES = 5
#: How long the guard stays locked (seconds of real time).
LOCKOUT_SECONDS = 60.0
#: The pause before a wrong password is answered (seconds of real time).
FAILURE_DELAY = 1.0


class LoginRefused(CommandError):
    """A wrong administrator password, or the guard is locked."""


def is_loopback(host: str) -> bool:
    """True when `host` is reachable only from this machine (127.0.0.0/8, ::1, localhost).

    Any other name or address (0.0.0.0 and :: included) counts as reachable from the network.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class PasswordGuard:
    def __init__(self, *, delay: float = FAILURE_DELAY, lockout: float = LOCKOUT_SECONDS,
                 max_failures: int = MAX_FAILURES, now: Callable[[], float] | None = None) -> None:
        self.delay = delay
        self.lockout = lockout
        self.max_failures = max_failures
        self._now = now
        self._failures = 0
        self._locked_until = 0.0

    def _time(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    async def check(self, given: str, expected: str, *, what: str = "password") -> None:
        """Return when `given` is the password; raise `LoginRefused` (after the delay) if not."""
        left = self._locked_until - self._time()
        if left > 0:
            raise LoginRefused(f"too many wrong passwords: every {what} is refused for "
                               f"{int(left) + 1} s more")
        if hmac.compare_digest(given.encode(), expected.encode()):
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= self.max_failures:
            self._failures = 0
            self._locked_until = self._time() + self.lockout
            note = (f"; {self.max_failures} wrong in a row: refused for the next "
                    f"{int(self.lockout)} s")
        else:
            note = f" ({self.max_failures - self._failures} more tries before a pause)"
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        raise LoginRefused(f"the {what} is not correct{note}")
