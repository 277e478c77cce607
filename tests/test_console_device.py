"""The console commands about the device as a whole, against the real bench: the network
link (`network down|up`), `power cycle`, `reset <section>` and `factory-reset yes`.

Scripts drive these over a real TCP console; the device's state is then read both through
the console and straight from the device, and the NVRAM writes of a reset are counted.
"""

from __future__ import annotations

import asyncio

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.vocabulary import JobState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.errors import NvramError
from mfp_sim.hwsim.nvram import Nvram
from mfp_sim.tools.hil import MfpConsole
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, obtain_token, sh, wait_for
from .console_helpers import in_thread, talk, tcp_console
from .mail_helpers import closed_port, maildir, setup_smtp, wait_job


# ------------------------------------------------------------------ network link
async def test_a_pulled_cable_fails_every_new_connection_then_mail_goes_out(
        device: Device, bench: Testbed, clock: VirtualClock):
    await setup_smtp(device, bench, clock, auth="plain")
    for line in ("set pop.ifax.provider local", f"set pop.ifax.account {BOB}"):
        assert (await sh(device, line))["_ok"]
    async with tcp_console(device) as console:
        watcher = await in_thread(lambda: MfpConsole(console.address))
        try:
            await in_thread(lambda: watcher.ok("events on network"))
            [down] = await talk(console, "network down")
            assert down == {"network": "down", "changed": "yes", "_ok": "yes", "_err": ""}
            assert await in_thread(lambda: watcher.wait_event()) == "event=network up=no"

            test = await sh(device, "test smtp")
            assert test["_err"].startswith(f"connect: cannot connect to 127.0.0.1:"
                                           f"{bench.mail.smtp_port}: network is unreachable: "
                                           "the network link is down (cable unplugged)")
            check = await sh(device, "mail check pop.ifax")
            assert check["step"] == "connect" and "network is unreachable" in check["reason"]
            flow = await sh(device, "token pop.ifax get")
            assert flow["_err"].startswith("provider_unreachable:")
            job_id = (await sh(device, f"scan to={BOB}"))["job"]
            job = await wait_job(device, job_id, "queued", attempts=1)
            assert "network is unreachable" in job.reason  # temporary: it will be retried

            up, shown = await talk(console, "network up", "network")
            assert up["changed"] == "yes" and shown == {"network": "up", "_ok": "yes", "_err": ""}
            assert await in_thread(lambda: watcher.wait_event()) == "event=network up=yes"
        finally:
            watcher.close()
    await clock.advance(job.next_attempt_at - clock.now())
    assert (await wait_job(device, job_id)).state is JobState.SENT
    assert len(maildir(bench, BOB)) == 1
    assert (await sh(device, "test smtp"))["_ok"]


# ------------------------------------------------------------------ power cycle
async def test_power_cycle_cuts_at_the_instant_and_the_console_lives_on(
        device: Device, bench: Testbed, clock: VirtualClock):
    held: list[asyncio.StreamWriter] = []

    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    silent = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    try:
        await setup_smtp(device, bench, clock)  # with an OAuth token
        port = silent.sockets[0].getsockname()[1]
        assert (await sh(device, f"set smtp.port {port} --confirm"))["_ok"]
        async with tcp_console(device) as console:
            client = await in_thread(lambda: MfpConsole(console.address))
            try:
                await in_thread(lambda: client.ok("events on job"))
                job_id = (await in_thread(lambda: client.ok(f"scan to={BOB}")))["job"]
                await wait_job(device, job_id, "sending")  # waiting for a greeting
                boots = device.boots
                assert (await in_thread(lambda: client.ok("power cycle")))["power"] == "on"
                assert device.boots == boots + 1
                # The same connection, still subscribed: the restart's own events arrive.
                line = await in_thread(lambda: client.wait_event(
                    f'event=job id={job_id} state=queued reason="Power was lost'))
                assert "before the message was sent; sending it again" in line
                status = await in_thread(lambda: client.ok("token smtp status"))
                assert status["state"] == "retrieved"  # read back from NVRAM after the cut
                assert (await in_thread(lambda: client.ok("get smtp.port")))["smtp.port"] == str(port)
            finally:
                client.close()
        # The restarted device tries again (the server still says nothing); then the admin
        # points it at the bench and the silent server goes away: the next retry delivers.
        await wait_job(device, job_id, "sending", attempts=2)
        assert (await sh(device, f"set smtp.port {bench.mail.smtp_port} --confirm"))["_ok"]
    finally:
        for writer in held:
            writer.close()
        silent.close()

    def retrying() -> bool:
        job = device.jobs.get(job_id)
        return job.state is JobState.QUEUED and "Power was lost" not in job.reason

    await wait_for(retrying, what="the attempt after the restart to end")
    await clock.advance(device.jobs.get(job_id).next_attempt_at - clock.now())
    job = await wait_job(device, job_id)
    assert job.state is JobState.SENT and not job.maybe_duplicate
    [message] = maildir(bench, BOB)
    assert message["Message-ID"] == job.message_id


