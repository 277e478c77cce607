"""A hostile identity provider: hangs, HTTP 500, garbage, wrong types, slow drip, huge answers.

For discovery, device authorization, polling and refresh alike: the store always ends in a
state with a reason a person can act on (never `internal error`), the console always answers
within a second, no task dies, and once the provider behaves again the flow completes.
Deadlines are shortened (`IdpDeadlines`) so that a hang is noticed in half a second of real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mfp_sim.firmware.deadlines import IdpDeadlines
from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.tokens.device_flow import DeviceFlowPoller
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.uart import TcpConsole
from mfp_sim.tools.bench_ca import BenchCA

from .conftest import ALICE, sh, wait_for
from .hostile_idp import BEHAVIOURS, HostileIdp

FAST = IdpDeadlines(connect=0.5, read=0.5, body=0.5, call=2.0)
#: What the admin reads for each behaviour (a part of the reason).
WORDS = {
    "hang": "did not answer within 0.5 s",
    "500": "(HTTP 500)",
    "garbage": "(HTTP 200, not JSON)",
    "list": "a JSON list",
    "str": "a JSON string",
    "null": "JSON null",
    "wrong_types": "HTTP 200",
    "drip": "did not finish its answer within 0.5 s",
    "huge": "larger than 256 KB",
    "429": "HTTP 429",
}


@pytest.fixture
async def hostile(ca: BenchCA) -> AsyncIterator[HostileIdp]:
    async with HostileIdp(ca) as idp:
        yield idp


@pytest.fixture
async def make_hostile_device(tmp_path: Path, clock: VirtualClock, ca: BenchCA,
                              hostile: HostileIdp) -> AsyncIterator[Callable[..., object]]:
    devices: list[Device] = []

    async def make(name: str = "dev") -> Device:
        registry = ProviderRegistry()
        registry.add(hostile.provider())
        device = Device(tmp_path / name, clock=clock, providers=registry, ca_pems=[ca.ca_pem],
                        idp_deadlines=FAST)
        await device.start()
        devices.append(device)
        for line in ("set smtp.provider hostile", f"set smtp.account {ALICE}"):
            assert (await sh(device, line))["_ok"]
        return device

    yield make
    for device in devices:
        await device.stop()


async def timed(device: Device, line: str, bound: float = 1.0) -> dict[str, object]:
    """Run a console line; it must answer within `bound` real seconds and never say 'internal'."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    reply = await asyncio.wait_for(sh(device, line), timeout=bound + 1)
    assert loop.time() - start < bound, f"{line!r} took {loop.time() - start:.2f} s"
    assert "internal error" not in str(reply), reply
    return reply


async def obtain(device: Device, hostile: HostileIdp, clock: VirtualClock) -> None:
    reply = await timed(device, "token smtp get")
    assert reply["_ok"], reply
    hostile.approve(str(reply["user_code"]), ALICE)
    await clock.advance(5)
    await wait_for(lambda: device.api.token_status("smtp").state is TokenState.RETRIEVED,
                   what="retrieved")


async def advance_until(clock: VirtualClock, done: Callable[[], bool], *, step: float,
                        limit: float) -> None:
    """Advance the clock by `step` until `done()` (each step waits, bounded, for the HTTPS
    exchange it started in a worker thread); at most `limit` seconds of device time."""
    moved = 0.0
    while not done():
        assert moved < limit, f"not done after {limit} s of device time"
        await clock.advance(step)
        moved += step
        try:
            await wait_for(done, timeout=0.3)
        except AssertionError:
            pass


def status(device: Device) -> tuple[TokenState, str]:
    st = device.api.token_status("smtp")
    return st.state, st.reason


