"""Bounded receive (issue 13 #3, #4, #9): fax bombs, a fax memory that fills, a 400,000-message
mailbox, messages that vanish mid-poll, a spooled fax that must not be retried for ever.

Peak memory is the figure a user of a real device would check, so those tests run the device
in a child process (`tests/receive_child.py`) against a generated mailbox in this one, and
bound the child's `ru_maxrss`: the bound, 200 MB, is the one docs/reliability.md states.
"""

from __future__ import annotations

import asyncio
import email.policy
import io
import json
import os
import struct
import sys
import zlib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import Alert, Refused
from mfp_sim.firmware.ifax import compose_ifax_message
from mfp_sim.firmware.ifax.bilevel_tiff import COMPRESSION_MMR, TiffPage, encode_strip, write_tiff
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.receive.limits import ReceiveLimits
from mfp_sim.hwsim.clock import VirtualClock

from .conftest import ALICE, BOB, sh
from .pop3_fakes import DOVECOT_EXPUNGED, GeneratedMailbox

ROOT = Path(__file__).resolve().parent.parent
#: The peak resident memory a receiving device may reach (docs/reliability.md).
RSS_BOUND_MB = 200

pytestmark = pytest.mark.timeout(120)


def long_fax(pages: int, n: int = 1) -> bytes:
    """A fax of `pages` blank A3 pages 10,000 lines long: 1.2 KB each coded, 24 MB decoded."""
    strip = encode_strip(Image.new("1", (2432, 10_000), 255), COMPRESSION_MMR)
    tiff = write_tiff([TiffPage(2432, 10_000, 204, 196, strip)] * pages,
                      compression=COMPRESSION_MMR, fill_order=1)
    msg = compose_ifax_message(sender=f"Remote fax <{ALICE}>", to=BOB, subject=f"long fax {n}",
                               date=1_800_000_000, message_id=f"<long{n}@remote.test>",
                               tiff=tiff, pages=pages)
    return msg.as_bytes(policy=email.policy.SMTP)


def small_message(n: int) -> bytes:
    return (f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: note {n}\r\nMessage-ID: <note{n}@remote.test>"
            "\r\n\r\nno attachment\r\n").encode()


