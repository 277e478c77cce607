"""The bench identity provider, checked with msal (the device's own library) as the client.

msal and requests are blocking: they run in `asyncio.to_thread` while the IdP serves from the
test's event loop. Time moves only through the shared `VirtualClock`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import (
    CLIENT_ID,
    POP_SCOPE,
    PROFILES,
    SMTP_SCOPE,
    AccessTokenVerifier,
    IdentityProvider,
    IdpPolicy,
    TokenRejected,
)
from mfp_sim.tools.idp.keys import SigningKey

pytestmark = [
    # msal warns when a poll comes sooner than `interval` of real time; the device polls on
    # its own (virtual) clock, so that is expected here.
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(30),
]

#: Entra's codes: 9 characters, no dash (letters and digits without look-alikes).
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ2-9]{9}$")
MakeApp = Callable[..., Awaitable[msal.PublicClientApplication]]
ALICE = "alice@example.test"
BOB = "bob@example.test"


# ---- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> BenchCA:
    return BenchCA()


@pytest.fixture(scope="module")
def ca_file(ca: BenchCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write_ca(tmp_path_factory.mktemp("ca") / "bench-ca.pem")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def policy() -> IdpPolicy:
    return IdpPolicy.microsoft()


@pytest.fixture
async def idp(clock: VirtualClock, ca: BenchCA, policy: IdpPolicy) -> AsyncIterator[
        IdentityProvider]:
    provider = IdentityProvider(clock=clock, ca=ca, policy=policy, host="127.0.0.1", port=0)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


def _session(ca_file: Path) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.verify = str(ca_file)
    return session


@pytest.fixture
def http(ca_file: Path) -> requests.Session:
    return _session(ca_file)


@pytest.fixture
def make_app(idp: IdentityProvider, ca_file: Path) -> MakeApp:
    """msal fetches the discovery document in its constructor: build apps in a thread."""
    async def make(cache: msal.SerializableTokenCache | None = None,
                   client_id: str = CLIENT_ID) -> msal.PublicClientApplication:
        return await new_app(idp, ca_file, cache, client_id)
    return make


async def new_app(idp: IdentityProvider, ca_file: Path,
                  cache: msal.SerializableTokenCache | None = None,
                  client_id: str = CLIENT_ID) -> msal.PublicClientApplication:
    return await asyncio.to_thread(
        msal.PublicClientApplication, client_id, oidc_authority=idp.issuer,
        http_client=_session(ca_file), token_cache=cache or msal.SerializableTokenCache())


# ---- helpers --------------------------------------------------------------------------------
async def start_flow(app: msal.PublicClientApplication, scopes: list[str]) -> dict[str, Any]:
    flow: dict[str, Any] = await asyncio.to_thread(app.initiate_device_flow, scopes=scopes)
    return flow


async def poll(app: msal.PublicClientApplication, flow: dict[str, Any]) -> dict[str, Any]:
    """One poll of the token endpoint, as the device makes it."""
    result: dict[str, Any] = await asyncio.to_thread(
        app.acquire_token_by_device_flow, flow, exit_condition=lambda f: True)
    return result


async def refresh(app: msal.PublicClientApplication, scope: str = SMTP_SCOPE) -> dict[str, Any]:
    accounts = await asyncio.to_thread(app.get_accounts)
    assert len(accounts) == 1
    result: dict[str, Any] = await asyncio.to_thread(
        app.acquire_token_silent_with_error, [scope], accounts[0], force_refresh=True)
    return result


async def control(http: requests.Session, idp: IdentityProvider, method: str, command: str,
                  body: Any = None, raw: bytes | None = None) -> requests.Response:
    url = f"{idp.control_url}/{command}"
    if raw is not None:
        return await asyncio.to_thread(http.request, method, url, data=raw, timeout=10)
    return await asyncio.to_thread(http.request, method, url, json=body, timeout=10)


async def signed_in(app: msal.PublicClientApplication, idp: IdentityProvider,
                    user: str = ALICE, scope: str = SMTP_SCOPE) -> dict[str, Any]:
    flow = await start_flow(app, [scope])
    idp.approve(flow["user_code"], user)
    result = await poll(app, flow)
    assert "access_token" in result, result
    return result


def refresh_tokens(cache: msal.SerializableTokenCache) -> list[str]:
    return [rt["secret"] for rt in cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)]


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


# ---- discovery ------------------------------------------------------------------------------
async def test_discovery_and_jwks(idp: IdentityProvider, http: requests.Session) -> None:
    assert idp.issuer == f"https://127.0.0.1:{idp.port}/bench"
    assert idp.verification_uri == f"https://127.0.0.1:{idp.port}/devicelogin"
    assert idp.control_url == f"https://127.0.0.1:{idp.port}/control"
    doc = (await asyncio.to_thread(
        http.get, f"{idp.issuer}/.well-known/openid-configuration", timeout=10)).json()
    assert doc["issuer"] == idp.issuer
    for key in ("authorization_endpoint", "token_endpoint", "device_authorization_endpoint",
                "jwks_uri"):
        assert doc[key].startswith(idp.issuer + "/")
    assert "urn:ietf:params:oauth:grant-type:device_code" in doc["grant_types_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {SMTP_SCOPE, POP_SCOPE, "openid", "offline_access"} <= set(doc["scopes_supported"])
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = (await asyncio.to_thread(http.get, doc["jwks_uri"], timeout=10)).json()
    assert [k["kty"] for k in jwks["keys"]] == ["RSA"] and "d" not in jwks["keys"][0]


# ---- device flow ----------------------------------------------------------------------------
async def test_device_flow_approved_via_control_api(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session, clock: VirtualClock) -> None:
    cache = msal.SerializableTokenCache()
    app = await make_app(cache)
    flow = await start_flow(app, [SMTP_SCOPE])
    assert USER_CODE.match(flow["user_code"]), flow
    assert flow["verification_uri"] == idp.verification_uri
    assert "verification_uri_complete" not in flow  # Entra sends none
    assert (flow["expires_in"], flow["interval"]) == (900, 5)
    assert flow["message"] == (f"To sign in, use a web browser to open the page "
                               f"{idp.verification_uri} and enter the code {flow['user_code']}"
                               " to authenticate.")

    assert (await poll(app, flow))["error"] == "authorization_pending"
    pending = await control(http, idp, "GET", "pending")
    assert pending.json() == {"pending": [flow["user_code"]]}
    ok = await control(http, idp, "POST", "approve",
                       {"user_code": flow["user_code"].lower(), "username": ALICE})
    assert ok.status_code == 200 and ok.json() == {"approved": flow["user_code"]}
    assert idp.pending_codes() == []

    result = await poll(app, flow)
    lifetime = result["expires_in"]
    assert result["token_type"] == "Bearer" and 3600 <= lifetime <= 5400  # Entra: 60-90 min
    assert set(result["scope"].split()) == {SMTP_SCOPE, "offline_access", "openid", "profile"}
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert result["id_token_claims"]["aud"] == CLIENT_ID
    assert "nbf" not in result["id_token_claims"]
    access = claims_of(result["access_token"])
    assert access["aud"] == "https://mail.bench.test" and access["scp"] == "SMTP.Send"
    assert access["iss"] == idp.issuer and access["upn"] == ALICE
    assert access["iat"] == int(clock.now()) and access["exp"] == int(clock.now()) + lifetime
    assert {"sub", "preferred_username", "jti"} <= access.keys()
    assert idp.verifier().verify(result["access_token"], SMTP_SCOPE) == ALICE
    assert len(refresh_tokens(cache)) == 1
    [account] = await asyncio.to_thread(app.get_accounts)
    assert account["username"] == ALICE

    again = await poll(app, flow)  # a device code gives one token, once
    assert again["error"] == "invalid_grant"


async def test_device_flow_approved_via_html_form(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session) -> None:
    app = await make_app()
    flow = await start_flow(app, [POP_SCOPE])
    code = flow["user_code"]
    page = await asyncio.to_thread(http.get, flow["verification_uri"],
                                   params={"user_code": code}, timeout=10)
    assert page.status_code == 200 and f'value="{code}"' in page.text

    async def submit(**form: str) -> requests.Response:
        return await asyncio.to_thread(http.post, idp.verification_uri, data=form, timeout=10)

    wrong = await submit(user_code=code, username=BOB, password="nope", action="approve")
    assert wrong.status_code == 400 and "account or password is incorrect" in wrong.text
    unknown = await submit(user_code="BBBB-BBBB", username=BOB, password="bob-pass-1",
                           action="approve")
    assert unknown.status_code == 400 and "wasn&#x27;t recognised" in unknown.text
    idp.disable(BOB)
    disabled = await submit(user_code=code, username=BOB, password="bob-pass-1",
                            action="approve")
    assert disabled.status_code == 400 and "disabled" in disabled.text
    idp.enable(BOB)
    done = await submit(user_code=" ".join(code.lower()), username=BOB,
                        password="bob-pass-1", action="approve")
    assert done.status_code == 200 and "Bob Receiver" in done.text

    result = await poll(app, flow)
    assert result["id_token_claims"]["preferred_username"] == BOB
    assert idp.verifier().verify(result["access_token"], POP_SCOPE) == BOB
    used = await submit(user_code=code, username=BOB, password="bob-pass-1", action="approve")
    assert used.status_code == 400 and "already used" in used.text


async def test_verification_page_escapes_and_reports_expiry(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session, clock: VirtualClock) -> None:
    evil = '"><script>alert(1)</script>'
    page = await asyncio.to_thread(http.get, idp.verification_uri,
                                   params={"user_code": evil}, timeout=10)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    flow = await start_flow(await make_app(), [SMTP_SCOPE])
    await clock.advance(901)
    expired = await asyncio.to_thread(
        http.post, idp.verification_uri, timeout=10,
        data={"user_code": flow["user_code"], "username": evil, "password": "x",
              "action": "approve"})
    assert expired.status_code == 400 and "expired" in expired.text
    assert "<script>" not in expired.text


async def test_slow_down_for_the_next_polls(
        idp: IdentityProvider, make_app: MakeApp) -> None:
    app = await make_app()
    flow = await start_flow(app, [SMTP_SCOPE])
    assert (await poll(app, flow))["error"] == "authorization_pending"  # never on its own
    idp.slow_down(2)
    assert (await poll(app, flow))["error"] == "slow_down"
    assert (await poll(app, flow))["error"] == "slow_down"
    assert flow["interval"] == 15  # msal adds 5 s per slow_down
    assert (await poll(app, flow))["error"] == "authorization_pending"


@pytest.mark.parametrize(("policy", "error"), [
    (IdpPolicy.microsoft(), "authorization_declined"),
    (IdpPolicy.google(), "access_denied"),
])
async def test_declined(idp: IdentityProvider, make_app: MakeApp,
                        http: requests.Session, error: str) -> None:
    app = await make_app()
    flow = await start_flow(app, [])  # Google grants no mail scope to devices: OIDC only
    denied = await control(http, idp, "POST", "deny", {"user_code": flow["user_code"]})
    assert denied.status_code == 200
    assert (await poll(app, flow))["error"] == error


async def test_declined_via_html_form(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session) -> None:
    app = await make_app()
    flow = await start_flow(app, [SMTP_SCOPE])
    page = await asyncio.to_thread(http.post, idp.verification_uri, timeout=10,
                                   data={"user_code": flow["user_code"], "action": "decline"})
    assert page.status_code == 200 and "declined" in page.text
    assert (await poll(app, flow))["error"] == "authorization_declined"


async def test_expired_code(idp: IdentityProvider, clock: VirtualClock, http: requests.Session,
                            make_app: MakeApp) -> None:
    app = await make_app()
    flow = await start_flow(app, [SMTP_SCOPE])
    await clock.advance(901)
    assert idp.pending_codes() == []
    late = await control(http, idp, "POST", "approve",
                         {"user_code": flow["user_code"], "username": ALICE})
    assert late.status_code == 400 and "expired" in late.json()["message"]
    result = await poll(app, flow)
    assert result["error"] == "expired_token"
    assert result["error_description"].startswith("AADSTS70020")


@pytest.mark.parametrize(("policy", "error"), [
    (IdpPolicy.microsoft(), "bad_verification_code"),
    (IdpPolicy.google(), "invalid_grant"),
])
async def test_unknown_device_code(
        idp: IdentityProvider, make_app: MakeApp,
        error: str) -> None:
    app = await make_app()
    flow = await start_flow(app, [])
    flow["device_code"] = "not-a-code-this-server-issued"
    assert (await poll(app, flow))["error"] == error


async def test_unknown_client_is_refused(
        make_app: MakeApp) -> None:
    flow = await start_flow(await make_app(client_id="someone-else"), [SMTP_SCOPE])
    assert flow["error"] == "unauthorized_client"
    assert flow["error_description"].startswith("AADSTS700016")


@pytest.mark.parametrize("policy", [IdpPolicy.google()])
async def test_google_refuses_mail_scope(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session) -> None:
    flow = await start_flow(await make_app(), [SMTP_SCOPE])
    assert flow["error"] == "invalid_scope" and "user_code" not in flow
    raw = await asyncio.to_thread(
        http.post, f"{idp.issuer}/oauth2/v2.0/devicecode", timeout=10,
        data={"client_id": CLIENT_ID, "scope": f"{POP_SCOPE} openid"})
    assert raw.status_code == 400
    assert raw.json()["error"] == "invalid_scope" and POP_SCOPE in raw.json()["error_description"]


# ---- refresh --------------------------------------------------------------------------------
async def test_entra_rotates_refresh_tokens_but_the_old_one_stays_valid(
        idp: IdentityProvider, make_app: MakeApp, clock: VirtualClock) -> None:
    cache = msal.SerializableTokenCache()
    app = await make_app(cache)
    await signed_in(app, idp)
    [rt1] = refresh_tokens(cache)
    await clock.advance(3000)
    assert "access_token" in await refresh(app)
    [rt2] = refresh_tokens(cache)
    assert rt2 != rt1
    other = await make_app()  # a second holder of the first refresh token
    again = await asyncio.to_thread(other.acquire_token_by_refresh_token, rt1, [SMTP_SCOPE])
    assert "access_token" in again, again  # Entra does not revoke the old one
    assert "access_token" in await refresh(app)  # nor the family


@pytest.mark.parametrize("policy", [PROFILES["keycloak"]])
async def test_refresh_rotates_and_reuse_revokes_the_family(
        idp: IdentityProvider, make_app: MakeApp,
        clock: VirtualClock) -> None:
    cache = msal.SerializableTokenCache()
    app = await make_app(cache)
    first = await signed_in(app, idp)
    [rt1] = refresh_tokens(cache)
    await clock.advance(200)
    second = await refresh(app)
    assert "access_token" in second, second
    assert second["access_token"] != first["access_token"]
    [rt2] = refresh_tokens(cache)
    assert rt2 != rt1
    assert claims_of(second["access_token"])["iat"] == int(clock.now())

    thief = await make_app()
    stolen = await asyncio.to_thread(thief.acquire_token_by_refresh_token, rt1, [SMTP_SCOPE])
    assert stolen["error"] == "invalid_grant"
    assert stolen["error_description"] == "Maximum allowed refresh token reuse exceeded"
    after = await refresh(app)  # the whole family is gone, including rt2
    assert after["error"] == "invalid_grant", after


async def test_refresh_token_expires(
        idp: IdentityProvider, make_app: MakeApp,
        clock: VirtualClock) -> None:
    app = await make_app()
    await signed_in(app, idp)
    await clock.advance(90 * 86400 + 1)
    result = await refresh(app)
    assert result["error"] == "invalid_grant"
    assert result["error_description"].startswith("AADSTS700082")


async def test_revoke_gives_invalid_grant(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session) -> None:
    app = await make_app()
    await signed_in(app, idp)
    revoked = await control(http, idp, "POST", "revoke", {"username": ALICE.upper()})
    assert revoked.json() == {"revoked": ALICE, "grants": 1}
    result = await refresh(app)
    assert result["error"] == "invalid_grant"
    assert "AADSTS50173" in result["error_description"]


async def test_disable_gives_invalid_grant_until_enabled(
        idp: IdentityProvider, make_app: MakeApp,
        http: requests.Session) -> None:
    cache = msal.SerializableTokenCache()
    app = await make_app(cache)
    token = (await signed_in(app, idp, user=BOB))["access_token"]
    assert (await control(http, idp, "POST", "disable", {"username": BOB})).status_code == 200
    result = await refresh(app)
    assert result["error"] == "invalid_grant"
    assert result["error_description"].startswith("AADSTS50057: The user account is disabled.")
    with pytest.raises(TokenRejected) as rejected:
        idp.verifier().verify(token, SMTP_SCOPE)
    assert rejected.value.code == "disabled"
    assert (await control(http, idp, "POST", "enable", {"username": BOB})).status_code == 200
    fresh_app = await make_app(cache)  # msal remembers identical 400 answers for 60 s of real time
    assert "access_token" in await refresh(fresh_app)


# ---- control API ----------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "command", "body", "raw", "status", "error"), [
    ("POST", "approve", None, b"{not json", 400, "bad_request"),
    ("POST", "approve", ["a list"], None, 400, "bad_request"),
    ("POST", "approve", {"username": ALICE}, None, 400, "bad_request"),
    ("POST", "approve", {"user_code": "BBBB-CCCC", "username": ALICE}, None, 404,
     "unknown_user_code"),
    ("POST", "approve", {"user_code": "BBBB-CCCC", "username": 7}, None, 400, "bad_request"),
    ("POST", "deny", {"user_code": "QQQQ-QQQQ"}, None, 404, "unknown_user_code"),
    ("POST", "revoke", {"username": "mallory@example.test"}, None, 404, "unknown_user"),
    ("POST", "disable", {}, None, 400, "bad_request"),
    ("POST", "enable", {"username": ""}, None, 400, "bad_request"),
    ("POST", "slow_down", {"count": 0}, None, 400, "bad_request"),
    ("POST", "slow_down", {"count": "3"}, None, 400, "bad_request"),
    ("POST", "slow_down", {"count": True}, None, 400, "bad_request"),
    ("POST", "slow_down", {"count": 2.5}, None, 400, "bad_request"),
    ("POST", "reboot", {}, None, 404, "unknown_command"),
    ("GET", "approve", None, None, 405, "method_not_allowed"),
])
async def test_control_api_rejects_bad_input(
        idp: IdentityProvider, http: requests.Session, method: str, command: str, body: Any,
        raw: bytes | None, status: int, error: str) -> None:
    response = await control(http, idp, method, command, body, raw)
    assert response.status_code == status
    answer = response.json()
    assert answer["error"] == error and answer["message"]


async def test_control_api_unknown_user_lists_bench_users(
        idp: IdentityProvider, http: requests.Session,
        make_app: MakeApp) -> None:
    flow = await start_flow(await make_app(), [SMTP_SCOPE])
    response = await control(http, idp, "POST", "approve",
                             {"user_code": flow["user_code"], "username": "eve@example.test"})
    assert response.status_code == 404
    assert ALICE in response.json()["message"]
    assert idp.pending_codes() == [flow["user_code"]]
    ok = await control(http, idp, "POST", "slow_down", {"count": 3})
    assert ok.json() == {"slow_down_left": 3}


# ---- access-token verifier -----------------------------------------------------------------
async def test_verifier(idp: IdentityProvider, clock: VirtualClock) -> None:
    verifier = AccessTokenVerifier(idp.issuer, idp.jwks(), clock, is_disabled=idp.state.is_disabled)
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE], lifetime=600)
    assert verifier.verify(token, SMTP_SCOPE) == ALICE
    assert verifier.verify(token, "SMTP.Send") == ALICE

    def code_of(bad: str, scope: str = SMTP_SCOPE) -> str:
        with pytest.raises(TokenRejected) as rejected:
            verifier.verify(bad, scope)
        assert bad not in str(rejected.value)
        return rejected.value.code

    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["upn"] = forged["preferred_username"] = BOB
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert code_of(f"{header}.{forged_payload}.{signature}") == "bad_signature"
    assert code_of(f"{header}.{payload}.{signature[:-6]}AAAAAA") == "bad_signature"
    assert code_of("not a token") == "malformed"
    assert code_of("a.b.c") == "malformed"
    assert code_of(token, POP_SCOPE) == "wrong_scope"
    assert code_of(SigningKey().sign(claims_of(token))) == "bad_signature"  # another IdP's key

    both = idp.mint_access_token(BOB, ["SMTP.Send", POP_SCOPE])
    assert verifier.verify(both, POP_SCOPE) == BOB
    idp.disable(BOB)
    assert code_of(both) == "disabled"

    await clock.advance(599)
    assert verifier.verify(token, SMTP_SCOPE) == ALICE
    await clock.advance(1)
    assert code_of(token) == "expired"


async def test_verifier_rejects_id_token(
        idp: IdentityProvider, make_app: MakeApp) -> None:
    result = await signed_in(await make_app(), idp)
    with pytest.raises(TokenRejected) as rejected:
        idp.verifier().verify(result["id_token"], SMTP_SCOPE)
    assert rejected.value.code == "wrong_audience"


async def test_policy_lifetimes_are_configurable(
        clock: VirtualClock, ca: BenchCA, ca_file: Path) -> None:
    policy = replace(IdpPolicy.microsoft(), access_token_lifetime=300, device_code_lifetime=60)
    async with IdentityProvider(clock=clock, ca=ca, policy=policy) as idp:
        app = await new_app(idp, ca_file)
        flow = await start_flow(app, [SMTP_SCOPE])
        assert flow["expires_in"] == 60
        result = await signed_in(app, idp)
        assert result["expires_in"] == 300
    with pytest.raises(ValueError, match="must be > 0"):
        replace(policy, refresh_token_lifetime=0)


async def test_logs_never_hold_whole_tokens(
        idp: IdentityProvider, make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cache = msal.SerializableTokenCache()
    app = await make_app(cache)
    first = await signed_in(app, idp)
    second = await refresh(app)
    secrets = [first["access_token"], first["id_token"], second["access_token"],
               *refresh_tokens(cache)]
    idp_lines = [r.getMessage() for r in caplog.records
                 if r.name.startswith(("mfp_sim.tools.idp", "authlib"))]
    assert any("Issue token" in line for line in idp_lines)
    for secret in secrets:
        assert all(secret not in line for line in idp_lines)


@pytest.mark.parametrize("form", [
    {},
    {"grant_type": "password", "client_id": CLIENT_ID, "username": ALICE, "password": "x"},
    {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": CLIENT_ID},
    {"grant_type": "refresh_token", "client_id": CLIENT_ID},
    {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "\u00e9\"\\"},
    {"grant_type": "refresh_token", "client_id": "\u00e9vil\"", "refresh_token": "x"},
])
async def test_token_endpoint_answers_garbage_with_oauth_errors(
        idp: IdentityProvider, http: requests.Session, form: dict[str, str]) -> None:
    response = await asyncio.to_thread(http.post, f"{idp.issuer}/oauth2/v2.0/token",
                                       data=form, timeout=10)
    assert response.status_code in (400, 401)
    assert response.json()["error"] in {"invalid_request", "unsupported_grant_type",
                                        "invalid_grant", "unauthorized_client"}
