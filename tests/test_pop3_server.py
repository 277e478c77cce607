"""The bench POP3 service, checked with stdlib poplib as an independent client.

poplib blocks and the server lives in the test's event loop, so each conversation runs in
`asyncio.to_thread`, bounded. Lockout time is the bench clock; the idle timeout is network
time (it guards a real socket), so that one test waits a fraction of a second, bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import poplib
from typing import TypeVar

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import POP_SCOPE, SMTP_SCOPE, IdentityProvider
from mfp_sim.tools.mailserver import MailServer

from .conftest import in_thread

T = TypeVar("T")
BOB, BOB_PASSWORD, BOB_APP_PASSWORD = "bob@example.test", "bob-pass-1", "bcdefghijklmnopq"




def fax(n: int, body: str = "page one") -> bytes:
    return f"From: fax@remote.test\nTo: {BOB}\nSubject: Fax {n}\n\n{body}\n".encode()


def pop3s(mail: MailServer, ca: BenchCA) -> poplib.POP3_SSL:
    return poplib.POP3_SSL("127.0.0.1", mail.pop3s_port, context=ca.client_context(), timeout=5)


def pop3(mail: MailServer) -> poplib.POP3:
    return poplib.POP3("127.0.0.1", mail.pop3_port, timeout=5)


def xoauth2(user: str, token: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


# -- reading a mailbox ----------------------------------------------------------------------------
async def test_pop3s_login_stat_list_uidl_retr(mail: MailServer, ca: BenchCA) -> None:
    for n in range(1, 4):
        mail.deliver(BOB, fax(n, body=".starts with a dot\n..two dots" if n == 2 else "page"))

    def session() -> dict[str, object]:
        p = pop3s(mail, ca)
        out: dict[str, object] = {"welcome": p.getwelcome(), "login": p.user(BOB)}
        out["pass"] = p.pass_(BOB_PASSWORD)
        out["stat"] = p.stat()
        out["list"] = p.list()[1]
        out["uidl"] = p.uidl()[1]
        out["uidl2"] = p.uidl(2)
        out["retr2"] = p.retr(2)[1]
        out["quit"] = p.quit()
        return out

    out = await in_thread(session)
    assert out["welcome"] == b"+OK The Microsoft Exchange POP3 service is ready. [bWZwLXNpbSBiZW5jaA==]"
    assert out["pass"] == b"+OK User successfully logged on."
    sizes = [len(fax(n, "page").replace(b"\n", b"\r\n")) for n in (1, 3)]
    listing = [line.split() for line in out["list"]]  # type: ignore[attr-defined]
    assert [int(n) for n, _ in listing] == [1, 2, 3]
    assert int(listing[0][1]) == sizes[0] and int(listing[2][1]) == sizes[1]
    assert out["stat"] == (3, sum(int(s) for _, s in listing))
    uids = [line.split()[1] for line in out["uidl"]]  # type: ignore[attr-defined]
    assert len(set(uids)) == 3
    assert out["uidl2"] == b"+OK 2 " + uids[1]
    body = out["retr2"]
    assert b"Subject: Fax 2" in body  # type: ignore[operator]
    assert body[-2:] == [b".starts with a dot", b"..two dots"]  # type: ignore[index]
    assert out["quit"].startswith(b"+OK")  # type: ignore[attr-defined]
    assert mail.store.count(BOB) == 3  # nothing deleted


async def test_top_gives_headers_and_n_body_lines(mail: MailServer, ca: BenchCA) -> None:
    mail.deliver(BOB, fax(1, body="line 1\nline 2\nline 3"))

    def session() -> list[bytes]:
        p = pop3s(mail, ca)
        p.user(BOB)
        p.pass_(BOB_APP_PASSWORD)
        lines = p.top(1, 2)[1]
        p.quit()
        return lines

    lines = await in_thread(session)
    assert lines[-3:] == [b"", b"line 1", b"line 2"]


async def test_stls_upgrades_the_plain_port(mail: MailServer, ca: BenchCA) -> None:
    def session() -> tuple[dict[str, list[str]], dict[str, list[str]], bytes]:
        p = pop3(mail)
        before = p.capa()
        p.stls(context=ca.client_context())
        after = p.capa()
        p.user(BOB)
        ok = p.pass_(BOB_PASSWORD)
        p.quit()
        return before, after, ok

    before, after, ok = await in_thread(session)
    assert "STLS" in before and "STLS" not in after
    assert before["SASL"] == ["PLAIN", "XOAUTH2"]
    assert ok.startswith(b"+OK")


async def test_dele_takes_effect_at_quit_only(mail: MailServer, ca: BenchCA) -> None:
    for n in range(1, 4):
        mail.deliver(BOB, fax(n))

    def dele_then_drop() -> None:
        p = pop3s(mail, ca)
        p.user(BOB)
        p.pass_(BOB_PASSWORD)
        p.dele(1)
        p.close()  # no QUIT: no UPDATE state

    def dele_rset_dele_quit() -> tuple[tuple[int, int], bytes]:
        p = pop3s(mail, ca)
        p.user(BOB)
        p.pass_(BOB_PASSWORD)
        p.dele(1)
        p.dele(2)
        p.rset()
        p.dele(3)
        stat = p.stat()
        return stat, p.quit()

    await in_thread(dele_then_drop)
    await asyncio.wait_for(_until_unlocked(mail, BOB), 5)
    assert mail.store.count(BOB) == 3
    stat, bye = await in_thread(dele_rset_dele_quit)
    assert stat[0] == 2
    assert bye.startswith(b"+OK")
    subjects = [m.split(b"Subject: ")[1].split(b"\n")[0] for m in mail.messages(BOB)]
    assert subjects == [b"Fax 1", b"Fax 2"]


async def _until_unlocked(mail: MailServer, user: str) -> None:
    while mail.store.is_locked(user):
        await asyncio.sleep(0.01)


async def test_deleted_message_and_out_of_range(mail: MailServer, ca: BenchCA) -> None:
    mail.deliver(BOB, fax(1))

    def session() -> list[str]:
        p = pop3s(mail, ca)
        p.user(BOB)
        p.pass_(BOB_PASSWORD)
        p.dele(1)
        errors = []
        for call in (lambda: p.retr(1), lambda: p.dele(1), lambda: p.list(7), lambda: p.top(1, 0)):
            try:
                call()
            except poplib.error_proto as exc:
                errors.append(exc.args[0].decode())
        p.quit()
        return errors

    assert await in_thread(session) == [
        "-ERR The specified message has been deleted.",
        "-ERR The specified message has been deleted.",
        "-ERR The specified message is out of range.",
        "-ERR The specified message has been deleted.",
    ]


async def test_second_session_gets_in_use(mail: MailServer, ca: BenchCA) -> None:
    def session() -> str:
        first = pop3s(mail, ca)
        first.user(BOB)
        first.pass_(BOB_PASSWORD)
        second = pop3s(mail, ca)
        second.user(BOB)
        try:
            second.pass_(BOB_PASSWORD)
        except poplib.error_proto as exc:
            return exc.args[0].decode()
        finally:
            first.quit()
            second.quit()
        return "no error"

    assert await in_thread(session) == "-ERR [IN-USE] Mailbox is locked by another POP3 session."


# -- protocol discipline -------------------------------------------------------------------------
async def test_commands_outside_their_state_and_unknown(mail: MailServer) -> None:
    def session() -> list[str]:
        p = pop3(mail)
        replies = []
        for line in ("STAT", "RETR 1", "PASS x", "FOO"):
            try:
                p._shortcmd(line)
            except poplib.error_proto as exc:
                replies.append(exc.args[0].decode())
        p.quit()
        return replies

    assert await in_thread(session) == [
        "-ERR Command is not valid in this state.",
        "-ERR Command is not valid in this state.",
        "-ERR USER command must come first.",
        "-ERR Unknown command.",
    ]


async def test_overlong_command_lines_are_refused_not_fatal(mail: MailServer) -> None:
    def session() -> list[str]:
        p = pop3(mail)
        replies = []
        for line in ("USER " + "x" * 300, "USER " + "y" * 200_000):
            try:
                p._shortcmd(line)
            except poplib.error_proto as exc:
                replies.append(exc.args[0].decode())
        replies.append(p.user(BOB).decode())  # still alive
        p.quit()
        return replies

    too_long = "-ERR Command line too long (RFC 2449 allows 255 octets)."
    assert await in_thread(session) == [too_long, too_long, "+OK"]


async def test_lockout_after_five_failures_on_the_bench_clock(
    mail: MailServer, ca: BenchCA, clock: VirtualClock
) -> None:
    def attempt(password: str) -> str:
        p = pop3s(mail, ca)
        try:
            p.user(BOB)
            return p.pass_(password).decode()
        except poplib.error_proto as exc:
            return exc.args[0].decode()
        finally:
            p.quit()

    replies = [await in_thread(lambda: attempt("wrong")) for _ in range(5)]
    assert replies[:4] == ["-ERR Logon failure: unknown user name or bad password."] * 4
    assert replies[4].startswith("-ERR [AUTH] Account locked") and "15 minute" in replies[4]
    assert (await in_thread(lambda: attempt(BOB_PASSWORD))).startswith("-ERR [AUTH] Account locked")
    await clock.advance(mail.lockout.lock_seconds)
    assert await in_thread(lambda: attempt(BOB_PASSWORD)) == "+OK User successfully logged on."
    assert [e.reason for e in mail.auth_log.events][-3:] == ["locked", "locked", "ok"]


async def test_idle_session_is_closed(clock, ca, idp, tmp_path) -> None:
    async with MailServer(
        clock, ca, idp.verifier(), tmp_path / "m", pop_idle_timeout=0.3
    ) as mail:
        reader, writer = await asyncio.open_connection("127.0.0.1", mail.pop3_port)
        assert (await reader.readline()).startswith(b"+OK")
        rest = await asyncio.wait_for(reader.read(), timeout=5)  # until the server hangs up
        writer.close()
    assert rest == b"-ERR Connection is closed: idle too long.\r\n"


# -- XOAUTH2 ---------------------------------------------------------------------------------------
async def test_xoauth2_with_initial_response(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    mail.deliver(BOB, fax(1))
    token = idp.mint_access_token(BOB, [POP_SCOPE])

    def session() -> tuple[bytes, tuple[int, int]]:
        p = pop3s(mail, ca)
        ok = p._shortcmd("AUTH XOAUTH2 " + xoauth2(BOB, token))
        stat = p.stat()
        p.quit()
        return ok, stat

    ok, stat = await in_thread(session)
    assert ok == b"+OK User successfully authenticated."
    assert stat[0] == 1


async def test_xoauth2_continuation_form(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(BOB, [POP_SCOPE])

    def session() -> list[bytes]:
        p = pop3s(mail, ca)
        replies = [p._shortcmd("AUTH XOAUTH2"), p._shortcmd(xoauth2(BOB.upper(), token))]
        p.quit()
        return replies

    assert await in_thread(session) == [b"+ ", b"+OK User successfully authenticated."]


async def test_xoauth2_refusal_is_challenge_then_err(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    token = idp.mint_access_token(BOB, [SMTP_SCOPE])  # an SMTP token used for POP

    def session() -> tuple[bytes, str, str]:
        p = pop3s(mail, ca)
        challenge = p._shortcmd("AUTH XOAUTH2 " + xoauth2(BOB, token))  # poplib: "success"
        try:
            p._shortcmd("")
            final = "no error"
        except poplib.error_proto as exc:
            final = exc.args[0].decode()
        still_alive = p.user(BOB).decode()
        p.quit()
        return challenge, final, still_alive

    challenge, final, alive = await in_thread(session)
    assert challenge.startswith(b"+ ")
    assert json.loads(base64.b64decode(challenge[2:])) == {
        "status": "400",
        "schemes": "Bearer",
        "scope": POP_SCOPE,
    }
    assert final == "-ERR Authentication failure: unknown user name or bad password."
    assert alive == "+OK"
    assert mail.auth_log.events[-1].reason == "wrong_scope"


# -- faults ----------------------------------------------------------------------------------------
async def test_fault_refusal_text_reaches_client_verbatim(mail: MailServer, ca: BenchCA) -> None:
    text = "Login to your account via a web browser to verify your account"
    mail.faults.pop_login_refusal = text

    def session() -> str:
        p = pop3s(mail, ca)
        p.user(BOB)
        try:
            p.pass_(BOB_PASSWORD)
        except poplib.error_proto as exc:
            return exc.args[0].decode()
        finally:
            p.quit()
        return "no error"

    assert await in_thread(session) == f"-ERR {text}"


async def test_fault_plaintext_login_refused_and_no_stls(mail: MailServer) -> None:
    mail.faults.pop_login_requires_tls = True
    mail.faults.pop_offer_stls = False

    def session() -> tuple[dict[str, list[str]], str, str]:
        p = pop3(mail)
        caps = p.capa()
        replies = []
        for call in (lambda: p._shortcmd("STLS"), lambda: (p.user(BOB), p.pass_(BOB_PASSWORD))):
            try:
                call()
            except poplib.error_proto as exc:
                replies.append(exc.args[0].decode())
        p.quit()
        return caps, replies[0], replies[1]

    caps, stls, login = await in_thread(session)
    assert "STLS" not in caps
    assert stls == "-ERR TLS is not available."
    assert login.startswith("-ERR [AUTH] Plaintext authentication disallowed")
