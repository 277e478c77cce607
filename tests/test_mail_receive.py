"""Receiving: Internet Fax receive and E-mail Print over POP3 (the device's own client) from the
bench mail server, printed into the output tray; every failure told apart, in the server's
words; hostile servers survived. Real sockets and TLS on 127.0.0.1, virtual clock.
"""

from __future__ import annotations

import email.policy
import io
import time
from email.message import EmailMessage

import pytest
from PIL import Image

from mfp_sim.firmware.events import Alert, Printed, Refused
from mfp_sim.firmware.ifax import compose_ifax_message, encode_tiff_f
from mfp_sim.firmware.mail.errors import TOKEN_UPDATE_FAILED
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.scanner import Scanner
from mfp_sim.tools.mailserver import HostilePop3Server, Hostility, MailServer

from .conftest import ALICE, BOB, sh, wait_for
from .mail_helpers import (
    RefusingVerifier,
    closed_port,
    maildir,
    powered_on,
    setup_pop,
    setup_smtp,
    spool_dir,
    tray_names,
    wait_job,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(60),
]

_SCANNER = Scanner(dpi=50)


def fax_message(n: int, pages: int = 1, message_id: str | None = None) -> bytes:
    tiff = encode_tiff_f(_SCANNER.scan(pages, job_id=f"rx{n}"))
    msg = compose_ifax_message(sender=f"Remote fax <{ALICE}>", to=BOB, subject=f"fax {n}",
                               date=1_800_000_000 + n, message_id=message_id or f"<fax{n}@remote.test>",
                               tiff=tiff, pages=pages)
    return msg.as_bytes(policy=email.policy.SMTP)


def print_message(n: int, *, attachment: bytes | None = None, content_type: str = "image/png",
                  filename: str = "photo.png") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, f"print {n}"
    msg["Message-ID"] = f"<print{n}@remote.test>"
    msg.set_content(f"please print {n}\n")
    if attachment is None:
        buf = io.BytesIO()
        Image.new("1", (8, 8), 255).save(buf, "PNG")
        attachment = buf.getvalue()
    maintype, subtype = content_type.split("/")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


async def test_round_trip_ifax_from_device_a_printed_by_device_b(make_device, bench, clock):
    a = await make_device("a")
    b = await make_device("b")
    await setup_smtp(a, bench, clock)
    await setup_pop(b, bench, clock, "pop.ifax")  # POP as bob, with its own pop.ifax token
    job = await wait_job(a, (await sh(a, f"ifax send to={BOB} pages=2"))["job"])
    assert job.state.value == "sent", job.reason

    sub = b.api.subscribe()
    reply = await sh(b, "mail check pop.ifax")
    assert reply["_ok"], reply["_err"]
    assert (reply["printed"], reply["deleted"], reply["on_server"]) == ("1", "1", "1")
    names = tray_names(b)
    assert len(names) == 2 and all(n.endswith(".png") for n in names)
    page = Image.open(b.tray.folder / names[0])
    assert page.mode == "1" and page.width == 1728
    event = next(e for e in iter(sub.get_nowait, None) if isinstance(e, Printed))
    assert (event.pages, event.subject) == (2, "Internet Fax from MFP (2 pages)")
    assert maildir(bench, BOB) == []  # deleted once printed
    tray = await sh(b, "tray")
    assert sorted(v.split(" ")[0] for k, v in tray.items() if not k.startswith("_")) == sorted(names)


async def test_round_trip_scan_to_email_printed_by_email_print(make_device, bench, clock):
    a = await make_device("a")
    b = await make_device("b")
    await setup_smtp(a, bench, clock)
    await setup_pop(b, bench, clock, "pop.emailprint")
    job = await wait_job(a, (await sh(a, f"scan to={BOB} pages=2"))["job"])
    sent = maildir(bench, BOB)[0]
    pdf = next(p for p in sent.walk() if p.get_content_type() == "application/pdf")
    result = await b.api.check_mail("pop.emailprint")
    assert result.ok and result.printed == 1, result
    [name] = tray_names(b)
    assert name.endswith(".pdf") and (b.tray.folder / name).read_bytes() == pdf.get_payload(decode=True)
    assert job.state.value == "sent"


