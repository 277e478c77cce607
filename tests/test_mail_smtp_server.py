"""The bench SMTP service, checked with stdlib smtplib as an independent client.

smtplib blocks, and the server lives in the test's event loop, so every client conversation
runs in `asyncio.to_thread`. Tokens come from the real bench identity provider.
"""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import TypeVar

import pytest

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import POP_SCOPE, SMTP_SCOPE, IdentityProvider
from mfp_sim.tools.mailserver import MailServer

from .conftest import in_thread

T = TypeVar("T")
ALICE, BOB = "alice@example.test", "bob@example.test"
ALICE_PASSWORD, ALICE_APP_PASSWORD = "alice-pass-1", "abcdefghijklmnop"




def message(sender: str, to: str, subject: str = "Scan 0001", body: str = "scanned page") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    return msg.as_bytes()


def xoauth2(user: str, token: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


def submission(mail: MailServer, ca: BenchCA) -> smtplib.SMTP:
    """Port 587 style: connect, EHLO, STARTTLS."""
    s = smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5)
    s.starttls(context=ca.client_context())
    s.ehlo()
    return s


# -- basic authentication ------------------------------------------------------------------------
async def test_starttls_plain_login_delivers_to_maildir(mail: MailServer, ca: BenchCA) -> None:
    def talk() -> dict[str, tuple[int, bytes]]:
        with submission(mail, ca) as s:
            assert s.esmtp_features["auth"].split() == ["LOGIN", "PLAIN", "XOAUTH2"]
            s.login(ALICE, ALICE_PASSWORD)
            return s.sendmail(ALICE, [BOB], message(ALICE, BOB, "Scan to E-mail"))

    refused = await in_thread(talk)
    assert refused == {}
    (stored,) = mail.messages(BOB)
    assert b"Subject: Scan to E-mail" in stored
    assert b"Received: from" in stored and b"ESMTPSA" in stored
    assert (mail.store.root / BOB / "new").is_dir()
    assert mail.auth_log.events[-1].reason == "ok"


async def test_auth_login_with_app_password_over_implicit_tls(
    mail: MailServer, ca: BenchCA
) -> None:
    def talk() -> tuple[int, bytes]:
        with smtplib.SMTP_SSL(
            "127.0.0.1", mail.smtps_port, context=ca.client_context(), timeout=5
        ) as s:
            s.ehlo()
            s.user, s.password = ALICE, "abcd efgh ijkl mnop"  # as Microsoft displays it
            return s.auth("LOGIN", s.auth_login, initial_response_ok=False)

    code, text = await in_thread(talk)
    assert (code, text) == (235, b"2.7.0 Authentication successful")


async def test_no_auth_before_starttls_on_submission_port(mail: MailServer) -> None:
    def talk() -> tuple[bool, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as s:
            s.ehlo()
            offered = s.has_extn("auth")
            return offered, s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0a\0b").decode())

    offered, (code, _) = await in_thread(talk)
    assert not offered
    assert code == 538


async def test_wrong_password_is_535_5_7_3(mail: MailServer, ca: BenchCA) -> None:
    def talk() -> None:
        with submission(mail, ca) as s:
            s.login(ALICE, "wrong")

    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        await in_thread(talk)
    assert err.value.smtp_code == 535
    assert err.value.smtp_error == b"5.7.3 Authentication unsuccessful"
    assert mail.auth_log.events[-1].reason == "bad_password"


# -- XOAUTH2 -----------------------------------------------------------------------------------------
async def test_xoauth2_success_then_send(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE])
    assert len(token) > 512  # longer than aiosmtpd's default command limit

    def talk() -> tuple[tuple[int, bytes], dict[str, tuple[int, bytes]]]:
        with submission(mail, ca) as s:
            reply = s.docmd("AUTH", "XOAUTH2 " + xoauth2(ALICE, token))
            return reply, s.sendmail(ALICE, ["fax@remote.test"], message(ALICE, "fax@remote.test"))

    reply, refused = await in_thread(talk)
    assert reply == (235, b"2.7.0 Authentication successful")
    assert refused == {}
    assert len(mail.messages("fax@remote.test")) == 1  # relayed: lands in its own Maildir


async def test_xoauth2_without_initial_response(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(ALICE.upper(), [SMTP_SCOPE])

    def talk() -> list[tuple[int, bytes]]:
        with submission(mail, ca) as s:
            return [s.docmd("AUTH", "XOAUTH2"), s.docmd(xoauth2(ALICE, token))]

    first, second = await in_thread(talk)
    assert first[0] == 334
    assert second[0] == 235  # user= matches the token's user case-insensitively


async def _failed_xoauth2(mail: MailServer, ca: BenchCA, user: str, token: str) -> dict[str, str]:
    """Run a refused XOAUTH2 and check Exchange's two steps; returns the challenge JSON."""

    def talk() -> list[tuple[int, bytes]]:
        with submission(mail, ca) as s:
            challenge = s.docmd("AUTH", "XOAUTH2 " + xoauth2(user, token))
            final = s.docmd("")  # the client's empty answer
            noop = s.noop()  # the session is still usable
            return [challenge, final, noop]

    challenge, final, noop = await in_thread(talk)
    assert challenge[0] == 334
    assert final == (535, b"5.7.3 Authentication unsuccessful")
    assert noop[0] == 250
    body: dict[str, str] = json.loads(base64.b64decode(challenge[1]))
    assert body == {"status": "400", "schemes": "Bearer", "scope": SMTP_SCOPE}
    return body


async def test_xoauth2_garbage_token_fails_in_two_steps(mail: MailServer, ca: BenchCA) -> None:
    await _failed_xoauth2(mail, ca, ALICE, "not-a-token")
    assert mail.auth_log.events[-1].reason == "malformed"


async def test_xoauth2_expired_token(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider, clock: VirtualClock
) -> None:
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE])
    await clock.advance(idp.policy.access_token_lifetime + 1)
    await _failed_xoauth2(mail, ca, ALICE, token)
    assert mail.auth_log.events[-1].reason == "expired"


