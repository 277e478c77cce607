"""The IdP's signing key: one RS256 key pair made per IdP instance.

A fresh key per instance means a token from one bench never verifies on another, and nothing
secret is ever written to disk. Resource servers get the public half as a JWKS document.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

__all__ = ["ALGORITHM", "SigningKey"]

ALGORITHM = "RS256"


class SigningKey:
    """An RSA key with a random ``kid``, able to sign claims and publish its public JWKS."""

    def __init__(self, key_size: int = 2048) -> None:
        self.kid = secrets.token_urlsafe(8)
        self._key = RSAKey.generate_key(
            key_size, parameters={"kid": self.kid, "use": "sig", "alg": ALGORITHM}
        )

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWS of `claims` with ``typ: JWT`` and this key's ``kid``."""
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid}, claims, self._key,
                          algorithms=[ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (what ``jwks_uri`` serves)."""
        return dict(KeySet([self._key]).as_dict(private=False))
