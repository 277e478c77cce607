"""Who may use the bench mail server, and how a sign-in attempt is judged and recorded.

Both protocols take the same credentials, as Exchange Online does: a bench user's password or
16-letter app password (basic authentication), or an OAuth access token (SASL XOAUTH2) that the
identity provider's verifier accepts for the protocol's scope. The server never parses tokens
itself; it asks a `TokenVerifier`, so tests can hand it the real IdP's verifier or a fake.

Repeated failed password logins lock the account for a while on the bench clock (`LoginLockout`),
the way Entra smart lockout answers a password-guessing client. Every attempt is recorded as an
`AuthEvent` so tests and the bench console can tell *why* a login failed, which the wire reply
deliberately does not say (real servers give one text for every kind of failure).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_users import BenchUsers
from mfp_sim.tools.idp import POP_SCOPE, SMTP_SCOPE, BenchStats, TokenRejected

__all__ = [
    "POP_SCOPE",
    "SMTP_SCOPE",
    "AuthEvent",
    "AuthLog",
    "LoginLockout",
    "TokenRejected",
    "TokenVerifier",
    "check_password",
    "mask_secret",
    "mask_token",
]

log = logging.getLogger("mfp_sim.tools.mailserver.auth")


class TokenVerifier(Protocol):
    """What the mail server needs from an identity provider (`AccessTokenVerifier` fits).

    `verify` returns the username the token speaks for, or raises `TokenRejected`.
    """

    def verify(self, token: str, required_scope: str) -> str: ...


def mask_secret(secret: str) -> str:
    """A password as it may appear in a log: its length only."""
    return f"***({len(secret)} chars)"


def mask_token(token: str) -> str:
    """An access token as it may appear in a log: a short prefix and its length."""
    return f"{token[:6]}…({len(token)} chars)"


def check_password(users: BenchUsers, username: str, secret: str) -> str | None:
    """The canonical username if `secret` is the user's password or app password.

    App passwords are accepted with or without the spaces Microsoft shows them with
    ("abcd efgh ijkl mnop"), as Exchange does.
    """
    user = users.find(username)
    if user is None:
        return None
    if secret == user.password or secret.replace(" ", "") == user.app_password:
        return user.username
    return None


@dataclass(frozen=True)
class AuthEvent:
    """One sign-in attempt, for tests and the bench console (never holds a secret)."""

    when: float  # bench clock
    protocol: str  # "smtp" | "pop3"
    mechanism: str  # "PLAIN" | "LOGIN" | "USER" | "XOAUTH2"
    username: str  # as the client gave it
    ok: bool
    #: "ok", "bad_password", "locked", "user_mismatch", "malformed", a TokenRejected code,
    #: or "fault:<name>" when a catalogue fault answered instead.
    reason: str


class AuthLog:
    """The attempts seen by one mail server, oldest first; each is also counted in `stats`."""

    #: Oldest events are dropped past this many (a long soak must not grow memory).
    LIMIT = 10_000

    def __init__(self, clock: Clock, stats: BenchStats | None = None) -> None:
        self._clock = clock
        self.stats = stats if stats is not None else BenchStats(clock.now)
        self.events: list[AuthEvent] = []

    def record(self, protocol: str, mechanism: str, username: str, ok: bool, reason: str) -> None:
        event = AuthEvent(self._clock.now(), protocol, mechanism, username, ok, reason)
        self.events.append(event)
        if len(self.events) > self.LIMIT:
            del self.events[: len(self.events) - self.LIMIT]
        self.stats.mail_auth(protocol, mechanism, username, ok, reason)
        log.info(
            "%s AUTH %s user=%s -> %s (%s)",
            protocol,
            mechanism,
            username,
            "ok" if ok else "refused",
            reason,
        )


class LoginLockout:
    """Lock an account after `threshold` consecutive failed password logins.

    The lock lasts `lock_seconds` on the bench clock; a success clears the count. Counting is by
    the name the client gave (lower-cased), whether or not the user exists, so the lockout
    does not reveal which accounts exist.
    """

    def __init__(self, clock: Clock, threshold: int = 5, lock_seconds: float = 900.0) -> None:
        if threshold < 1 or lock_seconds <= 0:
            raise ValueError("lockout needs threshold >= 1 and lock_seconds > 0")
        self._clock = clock
        self.threshold = threshold
        self.lock_seconds = lock_seconds
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def remaining(self, username: str) -> float:
        """Seconds left on the lock of `username` (0 when not locked)."""
        name = username.strip().lower()
        until = self._locked_until.get(name)
        if until is None:
            return 0.0
        left = until - self._clock.now()
        if left <= 0:
            del self._locked_until[name]
            self._failures.pop(name, None)
            return 0.0
        return left

    def record_failure(self, username: str) -> bool:
        """Count a failure; True if this one locked the account."""
        name = username.strip().lower()
        count = self._failures.get(name, 0) + 1
        self._failures[name] = count
        if count >= self.threshold:
            self._locked_until[name] = self._clock.now() + self.lock_seconds
            log.warning("account %s locked for %.0f s after %d failures", name, self.lock_seconds, count)
            return True
        return False

    def record_success(self, username: str) -> None:
        self._failures.pop(username.strip().lower(), None)