def png_message(n: int, png: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, f"print {n}"
    msg["Message-ID"] = f"<print{n}@remote.test>"
    msg.set_content("please print\n")
    if png is None:
        buf = io.BytesIO()
        Image.new("1", (8, 8), 255).save(buf, "PNG")
        png = buf.getvalue()
    msg.add_attachment(png, maintype="image", subtype="png", filename="photo.png")
    return msg.as_bytes(policy=email.policy.SMTP)


async def child_poll(tmp_path: Path, port: int, section: str, *, wait: bool) -> dict[str, Any]:
    """Run one poll in a device process; its JSON report (bounded wait)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "tests.receive_child", str(tmp_path / "dev"), str(port), section]
    proc = await asyncio.create_subprocess_exec(*args, *(["--print"] if wait else []), env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=100)
    assert proc.returncode == 0, err.decode()[-2000:]
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


async def powered_on(tmp_path: Path, clock: VirtualClock, **limits: Any) -> Device:
    device = Device(tmp_path / "dev", clock=clock, providers=ProviderRegistry(),
                    limits=ReceiveLimits(**limits))
    await device.start()
    return device


async def point_at(device: Device, section: str, port: int) -> None:
    await device.api.update(section, {
        "server": "127.0.0.1", "port": str(port), "security": "off", "auth": "plain",
        "user": BOB, "password": "bob-pass-1"})


# -- the fax bomb ------------------------------------------------------------------------------------
@pytest.mark.parametrize("pages", [100, 999])
async def test_fax_bomb_is_refused_naming_the_limit_in_bounded_memory(tmp_path, pages):
    """100 or 999 blank pages of 2,432 × 10,000 (2.4 GB or 24 GB decoded): refused before a
    page is decoded, with the limit named; the device's peak memory stays under the bound."""
    bomb = long_fax(pages)
    assert len(bomb) < 5_000_000  # small on the wire
    async with GeneratedMailbox(1, lambda n: bomb) as server:
        report = await child_poll(tmp_path, server.port, "pop.ifax", wait=True)
        assert server.deleted == {1}  # refused for good: not left to be read again
    assert report["ok"] and (report["spooled"], report["refused"], report["printed"]) == (1, 1, 0)
    [reason] = report["refusals"]
    assert "limit: page memory per fax" in reason and "256 MiB" in reason, reason
    assert "cannot be decoded" not in reason
    assert report["tray"] == 0 and report["memory_messages"] == 0
    assert report["maxrss_mb"] < RSS_BOUND_MB, report["maxrss_mb"]


async def test_long_fax_within_the_limits_is_printed_a_page_at_a_time(tmp_path):
    """10 such pages (243 MB decoded, within the limits) are printed, holding one at a time."""
    fax = long_fax(10)
    async with GeneratedMailbox(1, lambda n: fax) as server:
        report = await child_poll(tmp_path, server.port, "pop.ifax", wait=True)
    assert report["ok"] and (report["printed"], report["files"], report["tray"]) == (1, 10, 10)
    assert report["maxrss_mb"] < RSS_BOUND_MB, report["maxrss_mb"]


async def test_a_spooled_fax_is_not_retried_at_every_power_on(tmp_path, clock):
    """A fax whose printing was cut short twice (it stopped the device) is refused at the next
    power-on, with a reason; one cut short once is printed. The spool is in the former format
    (a file per message, tries in its name), as a device upgraded with faxes in memory has it;
    `test_receive_spool.py` counts tries in batch files."""
    spool = tmp_path / "dev" / "spool" / "pop.ifax"
    spool.mkdir(parents=True)
    fax = long_fax(1)
    (spool / "00000001-faxaaaaaaaaaaaa.try2.eml").write_bytes(b"X-MFP-UIDL: u1\r\n" + fax)
    (spool / "00000002-faxbbbbbbbbbbbb.try1.eml").write_bytes(b"X-MFP-UIDL: u2\r\n" + fax)
    device = Device(tmp_path / "dev", clock=clock, providers=ProviderRegistry())
    refused: list[Refused] = []
    device.api.listen(refused.append, Refused)
    await device.start()
    try:
        assert await device.api.wait_printed("pop.ifax", 30)
        [event] = refused
        assert event.id == "faxaaaaaaaaaaaa" and "cut short 2 times" in event.reason
        assert "limit: print attempts" in event.reason
        assert [i.name for i in device.api.tray()] == ["faxbbbbbbbbbbbb-fax-p1.png"]
        assert list(spool.iterdir()) == []
    finally:
        await device.stop()


# -- the fax memory ----------------------------------------------------------------------------------
async def test_fax_memory_full_stops_fetching_and_says_so(tmp_path, clock):
    device = await powered_on(tmp_path, clock, memory_messages=3)
    alerts: list[Alert] = []
    device.api.listen(alerts.append, Alert)
    try:
        async with GeneratedMailbox(10, png_message) as server:
            await point_at(device, "pop.emailprint", server.port)
            await device.receivers["pop.emailprint"].printer.stop()  # printing is slow today
            first = await device.api.check_mail("pop.emailprint")
            assert not first.ok and first.reason.startswith("fax memory full"), first
            assert (first.received, first.spooled, first.deleted, first.left) == (3, 3, 3, 7)
            assert "7 message(s) stay on the server" in first.reason
            assert server.retrieved == [1, 2, 3] and server.deleted == {1, 2, 3}
            assert [a.reason for a in alerts] == [first.reason] and device.api.fax_memory().full
            # Full: the next poll does not even sign in.
            signed_in = server.commands().count("USER")
            again = await device.api.check_mail("pop.emailprint")
            assert again.reason.startswith("fax memory full") and again.received == 0
            assert server.commands().count("USER") == signed_in
            # Printing frees the memory; receiving goes on where it stopped.
            await device.receivers["pop.emailprint"].printer.start()
            assert await device.api.wait_printed("pop.emailprint", 30)
            assert not device.api.fax_memory().full
            third = await device.api.check_mail("pop.emailprint")
            assert (third.received, third.left) == (3, 4) and server.retrieved[3:] == [4, 5, 6]
    finally:
        await device.stop()


async def test_a_mailbox_of_400000_messages_fills_the_memory_not_the_device(tmp_path):
    """A server advertising 400,000 messages: the device lists the first 10,000, fetches until
    its fax memory holds 2,000, says "fax memory full", and leaves the rest on the server."""
    note = small_message(0)
    async with GeneratedMailbox(400_000, small_message, size=len(note)) as server:
        report = await child_poll(tmp_path, server.port, "pop.emailprint", wait=False)
        assert len(server.retrieved) == 2000 and len(server.deleted) == 2000
    assert not report["ok"] and report["step"] == "receive"
    assert report["reason"].startswith("fax memory full: 2000 of 2000 messages"), report["reason"]
    assert (report["on_server"], report["received"], report["left"]) == (400_000, 2000, 398_000)
    assert report["maxrss_mb"] < RSS_BOUND_MB, report["maxrss_mb"]


# -- messages that vanish, or are too large -----------------------------------------------------------
async def test_a_message_that_vanishes_mid_poll_is_skipped_and_the_poll_goes_on(tmp_path, clock):
    device = await powered_on(tmp_path, clock)
    try:
        async with GeneratedMailbox(5, png_message, vanish=frozenset({1, 4})) as server:
            await point_at(device, "pop.emailprint", server.port)
            reply = await sh(device, "mail check pop.emailprint")
        assert reply["_ok"], reply["_err"]
        assert (reply["received"], reply["printed"], reply["vanished"], reply["deleted"]) == (
            "3", "3", "2", "3")
        assert server.retrieved == [2, 3, 5] and server.deleted == {2, 3, 5}
        assert DOVECOT_EXPUNGED.format(n=1) == "-ERR Message 1 expunged."
    finally:
        await device.stop()


async def test_a_message_gone_before_dele_is_not_an_error(tmp_path, clock):
    """Read, then removed by another client before DELE: stored already, nothing to delete."""
    device = await powered_on(tmp_path, clock)
    try:
        async with GeneratedMailbox(2, png_message, size=2000) as server:  # make() = RETR
            await point_at(device, "pop.emailprint", server.port)
            real_retr = server.make

            def make(n: int) -> bytes:
                server.vanish = frozenset({1})  # gone once it was read
                return real_retr(n)

            server.make = make
            result = await device.api.check_mail("pop.emailprint")
        assert result.ok and (result.printed, result.deleted, result.vanished) == (2, 1, 1)
    finally:
        await device.stop()


async def test_too_large_messages_are_left_on_the_server_and_alerted_once(tmp_path, clock):
    device = await powered_on(tmp_path, clock, max_message_bytes=4000)
    alerts: list[Alert] = []
    device.api.listen(alerts.append, Alert)
    big = png_message(1, png=os.urandom(6000))
    try:
        async with GeneratedMailbox(2, lambda n: big if n == 1 else png_message(n)) as server:
            await point_at(device, "pop.emailprint", server.port)
            first = await device.api.check_mail("pop.emailprint")
            second = await device.api.check_mail("pop.emailprint")
        assert first.ok and (first.printed, first.refused, first.deleted) == (1, 1, 1)
        assert server.retrieved == [2] and server.deleted == {2}
        [alert] = alerts
        assert "limit: message size" in alert.reason and "left on the server" in alert.reason
        assert (second.received, second.refused) == (0, 0)
    finally:
        await device.stop()


async def test_a_poll_that_finds_nothing_new_asks_no_sizes(tmp_path, clock):
    """LIST gives the sizes of messages to read: a poll that finds every UIDL handled before
    (leave_copy) skips it, which is most of a quiet poll's cost in a long mailbox; the first
    poll after new mail asks again."""
    device = await powered_on(tmp_path, clock)
    try:
        async with GeneratedMailbox(3, png_message) as server:
            await point_at(device, "pop.emailprint", server.port)
            await device.api.update("pop.emailprint", {"leave_copy": "on"})
            first = await device.api.check_mail("pop.emailprint")
            mark = len(server.lines)
            quiet = await device.api.check_mail("pop.emailprint")
            quiet_commands, mark = server.commands()[mark:], len(server.lines)
            server.count = 4  # new mail
            after = await device.api.check_mail("pop.emailprint")
            after_commands = server.commands()[mark:]
        assert first.ok and first.printed == 3 and "LIST" in server.commands()
        assert quiet.ok and (quiet.on_server, quiet.received) == (3, 0)
        assert "UIDL" in quiet_commands and "LIST" not in quiet_commands
        assert after.ok and after.printed == 1 and "LIST" in after_commands
        assert server.retrieved == [1, 2, 3, 4]
    finally:
        await device.stop()


async def test_a_message_larger_than_listed_is_not_read_again(tmp_path, clock):
    """LIST says 100 bytes, RETR sends more than the device takes: the poll fails once, the
    message is recorded as too large, and the next poll goes past it."""
    device = await powered_on(tmp_path, clock, max_message_bytes=4000)
    big = png_message(1, png=os.urandom(6000))
    try:
        async with GeneratedMailbox(2, lambda n: big if n == 1 else png_message(n),
                                    size=100) as server:
            await point_at(device, "pop.emailprint", server.port)
            first = await device.api.check_mail("pop.emailprint")
            assert not first.ok and "larger than 4000 bytes" in first.reason
            second = await device.api.check_mail("pop.emailprint")
        assert second.ok and second.printed == 1 and server.retrieved == [1, 2]
    finally:
        await device.stop()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_email_print_refuses_an_image_over_the_page_buffer(tmp_path, clock):
    """A PNG whose header claims 10,000 × 10,000 pixels: refused by its header, not decoded."""
    ihdr = struct.pack(">IIBBBBB", 10_000, 10_000, 1, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
           + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    device = await powered_on(tmp_path, clock)
    refused: list[Refused] = []
    device.api.listen(refused.append, Refused)
    try:
        async with GeneratedMailbox(1, lambda n: png_message(n, png)) as server:
            await point_at(device, "pop.emailprint", server.port)
            result = await device.api.check_mail("pop.emailprint")
        assert result.refused == 1 and "limit: pixels per image" in refused[0].reason
    finally:
        await device.stop()


# -- the cost of a poll (issue 9): what is written, what is sent -------------------------------------
async def test_a_batch_is_recorded_in_one_nvram_write_and_deleted_in_one_round_trip(
        tmp_path, clock, monkeypatch):
    device = await powered_on(tmp_path, clock, max_message_bytes=4000)
    await device.receivers["pop.emailprint"].printer.stop()  # only the poll's own writes
    writes: list[int] = []
    real = device.nvram.write_many
    monkeypatch.setattr(device.nvram, "write_many", lambda values: (writes.append(len(values)),
                                                                   real(values))[1])
    big = png_message(1, png=os.urandom(6000))
    capa = ("UIDL", "USER", "PIPELINING")
    try:
        async with GeneratedMailbox(30, lambda n: big if n == 7 else png_message(n),
                                    capa=capa) as server:
            await point_at(device, "pop.emailprint", server.port)
            writes.clear()
            result = await device.api.check_mail("pop.emailprint", wait_printed=False)
        assert result.ok and (result.spooled, result.refused, result.deleted) == (29, 1, 29)
        assert len(writes) == 1  # the whole batch, the too-large one included, in one write
        dele_at = [i for i, c in enumerate(server.commands()) if c == "DELE"]
        assert len(dele_at) == 29
        assert server.dele_reads <= 2  # pipelined: the 29 commands arrived together
    finally:
        await device.stop()


async def test_message_ids_are_forgotten_after_30_days(tmp_path, clock):
    device = await powered_on(tmp_path, clock)
    try:
        async with GeneratedMailbox(1, lambda n: png_message(1)) as server:
            await point_at(device, "pop.emailprint", server.port)
            assert (await device.api.check_mail("pop.emailprint")).printed == 1
        await clock.advance(29 * 86400)
        async with GeneratedMailbox(1, lambda n: png_message(1), uid_prefix="again") as server:
            await point_at(device, "pop.emailprint", server.port)
            assert (await device.api.check_mail("pop.emailprint")).duplicates == 1
        await clock.advance(2 * 86400)
        async with GeneratedMailbox(1, lambda n: png_message(1), uid_prefix="late") as server:
            await point_at(device, "pop.emailprint", server.port)
            late = await device.api.check_mail("pop.emailprint")
        assert (late.duplicates, late.printed) == (0, 1)  # 31 days on: a new message
        assert device.nvram.read_prefix("rx.pop.emailprint.m.") != {}
    finally:
        await device.stop()
