"""The fault catalogue on the wire: every entry armed through the control API and seen by an
independent client (requests, msal, smtplib, poplib), the /faults listing, disarming, counts,
one user or any, the bench's /stats, the mail server's certificates, and docs/faults.md.

What a *device* does under each entry is not tested here (a later stream does that).
"""

from __future__ import annotations

import asyncio
import base64
import poplib
import re
import smtplib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import POP_SCOPE, SMTP_SCOPE, IdentityProvider, IdpPolicy
from mfp_sim.tools.idp.faults import CATALOGUE as IDP_CATALOGUE
from mfp_sim.tools.idp.faults import GARBAGE_BODY
from mfp_sim.tools.mailserver.faults import CATALOGUE as MAIL_CATALOGUE
from mfp_sim.tools.testbed import Testbed

from .bench_clients import ALICE, BOB, PASSWORDS, Wire, call, msal_app

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning")]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "faults.md"

#: What the issue asks for, by name: the catalogue must hold at least these.
REQUIRED = {
    "consent_required", "admin_consent_required", "mfa_required", "conditional_access_blocked",
    "security_defaults_blocked", "public_client_disabled", "app_not_found", "password_changed",
    "token_revoked", "refresh_token_expired", "sign_in_frequency", "throttled", "server_error",
    "garbage", "hang", "wrong_issuer", "smtp_auth_disabled_tenant", "smtp_auth_disabled_mailbox",
    "basic_auth_retired", "send_as_denied", "xoauth2_rejected", "pop_auth_failed",
    "pop_logon_failure", "mailbox_in_use", "tls_required", "temp_unavailable",
}

#: Entra's answer per entry (status, error, AADSTS code), written down independently of the
#: catalogue from entra-docs reference-error-codes.md and the threads docs/faults.md cites.
ENTRA = {
    "consent_required": (400, "invalid_grant", 65001),
    "admin_consent_required": (400, "invalid_grant", 90094),
    "mfa_required": (400, "invalid_grant", 50076),
    "conditional_access_blocked": (400, "invalid_grant", 53003),
    "security_defaults_blocked": (400, "invalid_grant", 530035),
    "public_client_disabled": (401, "invalid_client", 7000218),
    "app_not_found": (400, "unauthorized_client", 700016),
    "password_changed": (400, "invalid_grant", 50173),
    "token_revoked": (400, "invalid_grant", 50173),
    "refresh_token_expired": (400, "invalid_grant", 700082),
    "sign_in_frequency": (400, "invalid_grant", 70043),
    "throttled": (429, "temporarily_unavailable", 90055),
    "server_error": (500, "server_error", 50000),
}
SUBERRORS = {"consent_required": "consent_required", "mfa_required": "basic_action",
             "sign_in_frequency": "token_expired"}


@pytest.fixture(scope="module")
def ca() -> BenchCA:
    return BenchCA()


