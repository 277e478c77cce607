"""[Connection Test] for SMTP and both POP settings: the first failing stage, in the server's
words; "Token update failed. Please delete the token and obtain it again." for a dead token.
"""

from __future__ import annotations

import pytest

from mfp_sim.firmware.mail.errors import TOKEN_UPDATE_FAILED
from mfp_sim.firmware.tokens.machine import TokenState

from .conftest import ALICE, BOB, sh, wait_for
from .mail_helpers import ScriptedSmtp, closed_port, maildir, setup_pop, setup_smtp

pytestmark = [
    pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning"),
    pytest.mark.timeout(60),
]


async def test_smtp_ok_reports_every_stage(device, bench, clock):
    await setup_smtp(device, bench, clock)
    reply = await sh(device, "test smtp")
    assert reply["_ok"] and reply["ok"] == "yes" and reply["step"] == "done"
    assert "TLS (STARTTLS): certificate and host name verified" in reply["message"]
    assert f"signed in with XOAUTH2 as {ALICE}" in reply["message"]
    assert maildir(bench, BOB) == [] and device.jobs.list() == []  # nothing sent


async def test_smtp_function_names_share_the_smtp_test(device, bench, clock):
    await setup_smtp(device, bench, clock, auth="plain")
    report = await device.api.test_connection("scan_to_email")
    assert report.ok and "AUTH PLAIN" in report.message


async def test_pop_ok_counts_waiting_messages(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.emailprint")
    bench.mail.deliver(BOB, b"Subject: hello\r\n\r\nhi\r\n")
    report = await device.api.test_connection("pop.emailprint")
    assert report.ok and report.step == "done"
    assert "1 message(s) waiting" in report.message and "XOAUTH2 as bob" in report.message
    assert len(maildir(bench, BOB)) == 1  # nothing read, nothing deleted


async def test_smtp_refused_port(device, bench, clock):
    await setup_smtp(device, bench, clock)
    assert (await sh(device, f"set smtp.port {closed_port()} --confirm"))["_ok"]
    reply = await sh(device, "test smtp")
    assert reply["step"] == "connect" and "refused" in reply["message"]
    assert reply["_err"].startswith("connect: connection to 127.0.0.1:")


async def test_smtp_untrusted_certificate(make_device, bench, clock):
    device = await make_device("stranger", trust_bench=False)
    for line in ("set smtp.provider local", "set smtp.security ssl",
                 f"set smtp.port {bench.mail.smtps_port} --confirm"):
        assert (await sh(device, line))["_ok"]
    report = await device.api.test_connection("smtp")
    assert (report.ok, report.step) == (False, "tls")
    assert "certificate" in report.message and "not trusted" in report.message


async def test_smtp_wrong_password_shows_the_servers_reply(device, bench, clock):
    await setup_smtp(device, bench, clock, auth="plain")
    assert (await sh(device, "set smtp.password wrong"))["_ok"]
    report = await device.api.test_connection("smtp")
    assert (report.ok, report.step) == (False, "auth")
    assert report.detail == "535 5.7.3 Authentication unsuccessful"
    assert report.message.endswith("535 5.7.3 Authentication unsuccessful")
    assert len(report.passed) == 2  # connected and secured before the refusal


async def test_smtp_starttls_not_offered(device, bench, clock):
    await setup_smtp(device, bench, clock)
    scripted = ScriptedSmtp()
    await scripted.start()
    try:
        assert (await sh(device, f"set smtp.port {scripted.port} --confirm"))["_ok"]
        report = await device.api.test_connection("smtp")
    finally:
        await scripted.stop()
    assert (report.ok, report.step) == (False, "tls") and "STARTTLS" in report.message


async def test_smtp_token_that_cannot_be_renewed(device, bench, clock):
    await setup_smtp(device, bench, clock)
    bench.idp.revoke(ALICE)
    await clock.advance(3400)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.INVALID)
    reply = await sh(device, "test smtp")
    assert reply["message"] == TOKEN_UPDATE_FAILED
    assert reply["message"] == "Token update failed. Please delete the token and obtain it again."
    assert reply["step"] == "token" and "revoked" in reply["detail"]
    assert reply["_err"] == f"token: {TOKEN_UPDATE_FAILED}"


async def test_smtp_token_not_retrieved(device, bench, clock):
    for line in ("set smtp.provider local", "set smtp.auth oauth2", f"set smtp.account {ALICE}"):
        assert (await sh(device, line))["_ok"]
    report = await device.api.test_connection("smtp")
    assert (report.ok, report.step) == (False, "token")
    assert "Not retrieved" in report.message and "token smtp get" in report.message


async def test_pop_refusal_text_reaches_the_admin_unchanged(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    refusal = "Login to your account via a web browser to verify your account"
    bench.faults.pop_login_refusal = refusal
    reply = await sh(device, "test pop.ifax")
    assert reply["step"] == "auth" and reply["detail"] == f"-ERR {refusal}"
    assert reply["message"].endswith(f"-ERR {refusal}")


async def test_pop_tls_on_a_plain_port_is_a_tls_failure(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    assert (await sh(device, f"set pop.ifax.port {bench.mail.pop3_port} --confirm"))["_ok"]  # ssl on 110
    assert (await sh(device, "set pop.ifax.timeout 2"))["_ok"]
    report = await device.api.test_connection("pop.ifax")
    assert (report.ok, report.step) == (False, "tls"), report
    assert "did not answer in TLS" in report.message


async def test_pop_stls_works_on_the_plain_port(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    for line in (f"set pop.ifax.port {bench.mail.pop3_port} --confirm", "set pop.ifax.security starttls"):
        assert (await sh(device, line))["_ok"]
    report = await device.api.test_connection("pop.ifax")
    assert report.ok and "TLS (starttls)" in report.message


async def test_pop_token_that_cannot_be_renewed(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.emailprint")
    bench.idp.disable(BOB)
    await clock.advance(3400)
    await wait_for(lambda: device.stores["pop.emailprint"].state is TokenState.INVALID)
    report = await device.api.test_connection("pop.emailprint")
    assert (report.ok, report.step, report.message) == (False, "token", TOKEN_UPDATE_FAILED)
    assert "disabled" in report.detail
