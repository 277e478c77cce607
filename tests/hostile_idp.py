"""A hostile identity provider for tests: a small aiohttp HTTPS app scripted per endpoint.

It speaks just enough OAuth 2.0 / OIDC for msal to complete a device flow and refreshes
(`ok`), and on request answers the way broken or hostile servers do. Each endpoint has a queue
of behaviours, consumed one per request, then `default` (normally `ok`):

    endpoints   discovery, devicecode, poll (token, device_code grant), refresh (token,
                refresh_token grant)
    behaviours  ok          a correct answer
                hang        accept the request and never answer
                500         HTTP 500, a plain-text body
                garbage     HTTP 200, an HTML page
                list, str, null   HTTP 200 with the JSON value [1,2,3], "str", null
                wrong_types HTTP 200, a JSON object whose fields have the wrong types
                drip        HTTP 200, a correct-looking body one byte every `drip_pause` s
                huge        HTTP 200, a JSON object of 2 MB
                429         HTTP 429 with Retry-After: 30 and an OAuth error body

`requests[endpoint]` counts what arrived, so a test sees what the device did to the server.
ID tokens are unsigned (msal does not check signatures); access tokens are random strings.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import Counter, deque
from typing import Any

from aiohttp import web

from mfp_sim.firmware.providers import Provider
from mfp_sim.tools.bench_ca import BenchCA

__all__ = ["HostileIdp", "BEHAVIOURS", "ENDPOINTS", "SMTP_SCOPE"]

ENDPOINTS = ("discovery", "devicecode", "poll", "refresh")
BEHAVIOURS = ("hang", "500", "garbage", "list", "str", "null", "wrong_types", "drip", "huge", "429")
SMTP_SCOPE = "https://mail.hostile.test/SMTP.Send"
POP_SCOPE = "https://mail.hostile.test/POP.AccessAsUser.All"
CLIENT_ID = "mfp-sim-device"

_WRONG_TYPES: dict[str, Any] = {
    "discovery": {"issuer": 5, "token_endpoint": ["x"], "device_authorization_endpoint": None},
    "devicecode": {"device_code": 1, "user_code": 2, "verification_uri": 3, "interval": "fast"},
    "poll": {"access_token": 5, "expires_in": "soon", "token_type": 1},
    "refresh": {"access_token": {"a": 1}, "expires_in": [1], "refresh_token": 7},
}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class HostileIdp:
    def __init__(self, ca: BenchCA, *, lifetime: float = 3600.0, drip_pause: float = 0.2) -> None:
        self._ca = ca
        self.lifetime = lifetime
        self.drip_pause = drip_pause
        self.default = "ok"
        self.requests: Counter[str] = Counter()
        self._scripts: dict[str, deque[str]] = {e: deque() for e in ENDPOINTS}
        self._codes: dict[str, dict[str, Any]] = {}  # device_code -> {user_code, approved_as}
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- scripting ---------------------------------------------------------------------------
    def script(self, endpoint: str, *behaviours: str) -> None:
        assert endpoint in ENDPOINTS, endpoint
        for b in behaviours:
            assert b == "ok" or b in BEHAVIOURS, b
        self._scripts[endpoint].extend(behaviours)

    def clear_scripts(self) -> None:
        for queue in self._scripts.values():
            queue.clear()
        self.default = "ok"

    def approve(self, user_code: str, username: str) -> None:
        for record in self._codes.values():
            if record["user_code"] == user_code:
                record["approved_as"] = username
                return
        raise KeyError(user_code)

    def revoke_all(self) -> None:
        self._refresh_tokens.clear()

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}/hostile"

    def provider(self) -> Provider:
        return Provider(name="hostile", display_name="Hostile identity provider",
                        authority=self.base, authority_kind="oidc", client_id=CLIENT_ID,
                        scopes={"smtp": (SMTP_SCOPE,), "pop": (POP_SCOPE,)})

    async def __aenter__(self) -> HostileIdp:
        app = web.Application()
        app.add_routes([
            web.get("/hostile/.well-known/openid-configuration", self._discovery),
            web.post("/hostile/devicecode", self._devicecode),
            web.post("/hostile/token", self._token),
        ])
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ca.server_context())
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- endpoints ---------------------------------------------------------------------------
    async def _discovery(self, request: web.Request) -> web.StreamResponse:
        base = self.base
        return await self._answer(request, "discovery", {
            "issuer": base, "token_endpoint": f"{base}/token",
            "device_authorization_endpoint": f"{base}/devicecode",
            "authorization_endpoint": f"{base}/authorize",
            "response_types_supported": ["code"], "scopes_supported": [SMTP_SCOPE, POP_SCOPE],
        })

    async def _devicecode(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        device_code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self._codes[device_code] = {"user_code": user_code, "approved_as": None,
                                    "scope": str(form.get("scope", ""))}
        return await self._answer(request, "devicecode", {
            "device_code": device_code, "user_code": user_code,
            "verification_uri": f"{self.base}/device", "expires_in": 900, "interval": 5,
            "message": f"Go to {self.base}/device and enter {user_code}",
        })

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if form.get("grant_type") == "refresh_token":
            token = str(form.get("refresh_token", ""))
            user = self._refresh_tokens.get(token)
            if self._peek("refresh") == "ok":  # a faulty answer does not spend the token
                self._refresh_tokens.pop(token, None)
            if user is None:
                return await self._answer(request, "refresh", {
                    "error": "invalid_grant",
                    "error_description": "AADSTS50173: The provided grant has been revoked."}, 400)
            return await self._answer(request, "refresh", self._grant(user, str(form.get("scope", ""))))
        record = self._codes.get(str(form.get("device_code", "")))
        if record is None:
            return await self._answer(request, "poll", {"error": "bad_verification_code"}, 400)
        if record["approved_as"] is None:
            return await self._answer(request, "poll", {"error": "authorization_pending"}, 400)
        return await self._answer(request, "poll", self._grant(record["approved_as"], record["scope"]))

    def _grant(self, user: str, scope: str) -> dict[str, Any]:
        now = int(time.time())
        refresh = secrets.token_urlsafe(32)
        self._refresh_tokens[refresh] = user
        claims = {"iss": self.base, "sub": f"sub-{user}", "aud": CLIENT_ID, "iat": now,
                  "exp": now + 3600, "preferred_username": user, "name": user}
        scopes = " ".join(s for s in scope.split() if s not in ("openid", "profile", "offline_access"))
        return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(40),
                "expires_in": self.lifetime, "refresh_token": refresh,
                "scope": f"{scopes} openid profile offline_access",
                "id_token": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sig"}

    def _peek(self, endpoint: str) -> str:
        queue = self._scripts[endpoint]
        return queue[0] if queue else self.default

    async def _answer(self, request: web.Request, endpoint: str, body: Any,
                      status: int = 200) -> web.StreamResponse:
        self.requests[endpoint] += 1
        queue = self._scripts[endpoint]
        behaviour = queue.popleft() if queue else self.default
        if behaviour == "ok":
            return web.json_response(body, status=status)
        if behaviour == "hang":
            await self._released.wait()
            return web.Response(status=503, text="released")
        if behaviour == "500":
            return web.Response(status=500, text="Internal Server Error")
        if behaviour == "garbage":
            return web.Response(status=200, text="<html><body>Sign in</body></html>",
                                content_type="text/html")
        if behaviour in ("list", "str", "null"):
            value = {"list": [1, 2, 3], "str": "str", "null": None}[behaviour]
            return web.json_response(value)
        if behaviour == "wrong_types":
            return web.json_response(_WRONG_TYPES[endpoint])
        if behaviour == "huge":
            return web.json_response({"error": "x" * (2 * 1024 * 1024)})
        if behaviour == "429":
            return web.json_response({"error": "temporarily_unavailable",
                                      "error_description": "AADSTS90055: Too many requests."},
                                     status=429, headers={"Retry-After": "30"})
        assert behaviour == "drip", behaviour
        data = json.dumps(body).encode()
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json",
                                                              "Content-Length": str(len(data))})
        await response.prepare(request)
        for i in range(len(data)):
            await response.write(data[i:i + 1])
            try:
                await asyncio.wait_for(self._released.wait(), self.drip_pause)
                break
            except TimeoutError:
                pass
        return response
