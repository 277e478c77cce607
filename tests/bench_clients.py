"""Independent clients for the bench's own tests: requests (raw wire), msal, PKCE by hand.

Everything blocking runs in a thread (`call`), bounded, while the servers serve from the test's
event loop. The requests session ignores the environment's CA bundle (``trust_env = False``)
and trusts the bench CA only, as docs/testbed.md explains.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import msal
import requests

from mfp_sim.tools.idp import CLIENT_ID, SMTP_SCOPE, IdentityProvider

T = TypeVar("T")

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORDS = {ALICE: "alice-pass-1", BOB: "bob-pass-1"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Where the device's web page would receive the browser back (loopback, any port).
REDIRECT_URI = "https://127.0.0.1:8443/oauth/callback"


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout=20)


def session(ca_file: Path) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    http.verify = str(ca_file)
    return http


class Wire:
    """The device's requests, raw, so a test sees exactly what the IdP sends."""

    def __init__(self, idp: IdentityProvider, ca_file: Path) -> None:
        self.idp = idp
        self.http = session(ca_file)

    async def post(self, url: str, data: dict[str, str], **kw: Any) -> requests.Response:
        return await call(self.http.post, url, data=data, timeout=10, **kw)

    async def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return await call(self.http.request, method, f"{self.idp.control_url}/{path}",
                          json=body, timeout=10)

    async def device_code(self, scope: str = f"{SMTP_SCOPE} openid profile offline_access"
                          ) -> requests.Response:
        return await self.post(f"{self.idp.issuer}/oauth2/v2.0/devicecode",
                               {"client_id": CLIENT_ID, "scope": scope})

    async def poll(self, device_code: str, **headers: str) -> requests.Response:
        return await self.post(self.idp.token_url, {"client_id": CLIENT_ID,
                                                    "grant_type": DEVICE_GRANT,
                                                    "device_code": device_code},
                               headers=headers)

    async def refresh(self, refresh_token: str) -> requests.Response:
        return await self.post(self.idp.token_url, {"client_id": CLIENT_ID,
                                                    "grant_type": "refresh_token",
                                                    "refresh_token": refresh_token})

    async def approved_flow(self, user: str = ALICE) -> dict[str, Any]:
        """A device code approved by `user`, not yet redeemed."""
        flow: dict[str, Any] = (await self.device_code()).json()
        self.idp.approve(flow["user_code"], user)
        return flow

    async def signed_in(self, user: str = ALICE) -> dict[str, Any]:
        """The whole device flow: the token response."""
        flow = await self.approved_flow(user)
        answer = await self.poll(flow["device_code"])
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    # ---- browser sign-in with PKCE ----------------------------------------------------------
    async def authorization_code(self, user: str = ALICE, scope: str | None = None,
                                 redirect_uri: str = REDIRECT_URI) -> tuple[str, str]:
        """Sign in on the authorize page as a script would: returns (code, code_verifier)."""
        verifier = secrets.token_urlsafe(48)
        challenge = pkce_challenge(verifier)
        params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
                  "scope": scope or f"{SMTP_SCOPE} openid profile offline_access",
                  "state": "s-123", "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        page = await call(self.http.get, self.idp.authorize_url, params=params, timeout=10)
        assert page.status_code == 200, page.text
        answer = await call(self.http.post, self.idp.authorize_url, timeout=10,
                            allow_redirects=False,
                            data={**params, "username": user, "password": PASSWORDS[user],
                                  "action": "allow"})
        assert answer.status_code == 302, answer.text
        query = query_of(answer.headers["Location"])
        assert query["state"] == "s-123"
        return query["code"], verifier

    async def redeem(self, code: str, verifier: str,
                     redirect_uri: str = REDIRECT_URI) -> requests.Response:
        return await self.post(self.idp.token_url, {
            "client_id": CLIENT_ID, "grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_uri, "code_verifier": verifier})


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def msal_app(idp: IdentityProvider, ca_file: Path,
                   cache: msal.SerializableTokenCache | None = None) -> msal.PublicClientApplication:
    """msal as the device uses it (DESIGN.md): oidc_authority and a CA-pinned session."""
    return await call(msal.PublicClientApplication, CLIENT_ID, oidc_authority=idp.issuer,
                      http_client=session(ca_file),
                      token_cache=cache or msal.SerializableTokenCache())
