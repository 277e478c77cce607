"""What goes inside the tokens the bench IdP issues.

Access tokens imitate Entra ID v2 tokens for Exchange Online: an RS256 JWT whose audience is
the resource (``https://mail.bench.test``) and whose ``scp`` lists short scope names
(``SMTP.Send``). Devices must treat them as opaque; only the bench's mail server reads them,
through :class:`~tools.idp.verifier.AccessTokenVerifier`.

ID tokens carry what msal needs to build an account in its cache: ``sub`` and
``preferred_username``; ``aud`` is the client id. No ``nbf``: msal compares it with the host's
wall clock, and the device may run on a virtual one.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mfp_sim.tools.bench_users import find_user

from .keys import SigningKey

__all__ = [
    "CLIENT_ID",
    "OIDC_SCOPES",
    "POP_SCOPE",
    "RESOURCE",
    "SMTP_SCOPE",
    "TokenMinter",
    "short_scope_names",
    "subject_of",
]

#: The mail service's resource identifier (the ``aud`` of every access token).
RESOURCE = "https://mail.bench.test"
SMTP_SCOPE = f"{RESOURCE}/SMTP.Send"
POP_SCOPE = f"{RESOURCE}/POP.AccessAsUser.All"
#: The device's public client id (the bench's only registered client).
CLIENT_ID = "mfp-sim-device"
#: Scopes msal adds to every request on its own.
OIDC_SCOPES = ("openid", "profile", "offline_access")


def short_scope_names(scopes: Iterable[str]) -> list[str]:
    """``https://mail.bench.test/SMTP.Send`` → ``SMTP.Send``; OIDC scopes are dropped.

    Entra puts only the resource's permission names in ``scp``; the resource part is the
    ``aud``. A name given already short is kept.
    """
    out: list[str] = []
    for scope in scopes:
        if scope in OIDC_SCOPES:
            continue
        short = scope[len(RESOURCE) + 1:] if scope.startswith(RESOURCE + "/") else scope
        if short and short not in out:
            out.append(short)
    return out


def subject_of(username: str) -> str:
    """A stable, opaque subject for a user (same user, same ``sub``, on every bench)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "mfp-sim-bench:" + username.lower()).hex


@dataclass
class TokenMinter:
    """Signs access and ID tokens for one issuer; times are passed in from the IdP's clock."""

    key: SigningKey
    issuer: str

    def access_token(self, username: str, scopes: Iterable[str], now: float,
                     lifetime: float) -> str:
        user = find_user(username)
        name = user.display_name if user else username
        upn = user.username if user else username
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": RESOURCE,
            "scp": " ".join(short_scope_names(scopes)),
            "sub": subject_of(upn),
            "oid": subject_of(upn),
            "preferred_username": upn,
            "upn": upn,
            "name": name,
            "azp": CLIENT_ID,
            "appid": CLIENT_ID,
            "ver": "2.0",
            "iat": int(now),
            "exp": int(now + lifetime),
            "jti": secrets.token_urlsafe(12),
        }
        return self.key.sign(claims)

    def id_token(self, username: str, now: float, lifetime: float,
                 nonce: str | None = None, issuer: str | None = None) -> str:
        """`issuer` other than ours only for the ``wrong_issuer`` fault."""
        user = find_user(username)
        upn = user.username if user else username
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": CLIENT_ID,
            "sub": subject_of(upn),
            "oid": subject_of(upn),
            "preferred_username": upn,
            "name": user.display_name if user else upn,
            "iat": int(now),
            "exp": int(now + lifetime),
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return self.key.sign(claims)
