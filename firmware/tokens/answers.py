"""What an identity provider said, as small typed values (h11's events, for OAuth).

The msal adapter (`provider_client`) turns every outcome of a request into exactly one of
these, whatever came over the wire; the pure policies (`device_flow`, `refresh`) take them and
decide. Nothing a server can send raises past the adapter.

    Answer
     ├── Issued      a device-code answer: user code, where to go, how long, how often to poll
     ├── Granted     a token answer: the access token, its lifetime, who signed in, and
     │               how long the refresh token lives when the provider says (Keycloak)
     ├── Refused     an OAuth error answer (`error`, `error_description`, Entra's `error_codes`)
     ├── Unanswered  no answer: connection refused, TLS not trusted, nothing within the deadline
     ├── Garbled     something that is not an OAuth answer: HTTP 500, not JSON, a JSON list,
     │               fields of the wrong type, an answer too large
     └── Untrusted   a token answer the device will not use: its ID token names another issuer
                     than the provider's authority (msal 1.39 no longer checks `iss`)

`parse_issued` and `parse_token` check every field a decision depends on, so a `Granted` always
holds a non-empty string token and a positive lifetime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..sentences import Reason
from .reasons import mask, provider_words

__all__ = ["Answer", "Exchange", "Garbled", "Granted", "Issued", "Refused", "Unanswered",
           "Untrusted", "error_answer", "parse_issued", "parse_token", "shape_of", "DEFAULT_LIFETIME",
           "MAX_LIFETIME"]

#: A token answer without `expires_in` (RFC 6749 only recommends it): one hour, as Entra's.
DEFAULT_LIFETIME = 3600.0
#: Longer lifetimes are taken as this (a year): no real provider issues more, and a bigger
#: number would only be a server's mistake.
MAX_LIFETIME = 365 * 86400.0
#: Device codes: RFC 8628 defaults (5 s interval) and a bound on what a server may ask for.
DEFAULT_INTERVAL = 5.0
MAX_INTERVAL = 300.0
DEFAULT_CODE_LIFETIME = 900.0


@dataclass(frozen=True)
class Exchange:
    """What the HTTP layer saw of the last answer: for reasons and for Retry-After."""

    status: int = 0
    retry_after: float | None = None
    shape: str = ""  # "a JSON object", "not JSON", ... (see shape_of)
    what: str = ""  # "discovery document", "device-code answer", "token answer"
    #: An error answer's JSON object (msal raises on HTTP 5xx without handing it over).
    error_body: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Issued:
    flow: dict[str, Any] = field(repr=False)  # msal's flow object, handed back to it to poll
    user_code: str
    verification_uri: str
    expires_in: float
    interval: float
    message: str = ""
    verification_uri_complete: str = ""


@dataclass(frozen=True)
class Granted:
    access_token: str
    expires_in: float
    user: str  # who signed in, from the ID token ("" if the provider did not say)
    issuer: str = ""  # the ID token's `iss` ("" without an ID token)
    #: Seconds the refresh token lives, when the provider says (Keycloak's
    #: `refresh_expires_in`); None when it does not (Entra, Google), or says 0 (a Keycloak
    #: offline token: no expiry of its own).
    refresh_expires_in: float | None = None

    def __repr__(self) -> str:  # never a token in full, even by accident
        return f"Granted(user={self.user!r}, expires_in={self.expires_in}, " \
               f"refresh_expires_in={self.refresh_expires_in}, " \
               f"access_token={mask(self.access_token)!r})"


@dataclass(frozen=True)
class Refused:
    error: str
    description: str = ""
    codes: tuple[int, ...] = ()
    status: int = 0
    retry_after: float | None = None

    def words(self) -> str:
        """The provider's own words and codes, once, for a reason."""
        return provider_words(self.error, self.description, self.codes)

    def words_with_status(self) -> str:
        """`words()`, after the HTTP status when that is what makes it temporary (429, 5xx)."""
        if self.status == 429 or self.status >= 500:
            return f"HTTP {self.status}: {self.words()}"
        return self.words()

    @property
    def temporary(self) -> bool:
        """Will asking again later plausibly help? (server trouble, throttling)"""
        return (self.error in ("temporarily_unavailable", "server_error")
                or self.status == 429 or self.status >= 500)


@dataclass(frozen=True)
class Unanswered:
    code: str  # provider_unreachable | provider_timeout | device_busy
    detail: str  # a clause (a `Reason` when the device words it)
    retry_after: float | None = None

    def words(self) -> str:
        return self.detail


#: What a garbled answer was meant to be, as the sentences table words it.
_WHAT = {"token answer": "what.token_answer", "device-code answer": "what.device_code_answer",
         "discovery document": "what.discovery",
         "discovery document for this authority": "what.discovery_authority"}


@dataclass(frozen=True)
class Garbled:
    detail: str  # "HTTP 500", "HTTP 200, a JSON list", "expires_in is not a number"
    what: str = "token answer"
    retry_after: float | None = None
    code: str = "not_a_token_response"

    def words(self) -> str:
        what = Reason(_WHAT[self.what]) if self.what in _WHAT else self.what
        return Reason("cause.garbled", what=what, detail=self.detail)


