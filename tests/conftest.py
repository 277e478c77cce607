"""Shared fixtures: a virtual clock, a bench (identity provider, mail server) and devices.

Everything runs in the test's event loop on 127.0.0.1 with OS-chosen ports, and shares one
`VirtualClock`, so lifetimes of hours or days are crossed with `await clock.advance(...)`.
Waits for effects that involve real I/O (an HTTPS poll in a thread) are bounded by `wait_for`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import PROFILES, IdentityProvider
from mfp_sim.tools.mailserver import MailServer
from mfp_sim.tools.testbed import Testbed

T = TypeVar("T")

ALICE = "alice@example.test"
BOB = "bob@example.test"

#: The default profile (entra: 9-character codes, /devicelogin, ...) with its access-token
#: lifetime pinned at 3600 s instead of a random 60-90 minutes, so device tests can name the
#: refresh point; the random lifetimes are tested in test_idp_profiles.py.
BENCH_POLICY = replace(PROFILES["entra"], access_token_lifetime=3600.0)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (real time, bounded) until `predicate()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def ca() -> BenchCA:
    return BenchCA()


@pytest.fixture
async def idp(clock: VirtualClock, ca: BenchCA) -> AsyncIterator[IdentityProvider]:
    """The identity provider alone (for the mail-server tests, which need no device)."""
    async with IdentityProvider(clock=clock, ca=ca, policy=BENCH_POLICY) as provider:
        yield provider


@pytest.fixture
async def mail(clock: VirtualClock, ca: BenchCA, idp: IdentityProvider, tmp_path: Path) -> AsyncIterator[MailServer]:
    """The mail server alone, checking tokens with `idp`."""
    async with MailServer(clock, ca, idp.verifier(), tmp_path / "mail") as server:
        yield server


async def in_thread(fn: Callable[[], T]) -> T:
    """Run a blocking stdlib client conversation (smtplib, poplib) off the loop, bounded."""
    return await asyncio.wait_for(asyncio.to_thread(fn), timeout=15)


@pytest.fixture
async def bench(tmp_path: Path, clock: VirtualClock) -> AsyncIterator[Testbed]:
    async with Testbed(tmp_path / "bench", clock, policy=BENCH_POLICY) as testbed:
        yield testbed


DeviceFactory = Callable[..., Device]


@pytest.fixture
async def make_device(tmp_path: Path, clock: VirtualClock, bench: Testbed) -> AsyncIterator[Callable[..., Awaitable[Device]]]:
    """Start a device (optionally on an existing NVRAM dir, as after a power cycle)."""
    running: list[Device] = []

    async def make(name: str = "dev", *, trust_bench: bool = True, nvram_dir: Path | None = None,
                   providers: ProviderRegistry | None = None) -> Device:
        registry = providers or ProviderRegistry()
        if "local" not in registry:
            registry.add(bench.provider())
        device = Device(nvram_dir or tmp_path / name, clock=clock, providers=registry,
                        ca_pems=[bench.ca.ca_pem] if trust_bench else [])
        await device.start()
        running.append(device)
        return device

    yield make
    for device in running:
        try:
            await device.stop()
        except Exception:
            pass


@pytest.fixture
async def device(make_device: Callable[..., Awaitable[Device]]) -> Device:
    return await make_device()


async def sh(device: Device, line: str) -> dict[str, Any]:
    """Run a console line; return its key=value pairs, plus `_ok` and `_err`."""
    reply = await device.shell.execute(line)
    assert reply, f"no reply to {line!r}"
    final = reply[-1]
    values: dict[str, Any] = dict(r.split("=", 1) for r in reply[:-1] if "=" in r)
    values["_ok"] = final == "OK"
    values["_err"] = final[4:] if final.startswith("ERR ") else ""
    return values


async def start_flow(device: Device, store: str = "smtp", account: str = ALICE) -> str:
    """Configure the store for the bench provider and press Get Token; returns the user code."""
    assert (await sh(device, f"set {store}.provider local"))["_ok"]
    assert (await sh(device, f"set {store}.account {account}"))["_ok"]
    reply = await sh(device, f"token {store} get")
    assert reply["_ok"], reply["_err"]
    return str(reply["user_code"])


async def obtain_token(device: Device, bench: Testbed, clock: VirtualClock, store: str = "smtp",
                       account: str = ALICE, signer: str | None = None) -> None:
    """The whole flow with immediate approval, ending in `retrieved`."""
    code = await start_flow(device, store, account)
    bench.idp.approve(code, signer or account)
    await clock.advance(5)
    await wait_for(lambda: device.stores[store].state.value == "retrieved", what=f"{store} retrieved")
