"""Sign in with Google through the device's web page, over real HTTPS (requests as the browser).

The bench runs its `google` profile: the device flow refuses the mail scope, the
authorization-code flow with PKCE grants it. The device's `local` provider is then marked
"sign in through the web page" (testbed.json's profile), as the built-in `google` is. Each
test goes page → bench sign-in → back, or stops on the way to check a refusal: denied, a
reply that matches no sign-in (forged, replayed), an expired code, a reply come back to
another address, another session, another account. The happy path's token is then refreshed
on the virtual clock like any other. The same path in a real Chromium is in
test_web_browser.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import TokenChanged
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_users import find_user
from mfp_sim.tools.idp import PROFILES
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, sh, wait_for
from .web_helpers import Client, csrf_of, start_web

GOOGLE = replace(PROFILES["google"], access_token_lifetime=3600.0)


@pytest.fixture
async def google(tmp_path: Path, clock: VirtualClock):
    async with Testbed(tmp_path / "bench", clock, policy=GOOGLE) as testbed:
        yield testbed


@pytest.fixture
async def device(google: Testbed, tmp_path: Path):
    dev = google.make_device(tmp_path / "device")
    await dev.start()
    await sh(dev, f"set smtp.account {ALICE}")
    yield dev
    await dev.stop()


@pytest.fixture
async def web(device: Device, google: Testbed):
    server = await start_web(device, google)
    yield server
    await server.stop()


async def admin_of(web, google: Testbed) -> Client:
    client = Client(web.url, str(google.ca_file), allow_redirects=False)
    login = await client.login()
    assert login.status_code == 303 and login.headers["Location"] == "/status"
    return client


@pytest.fixture
async def admin(web, google: Testbed) -> Client:
    return await admin_of(web, google)


def link_of(page: str) -> str:
    match = re.search(r'id="leaving-link"[^>]*|href="([^"]+)"[^>]*id="leaving-link"', page)
    assert match and match.group(1), page[-2000:]
    return unescape(match.group(1))


async def start_sign_in(admin: Client, page: str = "smtp") -> str:
    """[Sign in with …] → [OK]: the provider's address the page sends the browser to."""
    shown = await admin.get(f"/settings/{page}")
    question = await admin.post(f"/token/{page}/sign-in-confirm", {"csrf": csrf_of(shown.text)})
    assert question.status_code == 200
    going = await admin.post(f"/token/{page}/sign-in", {"csrf": csrf_of(question.text)})
    assert going.status_code == 200, going.text[-1500:]
    address = link_of(going.text)
    assert f'content="0;url={address}"' in unescape(going.text)  # goes on by itself
    return address


async def at_bench(admin: Client, address: str, user: str = ALICE, action: str = "allow") -> str:
    """The person on the bench's sign-in page; returns where the bench sends the browser."""
    form = await admin.get_absolute(address)
    assert form.status_code == 200 and "Sign in" in form.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(address).query).items()}
    user_record = find_user(user)
    assert user_record is not None
    answer = await admin.post_absolute(address.split("?")[0], {
        **params, "username": user, "password": user_record.password, "action": action})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def cookies_of(client: Client) -> str:
    """The session cookie by hand: requests looks cookies up by a `Host` header when one is set."""
    return "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)


async def come_back(admin: Client, location: str, **headers: str) -> Any:
    """The browser back at the device: the callback (without the session cookie, as a
    browser sends a SameSite=Strict cookie after a cross-site redirect), then the finish."""
    bare = Client(admin.base, admin.http.verify, allow_redirects=False)
    callback = await bare.get_absolute(location)
    assert callback.status_code == 200, callback.text[-1500:]
    finish = link_of(callback.text)
    assert finish.startswith("/oauth/finish?")
    return await admin.get(finish, headers=headers)