@dataclass(frozen=True)
class Untrusted:
    """Tokens the device refuses: the ID token's issuer is not the provider's authority
    (OpenID Connect Core §3.1.3.7: the client must check `iss`)."""

    issuer: str
    authority: str
    error: str = "wrong_issuer"
    retry_after: float | None = None

    def words(self) -> str:
        return Reason("cause.wrong_issuer", issuer=self.issuer, authority=self.authority)


Answer = Issued | Granted | Refused | Unanswered | Garbled | Untrusted


def shape_of(value: Any) -> str:
    """A JSON value's kind in words ("a JSON list"), for a reason about a garbled answer."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, str):
        return "a JSON string"
    if value is None:
        return "JSON null"
    if isinstance(value, bool):
        return "a JSON boolean"
    return "a JSON number"


def _garbled(detail: str, ex: Exchange, what: str) -> Garbled:
    prefix = f"HTTP {ex.status}, " if ex.status else ""
    return Garbled(prefix + detail, what=what, retry_after=ex.retry_after)


def _seconds(value: Any, default: float, low: float, high: float) -> float | None:
    """A positive number of seconds (numbers and numeric strings), clamped; None if not one."""
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(min(max(value, low), high))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _refused(body: dict[str, Any], ex: Exchange, what: str) -> Refused | Garbled:
    error = body.get("error")
    if not isinstance(error, str) or not error.strip():
        return _garbled("an object with an error that is not a string", ex, what)
    description = body.get("error_description")
    codes = body.get("error_codes")
    return Refused(
        error=error.strip()[:100],
        description=description if isinstance(description, str) else "",
        codes=tuple(c for c in codes if isinstance(c, int) and not isinstance(c, bool))[:5]
        if isinstance(codes, list) else (),
        status=ex.status,
        retry_after=ex.retry_after,
    )


def parse_issued(body: Any, ex: Exchange) -> Issued | Refused | Garbled:
    """A device authorization answer (RFC 8628 §3.2), as msal handed it over."""
    what = "device-code answer"
    if not isinstance(body, dict):
        return _garbled(shape_of(body), ex, what)
    if "error" in body and "user_code" not in body:
        return _refused(body, ex, what)
    user_code = _text(body.get("user_code"))
    uri = _text(body.get("verification_uri")) or _text(body.get("verification_url"))
    if not user_code or not _text(body.get("device_code")):
        return _garbled("no user_code or device_code", ex, what)
    if not uri or not uri.startswith(("https://", "http://")):
        return _garbled("no verification_uri", ex, what)
    expires_in = _seconds(body.get("expires_in"), DEFAULT_CODE_LIFETIME, 1.0, 86400.0)
    interval = _seconds(body.get("interval"), DEFAULT_INTERVAL, 1.0, MAX_INTERVAL)
    if expires_in is None or interval is None:
        return _garbled("expires_in or interval is not a number of seconds", ex, what)
    return Issued(flow=body, user_code=user_code[:64], verification_uri=uri[:500],
                  expires_in=expires_in, interval=interval,
                  message=(_text(body.get("message")) or "")[:500],
                  verification_uri_complete=(_text(body.get("verification_uri_complete")) or "")[:500])


def parse_token(body: Any, ex: Exchange) -> Granted | Refused | Garbled:
    """A token answer (RFC 6749 §5.1/5.2) as msal returned it (id_token_claims decoded)."""
    what = "token answer"
    if not isinstance(body, dict):
        return _garbled(shape_of(body), ex, what)
    if "access_token" not in body:
        if "error" in body:
            return _refused(body, ex, what)
        return _garbled("an object with neither access_token nor error", ex, what)
    token = body.get("access_token")
    if not isinstance(token, str) or not token.strip():
        return _garbled("access_token is not a string", ex, what)
    lifetime = _seconds(body.get("expires_in"), DEFAULT_LIFETIME, 1.0, MAX_LIFETIME)
    if lifetime is None:
        return _garbled("expires_in is not a number of seconds", ex, what)
    claims = body.get("id_token_claims")
    user = issuer = ""
    if isinstance(claims, dict):
        for name in ("preferred_username", "upn", "email"):
            value = claims.get(name)
            if isinstance(value, str) and value:
                user = value
                break
        iss = claims.get("iss")
        issuer = iss if isinstance(iss, str) else ("(not a string)" if iss is not None else "")
    # Not a field a token depends on: a value that is not a positive number of seconds is
    # taken as not said, and the plan is then the access token's alone.
    refresh_life = _seconds(body.get("refresh_expires_in", 0), 0.0, 1.0, MAX_LIFETIME)
    return Granted(access_token=token, expires_in=lifetime, user=user, issuer=issuer[:200],
                   refresh_expires_in=refresh_life or None)


def error_answer(ex: Exchange) -> Refused | None:
    """The OAuth error of an HTTP 5xx answer msal raised on, when it was one (Entra's
    `server_error` with its AADSTS code), so the reason keeps the provider's words."""
    body = ex.error_body
    if body is None or not isinstance(body.get("error"), str):
        return None
    found = _refused(body, ex, ex.what or "token answer")
    return found if isinstance(found, Refused) else None
