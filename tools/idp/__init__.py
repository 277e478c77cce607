"""The bench's local identity provider: an OAuth 2.0 / OIDC server that behaves like Entra ID.

Map of the package (imports point down the list)::

    server.py      IdentityProvider: the HTTPS server in the caller's event loop, its URLs,
                   in-process controls, faults on the wire, mint_access_token(), verifier()
    pages.py       the verification page a person uses in a browser (HTML, no JavaScript)
    signin.py      the sign-in and consent page of the authorization endpoint
    control.py     the JSON control API for scripts (approve, config, fault, stats, ...)
    grants.py      authlib's device-code and refresh grants, each profile's ways
    authcode.py    authlib's authorization-code grant with PKCE; the client and its redirect URIs
    wording.py     what each profile says when it refuses (one table)
    faults.py      the IdP fault catalogue (Entra's refusals as data)
    faultboard.py  FaultBoard: which faults are armed (shared with the mail server)
    stats.py       BenchStats: what the device did to the servers (shared with the mail server)
    state.py       what the IdP remembers: device authorizations, codes, refresh-token families
    tokens.py      what goes in access and ID tokens; scope names; the client id
    verifier.py    AccessTokenVerifier: how a resource server checks an access token
    keys.py        the per-instance RS256 signing key and its JWKS
    policy.py      IdpPolicy and PROFILES: which provider to imitate, every knob
    errors.py      the package's exception tree

docs/testbed.md describes the IdP for people: profiles, control API with curl;
docs/faults.md the fault catalogue.
"""

from .errors import (
    BadControlRequest,
    ControlError,
    IdpError,
    TokenRejected,
    UnknownFault,
    UnknownUser,
    UnknownUserCode,
)
from .faultboard import ArmedFault, FaultBoard, FaultEntry
from .policy import PROFILES, IdpPolicy
from .server import ExtraKnob, IdentityProvider
from .stats import BenchStats
from .tokens import CLIENT_ID, POP_SCOPE, RESOURCE, SMTP_SCOPE
from .verifier import AccessTokenVerifier

__all__ = [
    "CLIENT_ID",
    "POP_SCOPE",
    "PROFILES",
    "RESOURCE",
    "SMTP_SCOPE",
    "AccessTokenVerifier",
    "ArmedFault",
    "BadControlRequest",
    "BenchStats",
    "ControlError",
    "ExtraKnob",
    "FaultBoard",
    "FaultEntry",
    "IdentityProvider",
    "IdpError",
    "IdpPolicy",
    "TokenRejected",
    "UnknownFault",
    "UnknownUser",
    "UnknownUserCode",
]
