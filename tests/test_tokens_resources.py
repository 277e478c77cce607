"""What token work shares and what it does not: one TLS context per trust bundle, the device's own
msal threads. (Speed and memory figures are in tools/bench_tokens.py, never asserted here.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.machinery
import os
import sys
import threading
from pathlib import Path

import certifi
import pytest

from mfp_sim.firmware.trust import TrustStore, public_roots
from mfp_sim.tools.bench_ca import BenchCA

from .conftest import ALICE, BOB, obtain_token, sh, start_flow, wait_for
from .mail_helpers import setup_smtp, wait_job


async def test_devices_with_equal_trust_share_one_context_and_a_new_ca_makes_another(
        make_device, tmp_path):
    a, b = await make_device("a"), await make_device("b")
    assert a.trust.ssl_context() is b.trust.ssl_context()
    plain = TrustStore(tmp_path / "plain")
    assert plain.ssl_context() is not a.trust.ssl_context()
    before = a.trust.ssl_context()
    a.trust.add(BenchCA().ca_pem)
    assert a.trust.ssl_context() is not before and b.trust.ssl_context() is before


def test_the_bundle_is_the_public_roots_and_the_imported_cas_in_order(tmp_path):
    ca = BenchCA().ca_pem
    store = TrustStore(tmp_path / "t", [ca])
    other = BenchCA().ca_pem
    store.add(other)
    written = store.bundle_path.read_bytes()
    assert written == Path(certifi.where()).read_bytes() + b"\n" + ca.strip() + b"\n" \
        + other.strip() + b"\n"
    assert public_roots() is public_roots()  # read once per process


async def test_identity_provider_and_mail_connections_use_the_devices_one_context(
        device, bench, clock):
    ctx = device.trust.ssl_context()
    handshakes = ctx.session_stats()["connect"]
    await setup_smtp(device, bench, clock)  # Get Token, approval, one poll
    after_token = ctx.session_stats()["connect"]
    assert after_token > handshakes  # msal's HTTPS went through the shared context
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "sent"
    assert ctx.session_stats()["connect"] > after_token  # so did SMTP's STARTTLS


async def test_token_work_does_not_need_the_loops_default_executor(device, bench, clock):
    """Six blocked default-executor threads (what six hung providers did) stall nothing."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    workers = min(32, (os.cpu_count() or 1) + 4)  # what asyncio's default executor has
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers))
    blockers = [loop.run_in_executor(None, release.wait) for _ in range(workers)]
    try:
        await asyncio.wait_for(obtain_token(device, bench, clock), 5)
        await asyncio.wait_for(sh(device, "token smtp check"), 5)
    finally:
        release.set()
        await asyncio.gather(*blockers)


async def test_one_hung_store_does_not_hold_the_others(tmp_path, clock, ca):
    from mfp_sim.firmware.device import Device
    from mfp_sim.firmware.providers import ProviderRegistry

    from .hostile_idp import HostileIdp
    from .test_tokens_hostile import FAST, timed

    async with HostileIdp(ca) as hostile:
        registry = ProviderRegistry()
        registry.add(hostile.provider())
        device = Device(tmp_path / "d", clock=clock, providers=registry, ca_pems=[ca.ca_pem],
                        idp_deadlines=FAST)
        await device.start()
        try:
            for store in device.api.store_names():
                for line in (f"set {store}.provider hostile", f"set {store}.account {ALICE}"):
                    assert (await sh(device, line))["_ok"]
            await timed(device, "token smtp get")  # discovery cached, code issued
            await timed(device, "token smtp clear")
            hostile.script("devicecode", "hang")
            hung = asyncio.create_task(sh(device, "token smtp get"))
            await wait_for(lambda: hostile.requests["devicecode"] == 2, what="the hung request")
            other = await timed(device, "token pop.ifax get", bound=0.5)
            assert other["_ok"] and other["user_code"]
            assert "did not answer within 0.5 s" in (await hung)["_err"]
        finally:
            await device.stop()


async def test_a_cleared_flow_still_shares_nothing_with_the_next(device, bench, clock):
    """Get Token after Clear starts a new grant: a new code, the old one never approves it."""
    first = await start_flow(device)
    await sh(device, "token smtp clear")
    second = await start_flow(device)
    assert first != second


def test_msal_looks_for_its_absent_optional_extension_once_per_process():
    """msal imports the optional msal_extensions at each application (each Get Token); when
    it is not installed the firmware says so once, and the import fails at once."""
    if importlib.machinery.PathFinder.find_spec("msal_extensions") is not None:
        pytest.skip("msal_extensions is installed here: nothing is remembered")
    import mfp_sim.firmware.tokens.provider_client  # noqa: F401  (what a device imports)
    assert sys.modules["msal_extensions"] is None
    with pytest.raises(ImportError):
        import msal_extensions  # noqa: F401
    # (every Get Token in the suite still makes its msal application: tests/test_tokens*.py)