def test_after_the_cut_nothing_reaches_nvram(tmp_path):
    nvram = Nvram(tmp_path)
    nvram.write("a", b"1")
    nvram.cut()
    for attempt in (lambda: nvram.write("a", b"2"), lambda: nvram.read("a"),
                    lambda: nvram.delete(["a"])):
        try:
            attempt()
        except NvramError as exc:
            assert "power cut" in str(exc)
        else:
            raise AssertionError("NVRAM answered after the cut")
    assert Nvram(tmp_path).read("a") == b"1"


# ------------------------------------------------------------------ resets
def _count_deleting_writes(monkeypatch) -> list[dict[str, bytes | None]]:  # type: ignore[no-untyped-def]
    """Every NVRAM transaction that deletes something, as it is written."""
    calls: list[dict[str, bytes | None]] = []
    original = Nvram.write_many

    def spy(self: Nvram, values, **options):  # type: ignore[no-untyped-def]
        if any(v is None for v in values.values()):
            calls.append(dict(values))
        return original(self, values, **options)

    monkeypatch.setattr(Nvram, "write_many", spy)
    return calls


async def test_reset_one_section_restores_its_factory_values_and_forgets_its_token(
        device: Device, bench: Testbed, clock: VirtualClock, monkeypatch):
    await obtain_token(device, bench, clock)
    await obtain_token(device, bench, clock, "pop.ifax", BOB)
    for line in ("set smtp.timeout 40", "set pop.ifax.timeout 45", "set device.name Front"):
        assert (await sh(device, line))["_ok"]
    writes = _count_deleting_writes(monkeypatch)
    async with tcp_console(device) as console:
        reset, status, other = await talk(console, "reset smtp", "token smtp status",
                                          "token pop.ifax status")
    assert reset["reset"] == "smtp" and reset["records_deleted"] == "2"
    assert reset["smtp.timeout"] == "20" and reset["smtp.account"] == ""
    assert writes == [{"settings.smtp": None, "token.smtp": None}]  # one transaction
    assert status["state"] == "not_retrieved" and other["state"] == "retrieved"
    assert device.api.get("pop.ifax.timeout") == "45" and device.api.get("device.name") == "Front"
    refused = await sh(device, "reset fax")
    assert refused["_err"].startswith("fax: unknown section: one of device, smtp, pop.ifax")
    assert (await sh(device, "reset"))["_err"] == (
        "usage: reset device|smtp|pop.ifax|pop.emailprint (factory-reset: everything)")


async def test_factory_reset_needs_its_word_and_clears_everything_in_one_transaction(
        device: Device, bench: Testbed, clock: VirtualClock, monkeypatch):
    device.api.guard.delay = 0
    await setup_smtp(device, bench, clock)
    assert (await sh(device, f"set smtp.port {closed_port()} --confirm"))["_ok"]
    job_id = (await sh(device, f"scan to={BOB}"))["job"]
    await wait_job(device, job_id, "queued", attempts=1)  # waiting for a retry
    assert (await sh(device, "password admin N3w-secret"))["_ok"]
    assert (await sh(device, "set pop.emailprint.check_interval 30"))["_ok"]

    asked = await sh(device, "factory-reset")
    assert asked["_err"] == ("factory-reset restores every setting to its factory value and "
                             "deletes every token and send job: to do it, type factory-reset yes")
    assert device.api.jobs() and device.api.check_admin_password("N3w-secret")

    writes = _count_deleting_writes(monkeypatch)
    done = await sh(device, "factory-reset yes")
    assert done["factory_reset"] == "done" and done["_ok"]
    [transaction] = writes
    assert set(transaction) >= {"settings.device", "settings.smtp", "settings.pop.emailprint",
                                "token.smtp", f"job.{job_id}", f"jobdata.{job_id}"}
    assert done["records_deleted"] == str(len(transaction))
    assert all(v is None for v in transaction.values())
    # Everything at factory values, nothing held, nothing queued; the password is `admin`.
    assert device.api.jobs() == []
    assert all(device.api.token_status(n).state is TokenState.NOT_RETRIEVED
               for n in device.api.store_names())
    for section in device.contexts.sections:
        default = device.contexts.sections[section].items(device.contexts.sections[section].default())
        assert device.api.settings_items(section) == default, section
    assert device.api.check_admin_password("admin")
    # The device works on, and a job id is never reused.
    await setup_smtp(device, bench, clock, auth="plain", account=ALICE)
    again = (await sh(device, f"scan to={BOB}"))["job"]
    assert int(again) > int(job_id)
    assert (await wait_job(device, again)).state is JobState.SENT
    await wait_for(lambda: len(maildir(bench, BOB)) == 1, what="the new scan")
