"""Refresh requests per hour of one retrieved token store, at access-token lifetimes of 30 s,
300 s (Keycloak's default) and 3600 s (Entra's order): issue 8's figure for the tight-refresh-loop
bug (hundreds of requests within seconds when `REFRESH_MARGIN = 300` met a 300 s token).

One device on a `VirtualClock` and the bench identity provider (keycloak profile with strict rotation for 30 s
and 300 s, entra for 3600 s; the lifetime set as the profile's knob) in this process, over HTTPS. The clock is moved one second
at a time through an hour of device time; whenever a refresh is due the run waits until it has
finished before moving on, as a real clock would (an HTTPS round trip is far under a second). What
is counted is what the identity provider saw (`stats.token_requests("refresh_token")`), not what
the device says. A store that refreshes at half the lifetime, never more often than the floor,
is renewed every `L - min(300, L/2)` seconds: 3600 / that requests an hour, 240, 24 and 1.

    .venv/bin/python -m mfp_sim.tools.bench_refresh          # prints the three figures
    mfp-sim bench --only refresh                             # the same as a `make bench` section
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.idp import PROFILES
from mfp_sim.tools.testbed import Testbed

__all__ = ["LIFETIMES", "RefreshFigure", "bench_refresh", "expected", "main"]

#: Access-token lifetimes measured (seconds), each under the profile it is typical of: Keycloak's
#: refresh token lives only 1800 s (SSO Session Idle), shorter than an hour-long access token.
LIFETIMES = (30, 300, 3600)
PROFILE_FOR = {30: "keycloak", 300: "keycloak", 3600: "entra"}
ALICE = "alice@example.test"
HOUR = 3600


@dataclass(frozen=True)
class RefreshFigure:
    lifetime: int
    profile: str
    requests: int  # refresh-token requests the identity provider saw in one hour
    state: str  # the store's state at the end

    @property
    def key(self) -> str:
        return f"refresh.per_hour_{self.lifetime}s"


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        await asyncio.sleep(0.005)


async def one_hour(root: Path, lifetime: int) -> RefreshFigure:
    clock = VirtualClock()
    policy = replace(PROFILES[PROFILE_FOR.get(lifetime, "keycloak")],
                     access_token_lifetime=float(lifetime))
    async with Testbed(root / f"idp-{lifetime}", clock, policy=policy, mail=False) as bench:
        registry = ProviderRegistry()
        registry.add(bench.provider())
        device = Device(root / f"dev-{lifetime}", clock=clock, providers=registry,
                        ca_pems=[bench.ca.ca_pem])
        await device.start()
        try:
            api = device.api
            await api.set("smtp.provider", "local")
            await api.set("smtp.account", ALICE)
            prompt = await api.get_token("smtp")
            bench.idp.approve(prompt.user_code, ALICE)
            await clock.advance(5)
            await _until(lambda: api.token_status("smtp").state.value == "retrieved",
                         "the token retrieved")
            before = bench.idp.stats.token_requests("refresh_token")
            store = device.stores["smtp"]
            for _ in range(HOUR):
                await clock.advance(1)
                for _ in range(3):  # let a timer that came due start its refresh
                    await asyncio.sleep(0)
                # A refresh under way ends before the clock moves on (the store's own task
                # keeper: there is no public "busy" in the device's API).
                await _until(lambda: not store._tasks.busy("refresh"), "the refresh finished")
            requests = bench.idp.stats.token_requests("refresh_token") - before
            return RefreshFigure(lifetime, PROFILE_FOR.get(lifetime, "keycloak"), requests, api.token_status("smtp").state.value)
        finally:
            await device.stop()


async def bench_refresh(lifetimes: tuple[int, ...] = LIFETIMES) -> list[RefreshFigure]:
    with tempfile.TemporaryDirectory(prefix="mfp-bench-refresh-") as tmp:
        return [await one_hour(Path(tmp), lifetime) for lifetime in lifetimes]


def expected(lifetime: int) -> int:
    """What the schedule itself predicts: renewed when min(300 s, L/2) is left."""
    return int(HOUR // (lifetime - min(300, lifetime / 2)))


def main() -> int:
    figures = asyncio.run(bench_refresh())
    print("| access-token lifetime | profile | refresh requests in one hour | schedule's own count "
          "| state |")
    print("|---|---|---|---|---|")
    for f in figures:
        print(f"| {f.lifetime} s | {f.profile} | {f.requests} | {expected(f.lifetime)} | {f.state} |")
    return 0 if all(f.state == "retrieved" for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
