"""`IdentityProvider`: the bench IdP as an HTTPS server inside the caller's event loop.

Running in the caller's loop (aiohttp ``AppRunner`` + ``TCPSite`` on port 0) is what lets an
in-process test share one `VirtualClock` between the device, this IdP and the mail server: the
IdP never reads the wall clock for a protocol decision, only ``clock.now()``.

URL map (``{base}`` = ``https://127.0.0.1:<port>``)::

    {base}/bench/.well-known/openid-configuration   OIDC discovery (issuer = {base}/bench)
    {base}/bench/discovery/v2.0/keys                JWKS (public RS256 key)
    {base}/bench/oauth2/v2.0/devicecode             device authorization endpoint (RFC 8628)
    {base}/bench/oauth2/v2.0/token                  token endpoint (device_code, refresh_token)
    {base}/bench/oauth2/v2.0/authorize              listed for msal; the bench has no browser flow
    {base}/bench/device                             verification page for a person
    {base}/control/...                              control API for scripts (control.py)
"""

from __future__ import annotations

import logging
import ssl
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_ca import BenchCA

from . import control, pages
from .errors import IdpError
from .grants import SUPPORTED_SCOPES, BenchAuthorizationServer, HttpRequest, OAuthResponse
from .keys import ALGORITHM, SigningKey
from .policy import IdpPolicy
from .state import IdpState
from .tokens import TokenMinter
from .verifier import AccessTokenVerifier

__all__ = ["IdentityProvider"]

log = logging.getLogger(__name__)

TENANT = "bench"

IDP_KEY: web.AppKey[IdentityProvider] = web.AppKey("idp")


class IdentityProvider:
    """The bench's OAuth 2.0 / OIDC provider; see the module docstring for its URLs."""

    def __init__(
        self,
        clock: Clock,
        ca: BenchCA,
        policy: IdpPolicy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock
        self.policy = policy or IdpPolicy.microsoft()
        self.host = host
        self._ca = ca
        self._requested_port = port
        self._port: int | None = None
        self.key = SigningKey()
        self.state = IdpState(self.policy, clock.now)
        self._runner: web.AppRunner | None = None
        self._oauth: BenchAuthorizationServer | None = None
        self._minter: TokenMinter | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            raise IdpError("the identity provider is already running")
        app = web.Application(middlewares=[_never_crash])
        app[IDP_KEY] = self
        app.add_routes([
            web.get(f"/{TENANT}/.well-known/openid-configuration", _discovery),
            web.get(f"/{TENANT}/discovery/v2.0/keys", _jwks),
            web.post(f"/{TENANT}/oauth2/v2.0/devicecode", _device_authorization),
            web.post(f"/{TENANT}/oauth2/v2.0/token", _token),
            web.route("*", f"/{TENANT}/oauth2/v2.0/authorize", _authorize),
        ])
        pages.add_routes(app, f"/{TENANT}/device", self.state)
        control.add_routes(app, "/control", self.state)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ctx: ssl.SSLContext = self._ca.server_context()
        site = web.TCPSite(runner, self.host, self._requested_port, ssl_context=ctx)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._minter = TokenMinter(self.key, self.issuer)
        self._oauth = BenchAuthorizationServer(self.state, self._minter, self.policy,
                                               self.verification_uri)
        log.info("bench IdP (%s policy) listening at %s", self.policy.flavour, self.issuer)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # ---- addresses --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise IdpError("the identity provider has no port until start() has run")
        return self._port

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{TENANT}"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/control"

    @property
    def verification_uri(self) -> str:
        return f"{self.issuer}/device"

    @property
    def oauth(self) -> BenchAuthorizationServer:
        if self._oauth is None:
            raise IdpError("the identity provider is not running: call start() first")
        return self._oauth

    # ---- in-process controls (same effect as the HTTP control API) ---------------------------
    def approve(self, user_code: str, username: str) -> str:
        return self.state.approve(user_code, username)

    def deny(self, user_code: str) -> str:
        return self.state.deny(user_code)

    def revoke(self, username: str) -> int:
        return self.state.revoke(username)

    def disable(self, username: str) -> str:
        return self.state.disable(username)

    def enable(self, username: str) -> str:
        return self.state.enable(username)

    def slow_down(self, count: int) -> int:
        return self.state.slow_down(count)

    def pending_codes(self) -> list[str]:
        return self.state.pending_codes()

    # ---- for resource servers and their tests -------------------------------------------------
    def mint_access_token(self, username: str, scopes: list[str],
                          lifetime: float | None = None) -> str:
        """An access token as the token endpoint would issue it, without a device flow.

        Any username is accepted (a mail-server test may want a user with no mailbox);
        `scopes` may be full (``SMTP_SCOPE``) or short (``SMTP.Send``) names.
        """
        if self._minter is None:
            raise IdpError("the identity provider is not running: call start() first")
        life = self.policy.access_token_lifetime if lifetime is None else lifetime
        return self._minter.access_token(username, scopes, self.clock.now(), life)

    def jwks(self) -> dict[str, Any]:
        return self.key.jwks()

    def verifier(self) -> AccessTokenVerifier:
        return AccessTokenVerifier(self.issuer, self.jwks(), self.clock,
                                   is_disabled=self.state.is_disabled)

    def discovery_document(self) -> dict[str, Any]:
        issuer = self.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
            "token_endpoint": f"{issuer}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{issuer}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{issuer}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:device_code",
                                      "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": SUPPORTED_SCOPES,
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["iss", "aud", "sub", "oid", "preferred_username", "name",
                                 "iat", "exp", "nonce"],
            "tenant_region_scope": "EU",
        }


def idp_of(request: web.Request) -> IdentityProvider:
    return request.app[IDP_KEY]


@web.middleware
async def _never_crash(request: web.Request, handler: Any) -> web.StreamResponse:
    """An unexpected exception becomes a 500 with a JSON body and a log line, not a dead task."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception:
        log.exception("bench IdP: unexpected error on %s %s", request.method, request.path)
        return web.json_response(
            {"error": "server_error", "message": "internal error in the bench IdP (see its log)"},
            status=500)


async def _http_request(request: web.Request) -> HttpRequest:
    form: dict[str, str] = {}
    if request.method == "POST":
        for name, value in (await request.post()).items():
            if isinstance(value, str) and name not in form:
                form[name] = value
    return HttpRequest(request.method, str(request.url), dict(request.headers), form)


def _to_aiohttp(response: OAuthResponse) -> web.Response:
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    headers.setdefault("Cache-Control", "no-store")
    return web.json_response(response.body, status=response.status, headers=headers)


async def _discovery(request: web.Request) -> web.Response:
    return web.json_response(idp_of(request).discovery_document())


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(idp_of(request).jwks())


async def _device_authorization(request: web.Request) -> web.Response:
    return _to_aiohttp(idp_of(request).oauth.device_authorization(await _http_request(request)))


async def _token(request: web.Request) -> web.Response:
    return _to_aiohttp(idp_of(request).oauth.token(await _http_request(request)))


async def _authorize(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": "unsupported_response_type",
         "error_description": "The bench IdP supports the device code flow only "
                              "(devicecode and token endpoints)."},
        status=400)