@pytest.mark.parametrize("endpoint", ["discovery", "devicecode"])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_get_token_against_a_hostile_provider(make_hostile_device, hostile, clock,
                                                    endpoint, behaviour):
    device = await make_hostile_device()
    hostile.script(endpoint, behaviour)
    reply = await timed(device, "token smtp get")
    assert not reply["_ok"] and WORDS[behaviour] in str(reply["_err"]), reply
    state, reason = status(device)
    assert state is TokenState.NOT_RETRIEVED and WORDS[behaviour] in reason
    if behaviour not in ("hang", "drip", "huge", "429"):
        what = "discovery document" if endpoint == "discovery" else "device-code answer"
        assert f"answered something that is not a {what}" in reason, reason
    await obtain(device, hostile, clock)  # the provider behaves again: the flow completes
    assert status(device) == (TokenState.RETRIEVED, "")


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_polling_a_hostile_provider_keeps_waiting_then_completes(make_hostile_device,
                                                                      hostile, clock, behaviour):
    device = await make_hostile_device()
    reply = await timed(device, "token smtp get")
    hostile.script("poll", behaviour, behaviour)
    await clock.advance(5)
    await wait_for(lambda: WORDS[behaviour] in status(device)[1], what="the reason")
    state, reason = status(device)
    assert state is TokenState.WAITING and "; still polling, next poll in " in reason, reason
    assert (await timed(device, "token smtp status"))["state"] == "waiting"
    await advance_until(clock, lambda: hostile.requests["poll"] >= 2, step=10, limit=120)
    hostile.approve(str(reply["user_code"]), ALICE)
    # Back-off after two failures is at most a minute (Retry-After 30 for 429).
    await advance_until(clock, lambda: status(device)[0] is TokenState.RETRIEVED, step=10,
                        limit=120)
    assert status(device)[1] == ""


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_refreshing_against_a_hostile_provider_stays_retrieved_with_a_reason(
        make_hostile_device, hostile, clock, behaviour):
    device = await make_hostile_device()
    await obtain(device, hostile, clock)
    hostile.script("refresh", behaviour)
    await clock.advance(3300)  # due
    await wait_for(lambda: WORDS[behaviour] in status(device)[1], what="the reason")
    st = await timed(device, "token smtp status")
    assert (st["state"], st["label"]) == ("retrieved", "Retrieved")
    assert str(st["reason"]).startswith("Renewal failed:") and "retrying in" in str(st["reason"])
    assert st["access_expires_in"] == "300"
    await clock.advance(30)  # the first back-off is 15-30 s (30 for Retry-After)
    await wait_for(lambda: status(device) == (TokenState.RETRIEVED, ""), what="renewed")
    renewed = int(str((await timed(device, "token smtp status"))["access_expires_in"]))
    assert 3570 <= renewed <= 3600  # renewed when the back-off ended, within those 30 s


async def test_clear_answers_at_once_while_get_token_hangs(make_hostile_device, hostile, clock):
    """Two serial-console connections over TCP: one hangs in Get Token, the other clears."""
    hostile.default = "hang"
    device = await make_hostile_device()
    console = TcpConsole(device.shell.sessions_for("127.0.0.1"))
    port = await console.start()
    try:
        first = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.open_connection("127.0.0.1", port)
        first[1].write(b"token smtp get\n")
        await first[1].drain()
        await wait_for(lambda: hostile.requests["discovery"] == 1, what="Get Token at the provider")
        loop = asyncio.get_running_loop()
        start = loop.time()
        second[1].write(b"token smtp clear\n")
        reply = await asyncio.wait_for(read_reply(second[0]), 2)
        assert loop.time() - start < 1.0, loop.time() - start
        assert reply[-1] == "OK" and "state=not_retrieved" in reply
        answer = await asyncio.wait_for(read_reply(first[0]), 2)
        assert answer[-1].startswith("ERR Get Token was cancelled") and "internal" not in answer[-1]
        for _, writer in (first, second):
            writer.close()
    finally:
        await console.stop()
    hostile.clear_scripts()
    await obtain(device, hostile, clock)


