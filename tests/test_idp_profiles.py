"""The identity provider's profiles on the wire: each one's answers and lifetimes, the runtime
``/control/config`` knobs, and the browser sign-in with PKCE that Google's profile needs.

Checked with raw requests (to see exactly what is sent) and msal (the device's library), over
HTTPS with the bench CA, on the virtual clock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import CLIENT_ID, POP_SCOPE, PROFILES, SMTP_SCOPE, IdentityProvider
from mfp_sim.tools.idp.authcode import redirect_uri_allowed

from .bench_clients import (
    ALICE,
    PASSWORDS,
    REDIRECT_URI,
    Wire,
    call,
    msal_app,
    pkce_challenge,
    query_of,
    session,
)

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
              pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")]

DAY = 86400


@pytest.fixture(scope="module")
def ca() -> BenchCA:
    return BenchCA()


@pytest.fixture(scope="module")
def ca_file(ca: BenchCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write_ca(tmp_path_factory.mktemp("ca") / "bench-ca.pem")


@pytest.fixture
def profile() -> str:
    return "entra"


@pytest.fixture
async def idp(clock: VirtualClock, ca: BenchCA, profile: str) -> AsyncIterator[IdentityProvider]:
    async with IdentityProvider(clock=clock, ca=ca, policy=PROFILES[profile]) as provider:
        yield provider


@pytest.fixture
def wire(idp: IdentityProvider, ca_file: Path) -> Wire:
    return Wire(idp, ca_file)


# ---- entra ----------------------------------------------------------------------------------
async def test_entra_device_code_answer_is_shaped_like_microsofts(
        idp: IdentityProvider, wire: Wire) -> None:
    answer = await wire.device_code()
    flow = answer.json()
    assert answer.status_code == 200
    assert re.fullmatch(r"[A-Z0-9]{9}", flow["user_code"]), flow
    assert flow["verification_uri"] == f"{idp.base_url}/devicelogin"
    assert "verification_uri_complete" not in flow
    assert (flow["expires_in"], flow["interval"]) == (900, 5)
    assert flow["message"] == (f"To sign in, use a web browser to open the page "
                               f"{flow['verification_uri']} and enter the code "
                               f"{flow['user_code']} to authenticate.")
    page = await call(wire.http.get, flow["verification_uri"], timeout=10)
    assert page.status_code == 200 and "Enter code" in page.text


async def test_entra_errors_carry_microsofts_fields(wire: Wire, clock: VirtualClock) -> None:
    flow = (await wire.device_code()).json()
    answer = await wire.poll(flow["device_code"], **{"client-request-id": "c0ffee00-1111-2222-3333-444455556666"})
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "authorization_pending"
    stamp = "2027-01-15 08:00:00Z"  # the virtual clock's start, in Entra's format
    assert re.fullmatch(
        r"AADSTS70016: OAuth 2\.0 device flow error\. Authorization is pending\. Continue "
        r"polling\.\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: c0ffee00-1111-2222-3333-"
        r"444455556666\r\nTimestamp: " + re.escape(stamp), body["error_description"])
    assert body["error_codes"] == [70016] and body["timestamp"] == stamp
    assert body["trace_id"] in body["error_description"]
    assert body["correlation_id"] == "c0ffee00-1111-2222-3333-444455556666"
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=70016"


async def test_entra_access_tokens_live_60_to_90_minutes_from_a_seeded_draw(
        clock: VirtualClock, ca: BenchCA, ca_file: Path) -> None:
    async def lifetimes() -> list[int]:
        async with IdentityProvider(clock=clock, ca=ca) as idp:
            wire = Wire(idp, ca_file)
            tokens = await wire.signed_in()
            seen = [tokens["expires_in"]]
            for _ in range(4):
                tokens = (await wire.refresh(tokens["refresh_token"])).json()
                seen.append(tokens["expires_in"])
            return seen

    first, second = await lifetimes(), await lifetimes()
    assert all(3600 <= s <= 5400 for s in first), first
    assert len(set(first)) > 1, first  # drawn, not fixed
    assert first == second  # same seed, same lifetimes


async def test_entra_refresh_tokens_die_after_90_idle_days_only(
        wire: Wire, clock: VirtualClock) -> None:
    tokens = await wire.signed_in()
    await clock.advance(89 * DAY)
    renewed = await wire.refresh(tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    await clock.advance(89 * DAY)  # 178 days after sign-in, 89 after the last use
    again = (await wire.refresh(renewed.json()["refresh_token"]))
    assert again.status_code == 200, again.text
    await clock.advance(90 * DAY + 1)
    dead = (await wire.refresh(again.json()["refresh_token"])).json()
    assert dead["error"] == "invalid_grant"
    assert dead["error_description"].startswith("AADSTS700082: The refresh token has expired "
                                                "due to inactivity.")


async def test_entra_refresh_returns_a_new_token_and_keeps_the_old(wire: Wire) -> None:
    tokens = await wire.signed_in()
    first = await wire.refresh(tokens["refresh_token"])
    assert first.json()["refresh_token"] != tokens["refresh_token"]
    assert "ext_expires_in" in first.json()
    again = await wire.refresh(tokens["refresh_token"])  # the old one, once more
    assert again.status_code == 200, again.text


# ---- keycloak -------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["keycloak"])
async def test_keycloak_profile(idp: IdentityProvider, wire: Wire, ca_file: Path) -> None:
    flow = (await wire.device_code()).json()
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", flow["user_code"]), flow
    assert flow["verification_uri"] == f"{idp.issuer}/device"
    assert flow["verification_uri_complete"] == f"{idp.issuer}/device?user_code={flow['user_code']}"
    assert flow["expires_in"] == 600 and "message" not in flow
    pending = (await wire.poll(flow["device_code"])).json()
    assert pending == {"error": "authorization_pending",
                       "error_description": "The authorization request is still pending"}
    idp.approve(flow["user_code"], ALICE)
    tokens = (await wire.poll(flow["device_code"])).json()
    assert tokens["expires_in"] == 300 and "ext_expires_in" not in tokens
    second = (await wire.refresh(tokens["refresh_token"])).json()
    assert second["expires_in"] == 300
    reuse = (await wire.refresh(tokens["refresh_token"])).json()
    assert reuse == {"error": "invalid_grant",
                     "error_description": "Maximum allowed refresh token reuse exceeded"}
    family = (await wire.refresh(second["refresh_token"])).json()
    assert family["error"] == "invalid_grant"  # strict rotation: the whole grant is gone
    app = await msal_app(idp, ca_file)  # msal copes with Keycloak's shapes too
    started = await call(app.initiate_device_flow, scopes=[SMTP_SCOPE])
    assert started["verification_uri"] == f"{idp.issuer}/device"


@pytest.mark.parametrize("profile", ["keycloak"])
async def test_keycloak_refresh_token_follows_the_sso_idle_limit(
        wire: Wire, clock: VirtualClock) -> None:
    tokens = await wire.signed_in()
    await clock.advance(1801)
    dead = (await wire.refresh(tokens["refresh_token"])).json()
    assert dead == {"error": "invalid_grant", "error_description": "Token is not active"}


@pytest.mark.parametrize("profile", ["keycloak"])
async def test_keycloak_says_refresh_expires_in_and_ends_the_session_at_its_max(
        idp: IdentityProvider, wire: Wire, clock: VirtualClock) -> None:
    """Keycloak (TokenManager.java): every answer carries `refresh_expires_in`, the refresh
    token's `exp` less now; `exp` is the SSO Session Idle from now, never past the SSO Session
    Max from the sign-in, and no access token outlives that end either."""
    configured = await wire.control("POST", "config", {"session_max_lifetime": 2000})
    assert configured.status_code == 200, configured.text
    tokens = await wire.signed_in()
    assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (300, 1800)
    await clock.advance(1000)
    second = (await wire.refresh(tokens["refresh_token"])).json()
    assert (second["expires_in"], second["refresh_expires_in"]) == (300, 1000)  # the max
    await clock.advance(900)
    third = (await wire.refresh(second["refresh_token"])).json()
    assert (third["expires_in"], third["refresh_expires_in"]) == (100, 100)
    await clock.advance(100)
    over = (await wire.refresh(third["refresh_token"])).json()
    assert over == {"error": "invalid_grant", "error_description": "Token is not active"}


@pytest.mark.parametrize("profile", ["keycloak"])
async def test_keycloak_offline_tokens_say_no_expiry(idp: IdentityProvider, wire: Wire,
                                                     clock: VirtualClock) -> None:
    """An offline token (asked for with `offline_access`): `refresh_expires_in: 0`, it lives
    the offline session idle since its last use, no session max."""
    configured = await wire.control("POST", "config", {"offline_tokens": True,
                                                        "offline_session_idle": 7200})
    assert configured.status_code == 200, configured.text
    tokens = await wire.signed_in()
    assert tokens["refresh_expires_in"] == 0
    await clock.advance(7000)  # past the SSO idle (1800 s), within the offline idle
    second = (await wire.refresh(tokens["refresh_token"])).json()
    assert second["refresh_expires_in"] == 0 and second["expires_in"] == 300
    await clock.advance(7200)
    dead = (await wire.refresh(second["refresh_token"])).json()
    assert dead == {"error": "invalid_grant", "error_description": "Token is not active"}


@pytest.mark.parametrize("profile", ["entra", "generic"])
async def test_other_profiles_do_not_say_refresh_expires_in(wire: Wire, clock: VirtualClock) -> None:
    tokens = await wire.signed_in()
    await clock.advance(60)
    renewed = (await wire.refresh(tokens["refresh_token"])).json()
    assert "refresh_expires_in" not in tokens and "refresh_expires_in" not in renewed


# ---- google ---------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["google"])
async def test_google_device_flow_refuses_the_mail_scope(idp: IdentityProvider, wire: Wire) -> None:
    refused = await wire.device_code()
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_scope",
                              "error_description": f"Invalid device flow scope: {SMTP_SCOPE}"}
    flow = (await wire.device_code("openid profile")).json()
    assert flow["verification_url"] == f"{idp.issuer}/device"  # Google's field name
    assert "verification_uri" not in flow and flow["expires_in"] == 1800
    pending = await wire.poll(flow["device_code"])  # Google's status for pending: 428
    assert pending.status_code == 428
    assert pending.json() == {"error": "authorization_pending",
                              "error_description": "Precondition Required"}


@pytest.mark.parametrize("profile", ["google"])
async def test_google_browser_sign_in_with_pkce_grants_the_mail_scope(
        idp: IdentityProvider, wire: Wire) -> None:
    code, verifier = await wire.authorization_code()
    wrong = await wire.redeem(code, verifier[:-4] + "AAAA")
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    answer = await wire.redeem(code, verifier)
    tokens = answer.json()
    assert answer.status_code == 200, tokens
    assert SMTP_SCOPE in tokens["scope"].split() and tokens["expires_in"] == 3599
    assert idp.verifier().verify(tokens["access_token"], SMTP_SCOPE) == ALICE
    again = (await wire.redeem(code, verifier)).json()
    assert again["error"] == "invalid_grant"  # a code is redeemed once
    refreshed = (await wire.refresh(tokens["refresh_token"])).json()
    assert "access_token" in refreshed and "refresh_token" not in refreshed  # no rotation
    assert "access_token" in (await wire.refresh(tokens["refresh_token"])).json()


@pytest.mark.parametrize("profile", ["google"])
async def test_google_sign_in_through_msal_auth_code_flow(
        idp: IdentityProvider, wire: Wire, ca_file: Path) -> None:
    app = await msal_app(idp, ca_file)
    flow = await call(app.initiate_auth_code_flow, [SMTP_SCOPE], redirect_uri=REDIRECT_URI)
    params = query_of(flow["auth_uri"])
    assert params["code_challenge_method"] == "S256"
    answer = await call(wire.http.post, idp.authorize_url, timeout=10, allow_redirects=False,
                        data={**params, "username": ALICE, "password": PASSWORDS[ALICE],
                              "action": "allow"})
    assert answer.status_code == 302, answer.text
    result = await call(app.acquire_token_by_auth_code_flow, flow,
                        query_of(answer.headers["Location"]))
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert idp.verifier().verify(result["access_token"], SMTP_SCOPE) == ALICE


@pytest.mark.parametrize("profile", ["google"])
async def test_authorize_page_refuses_what_it_must(idp: IdentityProvider, wire: Wire) -> None:
    base = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": POP_SCOPE, "state": "xyz",
            "code_challenge": pkce_challenge("v" * 50), "code_challenge_method": "S256"}

    async def get(**change: str) -> Any:
        return await call(wire.http.get, idp.authorize_url, timeout=10, allow_redirects=False,
                          params={k: v for k, v in {**base, **change}.items() if v})

    evil = await get(redirect_uri="https://evil.example/cb")
    assert evil.status_code == 400 and "Location" not in evil.headers  # never redirected
    assert "loopback" in evil.text
    unknown = await get(client_id="someone-else")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    no_pkce = await get(code_challenge="", code_challenge_method="")
    assert no_pkce.status_code == 302
    assert query_of(no_pkce.headers["Location"])["error"] == "invalid_request"
    plain = await get(code_challenge_method="plain")
    assert query_of(plain.headers["Location"])["error"] == "invalid_request"
    escaped = await get(state='"><script>x</script>')
    assert "<script>" not in escaped.text
    denied = await call(wire.http.post, idp.authorize_url, timeout=10, allow_redirects=False,
                        data={**base, "action": "deny"})
    refusal = query_of(denied.headers["Location"])
    assert (refusal["error"], refusal["state"]) == ("access_denied", "xyz")
    bad = await call(wire.http.post, idp.authorize_url, timeout=10, allow_redirects=False,
                     data={**base, "username": ALICE, "password": "nope", "action": "allow"})
    assert bad.status_code == 400 and "incorrect" in bad.text


@pytest.mark.parametrize(("uri", "allowed"), [
    ("https://127.0.0.1:8443/oauth/callback", True),
    ("http://127.0.0.1:55123/cb", True),
    ("https://localhost/cb", True),
    ("https://[::1]:9000/x", True),
    ("https://192.168.1.20/cb", False),
    ("https://evil.example/cb", False),
    ("https://127.0.0.1.evil.example/cb", False),
    ("https://user@127.0.0.1/cb", False),
    ("https://127.0.0.1/cb#frag", False),
    ("ftp://127.0.0.1/cb", False),
    ("https://127.0.0.1:99999/cb", False),
])
def test_redirect_uri_rule(uri: str, allowed: bool) -> None:
    assert redirect_uri_allowed(uri) is allowed
    assert redirect_uri_allowed("https://192.168.1.20/cb", ("https://192.168.1.20/cb",))


# ---- generic --------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["generic"])
async def test_generic_profile_sends_plain_rfc_answers(idp: IdentityProvider, wire: Wire) -> None:
    flow = (await wire.device_code()).json()
    assert set(flow) == {"device_code", "user_code", "verification_uri",
                         "verification_uri_complete", "expires_in", "interval"}
    pending = (await wire.poll(flow["device_code"])).json()
    assert set(pending) == {"error", "error_description"}
    idp.approve(flow["user_code"], ALICE)
    tokens = (await wire.poll(flow["device_code"])).json()
    assert set(tokens) == {"token_type", "scope", "expires_in", "access_token",
                           "refresh_token", "id_token"}


# ---- runtime configuration ------------------------------------------------------------------
async def test_config_shows_and_changes_knobs_at_run_time(idp: IdentityProvider, wire: Wire) -> None:
    shown = (await wire.control("GET", "config")).json()
    assert shown["profile"] == "entra" and shown["knobs"]["access_token_lifetime"] is None
    assert shown["knobs"]["refresh_rotation"] == "keep_old"
    tokens = await wire.signed_in()
    changed = await wire.control("POST", "config", {"access_token_lifetime": 30})
    assert changed.status_code == 200 and changed.json()["knobs"]["access_token_lifetime"] == 30
    assert (await wire.refresh(tokens["refresh_token"])).json()["expires_in"] == 30
    switched = (await wire.control("POST", "config", {"profile": "keycloak"})).json()
    assert switched["profile"] == "keycloak"
    assert switched["knobs"]["access_token_lifetime"] == 300
    flow = (await wire.device_code()).json()
    assert "verification_uri_complete" in flow and "message" not in flow
    back = (await wire.control("POST", "config",
                               {"profile": "entra", "access_token_lifetime": 60})).json()
    assert back["profile"] == "entra" and back["knobs"]["access_token_lifetime"] == 60


@pytest.mark.parametrize(("body", "words"), [
    ({"bogus": 1}, "unknown knob 'bogus'"),
    ({"access_token_lifetime": "soon"}, "access_token_lifetime must be a number of seconds"),
    ({"access_token_lifetime": -5}, "must be > 0"),
    ({"profile": "okta"}, "profiles: entra, keycloak, google, generic"),
    ({"refresh_rotation": "sometimes"}, '"none", "keep_old" or "strict"'),
    ({"access_token_lifetime": 30, "poll_interval": True}, "poll_interval must be"),
    ({}, "send the knobs to change"),
])
async def test_config_refuses_bad_knobs_and_applies_nothing(
        wire: Wire, body: dict[str, Any], words: str) -> None:
    answer = await wire.control("POST", "config", body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request" and words in answer.json()["message"]
    assert (await wire.control("GET", "config")).json()["knobs"]["access_token_lifetime"] is None


async def test_testbed_process_takes_a_profile_and_knobs(tmp_path: Path) -> None:
    """``mfp-sim testbed --idp-profile keycloak --idp-knob access_token_lifetime=30``."""
    import sys

    exe = str(Path(sys.executable).parent / "mfp-sim")
    proc = await asyncio.create_subprocess_exec(
        exe, "testbed", "--state", str(tmp_path), "--idp-profile", "keycloak",
        "--idp-knob", "access_token_lifetime=30", "--mail-certificate", "wrong_host",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while (line := await proc.stdout.readline()) and line.strip() != b"ready=1":
                pass
        info = json.loads((tmp_path / "testbed.json").read_text())
        assert info["idp_profile"] == "keycloak" and info["mail_certificate"] == "wrong_host"
        shown = await call(session(Path(info["ca_file"])).get, f"{info['control_url']}/config",
                           timeout=10)
        assert shown.json()["knobs"]["access_token_lifetime"] == 30
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=15)
    bad = await asyncio.create_subprocess_exec(
        exe, "testbed", "--state", str(tmp_path / "b"), "--idp-knob", "lifetime_seed=x",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(bad.communicate(), timeout=30)
    assert bad.returncode == 2 and b"lifetime_seed must be a whole number" in err
