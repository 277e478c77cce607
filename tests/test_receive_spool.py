"""The receive spool in batch files: power cuts while a batch is written or half printed, print
tries counted across power-ons, the marks journal bounded, damaged batch files, and a device
upgraded with faxes in its memory in the former one-file-per-message format.

Real sockets and TLS on 127.0.0.1 for the device tests, virtual clock; no sleeps."""

from __future__ import annotations

import asyncio
import ctypes
import email.policy
import mmap
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import Alert, Printed, Refused
from mfp_sim.firmware.ifax import compose_ifax_message, encode_tiff_f
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.receive import spool as spool_module
from mfp_sim.firmware.receive.memory import FaxMemory
from mfp_sim.firmware.receive.spool import COMPACT_AT, ReceiveSpool, SpoolEntry, rx_id
from mfp_sim.firmware.vocabulary import ReceiveKind
from mfp_sim.hwsim.scanner import Scanner

from .conftest import ALICE, BOB, wait_for
from .mail_helpers import maildir, powered_on, setup_pop, spool_dir, tray_names

pytestmark = [
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(60),
]

_SCANNER = Scanner(dpi=50)


def fax(n: int) -> bytes:
    tiff = encode_tiff_f(_SCANNER.scan(1, job_id=f"sp{n}"))
    msg = compose_ifax_message(sender=f"Remote fax <{ALICE}>", to=BOB, subject=f"fax {n}",
                               date=1_800_000_000 + n, message_id=f"<spool{n}@remote.test>",
                               tiff=tiff, pages=1)
    return msg.as_bytes(policy=email.policy.SMTP)


def _events(sub: Any, kind: type) -> list[Any]:
    return [e for e in iter(sub.get_nowait, None) if isinstance(e, kind)]


# -- power cuts --------------------------------------------------------------------------------
async def test_power_cut_while_a_batch_is_written_loses_nothing_and_doubles_nothing(
        make_device, bench, clock, tmp_path, monkeypatch):
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax")
    for n in range(3):
        bench.mail.deliver(BOB, fax(n))
    written, power_back = threading.Event(), threading.Event()

    def power_goes(part: Path, path: Path) -> None:  # written and fsynced, not yet renamed
        written.set()
        power_back.wait(30)
        raise OSError("no power")

    monkeypatch.setattr(spool_module, "_publish", power_goes)
    poll = asyncio.ensure_future(a.api.check_mail("pop.ifax"))
    try:
        await wait_for(written.is_set, what="the batch written under its .part name")
        [part] = list(spool_dir(a).iterdir())
        assert part.name == ".00000001.batch.part" and part.stat().st_size > 3 * 10_000
        poll.cancel()
        await a.stop()  # the power goes
        monkeypatch.undo()
        assert len(maildir(bench, BOB)) == 3 and tray_names(a) == []  # nothing deleted
        await wait_for(lambda: not bench.mail.store.is_locked(BOB), what="POP session gone")

        b, sub = await powered_on(bench, clock, tmp_path / "rx")
        try:
            assert list(spool_dir(b).iterdir()) == []  # the unfinished batch is gone
            result = await b.api.check_mail("pop.ifax")  # read again, each once
            assert (result.received, result.duplicates, result.deleted) == (3, 0, 3), result
            assert await b.api.wait_printed("pop.ifax", 10)
            assert sorted(e.subject for e in _events(sub, Printed)) == ["fax 0", "fax 1", "fax 2"]
            assert len(tray_names(b)) == 3 and maildir(bench, BOB) == []
            assert list(spool_dir(b).iterdir()) == []
        finally:
            await b.stop()
    finally:
        power_back.set()


async def test_power_cut_after_part_of_a_batch_printed_prints_only_the_rest(
        make_device, bench, clock, tmp_path):
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax")
    printer = a.receivers["pop.ifax"].printer
    await printer.stop()
    for n in range(3):
        bench.mail.deliver(BOB, fax(n))
    assert (await a.api.check_mail("pop.ifax", wait_printed=False)).spooled == 3
    [batch] = list(spool_dir(a).iterdir())  # one batch file holds all three
    first, *rest = a.receivers["pop.ifax"].spool.entries()
    printer.hold(e.rx_id for e in rest)  # the power goes before these are started
    await printer.start()
    await wait_for(lambda: printer.printed == 1, what="the first fax printed")
    await a.stop()
    assert batch.exists() and [n.split("-")[0] for n in tray_names(a)] == [first.rx_id]

    b, sub = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await b.api.wait_printed("pop.ifax", 10)
        assert sorted(e.id for e in _events(sub, Printed)) == sorted(e.rx_id for e in rest)
        assert sorted(n.split("-")[0] for n in tray_names(b)) == sorted(
            e.rx_id for e in [first, *rest])  # each once
        assert list(spool_dir(b).iterdir()) == []  # batch file and marks gone with the last
    finally:
        await b.stop()