async def test_sign_in_with_google_retrieves_a_token_that_is_refreshed(
        admin: Client, device: Device, google: Testbed, clock: VirtualClock):
    page = (await admin.get("/settings/smtp")).text
    assert "Sign in with Google (bench)" in page and 'id="get-token"' not in page
    events = device.api.subscribe(TokenChanged)
    address = await start_sign_in(admin)
    assert address.startswith(google.idp.authorize_url + "?")
    query = parse_qs(urlsplit(address).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["redirect_uri"] == [f"{admin.base}/oauth/callback"]
    assert query["login_hint"] == [ALICE]
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED  # nothing until it is back
    location = await at_bench(admin, address)
    assert location.startswith(f"{admin.base}/oauth/callback?code=")
    done = await come_back(admin, location)
    assert done.status_code == 303 and done.headers["Location"] == "/settings/smtp#token"
    store = device.stores["smtp"]
    assert store.state is TokenState.RETRIEVED
    shown = (await admin.get("/settings/smtp")).text
    assert "Signed in: the token is retrieved." in shown and ">Retrieved<" in shown
    assert (await sh(device, "token smtp status"))["state"] == "retrieved"
    seen = []
    while (event := events.get_nowait()) is not None:
        seen.append(event)
    assert any(isinstance(e, TokenChanged) and e.store == "smtp"
               and e.state is TokenState.RETRIEVED for e in seen)
    assert google.stats.token_requests("authorization_code", ALICE) == 1
    first = (await store.access_token()).access_token
    assert google.idp.verifier().verify(first, "SMTP.Send") == ALICE
    # refreshed like any other token: on the device clock, before it expires
    await clock.advance(3600)
    await wait_for(lambda: google.stats.token_requests("refresh_token", ALICE) >= 1,
                   what="the refresh")
    await wait_for(lambda: store.status().reason == "" and store.state is TokenState.RETRIEVED)
    second = (await store.access_token()).access_token
    assert second != first and google.idp.verifier().verify(second, "SMTP.Send") == ALICE
    # and it survives a power cycle, as the device flow's does
    await device.power_cycle()
    assert device.stores["smtp"].state is TokenState.RETRIEVED


async def test_the_console_and_the_panel_send_the_person_to_the_web_page(device: Device, web,
                                                                          google: Testbed):
    reply = await sh(device, "token smtp get")
    assert not reply["_ok"]
    assert reply["_err"].startswith("web_sign_in: Google (bench) does not give devices")
    assert web.url in reply["_err"] and "Sign in with Google (bench)" in reply["_err"]
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    assert google.stats.snapshot()["idp"].get("device_authorization", {}).get("total", 0) == 0


async def test_a_denied_sign_in_changes_nothing_and_says_why(admin: Client, device: Device):
    location = await at_bench(admin, await start_sign_in(admin), action="deny")
    assert "error=access_denied" in location
    done = await come_back(admin, location)
    assert done.headers["Location"] == "/settings/smtp#token"
    page = (await admin.get("/settings/smtp")).text
    assert "Sign-in failed: the sign-in was declined at Google (bench) (" in page
    assert "(access_denied)). Nothing changed." in page
    store = device.stores["smtp"]
    assert store.state is TokenState.NOT_RETRIEVED and "declined" in store.status().reason


async def test_a_reply_that_matches_no_sign_in_is_ignored(admin: Client, device: Device):
    forged = await admin.get("/oauth/finish?code=abc&state=made-up")
    assert forged.headers["Location"] == "/status"
    page = (await admin.get("/status")).text
    assert "does not match a sign-in the device is waiting for" in page
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    # a real reply, taken once: the same reply again finds nothing and changes nothing
    location = await at_bench(admin, await start_sign_in(admin))
    assert (await come_back(admin, location)).headers["Location"] == "/settings/smtp#token"
    token = device.stores["smtp"].status()
    replay = await come_back(admin, location)
    assert replay.headers["Location"] == "/status"
    assert "already used" in (await admin.get("/status")).text
    assert device.stores["smtp"].status() == token


async def test_an_expired_code_is_refused_by_the_provider(admin: Client, device: Device,
                                                          google: Testbed, clock: VirtualClock):
    google.idp.configure({"auth_code_lifetime": 60})
    location = await at_bench(admin, await start_sign_in(admin))
    await clock.advance(61)
    done = await come_back(admin, location)
    assert done.headers["Location"] == "/settings/smtp#token"
    page = (await admin.get("/settings/smtp")).text
    assert ("did not accept the code (Malformed auth code. (invalid_grant)); an authorization "
            "code is valid for a few minutes and only once") in page
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_a_sign_in_left_too_long_is_forgotten(admin: Client, device: Device,
                                                    clock: VirtualClock):
    location = await at_bench(admin, await start_sign_in(admin))
    await clock.advance(301)
    await admin.get("/status")  # the administrator's session is kept alive meanwhile
    await clock.advance(300)
    done = await come_back(admin, location)
    assert done.headers["Location"] == "/status"
    assert "expired after 10 min" in (await admin.get("/status")).text
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_a_reply_come_back_to_another_address_is_refused(admin: Client, device: Device,
                                                               web):
    location = await at_bench(admin, await start_sign_in(admin))
    done = await come_back(admin, location, Host=f"localhost:{web.port}",
                           Cookie=cookies_of(admin))
    assert done.headers["Location"] == "/settings/smtp#token"
    page = (await admin.get("/settings/smtp")).text
    assert (f"came back to https://localhost:{web.port}/oauth/callback, but it was started for "
            f"https://127.0.0.1:{web.port}/oauth/callback") in page
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    stranger = await admin.get("/oauth/finish?state=x", headers={
        "Host": f"evil.test:{web.port}", "Cookie": cookies_of(admin)})
    assert stranger.headers["Location"] == "/status"
    assert "not one of the device's names" in unescape((await admin.get("/status")).text)


async def test_a_reply_in_another_session_is_refused_until_its_own_comes(
        admin: Client, device: Device, web, google: Testbed):
    location = await at_bench(admin, await start_sign_in(admin))
    other = await admin_of(web, google)
    assert (await come_back(other, location)).headers["Location"] == "/settings/smtp#token"
    assert "started in another session" in (await other.get("/settings/smtp")).text
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    await come_back(admin, location)
    assert device.stores["smtp"].state is TokenState.RETRIEVED


async def test_signing_in_as_another_account_is_refused(admin: Client, device: Device):
    location = await at_bench(admin, await start_sign_in(admin), user=BOB)
    await come_back(admin, location)
    page = (await admin.get("/settings/smtp")).text
    assert f"Signed in as {BOB}, but the account name is {ALICE}" in page
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_sign_in_while_a_token_is_held_is_refused_and_clear_works(admin: Client,
                                                                         device: Device):
    await come_back(admin, await at_bench(admin, await start_sign_in(admin)))
    assert device.stores["smtp"].state is TokenState.RETRIEVED
    shown = await admin.get("/settings/smtp")
    question = await admin.post("/token/smtp/sign-in-confirm", {"csrf": csrf_of(shown.text)})
    again = await admin.post("/token/smtp/sign-in", {"csrf": csrf_of(question.text)})
    assert again.headers["Location"] == "/settings/smtp#token"
    assert "a token is already retrieved; Clear it first" in (
        await admin.get("/settings/smtp")).text
    await sh(device, "token smtp clear")
    await come_back(admin, await at_bench(admin, await start_sign_in(admin)))
    assert device.stores["smtp"].state is TokenState.RETRIEVED


async def test_the_sign_in_forms_need_the_anti_forgery_token(admin: Client, device: Device):
    for action in ("/token/smtp/sign-in-confirm", "/token/smtp/sign-in"):
        refused = await admin.post(action, {"csrf": "wrong"})
        assert refused.status_code == 403
    callback = await admin.get("/oauth/callback?code=<script>&state=x")
    assert "<script>" not in callback.text and callback.headers["Cache-Control"] == "no-store"


async def test_tokens_from_another_issuer_are_not_taken(admin: Client, device: Device,
                                                        google: Testbed):
    """The provider answers the code with an ID token issued by another tenant: the device
    takes nothing (OpenID Connect Core §3.1.3.7), as for a device-code flow."""
    google.board.arm("wrong_issuer", phases=("idp.auth_code",))
    location = await at_bench(admin, await start_sign_in(admin))
    done = await come_back(admin, location)
    assert done.headers["Location"] == "/settings/smtp#token"
    page = unescape((await admin.get("/settings/smtp")).text)
    assert "Sign-in failed" in page and "(wrong_issuer)" in page, page[-3000:]
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
