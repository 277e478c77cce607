"""The bench's local identity provider: an OAuth 2.0 / OIDC server that behaves like Entra ID.

Map of the package (imports point down the list)::

    server.py    IdentityProvider: the HTTPS server in the caller's event loop, its URLs,
                 in-process controls, mint_access_token(), verifier()
    pages.py     the verification page a person uses in a browser (HTML, no JavaScript)
    control.py   the JSON control API for scripts (approve, deny, revoke, disable, ...)
    grants.py    authlib's device-code and refresh grants with Entra's/Google's wording
    state.py     what the IdP remembers: device authorizations, refresh-token families, accounts
    tokens.py    what goes in access and ID tokens; scope names; the client id
    verifier.py  AccessTokenVerifier: how a resource server checks an access token
    keys.py      the per-instance RS256 signing key and its JWKS
    policy.py    IdpPolicy: which provider to imitate, and every lifetime
    errors.py    the package's exception tree

docs/testbed.md describes the IdP for people: policies, user codes, control API with curl.
"""

from .errors import (
    BadControlRequest,
    ControlError,
    IdpError,
    TokenRejected,
    UnknownUser,
    UnknownUserCode,
)
from .policy import IdpPolicy
from .server import IdentityProvider
from .tokens import CLIENT_ID, POP_SCOPE, RESOURCE, SMTP_SCOPE
from .verifier import AccessTokenVerifier

__all__ = [
    "CLIENT_ID",
    "POP_SCOPE",
    "RESOURCE",
    "SMTP_SCOPE",
    "AccessTokenVerifier",
    "BadControlRequest",
    "ControlError",
    "IdentityProvider",
    "IdpError",
    "IdpPolicy",
    "TokenRejected",
    "UnknownUser",
    "UnknownUserCode",
]