@pytest.fixture(scope="module")
def ca_file(ca: BenchCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write_ca(tmp_path_factory.mktemp("ca") / "bench-ca.pem")


@pytest.fixture
async def idp(clock: VirtualClock, ca: BenchCA) -> AsyncIterator[IdentityProvider]:
    async with IdentityProvider(clock=clock, ca=ca) as provider:
        yield provider


@pytest.fixture
def wire(idp: IdentityProvider, ca_file: Path) -> Wire:
    return Wire(idp, ca_file)


@pytest.fixture
async def testbed(tmp_path: Path, clock: VirtualClock) -> AsyncIterator[Testbed]:
    async with Testbed(tmp_path / "bench", clock) as bench:
        yield bench


async def arm(wire: Wire, **body: Any) -> dict[str, Any]:
    answer = await wire.control("POST", "fault", body)
    assert answer.status_code == 200, answer.text
    armed: dict[str, Any] = answer.json()["armed"]
    return armed


# ---- the identity provider's entries, at every phase they may strike ------------------------
async def strike(wire: Wire, name: str, phase: str) -> Any:
    """Prepare what `phase` needs, arm `name` for that phase only, send the request."""
    if phase == "idp.refresh":
        tokens = await wire.signed_in()
        await arm(wire, name=name, phases=[phase], count=1)
        return await wire.refresh(tokens["refresh_token"])
    if phase == "idp.auth_code":
        code, verifier = await wire.authorization_code()
        await arm(wire, name=name, phases=[phase], count=1)
        return await wire.redeem(code, verifier)
    if phase == "idp.device_redeem":
        flow = await wire.approved_flow()
        await arm(wire, name=name, phases=[phase], count=1)
        return await wire.poll(flow["device_code"])
    if phase == "idp.device_poll":
        flow = (await wire.device_code()).json()
        await arm(wire, name=name, phases=[phase], count=1)
        return await wire.poll(flow["device_code"])
    await arm(wire, name=name, phases=[phase], count=1)
    if phase == "idp.device_authorization":
        return await wire.device_code()
    assert phase == "idp.discovery"
    return await call(wire.http.get, f"{wire.idp.issuer}/.well-known/openid-configuration",
                      timeout=10)


CASES = [(e.name, p) for e in IDP_CATALOGUE if e.name != "hang"
         for p in e.phases + e.optional_phases]


@pytest.mark.parametrize(("name", "phase"), CASES)
async def test_idp_entry_answers_on_the_wire(wire: Wire, idp: IdentityProvider,
                                             name: str, phase: str) -> None:
    response = await strike(wire, name, phase)
    if name == "garbage":
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text == GARBAGE_BODY
        with pytest.raises(ValueError):
            response.json()
    elif name == "wrong_issuer":
        tokens = response.json()
        assert response.status_code == 200 and "access_token" in tokens
        claims = _claims(tokens["id_token"])
        assert claims["iss"] == f"{idp.base_url}/other-tenant" != idp.issuer
    else:
        status, error, code = ENTRA[name]
        body = response.json()
        assert (response.status_code, body["error"]) == (status, error), body
        assert body["error_description"].startswith(f"AADSTS{code}: ")
        assert "{" not in body["error_description"]  # every placeholder filled
        assert re.search(r"\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}"
                         r"\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$",
                         body["error_description"])
        assert body["error_codes"] == [code]
        assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
        if name in SUBERRORS:
            assert body["suberror"] == SUBERRORS[name]
        if name == "throttled":
            assert response.headers["Retry-After"] == "60"
    # count=1: the fault is spent, the same request now gets its normal answer
    assert all(a["name"] != name for a in _armed(await wire.control("GET", "faults")))
    assert (await wire.control("GET", "stats")).json()["idp"]["faults_fired"] == {name: 1}


def _armed(listing: Any) -> list[dict[str, Any]]:
    return [a for row in listing.json()["faults"] for a in row["armed"]]


def _claims(jwt: str) -> dict[str, Any]:
    import json

    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_entra_texts_name_the_grant_time(wire: Wire, clock: VirtualClock) -> None:
    tokens = await wire.signed_in()
    await clock.advance(3600)
    await arm(wire, name="sign_in_frequency")
    body = (await wire.refresh(tokens["refresh_token"])).json()
    assert ("The token was issued on 2027-01-15T08:00:00.0000000Z and the maximum allowed "
            "lifetime for this request is 86400.") in body["error_description"]


async def test_msal_sees_consent_required_as_entra_sends_it(
        idp: IdentityProvider, wire: Wire, ca_file: Path) -> None:
    app = await msal_app(idp, ca_file)
    flow = await call(app.initiate_device_flow, scopes=[SMTP_SCOPE])
    idp.approve(flow["user_code"], ALICE)
    await arm(wire, name="consent_required", phases=["idp.device_redeem"])
    result = await call(app.acquire_token_by_device_flow, flow, exit_condition=lambda f: True)
    assert result["error"] == "invalid_grant" and result["suberror"] == "consent_required"
    assert result["error_codes"] == [65001]


async def test_other_profiles_answer_faults_in_their_own_words(
        idp: IdentityProvider, wire: Wire) -> None:
    idp.state.set_policy(IdpPolicy.for_profile("keycloak"))
    tokens = await wire.signed_in()
    await arm(wire, name="token_revoked")
    body = (await wire.refresh(tokens["refresh_token"])).json()
    assert body == {"error": "invalid_grant", "error_description": "Session not active"}
    await arm(wire, name="mfa_required")  # no Keycloak words: Entra's text, no AADSTS code
    await wire.control("DELETE", "fault", {"name": "token_revoked"})
    body = (await wire.refresh(tokens["refresh_token"])).json()
    assert body["error_description"].startswith("Due to a configuration change")
    assert "error_codes" not in body and "suberror" not in body


# ---- hang: no answer, but bounded on the bench side -----------------------------------------
async def test_hang_never_answers_and_ends_on_its_cap(wire: Wire) -> None:
    await arm(wire, name="hang", phases=["idp.device_authorization"], hang_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError, match=r"without response"):
        await call(wire.http.post, f"{wire.idp.issuer}/oauth2/v2.0/devicecode",
                   data={"client_id": "mfp-sim-device"}, timeout=10)
    assert 0.25 < time.monotonic() - started < 5


async def test_hang_is_released_by_disarm_and_by_stop(clock: VirtualClock, ca: BenchCA,
                                                      ca_file: Path) -> None:
    idp = IdentityProvider(clock=clock, ca=ca)
    await idp.start()
    wire = Wire(idp, ca_file)
    await arm(wire, name="hang", hang_seconds=600)
    hung = asyncio.ensure_future(call(wire.http.post, f"{idp.issuer}/oauth2/v2.0/devicecode",
                                      data={"client_id": "mfp-sim-device"}, timeout=30))
    await asyncio.sleep(0.3)
    assert not hung.done()
    disarmed = (await wire.control("DELETE", "fault")).json()
    assert disarmed == {"disarmed": 1}
    with pytest.raises(requests.ConnectionError, match=r"without response"):
        await asyncio.wait_for(hung, timeout=5)
    await arm(wire, name="hang", hang_seconds=600)
    hung = asyncio.ensure_future(call(wire.http.post, f"{idp.issuer}/oauth2/v2.0/devicecode",
                                      data={"client_id": "mfp-sim-device"}, timeout=30))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await idp.stop()  # a hung request does not hold the shutdown
    assert time.monotonic() - started < 3
    with pytest.raises(requests.ConnectionError):
        await asyncio.wait_for(hung, timeout=5)


# ---- arming: one user, N hits, listing, disarming, bad requests -----------------------------
async def test_a_fault_for_one_user_and_for_n_hits(wire: Wire) -> None:
    alice, bob = await wire.signed_in(ALICE), await wire.signed_in(BOB)
    await arm(wire, name="consent_required", username=BOB.upper(), count=2)
    assert (await wire.refresh(alice["refresh_token"])).status_code == 200
    for left in (1, None):
        assert (await wire.refresh(bob["refresh_token"])).status_code == 400
        armed = _armed(await wire.control("GET", "faults"))
        assert [a["count_left"] for a in armed] == ([left] if left else [])
    assert (await wire.refresh(bob["refresh_token"])).status_code == 200


async def test_faults_listing_and_disarm_all(testbed: Testbed, ca_file: Path) -> None:
    wire = Wire(testbed.idp, testbed.ca_file)
    rows = (await wire.control("GET", "faults")).json()["faults"]
    names = [r["name"] for r in rows]
    assert REQUIRED <= set(names) and len(names) == len(set(names))
    for row in rows:
        assert row["description"] and row["wire"] and row["source"] and row["phases"]
        assert row["armed"] == []
    await arm(wire, name="throttled", retry_after=120)
    await arm(wire, name="mailbox_in_use", username=ALICE)
    listed = _armed(await wire.control("GET", "faults"))
    assert {(a["name"], a["username"]) for a in listed} == {("throttled", None),
                                                            ("mailbox_in_use", ALICE)}
    assert next(a for a in listed if a["name"] == "throttled")["options"] == {"retry_after": 120}
    assert (await wire.control("DELETE", "fault")).json() == {"disarmed": 2}
    assert _armed(await wire.control("GET", "faults")) == []


@pytest.mark.parametrize(("method", "body", "status", "words"), [
    ("POST", {}, 400, "name is required"),
    ("POST", {"name": "nonsense"}, 404, "no fault named 'nonsense'"),
    ("POST", {"name": "throttled", "count": 0}, 400, "count must be a positive integer"),
    ("POST", {"name": "throttled", "count": True}, 400, "count must be a positive integer"),
    ("POST", {"name": "throttled", "phases": ["smtp.auth"]}, 400, "can strike at"),
    ("POST", {"name": "throttled", "phases": "idp.refresh"}, 400, "phases must be a list"),
    ("POST", {"name": "throttled", "retry_after": 0}, 400, "retry_after must be a number"),
    ("POST", {"name": "consent_required", "retry_after": 5}, 400, "takes no field"),
    ("POST", {"name": "consent_required", "username": ""}, 400, "username must be"),
    ("DELETE", {"name": "nonsense"}, 404, "no fault named"),
    ("PUT", {}, 405, "takes POST, DELETE"),
])
async def test_arming_refuses_bad_requests_clearly(wire: Wire, method: str, body: dict[str, Any],
                                                   status: int, words: str) -> None:
    answer = await wire.control(method, "fault", body)
    assert answer.status_code == status and words in answer.json()["message"]
    assert _armed(await wire.control("GET", "faults")) == []


# ---- stats ----------------------------------------------------------------------------------
async def test_stats_count_what_the_device_did(wire: Wire) -> None:
    flow = (await wire.device_code()).json()
    await wire.poll(flow["device_code"])  # pending, nobody known yet
    wire.idp.approve(flow["user_code"], ALICE)
    tokens = (await wire.poll(flow["device_code"])).json()
    for _ in range(3):
        tokens = (await wire.refresh(tokens["refresh_token"])).json()
    await arm(wire, name="throttled", count=1)
    await wire.refresh(tokens["refresh_token"])
    stats = (await wire.control("GET", "stats")).json()
    assert stats["idp"]["device_authorization"] == {"total": 1, "by_outcome": {"ok": 1}}
    token = stats["idp"]["token"]
    assert token["total"] == 6
    assert token["by_grant_type"] == {"device_code": 2, "refresh_token": 4}
    assert token["by_outcome"] == {"authorization_pending": 1, "ok": 4, "fault:throttled": 1}
    assert token["by_user"] == {ALICE: {"device_code": 1, "refresh_token": 4},
                                "(unknown)": {"device_code": 1}}
    assert wire.idp.stats.token_requests("refresh_token", ALICE) == 4
    reset = (await wire.control("POST", "stats/reset")).json()
    assert reset["idp"]["token"]["total"] == 0 and reset["smtp"]["sessions"] == 0


# ---- the mail server's entries --------------------------------------------------------------
def _xoauth2(user: str, token: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


def _smtps(bench: Testbed) -> smtplib.SMTP_SSL:
    return smtplib.SMTP_SSL("127.0.0.1", bench.mail.smtps_port,
                            context=bench.ca.client_context(), timeout=10)


def _pop3s(bench: Testbed) -> poplib.POP3_SSL:
    return poplib.POP3_SSL("127.0.0.1", bench.mail.pop3s_port,
                           context=bench.ca.client_context(), timeout=10)


async def test_smtp_entries_on_the_wire(testbed: Testbed) -> None:
    wire = Wire(testbed.idp, testbed.ca_file)
    token = testbed.idp.mint_access_token(ALICE, [SMTP_SCOPE], lifetime=3600)

    def auth(mechanism: str) -> tuple[int, bytes]:
        with _smtps(testbed) as s:
            s.ehlo()
            if mechanism == "XOAUTH2":
                return s.docmd("AUTH", "XOAUTH2 " + _xoauth2(ALICE, token))
            plain = base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()
            return s.docmd("AUTH", "PLAIN " + plain)  # one attempt (smtplib.login tries two)

    for name, words in (("smtp_auth_disabled_tenant", b"for the Tenant"),
                        ("smtp_auth_disabled_mailbox", b"for the Mailbox")):
        await arm(wire, name=name, count=2)
        for mechanism in ("PLAIN", "XOAUTH2"):
            code, text = await call(auth, mechanism)
            assert code == 535, text
            assert re.fullmatch(
                rb"5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                + words + rb"\. Visit https://aka\.ms/smtp_auth_disabled for more information\. "
                rb"\[mail\.example\.test 2027-01-15T08:00:00\.000Z [0-9A-F]{16}\]", text), text

    await arm(wire, name="basic_auth_retired")
    assert await call(auth, "PLAIN") == (
        550, b"5.7.30 Basic authentication is not supported for Client Submission.")
    assert (await call(auth, "XOAUTH2"))[0] == 235  # OAuth still works
    await wire.control("DELETE", "fault")

    def xoauth2_then_empty() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with _smtps(testbed) as s:
            s.ehlo()
            first = s.docmd("AUTH", "XOAUTH2 " + _xoauth2(ALICE, token))
            return first, s.docmd("")

    await arm(wire, name="xoauth2_rejected", username=ALICE, count=1)
    challenge, final = await call(xoauth2_then_empty)
    assert challenge[0] == 334 and b'"status":"400"' in base64.b64decode(challenge[1])
    assert final == (535, b"5.7.3 Authentication unsuccessful")

    def send() -> tuple[int, bytes]:
        with _smtps(testbed) as s:
            s.ehlo()
            assert s.docmd("AUTH", "XOAUTH2 " + _xoauth2(ALICE, token))[0] == 235
            return s.mail(ALICE)

    await arm(wire, name="send_as_denied", count=1)
    assert await call(send) == (550, b"5.7.60 SMTP; Client does not have permissions to send "
                                     b"as this sender")
    assert (await call(send))[0] == 250

    await arm(wire, name="temp_unavailable", phases=["smtp.connect"], count=1)
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        await call(_smtps, testbed)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (
        421, b"4.3.2 Service not available, closing transmission channel")
    smtp = (await wire.control("GET", "stats")).json()["smtp"]
    assert smtp["sessions"] == 10
    assert smtp["auth"]["by_mechanism"] == {"PLAIN": 3, "XOAUTH2": 6}
    assert smtp["auth"]["by_result"] == {"refused": 6, "ok": 3}
    assert smtp["auth"]["by_reason"]["fault:smtp_auth_disabled_mailbox"] == 2
    assert smtp["auth"]["by_user"][ALICE] == {"PLAIN": 3, "XOAUTH2": 6}


async def test_pop3_entries_on_the_wire(testbed: Testbed) -> None:
    wire = Wire(testbed.idp, testbed.ca_file)
    token = testbed.idp.mint_access_token(ALICE, [POP_SCOPE], lifetime=3600)

    def user_pass(secure: bool = True) -> bytes:
        pop = _pop3s(testbed) if secure else poplib.POP3("127.0.0.1", testbed.mail.pop3_port,
                                                         timeout=10)
        try:
            pop.user(ALICE)
            return pop.pass_(PASSWORDS[ALICE])
        except poplib.error_proto as err:
            return bytes(err.args[0])
        finally:
            pop.close()

    def xoauth2() -> tuple[bytes, bytes]:
        pop = _pop3s(testbed)
        try:
            first = pop._shortcmd("AUTH XOAUTH2 " + _xoauth2(ALICE, token))
            try:
                return first, pop._shortcmd("")
            except poplib.error_proto as err:
                return first, bytes(err.args[0])
        except poplib.error_proto as err:
            return bytes(err.args[0]), b""
        finally:
            pop.close()

    await arm(wire, name="pop_logon_failure", count=1)
    assert await call(user_pass) == b"-ERR Logon failure: unknown user name or bad password."
    assert (await call(user_pass)).startswith(b"+OK")

    await arm(wire, name="pop_auth_failed", count=1)
    challenge, final = await call(xoauth2)
    assert challenge.startswith(b"+ ") and b"POP.AccessAsUser.All" in base64.b64decode(challenge[2:])
    assert final == b"-ERR Authentication failure: unknown user name or bad password."
    assert (await call(xoauth2))[0] == b"+OK User successfully authenticated."

    await arm(wire, name="mailbox_in_use", username=ALICE, count=1)
    assert await call(user_pass) == b"-ERR [IN-USE] Mailbox is locked by another POP3 session."

    await arm(wire, name="tls_required")
    assert (await call(user_pass)).startswith(b"+OK")  # over TLS: not struck
    assert await call(user_pass, False) == (
        b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
    await wire.control("DELETE", "fault")

    await arm(wire, name="temp_unavailable", phases=["pop.login"], count=1)
    assert await call(user_pass) == b"-ERR [SYS/TEMP] Server is temporarily unavailable. Try again later."
    pop3 = (await wire.control("GET", "stats")).json()["pop3"]
    assert pop3["sessions"] == 8
    assert pop3["auth"]["by_result"] == {"refused": 4, "ok": 4}  # IN-USE comes after auth
    assert pop3["auth"]["by_reason"]["fault:tls_required"] == 1
    fired = (await wire.control("GET", "stats")).json()["idp"]["faults_fired"]
    assert fired == {"pop_logon_failure": 1, "pop_auth_failed": 1, "mailbox_in_use": 1,
                     "tls_required": 1, "temp_unavailable": 1}


# ---- the mail server's certificate ----------------------------------------------------------
async def test_mail_certificate_wrong_host_and_untrusted_ca(tmp_path: Path,
                                                            clock: VirtualClock) -> None:
    async with Testbed(tmp_path / "b", clock, mail_certificate="wrong_host") as bench:
        wire = Wire(bench.idp, bench.ca_file)
        assert bench.info()["mail_certificate"] == "wrong_host"

        def handshake() -> str:
            try:
                with _smtps(bench) as s:
                    return str(s.noop()[0])
            except ssl.SSLCertVerificationError as err:
                return err.verify_message

        def starttls() -> str:
            with smtplib.SMTP("127.0.0.1", bench.mail.smtp_port, timeout=10) as s:
                try:
                    s.starttls(context=bench.ca.client_context())
                    return "ok"
                except ssl.SSLCertVerificationError as err:
                    return err.verify_message

        assert "IP address mismatch" in await call(handshake)
        assert "IP address mismatch" in await call(starttls)
        changed = await wire.control("POST", "config", {"mail_certificate": "untrusted_ca"})
        assert changed.json()["knobs"]["mail_certificate"] == "untrusted_ca"
        assert "unable to get local issuer certificate" in await call(handshake)
        bad = await wire.control("POST", "config", {"mail_certificate": "selfsigned"})
        assert bad.status_code == 400 and "trusted, wrong_host, untrusted_ca" in bad.json()["message"]
        await wire.control("POST", "config", {"mail_certificate": "trusted"})
        assert await call(handshake) == "250"


# ---- docs/faults.md -------------------------------------------------------------------------
async def test_docs_faults_table_has_a_row_for_every_entry(testbed: Testbed) -> None:
    wire = Wire(testbed.idp, testbed.ca_file)
    listed = (await wire.control("GET", "faults")).json()["faults"]
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z_0-9]+)` \|", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    assert set(rows) == {f["name"] for f in listed}
    assert {e.name for e in IDP_CATALOGUE + MAIL_CATALOGUE} == set(rows)
    for fault in listed:
        cells = rows[fault["name"]]
        assert len(cells) == 6, cells  # entry | target | sends | source | outcome | admin reads
        assert cells[1] == ", ".join(fault["targets"])
        assert cells[2] == f"`{fault['wire']}`"
        assert cells[3] == fault["source"]


def test_stats_stay_bounded_whatever_names_clients_send() -> None:
    from mfp_sim.tools.idp.stats import MAX_USERS, BenchStats

    stats = BenchStats(lambda: 0.0)
    for n in range(MAX_USERS + 50):
        stats.mail_auth("smtp", "PLAIN", f"user{n}@example.test", False, "bad_password")
    by_user = stats.snapshot()["smtp"]["auth"]["by_user"]
    assert len(by_user) == MAX_USERS + 1 and by_user["(others)"] == {"PLAIN": 50}
