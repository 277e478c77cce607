"""Refresh schedule, revocation, `token check`, clock changes and reasons, over HTTPS on the virtual clock.

The pure rules are in test_token_policies.py; here the whole device does it against the bench
identity provider, which counts what it was asked (every refresh issues a new refresh token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import TokenChanged
from mfp_sim.firmware.mail.errors import TOKEN_UPDATE_FAILED
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.idp import PROFILES
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, obtain_token, sh, wait_for
from .mail_helpers import setup_smtp, wait_job


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_request_in(device: Device, store: str = "smtp") -> float:
    status = device.api.token_status(store)
    assert status.next_request_at is not None
    return status.next_request_at - device.clock.now()


def expires_in(device: Device, store: str = "smtp") -> float:
    status = device.api.token_status(store)
    assert status.access_expires_at is not None
    return status.access_expires_at - device.clock.now()


class Refreshes:
    """Counts the refreshes a device reports (TokenChanged with refreshed=yes)."""

    def __init__(self, device: Device) -> None:
        self.count = 0
        device.api.listen(self._heard, TokenChanged)

    def _heard(self, event: TokenChanged) -> None:
        self.count += event.refreshed


@asynccontextmanager
async def provider_with(tmp_path: Path, clock: VirtualClock,
                        make_device: Callable[..., Awaitable[Device]], profile: str,
                        **policy: float) -> AsyncIterator[tuple[Testbed, Device]]:
    """A bench with another identity-provider profile or lifetime, and a device that uses it."""
    async with Testbed(tmp_path / "idp", clock, policy=replace(PROFILES[profile], **policy),
                       mail=False) as bench:
        registry = ProviderRegistry()
        registry.add(bench.provider())
        device = await make_device("short", providers=registry)
        device.trust.add(bench.ca.ca_pem)
        yield bench, device


@pytest.mark.parametrize("profile, lifetime, period", [
    ("entra", 30, 15), ("keycloak", 300, 150), ("keycloak", 30, 15)])
async def test_a_short_lived_token_is_renewed_at_half_its_life_never_in_a_loop(
        tmp_path, clock, make_device, profile, lifetime, period):
    """Keycloak's default 300 s lifetime, and its strict rotation (a spent refresh token sent
    again would end the grant): renewed at half its life, each refresh token used once."""
    async with provider_with(tmp_path, clock, make_device, profile,
                             access_token_lifetime=lifetime) as (bench, device):
        await obtain_token(device, bench, clock)
        seen = Refreshes(device)
        for n in range(1, 9):
            assert next_request_in(device) == period
            await clock.advance(period - 1)
            assert seen.count == n - 1 and next_request_in(device) == 1, f"early ({n})"
            await clock.advance(1)
            await wait_for(lambda n=n: seen.count == n, what=f"refresh {n}")
            await wait_for(lambda: next_request_in(device) == period, what="the next one planned")
            assert expires_in(device) == lifetime
        assert seen.count == 8
        assert bench.idp.stats.token_requests("refresh_token") == 8  # what the provider saw
        assert device.api.token_status("smtp").state is TokenState.RETRIEVED


async def test_token_check_renews_now_and_reports(device, bench, clock):
    await obtain_token(device, bench, clock)
    await clock.advance(100)
    reply = await sh(device, "token smtp check")
    assert reply["_ok"] and reply["refreshed"] == "yes"
    assert (reply["state"], reply["label"], reply["access_expires_in"]) == ("retrieved", "Retrieved", "3600")
    bench.idp.revoke(ALICE)
    reply = await sh(device, "token smtp check")
    assert not reply["_ok"] and reply["refreshed"] == "no"
    assert (reply["state"], reply["label"]) == ("invalid", "Invalid")
    reason = reply["reason"]
    assert reason.count("invalid_grant") == 1 and reason.count("Token update failed") == 1
    assert reason.endswith("Please delete the token and obtain it again")
    assert reply["_err"].startswith("the token was not renewed: Token update failed")
    reply = await sh(device, "token pop.ifax check")
    assert not reply["_ok"] and "Not retrieved" in reply["_err"] and "Get Token" in reply["_err"]


async def test_a_revoked_grant_is_noticed_at_the_first_refusal_and_said_once(device, bench, clock):
    """535 → one refresh → invalid_grant → Invalid at once; the job's reason says each thing once."""
    from mfp_sim.tools.mailserver import MailServer

    from .mail_helpers import RefusingVerifier

    verifier = RefusingVerifier(bench.idp.verifier())
    async with MailServer(clock, bench.ca, verifier, Path(bench.state_dir) / "cae") as mail:
        await setup_smtp(device, bench, clock)
        assert (await sh(device, f"set smtp.port {mail.smtp_port} --confirm"))["_ok"]
        bench.idp.revoke(ALICE)  # the provider knows; the device will learn at the 535
        verifier.refuse((await device.stores["smtp"].access_token()).access_token)
        job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert device.api.token_status("smtp").state is TokenState.INVALID
    reason = job.reason
    assert job.state.value == "failed" and reason.startswith(TOKEN_UPDATE_FAILED)
    for words in ("Token update failed", "invalid_grant", "revoked", "535 5.7.3", "delete the token"):
        assert reason.count(words) == 1, (words, reason)
    status = await sh(device, "token smtp status")
    assert status["reason"].count("Token update failed") == 1
    with pytest.raises(Exception) as caught:
        await device.stores["smtp"].access_token()
    assert str(caught.value).count("Token update failed") == 1