async def test_xoauth2_pop_token_is_wrong_scope_for_smtp(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(ALICE, [POP_SCOPE])
    await _failed_xoauth2(mail, ca, ALICE, token)
    assert mail.auth_log.events[-1].reason == "wrong_scope"


async def test_xoauth2_user_mismatch(mail: MailServer, ca: BenchCA, idp: IdentityProvider) -> None:
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE])
    await _failed_xoauth2(mail, ca, BOB, token)
    assert mail.auth_log.events[-1].reason == "user_mismatch"


async def test_xoauth2_disabled_account(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE])
    idp.disable(ALICE)
    await _failed_xoauth2(mail, ca, ALICE, token)
    assert mail.auth_log.events[-1].reason == "disabled"


# -- recipients -----------------------------------------------------------------------------------------
async def test_recipient_policy(mail: MailServer) -> None:
    def talk() -> list[tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as s:
            s.ehlo()
            return [
                s.docmd("MAIL", "FROM:<scanner@example.test>"),
                s.docmd("RCPT", "TO:<nobody@example.test>"),
                s.docmd("RCPT", "TO:<someone@remote.test>"),
                s.docmd("RCPT", f"TO:<{BOB}>"),
            ]

    mail_from, unknown, relay, local = await in_thread(talk)
    assert mail_from == (250, b"2.1.0 Sender OK")
    assert unknown == (550, b"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown")
    assert relay == (550, b"5.7.54 SMTP; Unable to relay recipient in non-accepted domain")
    assert local == (250, b"2.1.5 Recipient OK")


async def test_data_lines_keep_the_rfc_limit(mail: MailServer, ca: BenchCA) -> None:
    long_line = b"Subject: x\r\n\r\n" + b"A" * 1200 + b"\r\n"

    def talk() -> None:
        with submission(mail, ca) as s:
            s.login(ALICE, ALICE_PASSWORD)
            s.sendmail(ALICE, [BOB], long_line)

    with pytest.raises(smtplib.SMTPDataError) as err:
        await in_thread(talk)
    assert err.value.smtp_code == 500
    assert mail.messages(BOB) == []


# -- faults ------------------------------------------------------------------------------------------
async def test_fault_no_starttls_offered(mail: MailServer) -> None:
    mail.faults.smtp_offer_starttls = False

    def talk() -> tuple[bool, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as s:
            s.ehlo()
            return s.has_extn("starttls"), s.docmd("STARTTLS")

    offered, reply = await in_thread(talk)
    assert not offered
    assert reply[0] == 454


async def test_fault_smtp_auth_disabled_for_tenant(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    mail.faults.smtp_auth_disabled = True
    token = idp.mint_access_token(ALICE, [SMTP_SCOPE])

    def talk() -> tuple[int, bytes]:
        with submission(mail, ca) as s:
            return s.docmd("AUTH", "XOAUTH2 " + xoauth2(ALICE, token))

    code, text = await in_thread(talk)
    assert code == 535 and text.startswith(b"5.7.139 Authentication unsuccessful")


async def test_fault_basic_auth_disabled(mail: MailServer, ca: BenchCA) -> None:
    mail.faults.smtp_basic_auth_disabled = True

    def talk() -> None:
        with submission(mail, ca) as s:
            s.login(ALICE, ALICE_PASSWORD)

    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        await in_thread(talk)
    assert err.value.smtp_code == 550
    assert err.value.smtp_error.startswith(b"5.7.30 Basic authentication is not supported")


async def test_fault_auth_required_and_send_as(mail: MailServer, ca: BenchCA) -> None:
    mail.faults.smtp_auth_required = True
    mail.faults.smtp_enforce_send_as = True

    def talk() -> list[tuple[int, bytes]]:
        with submission(mail, ca) as s:
            anonymous = s.docmd("MAIL", f"FROM:<{ALICE}>")
            s.login(ALICE, ALICE_PASSWORD)
            other = s.docmd("MAIL", f"FROM:<{BOB}>")
            own = s.docmd("MAIL", f"FROM:<{ALICE}>")
            return [anonymous, other, own]

    anonymous, other, own = await in_thread(talk)
    assert anonymous == (530, b"5.7.57 Client not authenticated to send mail.")
    assert other[0] == 554 and b"SendAsDenied" in other[1]
    assert own[0] == 250


async def test_untrusted_client_context_fails_handshake(mail: MailServer) -> None:
    def talk() -> None:
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as s:
            s.starttls(context=BenchCA().client_context())  # another bench's CA

    with pytest.raises(ssl.SSLCertVerificationError):
        await in_thread(talk)
