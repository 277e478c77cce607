"""Token stores against the real bench identity provider over HTTPS, on the virtual clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mfp_sim.firmware.errors import TokenUnavailable
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, obtain_token, sh, start_flow, wait_for


async def test_get_token_then_approve_reaches_retrieved(device, bench, clock):
    code = await start_flow(device)
    status = await sh(device, "token smtp status")
    assert status["state"] == "waiting" and status["label"] == "Waiting for authorization"
    assert status["user_code"] == code and status["verification_uri"] == bench.idp.verification_uri
    assert status["expires_in"] == "900"
    bench.idp.approve(code, ALICE)
    await clock.advance(5)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.RETRIEVED)
    status = await sh(device, "token smtp status")
    assert (status["state"], status["label"], status["account"]) == ("retrieved", "Retrieved", ALICE)
    assert status["access_expires_in"] == "3600"


async def test_pending_keeps_waiting_and_polls_on_the_interval(device, bench, clock):
    code = await start_flow(device)
    await clock.advance(4)
    assert bench.idp.pending_codes() == [code]
    assert next_request_in(device) == 1
    await clock.advance(1)  # first poll: authorization_pending
    await wait_for(lambda: next_request_in(device) == 5, what="the next poll planned")
    assert bench.idp.stats.token_requests("device_code") == 1
    status = await sh(device, "token smtp status")
    assert (status["state"], status["expires_in"], status["next_request_in"]) == ("waiting", "895", "5")


async def test_get_token_while_waiting_shows_the_same_code(device):
    code = await start_flow(device)
    again = await sh(device, "token smtp get")
    assert again["_ok"] and again["user_code"] == code


async def test_slow_down_adds_five_seconds_from_then_on(device, bench, clock):
    code = await start_flow(device)
    bench.idp.slow_down(1)
    await clock.advance(5)  # poll 1 → slow_down: interval becomes 10 s
    await wait_for(lambda: device.api.token_status("smtp").poll_interval == 10, what="slow_down")
    assert (await sh(device, "token smtp status"))["poll_interval"] == "10"
    assert next_request_in(device) == 10
    bench.idp.approve(code, ALICE)
    await clock.advance(9)  # 9 s after the slow_down: too early for the next poll
    assert next_request_in(device) == 1 and device.stores["smtp"].state is TokenState.WAITING
    assert bench.idp.stats.token_requests("device_code") == 1
    await clock.advance(1)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.RETRIEVED)


async def test_declined_ends_in_not_retrieved_with_the_reason(device, bench, clock):
    code = await start_flow(device)
    bench.idp.deny(code)
    await clock.advance(5)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.NOT_RETRIEVED)
    status = await sh(device, "token smtp status")
    assert "declined" in status["reason"] and "authorization_declined" in status["reason"]


async def test_code_expiry_ends_in_not_retrieved(device, clock):
    await start_flow(device)
    await clock.advance(901)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.NOT_RETRIEVED)
    assert "expired_token" in (await sh(device, "token smtp status"))["reason"]


async def test_signing_in_as_another_user_is_not_accepted(device, bench, clock):
    code = await start_flow(device, account=ALICE)
    bench.idp.approve(code, BOB)
    await clock.advance(5)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.NOT_RETRIEVED)
    reason = (await sh(device, "token smtp status"))["reason"]
    assert f"Signed in as {BOB}" in reason and ALICE in reason


def next_request_in(device, store: str = "smtp") -> float:
    status = device.api.token_status(store)
    assert status.next_request_at is not None
    return status.next_request_at - device.clock.now()


def expires_in(device, store: str = "smtp") -> float:
    status = device.api.token_status(store)
    assert status.access_expires_at is not None
    return status.access_expires_at - device.clock.now()


async def test_refresh_happens_before_expiry_on_the_device_clock(device, bench, clock):
    await obtain_token(device, bench, clock)
    first = (await device.stores["smtp"].access_token()).access_token
    await clock.advance(3600 - 300 - 1)
    assert expires_in(device) == 301 and next_request_in(device) == 1  # not yet due
    assert (await device.stores["smtp"].access_token()).access_token == first
    await clock.advance(1)
    await wait_for(lambda: expires_in(device) == 3600, what="refresh")
    status = await sh(device, "token smtp status")
    assert status["state"] == "retrieved" and status["access_expires_in"] == "3600"
    assert (await device.stores["smtp"].access_token()).access_token != first


async def test_access_token_refreshes_on_demand_when_due(device, bench, clock):
    await obtain_token(device, bench, clock)
    store = device.stores["smtp"]
    first = (await store.access_token()).access_token
    await store.stop()  # no background refresh: on demand must cope
    await clock.advance(3500)
    bearer = await store.access_token()
    assert bearer.access_token != first and bearer.account == ALICE
    assert first not in repr(bearer) and bearer.access_token not in repr(bearer)


@pytest.mark.parametrize("action, words", [
    ("revoke", "revoked"),
    ("disable", "AADSTS50057"),
])
async def test_refresh_refused_makes_the_token_invalid(device, bench, clock, action, words):
    await obtain_token(device, bench, clock)
    getattr(bench.idp, action)(ALICE)
    await clock.advance(3400)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.INVALID)
    status = await sh(device, "token smtp status")
    assert status["label"] == "Invalid" and words in status["reason"] and "invalid_grant" in status["reason"]
    assert "delete the token and obtain it again" in status["reason"]
    with pytest.raises(TokenUnavailable, match="Token update failed"):
        await device.stores["smtp"].access_token()


async def test_invalid_then_get_token_starts_again(device, bench, clock):
    await obtain_token(device, bench, clock)
    bench.idp.revoke(ALICE)
    await clock.advance(3400)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.INVALID)
    reply = await sh(device, "token smtp get")
    assert reply["_ok"] and device.stores["smtp"].state is TokenState.WAITING


async def test_get_token_when_retrieved_is_refused_with_advice(device, bench, clock):
    await obtain_token(device, bench, clock)
    reply = await sh(device, "token smtp get")
    assert not reply["_ok"] and "Clear it first" in reply["_err"]


async def test_changing_the_account_invalidates_a_held_token(device, bench, clock):
    await obtain_token(device, bench, clock)
    assert (await sh(device, f"set smtp.account {BOB}"))["_ok"]
    status = await sh(device, "token smtp status")
    assert status["state"] == "invalid"
    assert f"from {ALICE} to {BOB}" in status["reason"] and "clear the token" in status["reason"]
    with pytest.raises(TokenUnavailable):
        await device.stores["smtp"].access_token()


async def test_changing_the_account_while_waiting_cancels_the_flow(device, bench, clock):
    code = await start_flow(device)
    await sh(device, f"set smtp.account {BOB}")
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    assert device.api.token_status("smtp").next_request_at is None  # nothing more to ask
    bench.idp.approve(code, ALICE)
    await clock.advance(10)
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED
    assert bench.idp.stats.token_requests("device_code") == 0


async def test_clear_from_any_state_returns_to_not_retrieved(device, bench, clock):
    code = await start_flow(device)
    assert (await sh(device, "token smtp clear"))["state"] == "not_retrieved"
    assert device.api.token_status("smtp").next_request_at is None  # no poll planned any more
    bench.idp.approve(code, ALICE)
    await clock.advance(10)
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED  # the cancelled flow stays cancelled
    assert bench.idp.stats.token_requests("device_code") == 0
    await obtain_token(device, bench, clock)
    assert (await sh(device, "token smtp clear"))["label"] == "Not retrieved"


async def test_smtp_functions_share_one_store(device, bench, clock):
    code = await start_flow(device)
    assert (await sh(device, "token ifax_send status"))["user_code"] == code
    bench.idp.approve(code, ALICE)
    await clock.advance(5)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.RETRIEVED)
    for function in ("scan_to_email", "ifax_send", "email_alert", "status_notice"):
        assert (await sh(device, f"token {function} status"))["state"] == "retrieved"
    await sh(device, "token email_alert clear")
    for function in ("scan_to_email", "ifax_send", "status_notice", "smtp"):
        assert (await sh(device, f"token {function} status"))["state"] == "not_retrieved"


async def test_pop_stores_are_independent(device, bench, clock):
    await obtain_token(device, bench, clock, store="pop.ifax", account=BOB)
    assert (await sh(device, "token pop.ifax status"))["state"] == "retrieved"
    assert (await sh(device, "token pop.emailprint status"))["state"] == "not_retrieved"
    assert (await sh(device, "token smtp status"))["state"] == "not_retrieved"
    with pytest.raises(TokenUnavailable, match="Not retrieved"):
        await device.stores["pop.emailprint"].access_token()


async def test_pop_token_is_issued_for_pop(device, bench, clock):
    await obtain_token(device, bench, clock, store="pop.ifax", account=BOB)
    bearer = await device.stores["pop.ifax"].access_token()
    from mfp_sim.tools.idp import POP_SCOPE, SMTP_SCOPE, TokenRejected

    assert bench.idp.verifier().verify(bearer.access_token, POP_SCOPE) == BOB
    with pytest.raises(TokenRejected):
        bench.idp.verifier().verify(bearer.access_token, SMTP_SCOPE)


async def test_google_policy_refusal_is_shown_clearly(tmp_path, clock, make_device):
    """A Google-like provider not marked "sign in through the web page" (a providers file
    without `sign_in`): the device tries the device flow and shows Google's refusal."""
    from dataclasses import replace

    from mfp_sim.firmware.providers import ProviderRegistry
    from mfp_sim.tools.idp import IdpPolicy

    async with Testbed(tmp_path / "google", clock, policy=IdpPolicy.google()) as google:
        registry = ProviderRegistry()
        assert google.provider().sign_in == "web_page"  # what testbed.json's profile says
        registry.add(replace(google.provider(), sign_in="device_code"))
        device = await make_device("g", providers=registry)
        device.trust.add(google.ca.ca_pem)
        await sh(device, f"set smtp.account {ALICE}")
        reply = await sh(device, "token smtp get")
        assert not reply["_ok"]
        assert reply["_err"].startswith("invalid_scope")
        assert "does not grant mail access to devices" in reply["_err"]
        status = await sh(device, "token smtp status")
        assert status["state"] == "not_retrieved" and "invalid_scope" in status["reason"]