async def test_setting_the_clock_forward_past_expiry_renews_once(device, bench, clock):
    await obtain_token(device, bench, clock)
    seen = Refreshes(device)
    reply = await sh(device, f"clock set {iso(clock.now() + 2 * 3600)}")
    assert reply["_ok"] and reply["iso"] == iso(clock.now())
    await wait_for(lambda: seen.count == 1, what="one refresh after the jump")
    await wait_for(lambda: next_request_in(device) == 3300, what="the next one planned")
    assert seen.count == 1 and expires_in(device) == 3600
    assert bench.idp.stats.token_requests("refresh_token") == 1


async def test_setting_the_clock_back_never_makes_a_token_look_fresh(device, bench, clock):
    await obtain_token(device, bench, clock)
    seen = Refreshes(device)
    await clock.advance(3000)
    assert expires_in(device) == 600
    assert (await sh(device, f"clock set {iso(clock.now() - 86400)}"))["_ok"]
    assert expires_in(device) == 600  # not 87,000: the age is kept on the monotonic clock
    status = await sh(device, "token smtp status")
    assert (status["access_expires_in"], status["next_request_in"]) == ("600", "300")
    await clock.advance(299)
    assert seen.count == 0 and next_request_in(device) == 1
    await clock.advance(1)  # 300 s before the real expiry, whatever the date says
    await wait_for(lambda: seen.count == 1, what="refresh at the planned time")


async def test_setting_the_clock_does_not_end_a_device_code_the_provider_still_honours(
        device, bench, clock):
    code = (await sh(device, "set smtp.provider local"), await sh(device, f"set smtp.account {ALICE}"),
            await sh(device, "token smtp get"))[2]["user_code"]
    start = clock.now()
    assert (await sh(device, f"clock set {iso(start + 86400)}"))["_ok"]
    status = await sh(device, "token smtp status")
    assert status["state"] == "waiting" and status["expires_in"] == "900"
    # The bench shares the device's clock; a real provider's clock did not move. Set it back
    # (the device's code still lives 900 s, not a day more) and let the user approve.
    assert (await sh(device, f"clock set {iso(start - 86400)}"))["_ok"]
    assert (await sh(device, "token smtp status"))["expires_in"] == "900"
    bench.idp.approve(code, ALICE)
    await clock.advance(5)
    await wait_for(lambda: device.api.token_status("smtp").state is TokenState.RETRIEVED)


@pytest.mark.parametrize("text, words", [
    ("yesterday", "not an ISO 8601 time"),
    ("1999-12-31T23:59:59Z", "out of range"),
    ("2027-13-01T00:00:00", "not an ISO 8601 time"),
])
async def test_clock_set_refuses_what_is_not_a_time(device, text, words):
    reply = await sh(device, f"clock set {text}")
    assert not reply["_ok"] and words in reply["_err"]


async def test_clock_set_without_offset_is_utc(device):
    reply = await sh(device, "clock set 2027-02-01T10:00:00")
    assert reply["_ok"] and reply["iso"] == "2027-02-01T10:00:00Z"
    reply = await sh(device, "clock set 2027-02-01T10:00:00+01:00")
    assert reply["iso"] == "2027-02-01T09:00:00Z"


async def test_a_version_1_record_from_older_firmware_still_loads(tmp_path, make_device, bench, clock):
    """A token stored by the previous firmware (no version field) is used and refreshed."""
    import json

    from mfp_sim.hwsim.keystore import KeyStore
    from mfp_sim.hwsim.nvram import Nvram

    device = await make_device("old")
    await obtain_token(device, bench, clock)
    await device.stop()
    key, nvram = "token.smtp", Nvram(tmp_path / "old")
    keys = KeyStore.for_device(tmp_path / "old", None)
    record = json.loads(keys.open(nvram.read(key) or b"", context=key))
    assert record["version"] == 3
    v1 = {"state": "retrieved", "reason": "", "account": record["account"],
          "provider": record["provider"], "token_user": record["token_user"],
          "access_token": record["access_token"], "access_expires_at": clock.now() + 3600,
          "next_refresh_at": clock.now() + 3300, "flow": None, "cache": record["cache"]}
    nvram.write(key, keys.seal(json.dumps(v1).encode(), context=key))
    nvram.close()
    again = await make_device("old-again", nvram_dir=tmp_path / "old")
    assert expires_in(again) == 3600
    await clock.advance(3300)
    await wait_for(lambda: bench.idp.stats.token_requests("refresh_token") == 1,
                   what="refresh of a v1 token")
    await wait_for(lambda: expires_in(again) == 3600, what="renewed")
