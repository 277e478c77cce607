"""Sending: Scan to E-mail and Internet Fax through the device's SMTP client and job queue,
against the bench mail server (aiosmtpd with STARTTLS, implicit TLS and XOAUTH2 checked by the
bench IdP) or small scripted servers, over real sockets on 127.0.0.1, on the virtual clock.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from mfp_sim.firmware.events import JobChanged
from mfp_sim.firmware.mail.errors import TOKEN_UPDATE_FAILED
from mfp_sim.firmware.mail.jobs import MAX_ATTEMPTS, RETRY_BASE, retry_delay
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.vocabulary import JobKind
from mfp_sim.tools.mailserver import MailServer

from .conftest import ALICE, BOB, sh, wait_for
from .mail_helpers import (
    RefusingVerifier,
    ScriptedSmtp,
    closed_port,
    maildir,
    pdf_pages,
    setup_smtp,
    wait_job,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(60),
]


def attachment(message, content_type: str) -> bytes:  # type: ignore[no-untyped-def]
    parts = [p for p in message.walk() if p.get_content_type() == content_type]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return bytes(parts[0].get_payload(decode=True))


async def test_scan_to_email_starttls_xoauth2_lands_in_bobs_maildir(device, bench, clock):
    await setup_smtp(device, bench, clock)
    reply = await sh(device, f"scan to={BOB} pages=3")
    assert reply["_ok"], reply["_err"]
    job = await wait_job(device, reply["job"])
    assert (job.state.value, job.attempts) == ("sent", 1)
    assert job.reason.startswith("250 2.6.0")

    [message] = maildir(bench, BOB)
    assert message["From"] == f"Front-desk MFP <{ALICE}>"
    assert message["To"] == BOB and message["Subject"] == "Scanned image from MFP"
    assert message["Message-ID"] == job.message_id
    assert "ESMTPSA" in message["Received"]  # signed in, over the submission port
    pdf = attachment(message, "application/pdf")
    assert pdf.startswith(b"%PDF-") and pdf_pages(pdf) == 3
    # The server saw one XOAUTH2 sign-in, as alice, and it succeeded.
    [auth] = [e for e in bench.mail.auth_log.events if e.protocol == "smtp"]
    assert (auth.mechanism, auth.username, auth.ok) == ("XOAUTH2", ALICE, True)

    shown = await sh(device, f"job {job.id}")
    assert (shown["state"], shown["attempts"], shown["kind"]) == ("sent", "1", "scan")
    listed = await sh(device, "jobs")
    assert listed[job.id].startswith("sent kind:scan to:bob@example.test")


async def test_implicit_tls_and_tiff_format(device, bench, clock):
    await setup_smtp(device, bench, clock, security="ssl")
    reply = await sh(device, f"scan to={BOB} pages=2 format=tiff")
    job = await wait_job(device, reply["job"])
    assert job.state.value == "sent", job.reason
    [message] = maildir(bench, BOB)
    tiff = Image.open(io.BytesIO(attachment(message, "image/tiff")))
    assert tiff.n_frames == 2 and tiff.mode == "1"


@pytest.mark.parametrize("auth", ["plain", "login"])
async def test_password_auth(device, bench, clock, auth):
    await setup_smtp(device, bench, clock, auth=auth)
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "sent", job.reason
    [event] = bench.mail.auth_log.events
    assert (event.mechanism, event.username, event.ok) == (auth.upper(), ALICE, True)
    assert len(maildir(bench, BOB)) == 1


async def test_ifax_send_is_a_tiff_f_fax_message(device, bench, clock):
    await setup_smtp(device, bench, clock)
    reply = await sh(device, f"ifax send to={BOB} pages=2")
    job = await wait_job(device, reply["job"])
    assert (job.kind, job.state.value) == ("ifax", "sent")
    [message] = maildir(bench, BOB)
    assert message["Subject"] == "Internet Fax from MFP (2 pages)"
    part = next(p for p in message.walk() if p.get_content_type() == "image/tiff")
    assert part.get_param("application") == "faxbw"
    fax = Image.open(io.BytesIO(part.get_payload(decode=True)))
    assert (fax.n_frames, fax.width) == (2, 1728)


async def test_535_refreshes_the_token_once_and_retries(device, bench, clock, tmp_path: Path):
    verifier = RefusingVerifier(bench.idp.verifier())
    async with MailServer(clock, bench.ca, verifier, tmp_path / "cae") as mail:
        await setup_smtp(device, bench, clock)
        assert (await sh(device, f"set smtp.port {mail.smtp_port} --confirm"))["_ok"]
        first = (await device.stores["smtp"].access_token()).access_token
        verifier.refuse(first)  # e.g. the server's clock runs ahead, or it dropped the session
        job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
        assert (job.state.value, job.attempts) == ("sent", 1), job.reason
        assert [e.ok for e in mail.auth_log.events] == [False, True]
        assert verifier.seen[0] == first and verifier.seen[1] != first
        assert device.stores["smtp"].state is TokenState.RETRIEVED
        assert len(mail.messages(BOB)) == 1


async def test_revoked_at_the_idp_token_becomes_invalid_and_job_fails(device, bench, clock,
                                                                      tmp_path: Path):
    verifier = RefusingVerifier(bench.idp.verifier())
    async with MailServer(clock, bench.ca, verifier, tmp_path / "cae") as mail:
        await setup_smtp(device, bench, clock)
        assert (await sh(device, f"set smtp.port {mail.smtp_port} --confirm"))["_ok"]
        assert bench.idp.revoke(ALICE) == 1
        verifier.refuse((await device.stores["smtp"].access_token()).access_token)
        job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
        assert (job.state.value, job.attempts) == ("failed", 1)
        assert TOKEN_UPDATE_FAILED in job.reason
        assert "535 5.7.3 Authentication unsuccessful" in job.reason
        assert "revoked" in job.reason  # the IdP's own words (AADSTS50173 ...)
        assert device.stores["smtp"].state is TokenState.INVALID
        assert mail.messages(BOB) == []
        # A later job fails at once, without bothering the server.
        job2 = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
        assert job2.state.value == "failed" and TOKEN_UPDATE_FAILED in job2.reason
        assert len(mail.auth_log.events) == 1


async def test_revoked_grant_found_at_refresh_time(device, bench, clock):
    await setup_smtp(device, bench, clock)
    bench.idp.revoke(ALICE)
    await clock.advance(3400)  # past the refresh point: the store asks, the IdP says revoked
    await wait_for(lambda: device.stores["smtp"].state is TokenState.INVALID, what="invalid")
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "failed" and TOKEN_UPDATE_FAILED in job.reason
    assert bench.mail.auth_log.events == []  # never tried a token it knew was dead


async def test_smtp_auth_disabled_for_tenant_fails_with_the_servers_text(device, bench, clock):
    await setup_smtp(device, bench, clock)
    bench.faults.smtp_auth_disabled = True
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "failed"
    assert "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled" in job.reason
    # a tenant setting, not the token: one AUTH, no renewal, the token kept (docs/faults.md)
    assert len(bench.mail.auth_log.events) == 1
    assert bench.idp.stats.token_requests("refresh_token") == 0
    assert device.stores["smtp"].state is TokenState.RETRIEVED


async def test_server_without_starttls_is_refused_and_nothing_goes_out_in_clear(device, bench,
                                                                                clock):
    await setup_smtp(device, bench, clock)
    scripted = ScriptedSmtp()  # its EHLO offers no STARTTLS
    await scripted.start()
    try:
        assert (await sh(device, f"set smtp.port {scripted.port} --confirm"))["_ok"]
        job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
        assert (job.state.value, job.attempts) == ("failed", 1)
        assert "does not offer STARTTLS" in job.reason and "nothing was sent in clear" in job.reason
        assert set(scripted.commands()) <= {"EHLO", "QUIT"}, scripted.lines
        assert not any(ALICE in line or "AUTH" in line for line in scripted.lines)
    finally:
        await scripted.stop()


async def test_bench_fault_no_starttls_offered(device, bench, clock):
    await setup_smtp(device, bench, clock)
    bench.faults.smtp_offer_starttls = False
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "failed" and "STARTTLS" in job.reason
    assert bench.mail.auth_log.events == [] and maildir(bench, BOB) == []


async def test_4xx_is_retried_with_exponential_backoff_on_the_device_clock(device, bench, clock):
    busy = "451 4.7.500 Server busy. Please try again later."
    scripted = ScriptedSmtp({"MAIL": lambda n: busy if n <= 2 else "250 2.1.0 Sender OK"})
    await scripted.start()
    try:
        for line in ("set smtp.server 127.0.0.1 --confirm", f"set smtp.port {scripted.port} --confirm",
                     "set smtp.security off", "set smtp.auth none",
                     f"set smtp.sender_address {ALICE}"):
            assert (await sh(device, line))["_ok"]
        job_id = (await sh(device, f"scan to={BOB}"))["job"]
        job = await wait_job(device, job_id, "queued", attempts=1)
        assert busy in job.reason and "attempt 1 of 8; next in 60 s" in job.reason
        assert job.next_attempt_at == pytest.approx(clock.now() + RETRY_BASE)

        await clock.advance(RETRY_BASE - 1)
        assert device.jobs.get(job_id).attempts == 1  # not a second early
        await clock.advance(1)
        job = await wait_job(device, job_id, "queued", attempts=2)
        assert "next in 120 s" in job.reason
        await clock.advance(119)
        assert device.jobs.get(job_id).attempts == 2
        await clock.advance(1)
        job = await wait_job(device, job_id, "sent")
        assert job.attempts == 3 and len(scripted.messages) == 1
        assert scripted.commands().count("MAIL") == 3
    finally:
        await scripted.stop()


async def test_connection_refused_is_retried_then_given_up(device, bench, clock):
    await setup_smtp(device, bench, clock)
    assert (await sh(device, f"set smtp.port {closed_port()} --confirm"))["_ok"]
    job_id = (await sh(device, f"scan to={BOB}"))["job"]
    for attempt in range(1, MAX_ATTEMPTS):
        job = await wait_job(device, job_id, "queued", attempts=attempt)
        assert "refused" in job.reason
        await clock.advance(retry_delay(attempt))
    job = await wait_job(device, job_id, "failed")
    assert job.attempts == MAX_ATTEMPTS and f"gave up after {MAX_ATTEMPTS} attempts" in job.reason
    assert [retry_delay(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]


class HostileGreeter:
    """A TCP server whose first words are not SMTP: garbage with a NUL, or an endless line."""

    def __init__(self, endless: bool) -> None:
        self.endless = endless
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HostileGreeter:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.endless:
                for _ in range(512):  # 2 MB without a line end, then give up
                    writer.write(b"x" * 4096)
                    await writer.drain()
            else:
                writer.write(b"\x00\xff garbage\r\n")
                await writer.drain()
                await reader.read(100)
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("endless, words", [
    (False, 'something that is not an SMTP reply ("\\x00'),
    (True, "a line longer than SMTP allows"),
])
async def test_a_hostile_greeting_is_told_as_such_and_retried(device, endless, words):
    async with HostileGreeter(endless) as server:
        for line in ("set smtp.server 127.0.0.1", f"set smtp.port {server.port}",
                     "set smtp.security off", f"set smtp.sender_address {ALICE}"):
            assert (await sh(device, line))["_ok"], line
        test = await sh(device, "test smtp")
        assert test["step"] == "connect" and words in test["message"], test
        assert "internal error" not in test["_err"] and test["_err"].startswith("connect: ")
        job_id = (await sh(device, f"scan to={BOB}"))["job"]
        job = await wait_job(device, job_id, "queued", attempts=1)
        assert words in job.reason and "attempt 1 of" in job.reason  # temporary: tried again


async def test_5xx_fails_at_once_with_the_servers_text(device, bench, clock):
    await setup_smtp(device, bench, clock)
    job = await wait_job(device, (await sh(device, "scan to=nobody@example.test"))["job"])
    assert (job.state.value, job.attempts) == ("failed", 1)
    assert "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown" in job.reason
    events = list(bench.mail.auth_log.events)
    assert len(events) == 1  # one session, no retry


async def test_untrusted_certificate_fails_the_job(make_device, bench, clock):
    device = await make_device("stranger", trust_bench=False)
    for line in ("set smtp.provider local", "set smtp.auth plain", f"set smtp.user {ALICE}",
                 "set smtp.password alice-pass-1", f"set smtp.sender_address {ALICE}"):
        assert (await sh(device, line))["_ok"]
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    assert job.state.value == "failed" and "certificate" in job.reason
    assert bench.mail.auth_log.events == []


@pytest.mark.parametrize("line, error", [
    ("scan", "to=<address> is required"),
    ("scan to=bob", "is not an e-mail address"),
    (f"scan to={BOB} pages=0", "pages=0 is not allowed: a whole number from 1 to 999"),
    (f"scan to={BOB} pages=x", "a whole number from 1 to 999"),
    (f"scan to={BOB} format=jpeg", "format='jpeg' is not allowed: pdf or tiff"),
    (f"scan to={BOB} colour=yes", "arguments: to=<address>, pages=<1..999>, format=<pdf|tiff>"),
    ("ifax to=x", "usage: ifax send to=<address> [pages=N]"),
    ("job 42", "no job '42'"),
    ("test imap", "unknown setting 'imap': one of smtp|pop.ifax|pop.emailprint"),
    ("mail check smtp", "unknown POP setting 'smtp'"),
])
async def test_bad_arguments_say_what_is_allowed(device, line, error):
    assert (await sh(device, "set smtp.server 127.0.0.1 --confirm"))["_ok"]
    assert (await sh(device, f"set smtp.sender_address {ALICE}"))["_ok"]
    reply = await sh(device, line)
    assert not reply["_ok"] and error in reply["_err"], reply["_err"]


async def test_scan_needs_smtp_configured(device):
    reply = await sh(device, f"scan to={BOB}")
    assert reply["_err"] == "smtp.server is not set: configure SMTP before sending"
    assert device.jobs.list() == []


async def test_job_events_follow_the_states(device, bench, clock):
    await setup_smtp(device, bench, clock)
    sub = device.api.subscribe()
    job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"])
    states = []
    while (event := sub.get_nowait()) is not None:
        if isinstance(event, JobChanged):
            assert event.id == job.id
            states.append(event.state)
    assert states == ["queued", "sending", "sent"]


def test_every_mail_command_is_documented():
    from mfp_sim.firmware.console.mail import MAIL_COMMANDS

    text = (Path(__file__).resolve().parent.parent / "docs" / "shell.md").read_text()
    for command in MAIL_COMMANDS:
        assert f"`{command.name}" in text, command.name


async def test_help_lists_the_mail_commands(device):
    reply = await sh(device, "help scan")
    assert reply["usage"] == "scan to=<address> [pages=N] [format=pdf|tiff]"
    assert {"scan", "ifax", "job", "jobs", "test", "mail", "tray"} <= set(await sh(device, "help"))


async def test_dots_and_lone_line_ends_arrive_as_composed(device, bench, clock):
    """The device dot-stuffs and CRLF-normalises DATA itself (`smtp_sender.data_payload`):
    lines that are or start with dots, a lone LF and a lone CR reach the mailbox intact."""
    await setup_smtp(device, bench, clock)
    body = b"first\r\n.leading dot\r\n..two dots\r\n.\r\nlone LF\nlone CR\rlast"
    raw = (f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: dots\r\nMessage-ID: <dots@mfp.test>\r\n\r\n"
           .encode() + body)
    job_id = device.jobs.allocate_id()
    device.jobs.submit(job_id, kind=JobKind.SCAN, to=BOB, sender=ALICE, subject="dots",
                       message_id="<dots@mfp.test>", message=raw)
    assert (await wait_job(device, job_id)).state.value == "sent"
    [message] = maildir(bench, BOB)
    assert message["Message-ID"] == "<dots@mfp.test>"
    lines = message.get_payload().splitlines()
    assert lines == ["first", ".leading dot", "..two dots", ".", "lone LF", "lone CR", "last"]
