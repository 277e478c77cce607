"""What the device does under every entry of the bench's fault catalogue (docs/faults.md).

Each entry is armed through the bench's control API over HTTPS (`POST /control/fault`), the
device meets it on the wire (its token store over HTTPS to the identity provider, its SMTP and
POP3 clients to the mail server), and the test checks what an administrator would: the token
state, the one sentence the device says (the provider's or server's code in it exactly once,
nothing said twice, nothing cut mid-word) and what the servers saw (`GET /control/stats`:
token requests, mail sign-ins). All on the virtual clock.

`OUTCOMES` is one row per catalogue entry; an entry added to the catalogue without a row here
fails `test_every_catalogue_entry_has_a_device_outcome`, and docs/faults.md must say each
device outcome too (`test_docs_say_every_device_outcome`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.firmware.deadlines import IdpDeadlines
from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.idp.faults import CATALOGUE as IDP_CATALOGUE
from mfp_sim.tools.mailserver.faults import CATALOGUE as MAIL_CATALOGUE
from mfp_sim.tools.testbed import Testbed

from .bench_clients import Wire
from .conftest import ALICE, BOB, obtain_token, sh, start_flow, wait_for
from .mail_helpers import setup_pop, setup_smtp, wait_job

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.filterwarnings("ignore:Attempted too soon:UserWarning")]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "faults.md"
SENDER = "frontdesk@example.test"


@dataclass(frozen=True)
class Outcome:
    """What the device does under one entry.

    drive: how the device meets it — `refresh` (`token smtp check` on a retrieved token),
    `get` (Get Token, approved, redeemed), `start` (Get Token refused at once), `smtp` /
    `smtp_plain` (a scan to e-mail and `test smtp`), `pop` / `pop_plain` / `pop_clear`
    (`mail check pop.ifax`; `pop_clear` with pop.ifax.security off).
    """

    drive: str
    state: str  # the token store's state afterwards
    says: tuple[str, ...]  # each exactly once in what the admin reads
    refreshes: int = 0  # refresh-token requests the identity provider saw
    job: str = ""  # the job's state (smtp) or the failed step (pop)
    connection_test: str = "no"  # what `test smtp` answers (ok yes/no)


INVALID = "Please delete the token and obtain it again"
OUTCOMES: dict[str, Outcome] = {
    "consent_required": Outcome("refresh", "invalid", (
        "Token update failed", "AADSTS65001", "(invalid_grant)", "an administrator must grant "
        "consent"), 1),
    "admin_consent_required": Outcome("get", "not_retrieved", (
        "Get Token failed", "AADSTS90094", "must grant admin consent")),
    "mfa_required": Outcome("refresh", "invalid", (
        "Token update failed", "AADSTS50076", "multi-factor authentication: obtain the token "
        "again"), 1),
    "conditional_access_blocked": Outcome("refresh", "invalid", (
        "AADSTS53003", "A Conditional Access policy blocks this sign-in"), 1),
    "security_defaults_blocked": Outcome("refresh", "invalid", (
        "AADSTS530035", "security defaults block this sign-in"), 1),
    "public_client_disabled": Outcome("refresh", "invalid", (
        "AADSTS7000218", "(invalid_client)", "Allow public client flows"), 1),
    "app_not_found": Outcome("start", "not_retrieved", (
        "refused to start authorization", "AADSTS700016", "(unauthorized_client)",
        "check the client id and the tenant")),
    "password_changed": Outcome("refresh", "invalid", (
        "AADSTS50173", "The user must sign in again", INVALID), 1),
    "token_revoked": Outcome("refresh", "invalid", (
        "AADSTS50173", "The user must sign in again", INVALID), 1),
    "refresh_token_expired": Outcome("refresh", "invalid", (
        "AADSTS700082", "not used for too long", INVALID), 1),
    "sign_in_frequency": Outcome("refresh", "invalid", (
        "AADSTS70043", "(sign-in frequency)", INVALID), 1),
    "throttled": Outcome("refresh", "retrieved", (
        "Renewal failed", "HTTP 429", "AADSTS90055", "retrying in 60 s",
        "the token is still valid"), 1),
    "server_error": Outcome("refresh", "retrieved", (
        "Renewal failed", "HTTP 500", "AADSTS50000", "(server_error)", "the token is still valid"),
        1),
    "garbage": Outcome("refresh", "retrieved", (
        "Renewal failed", "not a token answer", "HTTP 200, not JSON", "the token is still valid"),
        1),
    "hang": Outcome("refresh", "retrieved", (
        "Renewal failed", "did not answer within", "the token is still valid"), 1),
    "wrong_issuer": Outcome("refresh", "invalid", (
        "Token update failed", "/other-tenant", "(wrong_issuer)", "no token from another "
        "issuer"), 1),
    "smtp_auth_disabled_tenant": Outcome("smtp", "retrieved", (
        "535 5.7.139", "for the whole organisation", "Set-TransportConfig"), 0, "failed"),
    "smtp_auth_disabled_mailbox": Outcome("smtp", "retrieved", (
        "535 5.7.139", "for this mailbox", "Set-CASMailbox"), 0, "failed"),
    "basic_auth_retired": Outcome("smtp_plain", "not_retrieved", (
        "550 5.7.30", "no longer accepts a user name and password", "OAuth 2.0"), 0, "failed"),
    "send_as_denied": Outcome("smtp", "retrieved", (
        "550 5.7.60", f"refused the sender address {SENDER}", "Send As permission"), 0,
        "failed", "yes"),  # the sign-in works: only MAIL FROM is refused
    "xoauth2_rejected": Outcome("smtp", "retrieved", (
        "535 5.7.3", "even after it was renewed", "SMTP.Send"), 1, "failed"),
    "pop_auth_failed": Outcome("pop", "retrieved", (
        "-ERR Authentication failure: unknown user name or bad password.",
        "even after it was renewed", "POP.AccessAsUser.All"), 1, "auth"),
    "pop_logon_failure": Outcome("pop_plain", "not_retrieved", (
        "-ERR Logon failure: unknown user name or bad password.",), 0, "auth"),
    "mailbox_in_use": Outcome("pop", "retrieved", ("-ERR [IN-USE]",), 0, "auth"),
    "tls_required": Outcome("pop_clear", "retrieved", (
        "requires TLS before sign-in", "Plaintext authentication disallowed",
        "Set pop.ifax.security to ssl", "The token is not the cause and was not renewed"),
        0, "tls"),
    "temp_unavailable": Outcome("smtp", "retrieved", (
        "421 4.3.2", "attempt 1 of"), 0, "queued"),
}

#: Entries met at Get Token too (their first row is at renewal): the outcome there.
AT_GET_TOKEN: dict[str, Outcome] = {
    "consent_required": Outcome("get", "not_retrieved", ("Get Token failed", "AADSTS65001")),
    "wrong_issuer": Outcome("get", "not_retrieved", ("Get Token failed", "(wrong_issuer)")),
    "throttled": Outcome("start", "not_retrieved", (
        "could not start authorization now", "HTTP 429", "AADSTS90055",
        "press Get Token again in 60 s")),
    "garbage": Outcome("start", "not_retrieved", ("Get Token failed", "not a device-code "
                                                  "answer")),
}


def test_every_catalogue_entry_has_a_device_outcome() -> None:
    assert set(OUTCOMES) == {e.name for e in IDP_CATALOGUE + MAIL_CATALOGUE}


def test_docs_say_every_device_outcome() -> None:
    """docs/faults.md: both device columns filled for every entry, the admin's sentence quoting
    what this test checks the device says."""
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z_0-9]+)` \|", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    assert set(rows) == set(OUTCOMES)
    for name, outcome in OUTCOMES.items():
        device, reads = rows[name][4], rows[name][5]
        assert device and reads, f"{name}: device columns empty"
        assert f"`{outcome.state}`" in device, (name, device)
        for words in outcome.says[:2]:
            assert words in reads, (name, words, reads)


def said_once(text: str, outcome: Outcome) -> None:
    """Each expected piece once; no sentence said twice; nothing cut inside a word."""
    for words in outcome.says:
        assert text.count(words) == 1, (words, text)
    for phrase in ("Token update failed", "Get Token failed", "Renewal failed",
                   "refused the token even"):
        assert text.count(phrase) <= 1, (phrase, text)
    assert not re.search(r"\w…\w|\w\.\.\.$", text), text  # an ellipsis only after a whole word
    assert text[-1] in ".)sn" or text[-1].isalnum(), text


class Bench:
    """The bench as a script sees it: the control API over HTTPS."""

    def __init__(self, bench: Testbed) -> None:
        self.wire = Wire(bench.idp, bench.ca_file)

    async def arm(self, name: str, **body: Any) -> None:
        answer = await self.wire.control("POST", "fault", {"name": name, **body})
        assert answer.status_code == 200, answer.text

    async def stats(self) -> dict[str, Any]:
        answer = await self.wire.control("GET", "stats")
        assert answer.status_code == 200, answer.text
        stats: dict[str, Any] = answer.json()
        return stats


def refreshes(stats: dict[str, Any]) -> int:
    return int(stats["idp"]["token"]["by_grant_type"].get("refresh_token", 0))


async def hang_device(tmp_path: Path, clock: VirtualClock, bench: Testbed) -> Device:
    """A device whose identity-provider deadlines are short (real seconds: a hang is real)."""
    registry = ProviderRegistry()
    registry.add(bench.provider())
    device = Device(tmp_path / "hang", clock=clock, providers=registry, ca_pems=[bench.ca.ca_pem],
                    idp_deadlines=IdpDeadlines(connect=2.0, read=1.0, body=2.0, call=3.0))
    await device.start()
    return device


async def meet(name: str, outcome: Outcome, device: Device, bench: Testbed,
               clock: VirtualClock) -> None:
    control = Bench(bench)
    drive = outcome.drive
    if drive == "refresh":
        await setup_smtp(device, bench, clock)
        before = refreshes(await control.stats())
        await control.arm(name, username=ALICE, **({"hang_seconds": 5} if name == "hang" else {}))
        reply = await sh(device, "token smtp check")
        assert not reply["_ok"] and reply["refreshed"] == "no", reply
        await clock.advance(10)  # a failure is never retried at once: no loop
        said = device.api.token_status("smtp").reason
        assert reply["reason"] == said
    elif drive in ("get", "start"):
        await control.arm(name)
        before = refreshes(await control.stats())
        if drive == "start":
            for line in ("set smtp.provider local", f"set smtp.account {ALICE}"):
                assert (await sh(device, line))["_ok"], line
            reply = await sh(device, "token smtp get")
            assert not reply["_ok"], reply
        else:
            bench.idp.approve(await start_flow(device), ALICE)
            for _ in range(3):
                await clock.advance(5)
            await wait_for(lambda: device.api.token_status("smtp").state.value != "waiting",
                           what="the flow ended")
        said = device.api.token_status("smtp").reason
    elif drive.startswith("smtp"):
        await setup_smtp(device, bench, clock, auth="plain" if drive == "smtp_plain" else "oauth2")
        assert (await sh(device, f"set smtp.sender_address {SENDER}"))["_ok"]
        before = refreshes(await control.stats())
        await control.arm(name)
        job_id = (await sh(device, f"scan to={BOB}"))["job"]
        job = await wait_job(device, job_id, outcome.job, timeout=15, attempts=1)
        said = job.reason
        test = await sh(device, "test smtp")
        assert test["ok"] == outcome.connection_test, test
        if test["ok"] == "no":  # the server's words, as the job heard them
            assert outcome.says[0] in test["detail"], test
        mail = (await control.stats())["smtp"]
        assert mail["sessions"] >= 2
    else:
        section = "pop.ifax"
        await setup_pop(device, bench, clock, auth="plain" if drive == "pop_plain" else "oauth2")
        if drive == "pop_clear":
            for line in (f"set {section}.security off",
                         f"set {section}.port {bench.mail.pop3_port} --confirm"):
                assert (await sh(device, line))["_ok"], line
        before = refreshes(await control.stats())
        await control.arm(name)
        reply = await sh(device, f"mail check {section}")
        assert not reply["_ok"] and reply["step"] == outcome.job, reply
        said = reply["reason"]
        pop = (await control.stats())["pop3"]
        if drive == "pop_clear":  # security off and XOAUTH2 offered before TLS: the admin's
            assert pop["auth"]["total"] == 1, pop  # choice allows one AUTH, never a second
    stats = await control.stats()
    assert stats["idp"]["faults_fired"].get(name, 0) >= 1, stats["idp"]["faults_fired"]
    assert refreshes(stats) - before == outcome.refreshes, (name, refreshes(stats) - before)
    store = "pop.ifax" if drive.startswith("pop") else "smtp"
    assert device.api.token_status(store).state.value == outcome.state
    said_once(said, outcome)
    if drive == "refresh" and outcome.state == "invalid":  # a job then says it once too
        job = await wait_job(device, (await sh(device, f"scan to={BOB}"))["job"], "failed")
        code = next(w for w in outcome.says if w.startswith(("AADSTS", "(wrong_issuer")))
        assert job.reason.startswith("Token update failed. Please delete the token"), job.reason
        for words in ("Token update failed", "Please delete the token", code):
            assert job.reason.count(words) == 1, (words, job.reason)
        assert refreshes(await control.stats()) - before == outcome.refreshes  # no new request


@pytest.mark.parametrize("name", sorted(OUTCOMES))
async def test_device_outcome(name: str, make_device: Any, bench: Testbed, clock: VirtualClock,
                              tmp_path: Path) -> None:
    if name == "hang":
        device = await hang_device(tmp_path, clock, bench)
        try:
            await meet(name, OUTCOMES[name], device, bench, clock)
        finally:
            await device.stop()
        return
    await meet(name, OUTCOMES[name], await make_device(), bench, clock)


@pytest.mark.parametrize("name", sorted(AT_GET_TOKEN))
async def test_device_outcome_at_get_token(name: str, make_device: Any, bench: Testbed,
                                           clock: VirtualClock) -> None:
    await meet(name, AT_GET_TOKEN[name], await make_device(), bench, clock)


async def test_the_reason_is_said_in_italian_on_the_web_page_with_the_providers_words(
        make_device: Any, bench: Testbed, clock: VirtualClock) -> None:
    """The console keeps the English; the web page (and the panel, through the same catalog)
    says the sentence in the device's language, the provider's words and code untouched."""
    import html

    from mfp_sim.firmware.i18n import Catalog
    from mfp_sim.firmware.sentences import say

    from .web_helpers import Client, start_web

    device = await make_device()
    await obtain_token(device, bench, clock)
    await Bench(bench).arm("mfa_required", username=ALICE)
    english = (await sh(device, "token smtp check"))["reason"]
    assert english.startswith("Token update failed: AADSTS50076: ")
    assert (await sh(device, "set device.language it"))["_ok"]
    italian = say(device.api.token_status("smtp").reason, Catalog("it").gettext)
    assert italian.startswith("Aggiornamento del token non riuscito: AADSTS50076: Due to a "
                              "configuration change"), italian
    assert italian.count("AADSTS50076") == 1 and "(invalid_grant)" in italian
    assert "autenticazione a più fattori" in italian and "Please" not in italian
    assert (await sh(device, "token smtp status"))["reason"] == english  # the console: English
    server = await start_web(device, bench)
    try:
        admin = Client(server.url, str(bench.ca_file))
        await admin.login()
        page = html.unescape((await admin.get("/settings/smtp")).text)
    finally:
        await server.stop()
    assert italian in page and english not in page


async def test_an_invalid_tokens_sentence_survives_a_power_cut_still_translatable(
        make_device: Any, bench: Testbed, clock: VirtualClock) -> None:
    from mfp_sim.firmware.i18n import Catalog
    from mfp_sim.firmware.sentences import Reason, say

    device = await make_device()
    await obtain_token(device, bench, clock)
    await Bench(bench).arm("consent_required", username=ALICE)
    before = (await sh(device, "token smtp check"))["reason"]
    assert (await sh(device, "power cycle"))["_ok"]
    await wait_for(lambda: device.api.token_status("smtp").reason == before, what="reloaded")
    reason = device.api.token_status("smtp").reason
    assert isinstance(reason, Reason) and reason.code == "token.invalid"
    assert say(reason, Catalog("it").gettext).startswith("Aggiornamento del token non riuscito: "
                                                         "AADSTS65001: ")
