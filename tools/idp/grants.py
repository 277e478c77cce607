"""The OAuth grant logic: authlib's grants, taught each profile's ways.

Framework-free on purpose: `BenchAuthorizationServer` takes a plain `HttpRequest` and gives back
an `OAuthResponse`; `server.py` is the only place that knows aiohttp. What authlib does as is:
client authentication (public client, method ``none``), grant-type dispatch, scope checks on
refresh, the device-code state checks, the authorization-code and PKCE checks (authcode.py) and
RFC error bodies. What is ours:

- each profile's error names and descriptions (wording.py), and Entra's error-body fields;
- the device authorization answer's shape per profile (``message``, ``verification_url``, ...);
- user codes (policy alphabet, length and grouping; unique among live codes);
- access-token lifetimes (fixed or drawn from a seeded range), ``scope`` and an ``id_token``
  in the token response (authlib's core grants issue none);
- refresh-token rotation per profile (``none``, ``keep_old``, ``strict`` with reuse detection).
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant

from .authcode import BenchAuthorizationCodeGrant, BenchClient, BenchCodeChallenge
from .policy import IdpPolicy
from .state import DeviceAuthorization, IdpState, RefreshToken
from .tokens import OIDC_SCOPES, POP_SCOPE, SMTP_SCOPE, TokenMinter
from .verifier import token_prefix
from .wording import entra_error_body, wording

__all__ = [
    "SUPPORTED_SCOPES",
    "BenchAuthorizationServer",
    "HttpRequest",
    "OAuthResponse",
    "ProviderError",
]

log = logging.getLogger(__name__)

SUPPORTED_SCOPES = [SMTP_SCOPE, POP_SCOPE, *OIDC_SCOPES, "email"]
_SECRETS = ("access_token", "refresh_token", "id_token")


class _MaskIssuedTokens(logging.Filter):
    """authlib's grants log each issued token dict in full at DEBUG (``Issue token %r to %r``).

    Tokens must never reach a log whole, so the dict is replaced by one with short prefixes.
    Installed on the authlib loggers whose grants the bench uses.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (isinstance(args, tuple) and args and isinstance(args[0], dict)
                and str(record.msg).startswith("Issue token")):
            masked = {k: token_prefix(v) if k in _SECRETS and isinstance(v, str) else v
                      for k, v in args[0].items()}
            record.args = (masked, *args[1:])
        return True


for _name in ("authlib.oauth2.rfc8628.device_code", "authlib.oauth2.rfc6749.grants.refresh_token",
              "authlib.oauth2.rfc6749.grants.authorization_code"):
    logging.getLogger(_name).addFilter(_MaskIssuedTokens())


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as the grant logic needs it, whatever server received it."""

    method: str
    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """authlib's request: parameters from the form (POST) or the query string (GET)."""

    def __init__(self, req: HttpRequest) -> None:
        super().__init__(req.method, req.url, headers=dict(req.headers))
        self._form = dict(req.form)
        self._args = dict(req.query)
        self.payload = BasicOAuth2Payload(self._form if req.method == "POST" else self._args)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return self._args


def _safe(text: str, limit: int = 80) -> str:
    """User input made fit for an error_description (RFC 6749: no quote, backslash, non-ASCII)."""
    return "".join(ch for ch in text[:limit] if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


class ProviderError(OAuth2Error):  # type: ignore[misc]
    """An OAuth error whose name and text the profile chooses (wording.py)."""

    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description=description, status_code=status_code, error=error)
        self.error = error


class BenchDeviceAuthorizationEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    server: BenchAuthorizationServer

    def create_endpoint_response(self, request: OAuth2Request) -> tuple[int, dict[str, Any],
                                                                        list[tuple[str, str]]]:
        policy = self.server.policy
        self.EXPIRES_IN = int(policy.device_code_lifetime)
        self.INTERVAL = policy.poll_interval
        status, data, headers = super().create_endpoint_response(request)
        complete = data.pop("verification_uri_complete", None)
        if policy.verification_uri_complete and complete:
            data["verification_uri_complete"] = complete
        if policy.device_message:
            data["message"] = (
                f"To sign in, use a web browser to open the page {data['verification_uri']} "
                f"and enter the code {data['user_code']} to authenticate."
            )
        if policy.verification_url_field:
            data["verification_url"] = data.pop("verification_uri")
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
            raise self.server.refuse("unknown_device_code")
        return device

    def validate_device_credential(self, credential: DeviceAuthorization) -> str:
        """authlib's checks in Entra's order, with the profile's names and the poll rules."""
        server, state, policy = self.server, self.server.state, self.server.policy
        if credential.status == "redeemed":
            raise server.refuse("code_redeemed")
        if credential.is_expired():
            raise server.refuse("code_expired")
        if credential.status == "declined":
            raise server.refuse("declined")
        if credential.status == "approved":
            assert credential.username is not None
            if state.is_disabled(credential.username):
                raise server.refuse("user_disabled")
            return credential.username
        now = server.clock_now()
        too_fast = (policy.enforce_interval and credential.last_poll is not None
                    and now - credential.last_poll < policy.poll_interval)
        credential.last_poll = now
        if state.take_slow_down() or too_fast:
            raise server.refuse("slow_down")
        raise server.refuse("pending")

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
            raise server.refuse("unknown_refresh_token")
        family = record.family
        if family.ended == "revoked":
            raise server.refuse("revoked")
        if record.spent or family.ended == "reused":
            if family.ended is None:
                family.ended = "reused"
                log.warning("refresh token %s reused: revoking grant family %s of %s",
                            token_prefix(refresh_token), family.family_id, family.username)
            raise server.refuse("reused")
        if record.is_expired():
            days = server.policy.refresh_token_lifetime / 86400
            raise server.refuse("refresh_expired", issued=_entra_time(record.issued_at),
                                days=f"{days:g} days")
        if state.is_disabled(family.username):
            raise server.refuse("user_disabled")
        server.session_ends = state.session_ends(family)
        return record

    def authenticate_user(self, refresh_token: RefreshToken) -> str:
        return refresh_token.family.username

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Only ``strict`` rotation spends the presented token; Entra's stays valid."""
        if self.server.policy.refresh_rotation == "strict":
            refresh_token.spent = True


#: Google's device-flow poll answers are not 400s (428 Precondition Required, 403 Forbidden).
_GOOGLE_STATUS = {"pending": 428, "slow_down": 403, "declined": 403}


