"""Access-token verification, as a resource server (the bench mail server) does it.

The verifier needs only public material (issuer, JWKS) and the shared clock, so a mail server
can check tokens without calling the IdP, as Exchange Online does with Entra's keys. Expiry is
judged on the injected clock with no leeway: on a virtual clock a test means the second it
advances to.

Checks, in order, each with its own :class:`TokenRejected` code:

==================  =========================================================================
``malformed``       not a compact JWS, unreadable header or claims, wrong issuer, no user
``bad_signature``   signature does not verify with the IdP's keys (unknown ``kid`` included)
``expired``         ``exp`` at or before ``clock.now()``
``wrong_audience``  ``aud`` is not ``https://mail.bench.test`` (an ID token, say)
``wrong_scope``     ``scp`` lacks the permission the service needs
``disabled``        the account is disabled now (checked on every use, like Entra + Exchange)
==================  =========================================================================

Revoking a user's sessions does *not* reject access tokens already issued: like Entra, it kills
refresh tokens only, and the access token lives out its hour.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mfp_sim.hwsim.clock import Clock

from .errors import TokenRejected
from .keys import ALGORITHM
from .tokens import RESOURCE, short_scope_names

__all__ = ["AccessTokenVerifier", "TokenRejected", "token_prefix"]


def token_prefix(token: str, length: int = 8) -> str:
    """What may be logged of a token: a short prefix and its length, never the whole."""
    return f"{token[:length]}…({len(token)} chars)"


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


class AccessTokenVerifier:
    """Verify bench access tokens; `verify()` returns the username the token speaks for."""

    def __init__(
        self,
        issuer: str,
        jwks: Mapping[str, Any] | KeySet,
        clock: Clock,
        is_disabled: Callable[[str], bool] = lambda _username: False,
    ) -> None:
        self.issuer = issuer
        self._keys = jwks if isinstance(jwks, KeySet) else KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        self._clock = clock
        self._is_disabled = is_disabled

    def verify(self, token: str, required_scope: str) -> str:
        """Check `token` for `required_scope` (full ``https://…/SMTP.Send`` or short name).

        Raises :class:`TokenRejected` with a code from the table in the module docstring.
        """
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenRejected("not a JSON Web Token (three dot-separated parts)", "malformed")
        try:
            header = _b64json(token.split(".", 1)[0])
        except (ValueError, binascii.Error, UnicodeError):
            raise TokenRejected("token header is not base64url JSON", "malformed") from None
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise TokenRejected(f"token header must say alg {ALGORITHM}", "malformed")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
        except JoseError as exc:
            code = "malformed" if exc.error in {"decode_error", "invalid_payload"} else None
            if code:
                raise TokenRejected(f"token cannot be decoded ({exc.error})", "malformed") from None
            raise TokenRejected("signature does not verify with the IdP's keys",
                                "bad_signature") from None
        except (ValueError, TypeError):
            raise TokenRejected("token cannot be decoded", "malformed") from None
        claims = decoded.claims
        return self._check_claims(claims, required_scope)

    def _check_claims(self, claims: dict[str, Any], required_scope: str) -> str:
        if claims.get("iss") != self.issuer:
            raise TokenRejected(f"issuer is not {self.issuer}", "malformed")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise TokenRejected("token has no numeric exp claim", "malformed")
        if exp <= self._clock.now():
            raise TokenRejected("token expired", "expired")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if RESOURCE not in audiences:
            raise TokenRejected(f"token audience is not {RESOURCE}", "wrong_audience")
        granted = str(claims.get("scp", "")).split()
        needed = short_scope_names([required_scope])
        if not needed or any(s not in granted for s in needed):
            raise TokenRejected(f"token does not grant {required_scope}", "wrong_scope")
        username = claims.get("upn") or claims.get("preferred_username")
        if not isinstance(username, str) or not username:
            raise TokenRejected("token names no user (upn/preferred_username)", "malformed")
        if self._is_disabled(username):
            raise TokenRejected(f"account {username} is disabled", "disabled")
        return username
