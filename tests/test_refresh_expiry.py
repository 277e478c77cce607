"""The refresh token's own expiry (Keycloak's `refresh_expires_in`), on the virtual clock
against the real bench over HTTPS.

Keycloak ends an online session after "SSO Session Idle" without a refresh, and says in every
token answer how long the refresh token has (`refresh_expires_in`). With 3600 s access tokens
a device that renews only for its access token would present a dead refresh token ("Token is
not active") and fall to Invalid; the device plans by the earlier of the two. The bench's
`GET /control/stats` counts what the device asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.tokens.refresh import REFRESH_MARGIN
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.tools.testbed import Testbed

from .bench_clients import Wire
from .conftest import obtain_token, sh, wait_for
from .test_tokens_refresh import Refreshes, expires_in, next_request_in, provider_with

pytestmark = pytest.mark.timeout(60)

HOUR = 3600.0


async def refreshes_seen_by(wire: Wire) -> int:
    answer = await wire.control("GET", "stats")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["idp"]["token"]["by_grant_type"].get("refresh_token", 0))


async def restart(make_device: Any, bench: Testbed, directory: Path) -> Device:
    """The device again on the same NVRAM, as after a power cut (`provider_with`'s setup)."""
    registry = ProviderRegistry()
    registry.add(bench.provider())
    device: Device = await make_device("again", providers=registry, nvram_dir=directory)
    device.trust.add(bench.ca.ca_pem)
    return device


@pytest.mark.parametrize("idle, period", [(600.0, 300.0), (1800.0, 1500.0)])
async def test_the_token_stays_retrieved_across_idle_periods_with_hour_long_access_tokens(
        tmp_path: Path, clock: VirtualClock, make_device: Any, idle: float, period: float) -> None:
    """SSO Session Idle of 10 min (and Keycloak's default 30 min) with 3600 s access tokens:
    renewed `min(300 s, idle/2)` before the refresh token dies, never Invalid."""
    async with provider_with(tmp_path, clock, make_device, "keycloak",
                             access_token_lifetime=HOUR, refresh_token_lifetime=idle) as (
            bench, device):
        wire = Wire(bench.idp, bench.ca_file)
        await obtain_token(device, bench, clock)
        seen = Refreshes(device)
        assert next_request_in(device) == period  # not 3300 s: the refresh token dies first
        rounds = int(4 * HOUR // period) + 1  # several idle periods, past an access token's life
        for n in range(1, rounds + 1):
            await clock.advance(period - 1)
            assert seen.count == n - 1, f"early ({n})"
            await clock.advance(1)
            await wait_for(lambda n=n: seen.count == n, what=f"refresh {n}")
            await wait_for(lambda: next_request_in(device) == period, what="the next one planned")
            assert expires_in(device) == HOUR
            assert device.api.token_status("smtp").state is TokenState.RETRIEVED
        assert await refreshes_seen_by(wire) == seen.count == rounds  # what the provider counted
        assert (await sh(device, "token smtp status"))["state"] == "retrieved"


async def test_without_the_plan_the_bench_kills_the_refresh_token(
        tmp_path: Path, clock: VirtualClock, make_device: Any) -> None:
    """The bench is faithful: a refresh token presented after the idle time is refused, and
    the device says so: Invalid, "Token is not active" (what happened before the plan)."""
    async with provider_with(tmp_path, clock, make_device, "keycloak",
                             access_token_lifetime=HOUR, refresh_token_lifetime=600.0) as (
            bench, device):
        await obtain_token(device, bench, clock)
        device.stores["smtp"]._policy.refresh_lifetime = None  # the device as it was
        assert next_request_in(device) == HOUR - REFRESH_MARGIN
        await clock.advance(HOUR - REFRESH_MARGIN)
        await wait_for(lambda: device.api.token_status("smtp").state is TokenState.INVALID,
                       what="Invalid")
        assert "Token is not active" in device.api.token_status("smtp").reason


@pytest.mark.parametrize("profile, knobs", [
    ("keycloak", {"offline_tokens": True}),  # Keycloak's offline token: refresh_expires_in 0
    ("entra", {}),  # no refresh_expires_in at all
])
async def test_providers_that_do_not_say_keep_todays_plan(
        tmp_path: Path, clock: VirtualClock, make_device: Any, profile: str,
        knobs: dict[str, Any]) -> None:
    async with provider_with(tmp_path, clock, make_device, profile, access_token_lifetime=HOUR,
                             **knobs) as (bench, device):
        wire = Wire(bench.idp, bench.ca_file)
        await obtain_token(device, bench, clock)
        assert device.stores["smtp"]._policy.refresh_lifetime is None
        assert next_request_in(device) == HOUR - REFRESH_MARGIN
        await clock.advance(HOUR - REFRESH_MARGIN - 1)
        assert await refreshes_seen_by(wire) == 0
        await clock.advance(1)
        await wait_for(lambda: bench.idp.stats.token_requests("refresh_token") == 1,
                       what="the one renewal")
        await wait_for(lambda: next_request_in(device) == HOUR - REFRESH_MARGIN, what="planned")
        assert await refreshes_seen_by(wire) == 1
        assert device.api.token_status("smtp").state is TokenState.RETRIEVED


async def test_the_plan_survives_a_power_cut(tmp_path: Path, clock: VirtualClock,
                                             make_device: Any) -> None:
    async with provider_with(tmp_path, clock, make_device, "keycloak",
                             access_token_lifetime=HOUR, refresh_token_lifetime=600.0) as (
            bench, device):
        await obtain_token(device, bench, clock)
        await clock.advance(100)
        await device.stop()
        again = await restart(make_device, bench, tmp_path / "short")
        assert next_request_in(again) == 200  # 300 s after issue, not 3300 s
        await clock.advance(200)
        await wait_for(lambda: bench.idp.stats.token_requests("refresh_token") == 1,
                       what="the renewal")
        assert again.api.token_status("smtp").state is TokenState.RETRIEVED


async def test_a_record_written_before_the_change_still_loads(
        tmp_path: Path, clock: VirtualClock, make_device: Any) -> None:
    """A version-2 record (no refresh lifetime): loaded and used with the access token's plan,
    and the first renewal learns the refresh token's lifetime (written as version 3)."""
    async with provider_with(tmp_path, clock, make_device, "keycloak") as (bench, device):
        await obtain_token(device, bench, clock)
        await device.stop()
        directory = tmp_path / "short"
        key, nvram = "token.smtp", Nvram(directory)
        keys = KeyStore.for_device(directory, None)
        record = json.loads(keys.open(nvram.read(key) or b"", context=key))
        assert record["version"] == 3 and record["refresh_lifetime"] == 1800
        v2 = {k: v for k, v in record.items() if k != "refresh_lifetime"} | {"version": 2}
        nvram.write(key, keys.seal(json.dumps(v2).encode(), context=key))
        nvram.close()
        again = await restart(make_device, bench, directory)
        status = await sh(again, "token smtp status")
        assert status["state"] == "retrieved" and status["account"] == record["account"]
        assert again.stores["smtp"]._policy.refresh_lifetime is None
        assert next_request_in(again) == 150  # Keycloak's 300 s access token, at half its life
        await clock.advance(150)
        await wait_for(lambda: bench.idp.stats.token_requests("refresh_token") == 1,
                       what="the first renewal")
        await wait_for(lambda: again.stores["smtp"]._policy.refresh_lifetime == 1800,
                       what="the refresh token's lifetime learnt")
        await again.stop()
        stored = json.loads(keys.open(Nvram(directory).read(key) or b"", context=key))
        assert stored["version"] == 3 and stored["refresh_lifetime"] == 1800