async def test_print_tries_are_counted_across_power_ons(make_device, bench, clock, tmp_path,
                                                        monkeypatch):
    """A fax whose printing is cut short at two power-ons is refused at the third; the other
    fax of its batch prints once."""
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax")
    await a.receivers["pop.ifax"].printer.stop()
    bench.mail.deliver(BOB, fax(1))
    bench.mail.deliver(BOB, fax(2))
    assert (await a.api.check_mail("pop.ifax", wait_printed=False)).spooled == 2
    bad = a.receivers["pop.ifax"].spool.entries()[0].rx_id
    await a.stop()
    from mfp_sim.firmware.receive import print_worker
    real = print_worker.print_message

    def stops_mid_print(raw: bytes, rx: str, *args: Any) -> Any:
        if rx == bad:
            raise RuntimeError("the device stopped while printing")
        return real(raw, rx, *args)

    monkeypatch.setattr(print_worker, "print_message", stops_mid_print)
    for attempt in (1, 2):
        device, sub = await powered_on(bench, clock, tmp_path / "rx")
        try:
            assert await device.api.wait_printed("pop.ifax", 10)
            [alert] = _events(sub, Alert)
            assert f"Internal error while printing {bad}" in alert.reason, alert
            assert device.receivers["pop.ifax"].spool.entries()[0].tries == attempt
        finally:
            await device.stop()
    monkeypatch.undo()

    c, sub = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await c.api.wait_printed("pop.ifax", 10)
        [refused] = _events(sub, Refused)
        assert refused.id == bad and "cut short 2 times" in refused.reason
        assert "limit: print attempts" in refused.reason
        assert len(tray_names(c)) == 1 and not tray_names(c)[0].startswith(bad)
        assert list(spool_dir(c).iterdir()) == []
    finally:
        await c.stop()


# -- the marks journal and damaged files (the spool alone) -------------------------------------
async def _store(spool: ReceiveSpool, batches: list[list[bytes]], first: int = 0
                 ) -> list[list[SpoolEntry]]:
    writer = spool.writer()
    stored = []
    try:
        n = first
        for bodies in batches:
            entries = []
            for raw in bodies:
                uid = f"uid-{n}"
                n += 1
                entry = spool.reserve(rx_id("pop.ifax", ReceiveKind.FAX, uid), len(raw))
                writer.add(entry, uid, raw)
                entries.append(entry)
            await writer.commit(entries)
            stored.append(entries)
    finally:
        writer.close()
    return stored


def _marks(folder: Path) -> int:
    path = folder / "marks"
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def test_the_marks_journal_stays_bounded_and_empties_with_the_spool(tmp_path):
    folder = tmp_path / "spool"
    memory = FaxMemory(10_000, 1 << 30)
    spool = ReceiveSpool(folder, memory)
    [[oldest, *_]] = await _store(spool, [[b"oldest %d\r\n" % i for i in range(50)]])
    peak = 0
    for round_ in range(30):  # 1,500 messages printed while one waits: 3,000 marks written
        await _store(spool, [[b"fax %d\r\n" % i for i in range(50)]], 1000 * (round_ + 1))
        for entry in spool.entries():
            if entry.seq != oldest.seq:
                spool.remove(spool.attempt(entry))
        peak = max(peak, _marks(folder))
        assert _marks(folder) <= COMPACT_AT + 1
        assert sorted(p.name for p in folder.iterdir()) == ["00000001.batch", "marks"]
    assert peak > COMPACT_AT // 2 and len(spool) == 1 and memory.use().messages == 1
    assert spool.read(spool.entries()[0]) == ("uid-0", b"oldest 0\r\n")

    again = ReceiveSpool(folder, FaxMemory(10_000, 1 << 30))  # power-on: rewritten
    assert _marks(folder) == 49  # the done marks of the one batch file still there
    assert [e.seq for e in again.entries()] == [oldest.seq]
    assert again.memory.use().bytes == len(b"oldest 0\r\n")
    again.remove(again.entries()[0])
    assert list(folder.iterdir()) == [] and again.memory.use().messages == 0