async def test_untrusted_provider_certificate_is_told_apart(make_device):
    device = await make_device("untrusting", trust_bench=False)
    await sh(device, "set smtp.account alice@example.test")
    reply = await sh(device, "token smtp get")
    assert not reply["_ok"] and "provider_unreachable" in reply["_err"] and "TLS" in reply["_err"]
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_provider_down_is_reported(device, bench):
    await bench.idp.stop()
    await sh(device, "set smtp.account alice@example.test")
    reply = await sh(device, "token smtp get")
    assert not reply["_ok"] and "connection refused" in reply["_err"]


async def test_states_survive_a_restart(tmp_path, make_device, bench, clock):
    device = await make_device("a")
    await obtain_token(device, bench, clock)
    code = await start_flow(device, store="pop.ifax", account=BOB)
    await device.stop()
    again = await make_device("a-again", nvram_dir=tmp_path / "a")
    assert again.stores["smtp"].state is TokenState.RETRIEVED
    assert again.stores["pop.ifax"].state is TokenState.WAITING
    assert (await sh(again, "token pop.ifax status"))["user_code"] == code
    bench.idp.approve(code, BOB)
    await clock.advance(5)  # the resumed flow polls again
    await wait_for(lambda: again.stores["pop.ifax"].state is TokenState.RETRIEVED)
    assert (await again.stores["smtp"].access_token()).account == ALICE


