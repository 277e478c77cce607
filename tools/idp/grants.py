"""The OAuth grant logic: authlib's device-code and refresh-token grants, taught Entra's ways.

Framework-free on purpose: `BenchAuthorizationServer` takes a plain `HttpRequest` and gives back
an `OAuthResponse`; `server.py` is the only place that knows aiohttp. What authlib does as is:
client authentication (public client, method ``none``), grant-type dispatch, scope checks on
refresh, the device-code state checks and RFC error bodies. What is ours:

- Entra/Google error names and AADSTS descriptions (authlib's defaults are RFC 8628 names);
- the device authorization response's ``message`` and policy lifetimes;
- user codes (policy alphabet, unique among live codes);
- an ``id_token`` (authlib's core grants issue none) and ``scope`` in the token response;
- refresh-token rotation with reuse detection over token families.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    AuthorizationPendingError,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    ExpiredTokenError,
    SlowDownError,
)

from .policy import IdpPolicy
from .state import DeviceAuthorization, IdpState, RefreshToken
from .tokens import CLIENT_ID, OIDC_SCOPES, POP_SCOPE, SMTP_SCOPE, TokenMinter
from .verifier import token_prefix

__all__ = [
    "SUPPORTED_SCOPES",
    "BenchAuthorizationServer",
    "BenchClient",
    "HttpRequest",
    "OAuthResponse",
]

log = logging.getLogger(__name__)

SUPPORTED_SCOPES = [SMTP_SCOPE, POP_SCOPE, *OIDC_SCOPES, "email"]
_AADSTS = re.compile(r"^AADSTS(\d+):")
_SECRETS = ("access_token", "refresh_token", "id_token")


class _MaskIssuedTokens(logging.Filter):
    """authlib's grants log each issued token dict in full at DEBUG (``Issue token %r to %r``).

    Tokens must never reach a log whole, so the dict is replaced by one with short prefixes.
    Installed on the two authlib loggers whose grants the bench uses.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (isinstance(args, tuple) and args and isinstance(args[0], dict)
                and str(record.msg).startswith("Issue token")):
            masked = {k: token_prefix(v) if k in _SECRETS and isinstance(v, str) else v
                      for k, v in args[0].items()}
            record.args = (masked, *args[1:])
        return True