async def test_polls_every_check_interval_on_the_device_clock(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    assert (await sh(device, "set pop.ifax.check_interval 2"))["_ok"]
    assert (await sh(device, "set pop.ifax.enabled on"))["_ok"]
    phase = device.receivers["pop.ifax"].poller.phase(120)  # this device's own, fixed
    assert 0 < phase < 12
    bench.mail.deliver(BOB, fax_message(1))
    await clock.advance(119 + phase)
    await wait_for(lambda: True)
    assert tray_names(device) == []  # not a second early
    await clock.advance(1)
    await wait_for(lambda: len(tray_names(device)) == 1 and not maildir(bench, BOB),
                   what="first poll")
    bench.mail.deliver(BOB, fax_message(2))
    await clock.advance(120)
    await wait_for(lambda: len(tray_names(device)) == 2 and not maildir(bench, BOB),
                   what="second poll")
    assert (await sh(device, "set pop.ifax.enabled off"))["_ok"]
    bench.mail.deliver(BOB, fax_message(3))
    await clock.advance(600)
    assert len(tray_names(device)) == 2 and len(maildir(bench, BOB)) == 1


async def test_devices_and_settings_do_not_poll_in_step(make_device, bench, clock, tmp_path):
    """A fleet powered on at once: each device and setting has its own phase, the same at
    every power-on (derived from the device), so their checks are spread, not in step."""
    devices = [await make_device(f"mfp{n}") for n in range(8)]
    phases = {(d.serial, name): d.receivers[name].poller.phase(3600)
              for d in devices for name in d.receivers}
    assert len(set(phases.values())) == len(phases) == 16
    assert all(0 <= p < 300 for p in phases.values()) and max(phases.values()) > 150
    await devices[0].stop()  # one device per NVRAM folder: power it off, then on again
    again = await make_device("mfp0-again", nvram_dir=tmp_path / "mfp0")
    assert again.receivers["pop.ifax"].poller.phase(3600) == phases[("mfp0", "pop.ifax")]


async def test_leave_copy_keeps_mail_and_never_prints_twice(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax", leave_copy=True)
    bench.mail.deliver(BOB, fax_message(1))
    bench.mail.deliver(BOB, fax_message(2))
    first = await device.api.check_mail("pop.ifax")
    assert (first.printed, first.deleted, first.on_server) == (2, 0, 2)
    bench.mail.deliver(BOB, fax_message(3))
    second = await device.api.check_mail("pop.ifax")
    assert (second.printed, second.deleted, second.on_server) == (1, 0, 3)
    third = await device.api.check_mail("pop.ifax")
    assert (third.printed, third.received) == (0, 0)
    assert len(tray_names(device)) == 3 and len(maildir(bench, BOB)) == 3
    # Turning leave_copy off later clears what was printed, and prints nothing again.
    assert (await sh(device, "set pop.ifax.leave_copy off"))["_ok"]
    fourth = await device.api.check_mail("pop.ifax")
    assert (fourth.printed, fourth.deleted) == (0, 3) and maildir(bench, BOB) == []


async def test_same_message_id_twice_is_printed_once(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    bench.mail.deliver(BOB, fax_message(1, message_id="<resent@a.test>"))
    bench.mail.deliver(BOB, fax_message(1, message_id="<resent@a.test>"))
    result = await device.api.check_mail("pop.ifax")
    assert (result.printed, result.duplicates, result.deleted) == (1, 1, 2)
    bench.mail.deliver(BOB, fax_message(1, message_id="<resent@a.test>"))  # a later poll too
    result = await device.api.check_mail("pop.ifax")
    assert (result.printed, result.duplicates) == (0, 1)
    assert len(tray_names(device)) == 1


async def test_thousand_message_mailbox_is_drained(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.emailprint")
    template = print_message(0).replace(b"\r\n", b"\n")
    box = bench.mail.store.maildir(BOB)
    for n in range(1000):  # 1,000 distinct messages (own Message-ID and subject each)
        box.add(template.replace(b"print0@", b"print%d@" % n).replace(b"print 0", b"print %d" % n))
    started = time.perf_counter()
    result = await device.api.check_mail("pop.emailprint")
    elapsed = time.perf_counter() - started
    assert result.ok, result.reason
    assert (result.on_server, result.printed, result.deleted) == (1000, 1000, 1000)
    assert bench.mail.store.count(BOB) == 0 and len(tray_names(device)) == 1000
    assert elapsed < 20, elapsed
    again = await device.api.check_mail("pop.emailprint")
    assert (again.on_server, again.printed) == (0, 0)
    assert device.nvram.read_prefix("rx.pop.emailprint.u.") == {}  # ledger pruned with the box


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
async def test_unprintable_mail_raises_an_alert_and_is_not_retried(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    broken = print_message(1, attachment=b"II*\x00garbage", content_type="image/tiff",
                           filename="fax.tif")
    bench.mail.deliver(BOB, broken)
    bench.mail.deliver(BOB, print_message(2))  # a PNG is not a fax
    bench.mail.deliver(BOB, fax_message(3))
    sub = device.api.subscribe()
    result = await device.api.check_mail("pop.ifax")
    assert result.ok and (result.printed, result.refused, result.deleted) == (1, 2, 3)
    refusals = [e for e in iter(sub.get_nowait, None) if isinstance(e, (Alert, Refused))]
    assert len(refusals) == 2 and all(isinstance(r, Refused) for r in refusals)
    assert all(r.source == "pop.ifax" for r in refusals)
    assert "TIFF" in refusals[0].reason and "print 1" in refusals[0].summary()
    assert "not an Internet Fax: no TIFF image (image/png)" in refusals[1].reason


async def test_email_print_refuses_a_fake_pdf(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.emailprint")
    bench.mail.deliver(BOB, print_message(1, attachment=b"<html>not a pdf</html>",
                                          content_type="application/pdf", filename="x.pdf"))
    result = await device.api.check_mail("pop.emailprint")
    assert (result.printed, result.refused) == (0, 1) and tray_names(device) == []


async def test_token_independence(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    for line in ("set pop.emailprint.provider local", f"set pop.emailprint.account {BOB}",
                 "set pop.emailprint.auth oauth2"):
        assert (await sh(device, line))["_ok"]
    bench.mail.deliver(BOB, fax_message(1))
    reply = await sh(device, "mail check pop.emailprint")
    assert reply["step"] == "token" and "Not retrieved" in reply["reason"]
    assert "token pop.emailprint get" in reply["reason"]
    assert device.stores["pop.emailprint"].state is TokenState.NOT_RETRIEVED
    assert device.stores["pop.ifax"].state is TokenState.RETRIEVED
    assert [e for e in bench.mail.auth_log.events if e.protocol == "pop3"] == []
    assert (await device.api.check_mail("pop.ifax")).printed == 1


async def test_pop_xoauth2_refused_token_is_renewed_once(device, bench, clock, tmp_path):
    verifier = RefusingVerifier(bench.idp.verifier())
    async with MailServer(clock, bench.ca, verifier, tmp_path / "cae") as mail:
        await setup_pop(device, bench, clock, "pop.ifax")
        assert (await sh(device, f"set pop.ifax.port {mail.pop3s_port} --confirm"))["_ok"]
        verifier.refuse((await device.stores["pop.ifax"].access_token()).access_token)
        mail.deliver(BOB, fax_message(1))
        result = await device.api.check_mail("pop.ifax")
        assert result.ok and result.printed == 1, result.reason
        assert [e.ok for e in mail.auth_log.events] == [False, True]


@pytest.mark.parametrize("case", ["refused_port", "tls", "login_refused", "token_expired"])
async def test_failures_are_told_apart_with_the_servers_words(make_device, bench, clock, case):
    device = await make_device("dev", trust_bench=case != "tls")
    auth = "oauth2" if case == "token_expired" else "plain"
    await setup_pop(device, bench, clock, "pop.ifax", auth=auth)
    refusal = "Login to your account via a web browser to verify your account"
    if case == "refused_port":
        assert (await sh(device, f"set pop.ifax.port {closed_port()} --confirm"))["_ok"]
    elif case == "login_refused":
        bench.faults.pop_login_refusal = refusal
    elif case == "token_expired":
        bench.idp.revoke(BOB)
        await clock.advance(3400)
        await wait_for(lambda: device.stores["pop.ifax"].state is TokenState.INVALID)
    sub = device.api.subscribe()
    result = await device.api.check_mail("pop.ifax")
    assert not result.ok
    [alert] = [e for e in iter(sub.get_nowait, None) if isinstance(e, Alert)]
    assert alert.reason == result.reason and alert.step == result.step
    expected = {
        "refused_port": ("connect", "refused"),
        "tls": ("tls", "certificate"),
        "login_refused": ("auth", f"-ERR {refusal}"),  # verbatim, as seed 004 requires
        "token_expired": ("token", TOKEN_UPDATE_FAILED),
    }[case]
    assert result.step == expected[0] and expected[1] in result.reason, result.reason


async def test_in_use_mailbox_is_a_temporary_refusal(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    assert bench.mail.store.try_lock(BOB)  # another client holds the maildrop
    try:
        result = await device.api.check_mail("pop.ifax")
    finally:
        bench.mail.store.unlock(BOB)
    assert not result.ok and "-ERR [IN-USE]" in result.reason


@pytest.mark.parametrize("hostility", list(Hostility), ids=lambda h: h.value)
async def test_hostile_pop_server_gives_a_clear_reason_and_no_crash(device, bench, clock,
                                                                    hostility):
    async with HostilePop3Server(hostility) as hostile:
        for line in ("set pop.ifax.server 127.0.0.1 --confirm", f"set pop.ifax.port {hostile.port} --confirm",
                     "set pop.ifax.security off", "set pop.ifax.auth plain",
                     f"set pop.ifax.user {BOB}", "set pop.ifax.password bob-pass-1",
                     "set pop.ifax.timeout 1"):
            assert (await sh(device, line))["_ok"]
        reply = await sh(device, "mail check pop.ifax")
    assert not reply["_ok"] and reply["reason"], reply
    assert reply["step"] in ("connect", "receive", "auth"), reply
    assert "internal error" not in reply["_err"]
    # The poller is fine afterwards: the real server works at once.
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    assert (await sh(device, "set pop.ifax.timeout 30"))["_ok"]
    bench.mail.deliver(BOB, fax_message(1))
    assert (await device.api.check_mail("pop.ifax")).printed == 1


# -- the receive spool (fax memory) and the print worker ---------------------------------------------


async def test_spool_survives_a_power_cut_and_prints_once(make_device, bench, clock, tmp_path):
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax")
    await a.receivers["pop.ifax"].printer.stop()  # the printer is off: faxes stay in memory
    bench.mail.deliver(BOB, fax_message(1))
    bench.mail.deliver(BOB, fax_message(2, pages=2))
    result = await a.api.check_mail("pop.ifax", wait_printed=False)
    assert result.ok, result.reason
    assert (result.received, result.spooled, result.printed, result.deleted,
            result.pending) == (2, 2, 0, 2, 2)
    assert maildir(bench, BOB) == [] and tray_names(a) == []  # deleted: stored for good
    # Both in one batch file (one create, one fsync), nothing else in the folder.
    [batch] = list(spool_dir(a).iterdir())
    assert batch.name.endswith(".batch") and batch.read_bytes().startswith(b"MFP-SPOOL-BATCH 1 2\n")
    await a.stop()  # the power goes

    b, sub = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await b.api.wait_printed("pop.ifax", 10)
        names = tray_names(b)
        assert len(names) == 3 and len({n.split("-")[0] for n in names}) == 2, names
        assert not any(n.endswith("-2.png") for n in names)  # no second copy of anything
        faxes = [e for e in iter(sub.get_nowait, None) if isinstance(e, Printed)]
        assert sorted(f.pages for f in faxes) == [1, 2]
        assert list(spool_dir(b).iterdir()) == []
        again = await b.api.check_mail("pop.ifax")  # nothing left anywhere, nothing reprinted
        assert (again.on_server, again.received, again.printed) == (0, 0, 0)
        assert len(tray_names(b)) == 3 and b.receivers["pop.ifax"].printer.printed == 2
    finally:
        await b.stop()


async def test_power_cut_mid_print_prints_only_the_missing_pages(make_device, bench, clock,
                                                                 tmp_path):
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax")
    printer = a.receivers["pop.ifax"].printer
    await printer.stop()
    bench.mail.deliver(BOB, fax_message(1, pages=3))
    assert (await a.api.check_mail("pop.ifax", wait_printed=False)).spooled == 1
    [spooled] = list(spool_dir(a).glob("*.batch"))
    kept = spooled.read_bytes()
    await printer.start()
    assert await a.api.wait_printed("pop.ifax", 10)
    pages = tray_names(a)
    assert [n.rsplit("-", 1)[1] for n in pages] == ["p1.png", "p2.png", "p3.png"]
    first = (a.tray.folder / pages[0]).read_bytes()
    await a.stop()
    # As if the power went after page 1: pages 2 and 3 not out, the batch file still there.
    for name in pages[1:]:
        (a.tray.folder / name).unlink()
    spooled.write_bytes(kept)

    b, _ = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await b.api.wait_printed("pop.ifax", 10)
        assert sorted(tray_names(b)) == sorted(pages)  # page 1 kept, 2 and 3 printed, no copy
        assert (b.tray.folder / pages[0]).read_bytes() == first
    finally:
        await b.stop()


async def test_refused_at_print_time_alerts_once_and_is_not_retried(make_device, bench, clock,
                                                                    tmp_path):
    a = await make_device("rx")
    await setup_pop(a, bench, clock, "pop.ifax", leave_copy=True)
    printer = a.receivers["pop.ifax"].printer
    await printer.stop()
    bench.mail.deliver(BOB, print_message(1))  # a PNG is not a fax
    assert (await a.api.check_mail("pop.ifax", wait_printed=False)).spooled == 1
    [spooled] = list(spool_dir(a).glob("*.batch"))
    kept = spooled.read_bytes()
    sub = a.api.subscribe()
    await printer.start()
    assert await a.api.wait_printed("pop.ifax", 10)
    [refused] = [e for e in iter(sub.get_nowait, None) if isinstance(e, (Alert, Refused))]
    assert isinstance(refused, Refused) and refused.source == "pop.ifax"
    assert "not an Internet Fax: no TIFF image (image/png)" in refused.reason
    assert "print 1" in refused.summary() and tray_names(a) == []
    assert list(spool_dir(a).iterdir()) == []  # dropped from the spool
    again = await a.api.check_mail("pop.ifax")  # left on the server (leave_copy): skipped
    assert (again.on_server, again.received, again.refused) == (1, 0, 0)
    assert [e for e in iter(sub.get_nowait, None) if isinstance(e, (Alert, Refused))] == []
    await a.stop()

    # The power went after the ledger said "refused" but before the file was removed.
    spooled.write_bytes(kept)
    b, sub = await powered_on(bench, clock, tmp_path / "rx")
    try:
        assert await b.api.wait_printed("pop.ifax", 10)
        assert list(spool_dir(b).iterdir()) == [] and tray_names(b) == []
        said = [e for e in iter(sub.get_nowait, None) if isinstance(e, (Alert, Refused))]
        assert said == []  # said once
        # The same message sent again (a new UIDL, same Message-ID) is refused again, not
        # silently taken for a duplicate: its Message-ID was forgotten with the refusal.
        bench.mail.deliver(BOB, print_message(1))
        resent = await b.api.check_mail("pop.ifax")
        assert (resent.received, resent.duplicates, resent.refused) == (1, 0, 1), resent
    finally:
        await b.stop()


async def test_mail_check_can_return_once_drained(device, bench, clock):
    """`wait_printed=False` ends with the POP session; `wait_printed` then waits for the tray."""
    await setup_pop(device, bench, clock, "pop.ifax")
    for n in range(3):
        bench.mail.deliver(BOB, fax_message(n))
    result = await device.api.check_mail("pop.ifax", wait_printed=False)
    assert result.ok and (result.spooled, result.deleted) == (3, 3)
    assert result.printed + result.pending == 3
    assert await device.api.wait_printed("pop.ifax", 10)
    assert len(tray_names(device)) == 3 and maildir(bench, BOB) == []
