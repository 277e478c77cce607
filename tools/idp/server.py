"""`IdentityProvider`: the bench IdP as an HTTPS server inside the caller's event loop.

Running in the caller's loop (aiohttp ``AppRunner`` + ``TCPSite`` on port 0) is what lets an
in-process test share one `VirtualClock` between the device, this IdP and the mail server: the
IdP never reads the wall clock for a protocol decision, only ``clock.now()``.

URL map (``{base}`` = ``https://127.0.0.1:<port>``)::

    {base}/bench/.well-known/openid-configuration   OIDC discovery (issuer = {base}/bench)
    {base}/bench/discovery/v2.0/keys                JWKS (public RS256 key)
    {base}/bench/oauth2/v2.0/devicecode             device authorization endpoint (RFC 8628)
    {base}/bench/oauth2/v2.0/token                  token endpoint (device_code, refresh_token,
                                                    authorization_code)
    {base}/bench/oauth2/v2.0/authorize              sign-in and consent page (signin.py)
    {base}/devicelogin, {base}/bench/device         verification page for a person
    {base}/control/...                              control API for scripts (control.py)

Every request to the OAuth endpoints first asks the fault board (faults.py) whether an armed
fault strikes it, and is counted in `stats` with its outcome.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.bench_users import BenchUsers

from . import control, pages, signin
from .errors import BadControlRequest, IdpError
from .faultboard import ArmedFault, FaultBoard
from .faults import CATALOGUE, GARBAGE_BODY, IdpAnswer
from .grants import (
    SUPPORTED_SCOPES,
    BenchAuthorizationServer,
    HttpRequest,
    OAuthResponse,
    ProviderError,
)
from .keys import ALGORITHM, SigningKey
from .policy import IdpPolicy
from .state import IdpState
from .stats import BenchStats, grant_name
from .tokens import CLIENT_ID, TokenMinter
from .verifier import AccessTokenVerifier

__all__ = ["ExtraKnob", "IdentityProvider"]

log = logging.getLogger(__name__)

TENANT = "bench"

IDP_KEY: web.AppKey[IdentityProvider] = web.AppKey("idp")


class _Dropped(Exception):
    """A ``hang`` fault ended: the connection is closed with no answer."""


@dataclass(frozen=True)
class ExtraKnob:
    """A ``/control/config`` knob of another bench part (the mail server's certificate)."""

    get: Callable[[], Any]
    #: Checks a JSON value and returns a function that applies it (so nothing half-applies).
    prepare: Callable[[Any], Callable[[], None]]
    accepts: str


class IdentityProvider:
    """The bench's OAuth 2.0 / OIDC provider; see the module docstring for its URLs."""

    def __init__(
        self,
        clock: Clock,
        ca: BenchCA,
        policy: IdpPolicy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: FaultBoard | None = None,
        stats: BenchStats | None = None,
    ) -> None:
        self.clock = clock
        self.host = host
        self._ca = ca
        self._requested_port = port
        self._port: int | None = None
        self.key = SigningKey()
        self.state = IdpState(policy or IdpPolicy.microsoft(), clock.now)
        self.stats = stats if stats is not None else BenchStats(clock.now)
        self.faults = faults if faults is not None else FaultBoard()
        self.faults.register(CATALOGUE)
        self.faults.on_fire = lambda armed: self.stats.fault_fired(armed.entry.name)
        self.extra_knobs: dict[str, ExtraKnob] = {}
        self._runner: web.AppRunner | None = None
        self._oauth: BenchAuthorizationServer | None = None
        self._minter: TokenMinter | None = None

    @property
    def policy(self) -> IdpPolicy:
        return self.state.policy

    @property
    def users(self) -> BenchUsers:
        """Who can sign in (shared with the mail server by `Testbed`)."""
        return self.state.users

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
        for path in ("/devicelogin", f"/{TENANT}/device"):
            pages.add_routes(app, path, self.state)
        control.add_routes(app, "/control", self)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
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
        self._oauth = BenchAuthorizationServer(self.state, self._minter, self.base_url)
        log.info("bench IdP (%s profile) listening at %s", self.policy.profile, self.issuer)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self.faults.release_hangs()  # a hung request must not hold the shutdown
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
        """Where the current profile sends people (``/devicelogin`` for Entra)."""
        return self.base_url + self.policy.verification_path

    @property
    def authorize_url(self) -> str:
        return f"{self.issuer}/oauth2/v2.0/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/oauth2/v2.0/token"

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

    def config(self) -> dict[str, Any]:
        """The profile's knobs and the bench's other knobs (``GET /control/config``)."""
        knobs = self.policy.knobs()
        knobs.update({name: knob.get() for name, knob in self.extra_knobs.items()})
        return {"profile": self.policy.profile, "knobs": knobs}

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `changes` (all or nothing); BadControlRequest says which knob and why."""
        mine = {k: v for k, v in changes.items() if k not in self.extra_knobs}
        try:
            policy = self.policy.with_knobs(mine)
            appliers = [self.extra_knobs[k].prepare(v) for k, v in changes.items()
                        if k in self.extra_knobs]
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from None
        self.state.set_policy(policy)
        for apply in appliers:
            apply()
        log.info("configuration changed: %s", changes)
        return self.config()

    # ---- for resource servers and their tests -------------------------------------------------
    def mint_access_token(self, username: str, scopes: list[str],
                          lifetime: float | None = None) -> str:
        """An access token as the token endpoint would issue it, without a device flow.

        Any username is accepted (a mail-server test may want a user with no mailbox);
        `scopes` may be full (``SMTP_SCOPE``) or short (``SMTP.Send``) names.
        """
        if self._minter is None:
            raise IdpError("the identity provider is not running: call start() first")
        life = self.state.access_token_lifetime() if lifetime is None else lifetime
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
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_url,
            "device_authorization_endpoint": f"{issuer}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{issuer}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:device_code",
                                      "refresh_token", "authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": SUPPORTED_SCOPES,
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["iss", "aud", "sub", "oid", "preferred_username", "name",
                                 "iat", "exp", "nonce"],
            "tenant_region_scope": "EU",
        }

    # ---- faults -------------------------------------------------------------------------------
    def take_fault(self, phases: list[str], username: str | None) -> ArmedFault | None:
        for phase in phases:
            armed = self.faults.take(phase, username)
            if armed is not None:
                log.info("fault %s strikes %s (%s)", armed.entry.name, phase, username or "-")
                return armed
        return None

    def fault_error(self, armed: ArmedFault, issued: float | None = None) -> ProviderError:
        """The OAuth error an ``error`` fault sends, in the current profile's words."""
        answer: IdpAnswer = armed.entry.answer
        profile = self.policy.profile
        if profile != "entra" and profile in answer.other:
            error, description = answer.other[profile]
        else:
            now = self.clock.now()
            text = answer.text.format(client_id=CLIENT_ID, issued=_iso(issued or now),
                                      now=_iso(now))
            error = answer.error
            code = f"AADSTS{answer.aadsts}: " if answer.aadsts and profile == "entra" else ""
            description = code + text
        return ProviderError(error, description, answer.status)


def _iso(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


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
    except _Dropped:
        return web.Response(status=204)  # never sent: the transport is closed
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
    return HttpRequest(request.method, str(request.url), dict(request.headers), form,
                       dict(request.query))


def _to_aiohttp(response: OAuthResponse) -> web.Response:
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    headers.setdefault("Cache-Control", "no-store")
    return web.json_response(response.body, status=response.status, headers=headers)


async def _fault_response(request: web.Request, http: HttpRequest, idp: IdentityProvider,
                          armed: ArmedFault, issued: float | None = None) -> web.Response:
    """What an armed fault sends instead of the normal answer."""
    answer: IdpAnswer = armed.entry.answer
    if answer.kind == "garbage":
        return web.Response(status=200, text=GARBAGE_BODY, content_type="text/html")
    if answer.kind == "hang":
        released = idp.faults.hang_released()
        try:
            await asyncio.wait_for(released.wait(), timeout=armed.options["hang_seconds"])
        except TimeoutError:
            pass
        if request.transport is not None:
            request.transport.close()  # never an answer: the connection just ends
        raise _Dropped()
    response = idp.oauth.refusal(http, idp.fault_error(armed, issued))
    body = dict(response.body)
    if idp.policy.profile == "entra":
        body.update(answer.extra)
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    headers["Cache-Control"] = "no-store"
    if "retry_after" in armed.options:
        headers["Retry-After"] = str(int(armed.options["retry_after"]))
    return web.json_response(body, status=response.status, headers=headers)


async def _discovery(request: web.Request) -> web.StreamResponse:
    idp = idp_of(request)
    armed = idp.take_fault(["idp.discovery"], None)
    if armed is not None:
        return await _fault_response(request, await _http_request(request), idp, armed)
    return web.json_response(idp.discovery_document())


async def _jwks(request: web.Request) -> web.StreamResponse:
    idp = idp_of(request)
    armed = idp.take_fault(["idp.discovery"], None)
    if armed is not None:
        return await _fault_response(request, await _http_request(request), idp, armed)
    return web.json_response(idp.jwks())


async def _device_authorization(request: web.Request) -> web.StreamResponse:
    idp = idp_of(request)
    http = await _http_request(request)
    armed = idp.take_fault(["idp.device_authorization"], None)
    if armed is not None:
        idp.stats.device_authorization(f"fault:{armed.entry.name}")
        return await _fault_response(request, http, idp, armed)
    response = idp.oauth.device_authorization(http)
    idp.stats.device_authorization(str(response.body.get("error", "ok")))
    return _to_aiohttp(response)


def _token_context(idp: IdentityProvider, form: dict[str, str]
                   ) -> tuple[str | None, list[str], float | None]:
    """Who a token request speaks for, the phases it may be struck at, when its grant began."""
    grant_type = form.get("grant_type", "")
    state = idp.state
    if grant_name(grant_type) == "device_code":
        device = state.devices.get(form.get("device_code", ""))
        if device is None:
            return None, ["idp.device_poll"], None
        redeem = device.status == "approved" and not device.is_expired()
        return (device.username,
                (["idp.device_redeem"] if redeem else []) + ["idp.device_poll"], None)
    if grant_type == "refresh_token":
        record = state.refresh_tokens.get(form.get("refresh_token", ""))
        return (record.family.username if record else None, ["idp.refresh"],
                record.issued_at if record else None)
    if grant_type == "authorization_code":
        code = state.auth_codes.get(form.get("code", ""))
        return (code.username if code else None, ["idp.auth_code"], None)
    return None, [], None


async def _token(request: web.Request) -> web.StreamResponse:
    idp = idp_of(request)
    http = await _http_request(request)
    grant_type = http.form.get("grant_type", "")
    user, phases, issued = _token_context(idp, dict(http.form))
    armed = idp.take_fault(phases, user)
    if armed is not None and armed.entry.answer.kind != "wrong_issuer":
        idp.stats.token_request(grant_type, user, f"fault:{armed.entry.name}")
        return await _fault_response(request, http, idp, armed, issued)
    response = idp.oauth.token(http, wrong_issuer=armed is not None)
    idp.stats.token_request(grant_type, user, str(response.body.get("error", "ok")))
    return _to_aiohttp(response)


async def _authorize(request: web.Request) -> web.Response:
    idp = idp_of(request)
    if request.method not in ("GET", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    return await signin.handle_authorize(request, idp.oauth, idp.state)
