"""What the IdP remembers: device authorizations, refresh-token families, account status.

This is the model behind every face of the IdP. The OAuth endpoints (through authlib), the
verification page and the control API (HTTP or in-process) all change it through the methods
here, so "approve from a script" and "approve in a browser" are the same event.

Device authorization life (one table, read top to bottom)::

    pending ──approve──▶ approved ──token poll──▶ redeemed
       │  └────deny────▶ declined
       └──clock passes expires_at──▶ (expired: any poll answers expired_token)

Refresh tokens belong to a *family* (one per completed sign-in). What a refresh does to the
presented token is the profile's ``refresh_rotation`` (grants.py): Entra keeps it valid, Keycloak
spends it and ends the family when a spent one comes back (reuse means two holders: one of them
stole it). ``revoke(username)`` ends every family of the user, as Entra's "revoke sessions" does.

Authorization codes (browser sign-in, RFC 6749 §4.1 with PKCE) live ``auth_code_lifetime``
seconds and are used once.

The policy (profile and knobs) is held here and may be replaced while the IdP runs
(`set_policy`, ``POST /control/config``); every decision reads the current one.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, TokenMixin
from authlib.oauth2.rfc8628 import DeviceCredentialMixin

from mfp_sim.tools.bench_users import BenchUser, BenchUsers

from .errors import BadControlRequest, UnknownUser, UnknownUserCode
from .policy import IdpPolicy

__all__ = [
    "AuthorizationCode",
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
    """What a person typed, reduced for comparison: case, spaces and dashes forgiven."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


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
    #: When the sign-in happened (bench clock): Keycloak's session max counts from here.
    started_at: float = 0.0
    #: A Keycloak offline token's family: offline idle, no session max.
    offline: bool = False


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
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """One authorization code: bound to its client, redirect URI and PKCE challenge."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    username: str
    code_challenge: str
    code_challenge_method: str
    issued_at: float
    expires_at: float
    nonce: str | None = None

    # authlib's AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.issued_at)


@dataclass
class IdpState:
    """All mutable state of one IdP instance; `now` is the injected clock's ``now``."""

    policy: IdpPolicy
    now: Callable[[], float]
    devices: dict[str, DeviceAuthorization] = field(default_factory=dict)  # by device_code
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    families: dict[str, GrantFamily] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    auth_codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    #: Who can sign in: the named bench users and any account families (``/control/accounts``).
    users: BenchUsers = field(default_factory=BenchUsers)
    #: Polls still to be answered ``slow_down`` (set by `slow_down()`).
    slow_down_left: int = 0
    #: Draws access-token lifetimes when the policy gives a range (seeded: reproducible).
    rng: random.Random = field(init=False)
    #: `devices` by normalised user code: approving one of thousands is a lookup, not a scan.
    _by_code: dict[str, DeviceAuthorization] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.policy.lifetime_seed)

    # ---- policy -----------------------------------------------------------------------------
    def set_policy(self, policy: IdpPolicy) -> None:
        """Switch profile or knobs at run time; a new seed restarts the lifetime draws."""
        reseed = policy.lifetime_seed != self.policy.lifetime_seed
        self.policy = policy
        if reseed:
            self.rng = random.Random(policy.lifetime_seed)

    def access_token_lifetime(self) -> float:
        """The next access token's lifetime: fixed, or drawn from the range (whole seconds)."""
        policy = self.policy
        if policy.access_token_lifetime is not None:
            return policy.access_token_lifetime
        return float(round(self.rng.uniform(policy.access_token_lifetime_min,
                                            policy.access_token_lifetime_max)))

    # ---- device authorizations -------------------------------------------------------------
    def new_user_code(self) -> str:
        policy = self.policy
        while True:
            chars = "".join(secrets.choice(policy.user_code_alphabet)
                            for _ in range(policy.user_code_length))
            if chars in self._by_code:
                continue
            group = policy.user_code_group
            if group:
                return "-".join(chars[i:i + group] for i in range(0, len(chars), group))
            return chars

    #: Authorizations expired this long are forgotten (every `_PURGE_EVERY` new ones), so a
    #: bench serving a fleet for days keeps bounded memory; until then a poll still gets
    #: ``expired_token``, and no device polls past its code's expiry.
    _FORGET_AFTER = 86400.0
    _PURGE_EVERY = 1024

    def add_device(self, device_code: str, user_code: str, client_id: str, scope: str) -> None:
        now = self.now()
        record = DeviceAuthorization(
            device_code=device_code, user_code=user_code, client_id=client_id, scope=scope,
            issued_at=now, expires_at=now + self.policy.device_code_lifetime, now=self.now,
        )
        self.devices[device_code] = record
        self._by_code[normalize_user_code(user_code)] = record
        if len(self.devices) % self._PURGE_EVERY == 0:
            old = [d for d in self.devices.values() if d.expires_at + self._FORGET_AFTER < now]
            for d in old:
                del self.devices[d.device_code]
                self._by_code.pop(normalize_user_code(d.user_code), None)

    def by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        return self._by_code.get(normalize_user_code(user_code))

    def pending_codes(self) -> list[str]:
        """User codes a person could still approve: pending and not expired, oldest first."""
        live = [d for d in self.devices.values() if d.status == "pending" and not d.is_expired()]
        return [d.user_code for d in sorted(live, key=lambda d: d.issued_at)]

    def _decidable(self, user_code: str) -> DeviceAuthorization:
        if not isinstance(user_code, str) or not user_code.strip():
            raise BadControlRequest("user_code is required: the code shown on the device, "
                                    "like BCDF-GHJK or GH5LFQ7WZ")
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
        user = self.users.find(username)
        if user is None:
            raise UnknownUser(f"{username!r} is not a bench user; known users: "
                              f"{self.users.describe()}")
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
    def new_family(self, username: str, client_id: str, *, offline: bool = False) -> GrantFamily:
        family = GrantFamily(secrets.token_urlsafe(8), username, client_id,
                             started_at=self.now(), offline=offline)
        self.families[family.family_id] = family
        return family

    def session_ends(self, family: GrantFamily) -> float | None:
        """When the family's session ends whatever its use (Keycloak's SSO Session Max)."""
        limit = self.policy.session_max_lifetime
        return None if family.offline or limit is None else family.started_at + limit

    def add_refresh_token(self, token: str, family: GrantFamily, scope: str) -> RefreshToken:
        """A new refresh token of `family`: it lives the idle time from now (the offline idle
        for an offline token), and never past the session's end."""
        now, policy = self.now(), self.policy
        idle = policy.offline_session_idle if family.offline else policy.refresh_token_lifetime
        ends = self.session_ends(family)
        expires_at = now + idle if ends is None else min(now + idle, ends)
        record = RefreshToken(token=token, family=family, scope=scope, issued_at=now,
                              expires_at=expires_at, now=self.now)
        self.refresh_tokens[token] = record
        return record

    # ---- authorization codes ----------------------------------------------------------------
    def add_auth_code(self, record: AuthorizationCode) -> None:
        now = self.now()
        for code in [c for c, r in self.auth_codes.items() if r.expires_at <= now]:
            del self.auth_codes[code]  # keep the table bounded
        self.auth_codes[record.code] = record

    def live_auth_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        record = self.auth_codes.get(code)
        if record is None or record.client_id != client_id or record.expires_at <= self.now():
            return None
        return record
