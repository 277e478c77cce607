"""How the bench IdP behaves: which provider it imitates, and every knob of that imitation.

A *profile* is a frozen `IdpPolicy`; the four built in are one table, `PROFILES`, so a test
states the provider it wants in one line (``PROFILES["keycloak"]``) and tweaks a knob with
``dataclasses.replace`` or, at run time, ``POST {control_url}/config`` (control.py), which goes
through `IdpPolicy.with_knobs` and its per-knob checks (`KNOBS`).

What each profile imitates, and where the numbers come from (docs/testbed.md cites them):

==========  ==================================================================================
entra       Microsoft Entra ID v2: 9-character user codes, ``/devicelogin``, a ``message``, no
            ``verification_uri_complete``, 900 s codes, access tokens of a random 60-90 min,
            refresh tokens replaced on use but the old one still valid, 90 days of inactivity
keycloak    Keycloak 2x with "Revoke Refresh Token" on: 300 s access tokens, 600 s codes,
            reuse of a spent refresh token ends the session; refresh tokens live the SSO
            session idle (1800 s) capped by the session max (10 h), each answer says so in
            ``refresh_expires_in``; ``offline_tokens`` for Keycloak's offline tokens
google      Google's device endpoint: ``verification_url``, 1800 s codes; refuses the mail
            scope on the device flow (``invalid_scope``); refresh tokens are not rotated
generic     plain RFC 6749 / RFC 8628 as authlib serves them; rotation with reuse detection
==========  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

__all__ = [
    "KNOBS",
    "PROFILES",
    "IdpPolicy",
    "Knob",
    "ProfileName",
    "RefreshRotation",
    "VerificationPath",
]

ProfileName = Literal["entra", "keycloak", "google", "generic"]
#: ``none``: no new refresh token on refresh (Google). ``keep_old``: a new one each time, the
#: presented one stays valid until it expires (Entra). ``strict``: a new one each time, the
#: presented one is spent, and presenting a spent one ends the whole grant (Keycloak with
#: "Revoke Refresh Token", RFC 6749 §10.4).
RefreshRotation = Literal["none", "keep_old", "strict"]
#: Where the verification page is announced: Entra's ``/devicelogin`` or ``{issuer}/device``.
VerificationPath = Literal["/devicelogin", "/bench/device"]

#: Letters and digits of Entra-like codes: no 0/O, 1/I/L, no vowels (no accidental words).
_ENTRA_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
#: RFC 8628 §6.1's recommendation: 20 consonants, 8 of them as XXXX-XXXX.
_RFC_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


@dataclass(frozen=True)
class IdpPolicy:
    """Every knob of one imitation. Times are seconds of bench clock."""

    profile: ProfileName = "entra"
    # ---- device authorization answer ---------------------------------------------------------
    #: Device code / user code validity (``expires_in``).
    device_code_lifetime: float = 900.0
    #: Minimum poll interval announced to the device (``interval``).
    poll_interval: int = 5
    #: Answer ``slow_down`` on its own when one code is polled faster than ``poll_interval``
    #: of clock time. Off by default: tests ask for slow_down explicitly.
    enforce_interval: bool = False
    user_code_length: int = 9
    #: Characters per dash-separated group of the user code; 0 = no dash.
    user_code_group: int = 0
    user_code_alphabet: str = _ENTRA_ALPHABET
    verification_path: VerificationPath = "/devicelogin"
    #: Send ``verification_uri_complete`` (RFC 8628 §3.2). Entra and Google do not.
    verification_uri_complete: bool = False
    #: Google names the field ``verification_url``; everyone else ``verification_uri``.
    verification_url_field: bool = False
    #: Entra's ``message`` sentence ("To sign in, use a web browser to open the page …").
    device_message: bool = True
    #: Scopes under this prefix are refused on the device flow (Google and its mail scope).
    refused_scope_prefix: str | None = None
    # ---- tokens ------------------------------------------------------------------------------
    #: Fixed access-token lifetime; ``None`` draws each one from the range below.
    access_token_lifetime: float | None = None
    access_token_lifetime_min: float = 3600.0
    access_token_lifetime_max: float = 5400.0
    #: Seed of the lifetime draws: the same seed gives the same lifetimes, run after run.
    lifetime_seed: int = 0
    id_token_lifetime: float = 3600.0
    #: A refresh token not used for this long is refused (Entra: 90 days of inactivity).
    refresh_token_lifetime: float = 90 * 24 * 3600.0
    refresh_rotation: RefreshRotation = "keep_old"
    #: Keycloak: every token answer says ``refresh_expires_in``, the seconds until the refresh
    #: token it carries expires (TokenManager.AccessTokenResponseBuilder.build).
    refresh_expires_in: bool = False
    #: Keycloak's "SSO Session Max": no refresh token of a sign-in, nor access token, outlives
    #: the sign-in by more than this; ``None``: no such cap (Entra, Google).
    session_max_lifetime: float | None = None
    #: Keycloak's offline tokens: a grant that asked for ``offline_access`` (msal always
    #: does) gets an offline token, which lives ``offline_session_idle`` after its last use,
    #: has no session max, and is announced with ``refresh_expires_in: 0`` (no expiry).
    offline_tokens: bool = False
    offline_session_idle: float = 30 * 24 * 3600.0
    # ---- authorization-code flow (browser sign-in with PKCE) ---------------------------------
    authorization_code_flow: bool = True
    auth_code_lifetime: float = 600.0
    #: Redirect URIs accepted besides the loopback rule (docs/testbed.md: Redirect URIs).
    extra_redirect_uris: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("device_code_lifetime", "id_token_lifetime", "refresh_token_lifetime",
                     "access_token_lifetime_min", "access_token_lifetime_max",
                     "auth_code_lifetime", "offline_session_idle"):
            if getattr(self, name) <= 0:
                raise ValueError(f"IdpPolicy.{name} must be > 0 seconds")
        if self.access_token_lifetime is not None and self.access_token_lifetime <= 0:
            raise ValueError("IdpPolicy.access_token_lifetime must be > 0 seconds, or null "
                             "for a random lifetime between the min and the max")
        if self.session_max_lifetime is not None and self.session_max_lifetime <= 0:
            raise ValueError("IdpPolicy.session_max_lifetime must be > 0 seconds, or null for "
                             "no session maximum")
        if self.access_token_lifetime_min > self.access_token_lifetime_max:
            raise ValueError("IdpPolicy.access_token_lifetime_min must not exceed "
                             "access_token_lifetime_max")
        if self.poll_interval < 1:
            raise ValueError("IdpPolicy.poll_interval must be >= 1 second")
        if len(set(self.user_code_alphabet)) < 10:
            raise ValueError("IdpPolicy.user_code_alphabet needs at least 10 distinct characters")
        if not 6 <= self.user_code_length <= 16:
            raise ValueError("IdpPolicy.user_code_length must be 6 to 16 characters")
        if not 0 <= self.user_code_group <= self.user_code_length:
            raise ValueError("IdpPolicy.user_code_group must be 0 (no dash) up to the code length")

    # ---- the profile table ------------------------------------------------------------------
    @classmethod
    def for_profile(cls, name: str) -> IdpPolicy:
        if name not in PROFILES:
            raise ValueError(f"unknown IdP profile {name!r}; profiles: {', '.join(PROFILES)}")
        return PROFILES[name]

    @classmethod
    def microsoft(cls) -> IdpPolicy:
        """Alias of ``PROFILES["entra"]`` (the name the bench used before profiles)."""
        return PROFILES["entra"]

    @classmethod
    def google(cls) -> IdpPolicy:
        """Alias of ``PROFILES["google"]``."""
        return PROFILES["google"]

    @property
    def flavour(self) -> str:
        """Old two-valued name (``microsoft``/``google``), kept for testbed.json readers."""
        return {"entra": "microsoft", "google": "google"}.get(self.profile, self.profile)

    # ---- knobs -------------------------------------------------------------------------------
    def knobs(self) -> dict[str, Any]:
        """Every knob as JSON-ready values (what ``GET /config`` shows)."""
        out = asdict(self)
        out["extra_redirect_uris"] = list(self.extra_redirect_uris)
        return out

    def with_knobs(self, changes: Mapping[str, Any]) -> IdpPolicy:
        """A copy with `changes` applied; ``profile`` first switches the whole base profile.

        Raises ValueError naming the knob and what it accepts; nothing is applied then.
        """
        base = self
        rest = dict(changes)
        if "profile" in rest:
            base = IdpPolicy.for_profile(str(rest.pop("profile")))
        unknown = sorted(set(rest) - set(KNOBS))
        if unknown:
            raise ValueError(f"unknown knob {unknown[0]!r}; knobs: profile, {', '.join(KNOBS)}")
        parsed = {name: KNOBS[name].parse(name, value) for name, value in rest.items()}
        return replace(base, **parsed)


@dataclass(frozen=True)
class Knob:
    """How one knob is read from JSON: a parser that raises ValueError with what is allowed."""

    parse_value: Callable[[Any], Any]
    accepts: str

    def parse(self, name: str, value: Any) -> Any:
        try:
            return self.parse_value(value)
        except (ValueError, TypeError):
            raise ValueError(f"{name} must be {self.accepts}; got {value!r}") from None


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    return float(value)


def _seconds_or_null(value: Any) -> float | None:
    return None if value is None else _seconds(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def _text_or_null(value: Any) -> str | None:
    return None if value is None else _text(value)


def _one_of(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValueError
        return str(value)
    return parse


def _uris(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError
    return tuple(value)


_SECONDS = Knob(_seconds, "a number of seconds")
#: One row per knob that ``POST /config`` may change (``profile`` is handled apart).
KNOBS: dict[str, Knob] = {
    "device_code_lifetime": _SECONDS,
    "poll_interval": Knob(_integer, "a whole number of seconds"),
    "enforce_interval": Knob(_boolean, "true or false"),
    "user_code_length": Knob(_integer, "a whole number (6 to 16)"),
    "user_code_group": Knob(_integer, "a whole number (0 for no dash)"),
    "user_code_alphabet": Knob(_text, "a string of at least 10 distinct characters"),
    "verification_path": Knob(_one_of("/devicelogin", "/bench/device"),
                              '"/devicelogin" or "/bench/device"'),
    "verification_uri_complete": Knob(_boolean, "true or false"),
    "verification_url_field": Knob(_boolean, "true or false"),
    "device_message": Knob(_boolean, "true or false"),
    "refused_scope_prefix": Knob(_text_or_null, "a scope prefix, or null"),
    "access_token_lifetime": Knob(_seconds_or_null,
                                  "a number of seconds, or null for a random lifetime"),
    "access_token_lifetime_min": _SECONDS,
    "access_token_lifetime_max": _SECONDS,
    "lifetime_seed": Knob(_integer, "a whole number"),
    "id_token_lifetime": _SECONDS,
    "refresh_token_lifetime": _SECONDS,
    "refresh_rotation": Knob(_one_of("none", "keep_old", "strict"),
                             '"none", "keep_old" or "strict"'),
    "refresh_expires_in": Knob(_boolean, "true or false"),
    "session_max_lifetime": Knob(_seconds_or_null, "a number of seconds, or null for no maximum"),
    "offline_tokens": Knob(_boolean, "true or false"),
    "offline_session_idle": _SECONDS,
    "authorization_code_flow": Knob(_boolean, "true or false"),
    "auth_code_lifetime": _SECONDS,
    "extra_redirect_uris": Knob(_uris, "a list of redirect URIs"),
}
assert set(KNOBS) == {f.name for f in fields(IdpPolicy)} - {"profile"}, "KNOBS out of date"

_GOOGLE_MAIL = "https://mail.bench.test/"

#: The profiles, as data. Sources: docs/testbed.md "Profiles".
PROFILES: dict[str, IdpPolicy] = {
    "entra": IdpPolicy(),
    "keycloak": IdpPolicy(
        profile="keycloak",
        device_code_lifetime=600.0,
        user_code_length=8, user_code_group=4, user_code_alphabet=_RFC_ALPHABET,
        verification_path="/bench/device", verification_uri_complete=True, device_message=False,
        access_token_lifetime=300.0, id_token_lifetime=300.0,
        refresh_token_lifetime=1800.0,  # "SSO Session Idle"
        refresh_rotation="strict",
        refresh_expires_in=True,
        session_max_lifetime=36000.0,  # "SSO Session Max"
    ),
    "google": IdpPolicy(
        profile="google",
        device_code_lifetime=1800.0,
        user_code_length=8, user_code_group=4, user_code_alphabet=_RFC_ALPHABET,
        verification_path="/bench/device", verification_url_field=True, device_message=False,
        refused_scope_prefix=_GOOGLE_MAIL,
        access_token_lifetime=3599.0, id_token_lifetime=3600.0,
        refresh_token_lifetime=180 * 24 * 3600.0,
        refresh_rotation="none",
    ),
    "generic": IdpPolicy(
        profile="generic",
        device_code_lifetime=1800.0,
        user_code_length=8, user_code_group=4, user_code_alphabet=_RFC_ALPHABET,
        verification_path="/bench/device", verification_uri_complete=True, device_message=False,
        access_token_lifetime=3600.0,
        refresh_rotation="strict",
    ),
}
