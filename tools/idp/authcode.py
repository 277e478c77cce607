"""The browser sign-in: authlib's authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636).

This is how real devices get Gmail tokens (Google's device flow refuses the mail scope): the
device's web page sends the administrator's browser to ``/authorize`` with a PKCE challenge,
the person signs in and consents on the bench's page (signin.py), the browser comes back to the
device's page with a code, and the device redeems it at the token endpoint with its
``code_verifier``. authlib does the protocol; here are the bench's rules:

- the only client is the device (public, no secret), allowed the device-code, refresh and
  authorization-code grants;
- PKCE is required, method ``S256`` only (``plain`` is refused: RFC 9700 §2.1.1);
- redirect URIs: any *loopback* URI, ``http`` or ``https``, any port and path, as native apps
  use (RFC 8252 §7.3, and Google and Entra accept for desktop clients): host ``127.0.0.1``,
  ``[::1]`` or ``localhost``, no fragment, no user info; plus the exact URIs listed in the
  ``extra_redirect_uris`` knob (a device page on a LAN address);
- codes live ``auth_code_lifetime`` seconds of bench clock and are redeemed once.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE

from .state import AuthorizationCode, IdpState
from .tokens import CLIENT_ID, OIDC_SCOPES, POP_SCOPE, SMTP_SCOPE


class GrantServer(Protocol):
    """What the grant needs of the authorization server (grants.BenchAuthorizationServer)."""

    state: IdpState

    def refuse(self, situation: str, status: int = 400, **fill: Any) -> Exception: ...

    def remember_nonce(self, nonce: str | None) -> None: ...

__all__ = [
    "LOOPBACK_HOSTS",
    "BenchAuthorizationCodeGrant",
    "BenchClient",
    "BenchCodeChallenge",
    "redirect_uri_allowed",
]

#: Hosts a redirect URI may name without being listed (RFC 8252 §7.3 loopback redirection).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_SCOPES = (SMTP_SCOPE, POP_SCOPE, *OIDC_SCOPES, "email")


def redirect_uri_allowed(uri: str, extra: tuple[str, ...] = ()) -> bool:
    """The bench's redirect-URI rule (module docstring)."""
    if uri in extra:
        return True
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        return False
    del port
    return (parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS
            and not parts.fragment and parts.username is None and parts.password is None)


class BenchClient(ClientMixin):  # type: ignore[misc]
    """The device: a public client; its redirect URIs follow the rule above."""

    client_id = CLIENT_ID

    def __init__(self, state: IdpState) -> None:
        self._state = state

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # a redirect_uri is always required

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope_to_list(scope) or [] if s in _SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_allowed(redirect_uri, self._state.policy.extra_redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self._state.policy.authorization_code_flow

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "authorization_code":
            return self._state.policy.authorization_code_flow
        return grant_type in (DEVICE_CODE_GRANT_TYPE, "refresh_token")


class BenchCodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE required at the authorization request, S256 only; failures in the profile's words."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge and "
                                      "code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is "
                                      "accepted")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        try:
            super().validate_code_verifier(grant, result)
        except InvalidGrantError:
            raise grant.server.refuse("pkce_failed") from None


class BenchAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    server: GrantServer

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        state = self.server.state
        now = state.now()
        data = request.payload.data
        state.add_auth_code(AuthorizationCode(
            code=code, client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "",
            username=request.user, code_challenge=data.get("code_challenge", ""),
            code_challenge_method=data.get("code_challenge_method", "S256"),
            issued_at=now, expires_at=now + state.policy.auth_code_lifetime,
            nonce=data.get("nonce")))

    def query_authorization_code(self, code: str, client: BenchClient) -> AuthorizationCode:
        record = self.server.state.live_auth_code(code, client.client_id)
        if record is None:
            raise self.server.refuse("bad_auth_code")
        return record

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.state.auth_codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        if self.server.state.is_disabled(authorization_code.username):
            raise self.server.refuse("user_disabled")
        self.server.remember_nonce(authorization_code.nonce)
        return authorization_code.username