async def test_waiting_flow_whose_code_expired_while_off_returns_to_not_retrieved(tmp_path, make_device, clock):
    device = await make_device("b")
    await start_flow(device)
    await device.stop()
    await clock.advance(1000)
    again = await make_device("b-again", nvram_dir=tmp_path / "b")
    status = await sh(again, "token smtp status")
    assert status["state"] == "not_retrieved" and "expired while the device was off" in status["reason"]


async def test_tokens_never_appear_in_nvram_shell_or_logs(device, bench, clock, caplog):
    caplog.set_level(logging.DEBUG)
    await obtain_token(device, bench, clock)
    store = device.stores["smtp"]
    token = (await store.access_token()).access_token
    await sh(device, "token smtp check")  # a rotated refresh token, and a second access token
    refresh_tokens = list(bench.idp.state.refresh_tokens)  # every one the provider issued
    tokens = [token, (await store.access_token()).access_token]
    assert token and len(refresh_tokens) == 2 and tokens[0] != tokens[1]
    shown = "\n".join(await device.shell.execute("token smtp status") + await device.shell.execute("settings"))
    raw = Path(device.nvram.path).read_bytes()
    for secret in [*tokens, *refresh_tokens]:
        for sample in (secret, secret[20:60]):
            assert sample.encode() not in raw
            assert sample not in shown
            assert sample not in caplog.text


async def test_a_damaged_token_record_is_reported_not_used(tmp_path, make_device, bench, clock):
    device = await make_device("c")
    await obtain_token(device, bench, clock)
    await device.stop()
    (tmp_path / "c.keystore" / "device.key").write_bytes(bytes(32))  # another key: records no longer open
    again = await make_device("c2", nvram_dir=tmp_path / "c")
    status = await sh(again, "token smtp status")
    assert status["state"] == "not_retrieved" and "could not be read" in status["reason"]