def _entra_time(when: float) -> str:
    """Entra's issue-time format in AADSTS texts: ``2027-01-15T08:00:00.0000000Z``."""
    moment = datetime.datetime.fromtimestamp(when, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


class BenchAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server bound to one IdP's state, clock, key and policy."""

    def __init__(self, state: IdpState, minter: TokenMinter, base_url: str) -> None:
        super().__init__(scopes_supported=SUPPORTED_SCOPES)
        self.state = state
        self.minter = minter
        self.base_url = base_url
        self.client = BenchClient(state)
        self.register_token_generator("default", self._generate_token)
        self.register_grant(BenchDeviceCodeGrant)
        self.register_grant(BenchRefreshTokenGrant)
        self.register_grant(BenchAuthorizationCodeGrant, [BenchCodeChallenge(required=True)])
        self.register_endpoint(BenchDeviceAuthorizationEndpoint)
        # Per-call context: set by the entry points, read by hooks authlib calls synchronously.
        self._device_flow = False
        self._wrong_issuer = False
        #: The session's end (Keycloak's SSO Session Max) of the refresh being answered.
        self.session_ends: float | None = None
        self._correlation_id: str | None = None
        self._nonce: str | None = None

    @property
    def policy(self) -> IdpPolicy:
        return self.state.policy

    @property
    def verification_uri(self) -> str:
        return self.base_url + self.policy.verification_path

    def clock_now(self) -> float:
        return self.state.now()

    # ---- provider wording -------------------------------------------------------------------
    def refuse(self, situation: str, status: int = 400, **fill: Any) -> ProviderError:
        profile = self.policy.profile
        error, description = wording(situation, profile, **fill)
        if error == "invalid_client" and status == 400:
            status = 401  # RFC 6749 §5.2 (Keycloak, Google)
        if profile == "google":  # Google sends the HTTP reason phrase as the description
            status = _GOOGLE_STATUS.get(situation, status)
        return ProviderError(error, description, status)

    # ---- authlib hooks ----------------------------------------------------------------------
    def query_client(self, client_id: str) -> BenchClient | None:
        return self.client if client_id == self.client.client_id else None

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> BenchClient:
        """Entra names an unknown application ``unauthorized_client`` with AADSTS700016."""
        client_id = request.payload.client_id
        if not client_id:
            raise self.refuse("missing_client_id")
        if self.query_client(client_id) is None:
            raise self.refuse("unknown_client", client_id=_safe(client_id))
        client: BenchClient = super().authenticate_client(request, methods, endpoint)
        return client

    def validate_requested_scope(self, scope: str | None) -> None:
        scopes = scope_to_list(scope) or []
        prefix = self.policy.refused_scope_prefix
        refused = [s for s in scopes if prefix and s.startswith(prefix)]
        if refused and self._device_flow:
            raise self.refuse("refused_scope", scope=_safe(refused[0], 120))
        unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
        if unknown:
            raise self.refuse("unknown_scope", scope=_safe(unknown[0], 120))

    def _generate_token(self, grant_type: str, client: BenchClient, user: str | None = None,
                        scope: str | None = None, expires_in: int | None = None,
                        include_refresh_token: bool = True) -> dict[str, Any]:
        assert user is not None
        now, policy = self.clock_now(), self.policy
        scopes = scope_to_list(scope) or []
        resource_scopes = [s for s in scopes if s not in OIDC_SCOPES]
        lifetime = float(expires_in) if expires_in else self.state.access_token_lifetime()
        if self.session_ends is not None:  # Keycloak: no token outlives the session's max
            lifetime = max(1.0, min(lifetime, self.session_ends - now))
        granted = resource_scopes + [s for s in OIDC_SCOPES if s in scopes]
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": int(lifetime),
            "access_token": self.minter.access_token(user, resource_scopes, now, lifetime),
        }
        if policy.profile == "entra":
            token["ext_expires_in"] = int(lifetime)
        rotate = grant_type != "refresh_token" or policy.refresh_rotation != "none"
        if include_refresh_token and rotate and "offline_access" in granted:
            token["refresh_token"] = secrets.token_urlsafe(48)
        if "openid" in granted:
            issuer = f"{self.base_url}/other-tenant" if self._wrong_issuer else None
            token["id_token"] = self.minter.id_token(user, now, policy.id_token_lifetime,
                                                     nonce=self._nonce, issuer=issuer)
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Record the refresh token in its family: a new family for a new sign-in."""
        refresh = token.get("refresh_token")
        if not refresh:
            return
        previous: RefreshToken | None = request.refresh_token
        offline = self.policy.offline_tokens and "offline_access" in token["scope"].split()
        family = (previous.family if previous is not None
                  else self.state.new_family(request.user, self.client.client_id, offline=offline))
        record = self.state.add_refresh_token(refresh, family, token["scope"])
        if self.policy.refresh_expires_in:
            # Keycloak sets it from the refresh token's `exp`; an offline token has none, and
            # the answer then carries the field's default, 0 (TokenManager.java, build()).
            token["refresh_expires_in"] = (0 if family.offline
                                           else max(0, int(record.expires_at - self.clock_now())))
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
        body = dict(body) if isinstance(body, Mapping) else {}
        if self.policy.profile == "entra" and "error" in body:
            body = entra_error_body(body, self.clock_now(), self._correlation_id)
        return OAuthResponse(status, body, list(headers))

    def remember_nonce(self, nonce: str | None) -> None:
        """The sign-in's nonce, for the ID token of the code being redeemed (OIDC §3.1.3.6)."""
        self._nonce = nonce

    # ---- entry points for the HTTP face -----------------------------------------------------
    def _begin(self, request: HttpRequest, *, device_flow: bool = False,
               wrong_issuer: bool = False) -> None:
        self._device_flow = device_flow
        self._wrong_issuer = wrong_issuer
        self.session_ends = None
        self._nonce = None
        self._correlation_id = {k.lower(): v for k, v in request.headers.items()}.get(
            "client-request-id")

    def device_authorization(self, request: HttpRequest) -> OAuthResponse:
        self._begin(request, device_flow=True)
        try:
            response: OAuthResponse = self.create_endpoint_response(
                DeviceAuthorizationEndpoint.ENDPOINT_NAME, request)
        finally:
            self._device_flow = False
        return response

    def token(self, request: HttpRequest, *, wrong_issuer: bool = False) -> OAuthResponse:
        self._begin(request, wrong_issuer=wrong_issuer)
        try:
            response: OAuthResponse = self.create_token_response(request)
        finally:
            self._wrong_issuer = False
        return response

    def authorization_response(self, request: HttpRequest, grant: Any,
                               user: str | None) -> OAuthResponse:
        """The redirect after the person allowed (`user`) or denied (None) on the sign-in page."""
        self._begin(request)
        response: OAuthResponse = self.create_authorization_response(
            grant.request, grant_user=user, grant=grant)
        return response

    def refusal(self, request: HttpRequest, error: OAuth2Error) -> OAuthResponse:
        """`error` answered to `request` in the current profile's body shape."""
        self._begin(request)
        status, body, headers = error()
        return self.handle_response(status, body, headers)
