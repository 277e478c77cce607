"""What the IdP remembers: device authorizations, refresh-token families, account status.

This is the model behind every face of the IdP. The OAuth endpoints (through authlib), the
verification page and the control API (HTTP or in-process) all change it through the methods
here, so "approve from a script" and "approve in a browser" are the same event.

Device authorization life (one table, read top to bottom)::

    pending ──approve──▶ approved ──token poll──▶ redeemed
       │  └────deny────▶ declined
       └──clock passes expires_at──▶ (expired: any poll answers expired_token)

Refresh tokens belong to a *family* (one per completed device flow). Each use spends the token
and issues the next one in the family; presenting a spent token again revokes the whole family
(reuse means two holders: one of them stole it). ``revoke(username)`` revokes every family of
the user, as Entra's "revoke sessions" does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc8628 import DeviceCredentialMixin

from mfp_sim.tools.bench_users import BENCH_USERS, BenchUser, find_user

from .errors import BadControlRequest, UnknownUser, UnknownUserCode
from .policy import IdpPolicy

__all__ = [
    "DeviceAuthorization",
    "DeviceStatus",
    "GrantFamily",
    "IdpState",
    "RefreshToken",
    "normalize_user_code",
]

DeviceStatus = Literal["pending", "approved", "declined", "redeemed"]
FamilyEnd = Literal["revoked", "reused"]


def normalize_user_code(text: str) -> str:
    """What a person typed → the canonical ``XXXX-XXXX`` (case, spaces and dashes forgiven)."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


@dataclass
class DeviceAuthorization(DeviceCredentialMixin):  # type: ignore[misc]
    """One device-code flow, from the device authorization request to its token."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    now: Callable[[], float]
    status: DeviceStatus = "pending"
    username: str | None = None
    last_poll: float | None = None

    # authlib's DeviceCredentialMixin
    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return self.now() >= self.expires_at


@dataclass
class GrantFamily:
    """Every refresh token descended from one sign-in."""

    family_id: str
    username: str
    client_id: str
    ended: FamilyEnd | None = None


@dataclass
class RefreshToken(TokenMixin):  # type: ignore[misc]
    token: str
    family: GrantFamily
    scope: str
    issued_at: float
    expires_at: float
    now: Callable[[], float]
    spent: bool = False

    # authlib's TokenMixin
    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.family.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_expired(self) -> bool:
        return self.now() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.spent or self.family.ended is not None

    def get_user(self) -> str:
        return self.family.username


@dataclass
class IdpState:
    """All mutable state of one IdP instance; `now` is the injected clock's ``now``."""

    policy: IdpPolicy
    now: Callable[[], float]
    devices: dict[str, DeviceAuthorization] = field(default_factory=dict)  # by device_code
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    families: dict[str, GrantFamily] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    #: Polls still to be answered ``slow_down`` (set by `slow_down()`).
    slow_down_left: int = 0

    # ---- device authorizations -------------------------------------------------------------
    def new_user_code(self) -> str:
        alphabet = self.policy.user_code_alphabet
        taken = {d.user_code for d in self.devices.values()}
        while True:
            letters = "".join(secrets.choice(alphabet) for _ in range(8))
            code = f"{letters[:4]}-{letters[4:]}"
            if code not in taken:
                return code

    def add_device(self, device_code: str, user_code: str, client_id: str, scope: str) -> None:
        now = self.now()
        self.devices[device_code] = DeviceAuthorization(
            device_code=device_code, user_code=user_code, client_id=client_id, scope=scope,
            issued_at=now, expires_at=now + self.policy.device_code_lifetime, now=self.now,
        )

    def by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        wanted = normalize_user_code(user_code)
        return next((d for d in self.devices.values() if d.user_code == wanted), None)

    def pending_codes(self) -> list[str]:
        """User codes a person could still approve: pending and not expired, oldest first."""
        live = [d for d in self.devices.values() if d.status == "pending" and not d.is_expired()]
        return [d.user_code for d in sorted(live, key=lambda d: d.issued_at)]

    def _decidable(self, user_code: str) -> DeviceAuthorization:
        if not isinstance(user_code, str) or not user_code.strip():
            raise BadControlRequest("user_code is required: the code shown on the device, "
                                    "like BCDF-GHJK")
        device = self.by_user_code(user_code)
        if device is None:
            raise UnknownUserCode(f"no device authorization has user code {user_code!r}; "
                                  f"waiting: {', '.join(self.pending_codes()) or 'none'}")
        if device.is_expired():
            raise BadControlRequest(f"user code {device.user_code} has expired; the device "
                                    "must ask for a new code")
        if device.status != "pending":
            raise BadControlRequest(f"user code {device.user_code} was already {device.status}")
        return device

    def approve(self, user_code: str, username: str) -> str:
        """Approve a waiting code on behalf of `username`; returns the canonical user code."""
        user = self.user(username)
        device = self._decidable(user_code)
        if user.username in self.disabled:
            raise BadControlRequest(f"AADSTS50057: the user account {user.username} is "
                                    "disabled; enable it first")
        device.status, device.username = "approved", user.username
        return device.user_code

    def deny(self, user_code: str) -> str:
        device = self._decidable(user_code)
        device.status = "declined"
        return device.user_code

    # ---- accounts ---------------------------------------------------------------------------
    def user(self, username: str) -> BenchUser:
        if not isinstance(username, str) or not username.strip():
            raise BadControlRequest("username is required: one of the bench users "
                                    "(see docs/testbed.md)")
        user = find_user(username)
        if user is None:
            known = ", ".join(u.username for u in BENCH_USERS)
            raise UnknownUser(f"{username!r} is not a bench user; known users: {known}")
        return user

    def is_disabled(self, username: str) -> bool:
        return username.strip().lower() in self.disabled

    def disable(self, username: str) -> str:
        name = self.user(username).username
        self.disabled.add(name)
        return name

    def enable(self, username: str) -> str:
        name = self.user(username).username
        self.disabled.discard(name)
        return name

    def revoke(self, username: str) -> int:
        """End every refresh-token family of the user; returns how many were live."""
        name = self.user(username).username
        count = 0
        for family in self.families.values():
            if family.username == name and family.ended is None:
                family.ended = "revoked"
                count += 1
        return count

    def slow_down(self, count: int) -> int:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise BadControlRequest("count must be a positive integer: how many of the next "
                                    "pending polls answer slow_down")
        self.slow_down_left += count
        return self.slow_down_left

    def take_slow_down(self) -> bool:
        if self.slow_down_left > 0:
            self.slow_down_left -= 1
            return True
        return False

    # ---- refresh tokens ---------------------------------------------------------------------
    def new_family(self, username: str, client_id: str) -> GrantFamily:
        family = GrantFamily(secrets.token_urlsafe(8), username, client_id)
        self.families[family.family_id] = family
        return family

    def add_refresh_token(self, token: str, family: GrantFamily, scope: str) -> RefreshToken:
        now = self.now()
        record = RefreshToken(token=token, family=family, scope=scope, issued_at=now,
                              expires_at=now + self.policy.refresh_token_lifetime, now=self.now)
        self.refresh_tokens[token] = record
        return record