for _name in ("authlib.oauth2.rfc8628.device_code", "authlib.oauth2.rfc6749.grants.refresh_token"):
    logging.getLogger(_name).addFilter(_MaskIssuedTokens())


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as the grant logic needs it, whatever server received it."""

    method: str
    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """authlib's request with the form it reads through ``request.form`` (refresh grant)."""

    def __init__(self, req: HttpRequest) -> None:
        super().__init__(req.method, req.url, headers=dict(req.headers))
        self._form = dict(req.form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class BenchClient(ClientMixin):  # type: ignore[misc]
    """The device: a public client that may use the device-code and refresh grants only."""

    client_id: str = CLIENT_ID

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope_to_list(scope) or [] if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (DEVICE_CODE_GRANT_TYPE, "refresh_token")


def _safe(text: str, limit: int = 80) -> str:
    """User input made fit for an error_description (RFC 6749: no quote, backslash, non-ASCII)."""
    return "".join(ch for ch in text[:limit] if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


class _ProviderError(OAuth2Error):  # type: ignore[misc]
    """An error whose name the policy chooses (``authorization_declined`` vs ``access_denied``)."""

    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description=description, status_code=status_code, error=error)
        self.error = error


class BenchDeviceAuthorizationEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    server: BenchAuthorizationServer

    def create_endpoint_response(self, request: OAuth2Request) -> tuple[int, dict[str, Any],
                                                                        list[tuple[str, str]]]:
        self.EXPIRES_IN = int(self.server.policy.device_code_lifetime)
        self.INTERVAL = self.server.policy.poll_interval
        status, data, headers = super().create_endpoint_response(request)
        data["message"] = (
            f"To sign in, use a web browser to open the page {data['verification_uri']} "
            f"and enter the code {data['user_code']} to authenticate."
        )
        log.info("device authorization: user code %s, device code %s, scope %r",
                 data["user_code"], token_prefix(data["device_code"]), request.payload.scope)
        return status, data, headers

    def generate_user_code(self) -> str:
        return self.server.state.new_user_code()

    def get_verification_uri(self) -> str:
        return self.server.verification_uri

    def save_device_credential(self, client_id: str, scope: str | None,
                               data: dict[str, Any]) -> None:
        self.server.state.add_device(data["device_code"], data["user_code"], client_id,
                                     scope or "")


class BenchDeviceCodeGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    server: BenchAuthorizationServer

    def query_device_credential(self, device_code: str) -> DeviceAuthorization:
        device = self.server.state.devices.get(device_code)
        if device is None:
            policy = self.server.policy
            raise _ProviderError(
                policy.unknown_device_code_error,
                self.server.describe("AADSTS70000: The provided value for the input parameter "
                                     "'device_code' is not valid: this server never issued it.",
                                     "Invalid device code."),
            )
        return device

    def validate_device_credential(self, credential: DeviceAuthorization) -> str:
        """authlib's checks in Entra's order, with Entra's names and the bench's poll rules."""
        server, state, policy = self.server, self.server.state, self.server.policy
        if credential.status == "redeemed":
            raise InvalidGrantError(server.describe(
                "AADSTS54005: The device code was already redeemed; start a new device flow.",
                "The device code was already redeemed."))
        if credential.is_expired():
            raise ExpiredTokenError(server.describe(
                "AADSTS70020: The provided value for the input parameter 'device_code' is not "
                "valid. This device code has expired.", "The device code has expired."))
        if credential.status == "declined":
            raise _ProviderError(policy.declined_error, server.describe(
                "AADSTS70000: The user declined the sign-in on the verification page.",
                "The user denied the request."))
        if credential.status == "approved":
            assert credential.username is not None
            if state.is_disabled(credential.username):
                raise InvalidGrantError(server.disabled_description())
            return credential.username
        now = server.clock_now()
        too_fast = (policy.enforce_interval and credential.last_poll is not None
                    and now - credential.last_poll < policy.poll_interval)
        credential.last_poll = now
        if state.take_slow_down() or too_fast:
            raise SlowDownError(server.describe(
                "AADSTS70000: Polling too fast; add 5 seconds to the interval.",
                "Polling too frequently."))
        raise AuthorizationPendingError(server.describe(
            "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue "
            "polling.", "Precondition Required"))

    def query_user_grant(self, user_code: str) -> None:  # pragma: no cover - not reached
        raise NotImplementedError("validate_device_credential reads the record directly")

    def should_slow_down(self, credential: DeviceAuthorization) -> bool:  # pragma: no cover
        return False

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        result: tuple[int, dict[str, Any], list[tuple[str, str]]] = super().create_token_response()
        self.request.credential.status = "redeemed"
        return result


class BenchRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    server: BenchAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken:
        server, state = self.server, self.server.state
        record = state.refresh_tokens.get(refresh_token)
        if record is None:
            raise InvalidGrantError(server.describe(
                "AADSTS9002313: Invalid request. The refresh token is malformed or was not "
                "issued by this server.", "Bad Request"))
        family = record.family
        if family.ended == "revoked":
            raise InvalidGrantError(server.describe(
                "AADSTS50173: The provided grant has expired due to it being revoked, a fresh "
                "auth token is needed. The user might have changed or reset their password.",
                "Token has been expired or revoked."))
        if record.spent or family.ended == "reused":
            if family.ended is None:
                family.ended = "reused"
                log.warning("refresh token %s reused: revoking grant family %s of %s",
                            token_prefix(refresh_token), family.family_id, family.username)
            raise InvalidGrantError(server.describe(
                "AADSTS70000: The provided grant has been revoked: a refresh token was used "
                "twice, so every token from that sign-in is revoked. Sign in again.",
                "Token has been expired or revoked."))
        if record.is_expired():
            raise InvalidGrantError(server.describe(
                "AADSTS700082: The refresh token has expired due to inactivity. The token was "
                f"inactive for {server.policy.refresh_token_lifetime / 86400:g} days.",
                "Token has been expired or revoked."))
        if state.is_disabled(family.username):
            raise InvalidGrantError(server.disabled_description())
        return record

    def authenticate_user(self, refresh_token: RefreshToken) -> str:
        return refresh_token.family.username

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.spent = True


class BenchAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server bound to one IdP's state, clock, key and policy."""

    def __init__(self, state: IdpState, minter: TokenMinter, policy: IdpPolicy,
                 verification_uri: str) -> None:
        super().__init__(scopes_supported=SUPPORTED_SCOPES)
        self.state = state
        self.minter = minter
        self.policy = policy
        self.verification_uri = verification_uri
        self.client = BenchClient()
        self.register_token_generator("default", self._generate_token)
        self.register_grant(BenchDeviceCodeGrant)
        self.register_grant(BenchRefreshTokenGrant)
        self.register_endpoint(BenchDeviceAuthorizationEndpoint)

    def clock_now(self) -> float:
        return self.state.now()

    # ---- provider wording -------------------------------------------------------------------
    def describe(self, microsoft: str, google: str) -> str:
        return microsoft if self.policy.flavour == "microsoft" else google

    def disabled_description(self) -> str:
        return self.describe("AADSTS50057: The user account is disabled.",
                             "Account has been disabled.")

    # ---- authlib hooks ----------------------------------------------------------------------
    def query_client(self, client_id: str) -> BenchClient | None:
        return self.client if client_id == self.client.client_id else None

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> BenchClient:
        """Entra names an unknown application ``unauthorized_client`` with AADSTS700016."""
        client_id = request.payload.client_id
        if not client_id:
            raise InvalidRequestError(self.describe(
                "AADSTS900144: The request body must contain the following parameter: "
                "'client_id'.", "Missing required parameter: client_id"))
        if self.query_client(client_id) is None:
            if self.policy.flavour == "microsoft":
                raise UnauthorizedClientError(
                    f"AADSTS700016: Application with identifier '{_safe(client_id)}' was not "
                    "found in the directory 'bench'. This can happen if the application has "
                    "not been installed by the administrator of the tenant.")
            raise InvalidClientError(status_code=401, description="The OAuth client was not found.")
        client: BenchClient = super().authenticate_client(request, methods, endpoint)
        return client

    def validate_requested_scope(self, scope: str | None) -> None:
        scopes = scope_to_list(scope) or []
        prefix = self.policy.refused_scope_prefix
        refused = [s for s in scopes if prefix and s.startswith(prefix)]
        if refused:
            raise InvalidScopeError(f"Invalid device flow scope: {_safe(refused[0], 120)}")
        unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
        if unknown:
            raise InvalidScopeError(self.describe(
                f"AADSTS70011: The provided value for the input parameter 'scope' is not "
                f"valid. The scope '{_safe(unknown[0], 120)}' does not exist.",
                f"Some requested scopes were invalid: {_safe(unknown[0], 120)}"))

    def _generate_token(self, grant_type: str, client: BenchClient, user: str | None = None,
                        scope: str | None = None, expires_in: int | None = None,
                        include_refresh_token: bool = True) -> dict[str, Any]:
        assert user is not None
        now, policy = self.clock_now(), self.policy
        scopes = scope_to_list(scope) or []
        resource_scopes = [s for s in scopes if s not in OIDC_SCOPES]
        lifetime = float(expires_in) if expires_in else policy.access_token_lifetime
        granted = resource_scopes + [s for s in OIDC_SCOPES if s in scopes]
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime),
            "access_token": self.minter.access_token(user, resource_scopes, now, lifetime),
        }
        if include_refresh_token and "offline_access" in granted:
            token["refresh_token"] = secrets.token_urlsafe(48)
        if "openid" in granted:
            token["id_token"] = self.minter.id_token(user, now, policy.id_token_lifetime)
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Record the refresh token in its family: a new family for a new sign-in."""
        refresh = token.get("refresh_token")
        if not refresh:
            return
        previous: RefreshToken | None = request.refresh_token
        family = (previous.family if previous is not None
                  else self.state.new_family(request.user, self.client.client_id))
        self.state.add_refresh_token(refresh, family, token["scope"])
        log.info("issued tokens to %s (refresh %s, family %s)", family.username,
                 token_prefix(refresh), family.family_id)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: HttpRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return _FormRequest(request)

    def create_json_request(self, request: HttpRequest) -> Any:
        raise NotImplementedError("the bench IdP has no JSON-body endpoints")

    def handle_response(self, status: int, body: Any,
                        headers: list[tuple[str, str]]) -> OAuthResponse:
        body = dict(body) if body else {}
        match = _AADSTS.match(str(body.get("error_description", "")))
        if "error" in body and match:
            body["error_codes"] = [int(match.group(1))]
        return OAuthResponse(status, body, list(headers))

    # ---- entry points for the HTTP face -----------------------------------------------------
    def device_authorization(self, request: HttpRequest) -> OAuthResponse:
        response: OAuthResponse = self.create_endpoint_response(
            DeviceAuthorizationEndpoint.ENDPOINT_NAME, request)
        return response

    def token(self, request: HttpRequest) -> OAuthResponse:
        response: OAuthResponse = self.create_token_response(request)
        return response