async def read_reply(reader: asyncio.StreamReader) -> list[str]:
    lines: list[str] = []
    while not lines or not lines[-1].startswith(("OK", "ERR")):
        lines.append((await reader.readline()).decode().strip())
    return lines


async def test_a_hung_provider_fails_get_token_within_the_deadline(make_hostile_device, hostile):
    hostile.default = "hang"
    device = await make_hostile_device()
    reply = await timed(device, "token smtp get", bound=1.5)
    assert reply["_err"] == ("provider_timeout: Get Token failed: the identity provider did not "
                             "answer within 0.5 s")


async def test_an_expired_token_whose_refresh_hangs_fails_the_send_not_the_device(
        make_hostile_device, hostile, clock, bench):
    """A send that needs a refresh the provider never answers leaves `sending` in bounded time."""
    device = await make_hostile_device()
    device.trust.add(bench.ca.ca_pem)
    await obtain(device, hostile, clock)
    for line in ("set smtp.server 127.0.0.1 --confirm", f"set smtp.port {bench.mail.smtp_port} --confirm",
                 "set smtp.auth oauth2", f"set smtp.sender_address {ALICE}"):
        assert (await sh(device, line))["_ok"], line
    hostile.default = "hang"
    await clock.advance(3600)  # expired; the scheduled refresh hangs and times out
    await wait_for(lambda: "did not answer" in status(device)[1], what="refresh timed out")
    job_id = str((await timed(device, "scan to=bob@example.test"))["job"])
    await wait_for(lambda: device.jobs.get(job_id).state.value != "sending"
                   and device.jobs.get(job_id).attempts >= 1, timeout=3, what="job not sending")
    job = device.jobs.get(job_id)
    assert job.state.value in ("queued", "failed") and "expired" in job.reason, job
    hostile.clear_scripts()
    await clock.advance(900)  # back-off at most 15 min: renewed, then the queue sends
    await wait_for(lambda: status(device) == (TokenState.RETRIEVED, ""), what="renewed")


async def test_a_task_that_dies_is_restarted_and_logged(make_hostile_device, hostile, clock,
                                                        monkeypatch, caplog):
    device = await make_hostile_device()
    reply = await timed(device, "token smtp get")
    real = DeviceFlowPoller.on_answer
    calls = {"n": 0}

    def flaky(self: DeviceFlowPoller, answer: object, now: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the poller")
        return real(self, answer, now)  # type: ignore[arg-type]

    monkeypatch.setattr(DeviceFlowPoller, "on_answer", flaky)
    caplog.set_level(logging.ERROR)
    hostile.approve(str(reply["user_code"]), ALICE)
    await clock.advance(5)
    await wait_for(lambda: "died" in caplog.text, what="the death logged")
    assert "restarting it" in caplog.text and "a bug in the poller" in caplog.text
    assert status(device)[0] is TokenState.WAITING
    await clock.advance(5)  # the supervisor's pause, then the task runs again
    await wait_for(lambda: status(device)[0] is TokenState.RETRIEVED, what="retrieved after restart")


async def test_token_check_honours_a_retry_after_and_says_so(make_hostile_device, hostile, clock):
    device = await make_hostile_device()
    await obtain(device, hostile, clock)
    hostile.script("refresh", "429")
    reply = await timed(device, "token smtp check")
    assert not reply["_ok"] and reply["refreshed"] == "no" and reply["label"] == "Retrieved"
    assert "HTTP 429" in str(reply["reason"]) and "retrying in 30 s" in str(reply["reason"])
    reply = await timed(device, "token smtp check")  # within the Retry-After: not even asked
    assert "asked the device to wait; next attempt in 30 s" in str(reply["_err"])
    assert hostile.requests["refresh"] == 1
    await clock.advance(30)
    await wait_for(lambda: status(device) == (TokenState.RETRIEVED, ""), what="renewed")
    assert (await timed(device, "token smtp check"))["_ok"]