def _resident_pages(path: Path) -> int:
    """Pages of `path` in the page cache now (mincore(2) on a private mapping of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    vec = (ctypes.c_ubyte * pages)()
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as mm:
        start = ctypes.c_char.from_buffer(mm)
        try:
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size),
                            vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del start  # the mapping cannot close while a pointer into it exists
    return sum(v & 1 for v in vec)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore(2) as on Linux")
async def test_a_stored_batch_leaves_the_page_cache_and_reads_back_whole(tmp_path):
    """The writer gives back a batch's cached pages once it is fsynced (the next batch reuses
    them: docs/bench.md, "Fifth pass"); the print worker then reads it from the disk."""
    control = tmp_path / "control"
    control.write_bytes(b"x" * 200_000)
    if _resident_pages(control) == 0:
        pytest.skip("this file system keeps no page cache for written files (tmpfs?)")
    bodies = [b"fax %d\r\n" % i + b"A" * 70_000 + b"\r\n" for i in range(20)]
    spool = ReceiveSpool(tmp_path / "spool", FaxMemory(10_000, 1 << 30))
    await _store(spool, [bodies])
    [batch] = (tmp_path / "spool").glob("*.batch")
    assert _resident_pages(batch) == 0
    assert [spool.read(e) for e in spool.entries()] == [(f"uid-{i}", b)
                                                        for i, b in enumerate(bodies)]


async def test_a_damaged_batch_file_is_reported_and_the_readable_messages_kept(tmp_path):
    folder = tmp_path / "spool"
    bodies = [[b"a1" * 100, b"a2" * 100], [b"b1" * 100, b"b2" * 100], [b"c1" * 100, b"c2" * 100]]
    [garbled, cut, whole] = await _store(ReceiveSpool(folder, FaxMemory(100, 1 << 20)), bodies)
    path_a, path_b = folder / "00000001.batch", folder / "00000003.batch"
    path_a.write_bytes(b"MFP-SPOOL-BATCH 1 2\n1 garbled" + path_a.read_bytes()[40:])
    path_b.write_bytes(path_b.read_bytes()[:-50])  # its second message cut short

    memory = FaxMemory(100, 1 << 20)
    spool = ReceiveSpool(folder, memory)
    kept = spool.entries()
    assert [e.rx_id for e in kept] == [cut[0].rx_id, whole[0].rx_id, whole[1].rx_id]
    assert not any(spool.has(e.rx_id) for e in garbled)
    assert [spool.read(e)[1] for e in kept] == [b"b1" * 100, b"c1" * 100, b"c2" * 100]
    assert memory.use().messages == 3 and memory.use().bytes == 600
    said = [str(p) for p in spool.problems]
    assert len(said) == 2, said
    assert "00000001.batch is damaged" in said[0] and "00000001.batch.damaged" in said[0]
    assert cut[1].rx_id in said[1] and "cut short" in said[1] and "uid-3" in said[1]
    assert (folder / "00000001.batch.damaged").exists()  # kept for service, not removed

    again = ReceiveSpool(folder, FaxMemory(100, 1 << 20))  # reported once, not at every power-on
    assert again.problems == [] and len(again) == 3


async def test_a_damaged_batch_file_is_alerted_at_power_on(tmp_path, clock):
    folder = tmp_path / "dev" / "spool" / "pop.ifax"
    folder.mkdir(parents=True)
    (folder / "00000001.batch").write_bytes(b"not a batch\n" + fax(1))
    device = Device(tmp_path / "dev", clock=clock, providers=ProviderRegistry())
    alerts: list[Alert] = []
    device.api.listen(alerts.append, Alert)
    await device.start()
    try:
        assert await device.api.wait_printed("pop.ifax", 10)
        [alert] = alerts
        assert "00000001.batch is damaged" in alert.reason and "kept as" in alert.reason
        assert any("damaged" in e.reason for e in device.api.mail_log("pop.ifax"))
        assert [p.name for p in folder.iterdir()] == ["00000001.batch.damaged"]
    finally:
        await device.stop()


# -- upgrade from the former format ------------------------------------------------------------
async def test_a_spool_in_the_former_format_prints_after_the_upgrade(make_device, bench, clock,
                                                                     tmp_path):
    folder = tmp_path / "rx" / "spool" / "pop.ifax"
    folder.mkdir(parents=True)
    old = [rx_id("pop.ifax", ReceiveKind.FAX, u) for u in ("old-7", "old-9")]
    (folder / f"00000007-{old[0]}.eml").write_bytes(b"X-MFP-UIDL: old-7\r\n" + fax(7))
    (folder / f"00000009-{old[1]}.try1.eml").write_bytes(b"X-MFP-UIDL: old-9\r\n" + fax(9))

    device, sub = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await device.api.wait_printed("pop.ifax", 10)
        assert sorted(e.id for e in _events(sub, Printed)) == sorted(old)
        assert list(folder.iterdir()) == []
        await setup_pop(device, bench, clock, "pop.ifax")
        printer = device.receivers["pop.ifax"].printer
        await printer.stop()
        bench.mail.deliver(BOB, fax(10))
        assert (await device.api.check_mail("pop.ifax", wait_printed=False)).spooled == 1
        assert [p.name for p in folder.iterdir()] == ["00000010.batch"]  # seq goes on
        await printer.start()
        assert await device.api.wait_printed("pop.ifax", 10)
        assert len(tray_names(device)) == 3 and list(folder.iterdir()) == []
    finally:
        await device.stop()
