"""Who may use the web page: the administrator's login, its limit, and the sessions it opens.

Like a real device's web server, every page is behind the administrator password, and
guessing it is made slow and then stopped for a while, on the device clock:

- after a wrong password the next attempt waits a little longer each time (`DELAYS`: none
  after the first, then 2, 4, 8 seconds), said on the page;
- `MAX_FAILURES` wrong passwords in a row lock the login for `LOCKOUT` seconds: the page says
  until when (device clock). A right password resets the count.

The device has one administrator, so the count is the device's, not one per browser: a real
MFP locks its admin account the same way. Attempts refused by the limit are not checked and
do not count.

A login opens a session: a random id (the cookie), its own anti-forgery token (a hidden field
in every form), and an idle timeout on the device clock. At most `MAX_SESSIONS` live at once;
the oldest goes first, so memory stays bounded whoever logs in how often.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import LoginRefused

__all__ = ["LoginGuard", "Session", "Sessions", "MAX_FAILURES", "LOCKOUT", "DELAYS",
           "SESSION_IDLE"]

#: Seconds the next attempt must wait after the n-th wrong password in a row (n = 1, 2, ...).
DELAYS: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
#: Wrong passwords in a row that lock the login ...
MAX_FAILURES = 5
#: ... for this long (seconds of the device clock).
LOCKOUT = 300.0
#: A session ends after this long without a request (device clock), as the panel's login.
SESSION_IDLE = 600.0
MAX_SESSIONS = 8


class LoginGuard:
    """The attempt limit of the administrator login, on the device clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.failures = 0
        self._next_at = 0.0
        self.locked_until = 0.0

    def check(self) -> None:
        """Before looking at a password: raise `LoginRefused` if it may not be tried now."""
        now = self._now()
        if now < self.locked_until:
            minutes = max(1, round((self.locked_until - now) / 60))
            raise LoginRefused(
                f"Too many wrong passwords: the login is locked for {minutes} more minute(s), "
                f"until {_clock(self.locked_until)} (device clock).", self.locked_until - now)
        if self.locked_until:  # a lockout that ended starts a fresh count
            self.locked_until = 0.0
            self.failures = 0
        if now < self._next_at:
            wait = self._next_at - now
            raise LoginRefused(
                f"Too soon after a wrong password: wait {int(wait + 0.999)} second(s), then "
                "try again.", wait)

    def failed(self) -> str:
        """A wrong password: count it; the message tells what happens next."""
        now = self._now()
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.locked_until = now + LOCKOUT
            return (f"The password is not correct. After {MAX_FAILURES} wrong passwords the "
                    f"login is locked for {int(LOCKOUT // 60)} minutes, until "
                    f"{_clock(self.locked_until)} (device clock).")
        delay = DELAYS[min(self.failures, len(DELAYS)) - 1]
        self._next_at = now + delay
        left = MAX_FAILURES - self.failures
        text = (f"The password is not correct. {left} more wrong password(s) lock the login "
                f"for {int(LOCKOUT // 60)} minutes.")
        if delay:
            text += f" Wait {int(delay)} seconds before the next attempt."
        return text

    def succeeded(self) -> None:
        self.failures = 0
        self._next_at = 0.0


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(seconds))


@dataclass
class Session:
    id: str
    csrf: str
    expires_at: float
    #: What the last form post left to show on the next page (PRG): (text, is_error).
    flash: list[tuple[str, bool]] = field(default_factory=list)


class Sessions:
    """The administrator's open sessions, bounded, timed on the device clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def open(self) -> Session:
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(24),
                          self._now() + SESSION_IDLE)
        self._by_id[session.id] = session
        return session

    def get(self, sid: str, *, touch: bool = True) -> Session | None:
        """The live session of a cookie; `touch` restarts its idle time (a page the admin asked
        for; the live event stream does not keep a session alive)."""
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = self._now()
        if now >= session.expires_at:
            del self._by_id[sid]
            return None
        if touch:
            session.expires_at = now + SESSION_IDLE
            self._by_id.move_to_end(sid)
        return session

    def close(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def close_all(self) -> None:
        """The administrator password changed: every session ends."""
        self._by_id.clear()

    def __len__(self) -> int:
        return len(self._by_id)
