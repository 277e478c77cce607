"""The device's POP3 client against the bench server, a hostile server, and Dovecot.

Failures must be told apart the way an administrator needs them: refused port, TLS, wrong
password (server text unchanged), rejected token, broken server, timeout. Timeouts are network
time, so those tests use a short client timeout and check the wait stayed bounded.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from joserfc.jwk import RSAKey

from mfp_sim.firmware.mail.errors import MailFailure
from mfp_sim.firmware.pop3 import (
    Pop3AuthError,
    Pop3Client,
    Pop3ConnectError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3Timeout,
    Pop3TlsError,
    Pop3TokenRejected,
    Security,
)
from mfp_sim.firmware.pop3 import client as pop3_client
from mfp_sim.firmware.vocabulary import Step
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.bench_ca import BenchCA
from mfp_sim.tools.idp import CLIENT_ID, POP_SCOPE, SMTP_SCOPE, IdentityProvider
from mfp_sim.tools.mailserver import HostilePop3Server, Hostility, MailServer, Pop3Reply

from .pop3_fakes import LoopbackServer

BOB, BOB_PASSWORD = "bob@example.test", "bob-pass-1"


def client(mail: MailServer, ca: BenchCA, security: Security = Security.SSL, **kw) -> Pop3Client:
    port = mail.pop3s_port if security is Security.SSL else mail.pop3_port
    kw.setdefault("timeout", 5)
    return Pop3Client("127.0.0.1", port, security=security, ssl_context=ca.client_context(), **kw)


def fax(n: int, body: str = "page one") -> bytes:
    return f"From: fax@remote.test\r\nTo: {BOB}\r\nSubject: Fax {n}\r\n\r\n{body}\r\n".encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the happy paths ----------------------------------------------------------------------------
@pytest.mark.parametrize("security", [Security.OFF, Security.STARTTLS, Security.SSL])
async def test_every_security_mode_reads_mail(
    mail: MailServer, ca: BenchCA, security: Security
) -> None:
    mail.deliver(BOB, fax(1, body=".leading dot\r\n..two\r\n."))
    async with client(mail, ca, security) as pop:
        assert pop.greeting is not None and pop.greeting.startswith("+OK")
        assert await pop.login_user_pass(BOB, BOB_PASSWORD) == Pop3Reply.LOGGED_ON
        count, size = await pop.stat()
        assert await pop.list() == {1: size}
        assert count == 1
        assert await pop.retr(1) == fax(1, body=".leading dot\r\n..two\r\n.")
        assert len(await pop.uidl()) == 1
    assert mail.store.count(BOB) == 1


async def test_xoauth2_login(mail: MailServer, ca: BenchCA, idp: IdentityProvider) -> None:
    token = idp.mint_access_token(BOB, [POP_SCOPE])
    async with client(mail, ca) as pop:
        assert await pop.login_xoauth2(BOB, token) == Pop3Reply.AUTHENTICATED
        assert await pop.stat() == (0, 0)


async def test_capa_top_dele_rset_noop(mail: MailServer, ca: BenchCA) -> None:
    for n in (1, 2):
        mail.deliver(BOB, fax(n, body="one\r\ntwo\r\nthree"))
    async with client(mail, ca, Security.STARTTLS) as pop:
        caps = await pop.capa()
        assert "STLS" not in caps and caps["SASL"] == ("PLAIN", "XOAUTH2")
        await pop.login_user_pass(BOB, BOB_PASSWORD)
        assert (await pop.top(2, 1)).endswith(b"\r\n\r\none\r\n")
        await pop.dele(1)
        assert (await pop.stat())[0] == 1
        await pop.rset()
        await pop.dele(2)
        assert await pop.noop() == "+OK"
    (left,) = mail.messages(BOB)
    assert b"Subject: Fax 1" in left


async def test_leaving_by_exception_deletes_nothing(mail: MailServer, ca: BenchCA) -> None:
    mail.deliver(BOB, fax(1))
    with pytest.raises(RuntimeError):
        async with client(mail, ca) as pop:
            await pop.login_user_pass(BOB, BOB_PASSWORD)
            await pop.dele(1)
            raise RuntimeError("the fax could not be printed")
    assert mail.store.count(BOB) == 1


async def test_thousand_messages_drained(mail: MailServer, ca: BenchCA) -> None:
    for n in range(1000):
        mail.deliver(BOB, fax(n))
    seen = set()
    async with client(mail, ca) as pop:
        await pop.login_user_pass(BOB, BOB_PASSWORD)
        assert (await pop.stat())[0] == 1000
        uids = await pop.uidl()
        assert len(set(uids.values())) == 1000
        for number in sorted(uids):
            message = await pop.retr(number)
            seen.add(message.split(b"Subject: ")[1].split(b"\r\n")[0])
            await pop.dele(number)
    assert seen == {f"Fax {n}".encode() for n in range(1000)}
    assert mail.store.count(BOB) == 0


# -- failures told apart -------------------------------------------------------------------------
async def test_refused_port_is_a_connect_error() -> None:
    pop = Pop3Client("127.0.0.1", free_port(), security=Security.OFF, timeout=5)
    with pytest.raises(Pop3ConnectError, match="cannot connect"):
        await pop.connect()
    assert not pop.connected


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
async def test_untrusted_ca_is_a_tls_error(mail: MailServer, security: Security) -> None:
    other_bench = BenchCA()
    with pytest.raises(Pop3TlsError, match="certificate not accepted"):
        await client(mail, other_bench, security).connect()


async def test_wrong_host_name_is_a_tls_error(mail: MailServer, ca: BenchCA) -> None:
    with pytest.raises(Pop3TlsError, match="certificate not accepted"):
        await client(mail, ca, server_hostname="outlook.office365.com").connect()


async def test_tls_to_a_plain_port_is_a_tls_error(mail: MailServer, ca: BenchCA) -> None:
    pop = Pop3Client("127.0.0.1", mail.pop3_port, ssl_context=ca.client_context(), timeout=5)
    with pytest.raises(Pop3TlsError):
        await pop.connect()


async def test_stls_refused_is_a_tls_error_with_the_server_text(
    mail: MailServer, ca: BenchCA
) -> None:
    mail.faults.pop_offer_stls = False
    with pytest.raises(Pop3TlsError) as err:
        await client(mail, ca, Security.STARTTLS).connect()
    assert err.value.text == Pop3Reply.NO_TLS


async def test_wrong_password_carries_the_server_text_unchanged(
    mail: MailServer, ca: BenchCA
) -> None:
    async with client(mail, ca) as pop:
        with pytest.raises(Pop3AuthError) as err:
            await pop.login_user_pass(BOB, "wrong")
        assert str(err.value) == err.value.text == Pop3Reply.LOGON_FAILED
        mail.faults.pop_login_refusal = "Login to your account via a web browser to verify your account"
        with pytest.raises(Pop3AuthError) as err:
            await pop.login_user_pass(BOB, BOB_PASSWORD)
        assert err.value.text == "-ERR Login to your account via a web browser to verify your account"


async def test_mailbox_in_use_is_not_an_auth_error(mail: MailServer, ca: BenchCA) -> None:
    async with client(mail, ca) as first:
        await first.login_user_pass(BOB, BOB_PASSWORD)
        async with client(mail, ca) as second:
            with pytest.raises(Pop3ServerError) as err:
                await second.login_user_pass(BOB, BOB_PASSWORD)
    assert not isinstance(err.value, Pop3AuthError)
    assert err.value.resp_code == "IN-USE"


async def test_rejected_token_after_the_challenge(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider, clock: VirtualClock
) -> None:
    expired = idp.mint_access_token(BOB, [POP_SCOPE])
    await clock.advance(idp.policy.access_token_lifetime)
    async with client(mail, ca) as pop:
        with pytest.raises(Pop3TokenRejected) as err:
            await pop.login_xoauth2(BOB, expired)
        assert err.value.text == Pop3Reply.AUTH_FAILED
        assert err.value.challenge == {"status": "400", "schemes": "Bearer", "scope": POP_SCOPE}
        # the session is still good: a fresh token works on the same connection
        await pop.login_xoauth2(BOB, idp.mint_access_token(BOB, [POP_SCOPE]))
    assert [e.reason for e in mail.auth_log.events] == ["expired", "ok"]


async def test_smtp_token_for_pop_is_rejected(
    mail: MailServer, ca: BenchCA, idp: IdentityProvider
) -> None:
    async with client(mail, ca) as pop:
        with pytest.raises(Pop3TokenRejected):
            await pop.login_xoauth2(BOB, idp.mint_access_token(BOB, [SMTP_SCOPE]))


async def test_server_err_on_retr_keeps_the_session(mail: MailServer, ca: BenchCA) -> None:
    async with client(mail, ca) as pop:
        await pop.login_user_pass(BOB, BOB_PASSWORD)
        with pytest.raises(Pop3ServerError, match="out of range"):
            await pop.retr(5)
        assert pop.connected
        with pytest.raises(ValueError):
            await pop.retr(0)


# -- hostile servers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hostility", "match"),
    [
        (Hostility.GARBAGE_GREETING, "not a POP3 reply"),
        (Hostility.ENDLESS_GREETING, "longer than 65536 bytes"),
        (Hostility.OVERSIZED_GREETING, "longer than 65536 bytes"),
        (Hostility.MALFORMED_REPLY, "not a POP3 reply: 'OK maybe'"),
        (Hostility.ENDLESS_RETR, "larger than 262144 bytes"),
        (Hostility.CLOSE_MID_REPLY, "closed the connection after 'the first ha'"),
    ],
)
async def test_hostile_replies_are_protocol_errors(hostility: Hostility, match: str) -> None:
    async with HostilePop3Server(hostility) as bad:
        pop = Pop3Client(
            "127.0.0.1", bad.port, security=Security.OFF, timeout=5, max_message_size=256 * 1024
        )
        with pytest.raises(Pop3ProtocolError, match=match):
            await pop.connect()
            await pop.login_user_pass(BOB, BOB_PASSWORD)
            await pop.retr(1)
        assert not pop.connected  # state unknown: dropped, never reused


async def test_silent_server_times_out_within_bound() -> None:
    loop = asyncio.get_running_loop()
    async with HostilePop3Server(Hostility.SILENT) as bad:
        pop = Pop3Client("127.0.0.1", bad.port, security=Security.OFF, timeout=0.3)
        started = loop.time()
        with pytest.raises(Pop3Timeout) as err:
            await pop.connect()
        elapsed = loop.time() - started
    assert isinstance(err.value, TimeoutError)
    assert 0.25 <= elapsed < 3


async def test_errors_carry_their_step_and_whether_to_try_again(mail: MailServer,
                                                                ca: BenchCA) -> None:
    """One tree: every POP3 error is a MailFailure that says where it happened and whether the
    next poll may succeed; nothing above the client translates it."""
    refused = Pop3Client("127.0.0.1", free_port(), security=Security.OFF, timeout=5)
    with pytest.raises(Pop3ConnectError) as connect:
        await refused.connect()
    assert (connect.value.step, connect.value.temporary) == (Step.CONNECT, True)
    assert "nothing listens on that port" in connect.value.reason
    with pytest.raises(Pop3TlsError) as tls:
        await client(mail, BenchCA()).connect()
    assert (tls.value.step, tls.value.temporary) == (Step.TLS, False)
    async with client(mail, ca) as pop:
        with pytest.raises(Pop3AuthError) as auth:
            await pop.login_user_pass(BOB, "wrong")
        assert (auth.value.step, auth.value.temporary) == (Step.AUTH, False)
        assert auth.value.reason == f"the server refused the login: {Pop3Reply.LOGON_FAILED}"
        await pop.login_user_pass(BOB, BOB_PASSWORD)
        with pytest.raises(Pop3ServerError) as gone:
            await pop.retr(5)
        assert (gone.value.step, gone.value.temporary) == (Step.RECEIVE, False)
        async with client(mail, ca) as second:
            with pytest.raises(Pop3ServerError) as in_use:
                await second.login_user_pass(BOB, BOB_PASSWORD)
        assert (in_use.value.step, in_use.value.temporary) == (Step.AUTH, True)
    for error in (connect.value, tls.value, auth.value, gone.value, in_use.value):
        assert isinstance(error, MailFailure)


async def test_operations_need_a_connection() -> None:
    with pytest.raises(Pop3Error, match="not connected"):
        await Pop3Client("127.0.0.1", 1, security=Security.OFF).stat()


# -- multi-line replies read in chunks ---------------------------------------------------------------
class ScriptedPop3(LoopbackServer):
    """A POP3 "server" that answers each command keyword with scripted chunks, each written
    (and drained) on its own, so a reply can be cut anywhere; it records the commands."""

    def __init__(self, replies: dict[str, list[bytes]]) -> None:
        self.replies = replies
        self.commands: list[str] = []

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for chunk in [b"+OK scripted\r\n"] + self.replies.get("", []):
                writer.write(chunk)
                await writer.drain()
            while line := await reader.readline():
                keyword = line.decode().split(" ")[0].strip().upper()
                self.commands.append(keyword)
                for chunk in self.replies.get(keyword, [b"+OK\r\n"]):
                    writer.write(chunk)
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def scripted_client(server: ScriptedPop3, **kw: Any) -> Pop3Client:
    return Pop3Client("127.0.0.1", server.port, security=Security.OFF, timeout=5, **kw)


@pytest.fixture(params=[1, 3, 256 * 1024], ids=["read1", "read3", "read256k"])
def read_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The client's read size: 1 byte puts a read boundary at every position of a reply."""
    monkeypatch.setattr(pop3_client, "_READ_SIZE", request.param)
    return int(request.param)


@pytest.mark.parametrize(
    ("wire", "body"),
    [
        (b"..leading dot\r\nmiddle\r\n...two dots\r\n.\r\n",
         b".leading dot\r\nmiddle\r\n..two dots\r\n"),
        (b"..\r\nafter a line that is one dot\r\n.\r\n", b".\r\nafter a line that is one dot\r\n"),
        (b".\r\n", b""),  # an empty body: the end right after the status line
        (b"\r\n.\r\n", b"\r\n"),  # one empty line
        (b"bare LF lines\n.\n", b"bare LF lines\n"),
        (b"no CR.\r\n.\r\n", b"no CR.\r\n"),
    ],
    ids=["stuffed", "first-line-dot", "empty", "empty-line", "bare-lf", "dot-in-line"],
)
async def test_multiline_bodies(read_size: int, wire: bytes, body: bytes) -> None:
    replies = {"RETR": [b"+OK message follows\r\n", wire], "NOOP": [b"+OK still here\r\n"]}
    async with ScriptedPop3(replies) as server:
        pop = scripted_client(server)
        await pop.connect()
        assert await pop.retr(1) == body
        assert await pop.noop() == "+OK still here"  # the reply ended exactly at its end
        await pop.quit()


async def test_reply_cut_into_pieces_anywhere(read_size: int) -> None:
    """Status line, stuffed dots and the final CRLF.CRLF each split across TCP writes."""
    pieces = [b"+OK 2", b"9 octets\r", b"\n", b".", b".x\r\n", b"line\r", b"\n.", b"\r", b"\n"]
    async with ScriptedPop3({"RETR": pieces}) as server:
        pop = scripted_client(server)
        await pop.connect()
        assert await pop.retr(1) == b".x\r\nline\r\n"
        assert await pop.dele(1) == "+OK"


async def test_replies_in_one_write_are_kept_apart(read_size: int) -> None:
    """What arrives after a reply's end stays for the next reply (nothing read past is lost)."""
    both = b"+OK\r\nSubject: one\r\n\r\nbody\r\n.\r\n+OK 1 2\r\n"
    async with ScriptedPop3({"RETR": [both], "STAT": []}) as server:
        pop = scripted_client(server)
        await pop.connect()
        assert await pop.retr(1) == b"Subject: one\r\n\r\nbody\r\n"
        assert await pop.stat() == (1, 2)


async def test_message_size_bound_counts_unstuffed_bytes() -> None:
    limit = 4096
    exact = b"." + b"x" * 1021 + b"\r\n"  # 1,024 bytes, one line-leading dot
    wire = (b"." + exact) * 4 + b".\r\n"  # 4,100 bytes on the wire, 4,096 un-stuffed
    over = b"y" * 4095 + b"\r\n.\r\n"  # 4,097 bytes
    async with ScriptedPop3({"RETR": [b"+OK\r\n", wire], "TOP": [b"+OK\r\n", over]}) as server:
        pop = scripted_client(server, max_message_size=limit)
        await pop.connect()
        assert await pop.retr(1) == exact * 4
        with pytest.raises(Pop3ProtocolError, match="larger than 4096 bytes"):
            await pop.top(1, 100)
        assert not pop.connected


async def test_oversized_reply_stops_at_the_bound(read_size: int) -> None:
    """No end in sight: the client gives up at the bound, it does not read on to the end."""
    chunk = b"z" * 1000 + b"\r\n"
    async with ScriptedPop3({"RETR": [b"+OK\r\n"] + [chunk] * 2000 + [b".\r\n"]}) as server:
        pop = scripted_client(server, max_message_size=20_000)
        await pop.connect()
        with pytest.raises(Pop3ProtocolError, match="larger than 20000 bytes"):
            await pop.retr(1)
        assert not pop.connected


async def test_listing_keeps_the_first_lines_and_reads_past_the_rest(read_size: int) -> None:
    """UIDL of a huge mailbox: the first `limit` entries are kept, the rest read and dropped
    (the session stays in step)."""
    lines = b"".join(b"%d uid-%d\r\n" % (n, n) for n in range(1, 2001))
    replies = {"UIDL": [b"+OK\r\n", lines[:7000], lines[7000:], b".\r\n"],
               "LIST": [b"+OK\r\n1 120\r\n2 5\r\n.\r\n"], "STAT": [b"+OK 0 0\r\n"]}
    if read_size == 1:  # a byte at a time: a shorter listing keeps the test quick
        replies["UIDL"] = [b"+OK\r\n", lines[: lines.index(b"\r\n61 ") + 2], b".\r\n"]
    async with ScriptedPop3(replies) as server:
        pop = scripted_client(server)
        await pop.connect()
        first = await pop.uidl(limit=10)
        assert first == {n: f"uid-{n}" for n in range(1, 11)}
        assert await pop.list() == {1: 120, 2: 5}  # the next reply is read where it starts
        assert await pop.stat() == (0, 0)


@pytest.mark.parametrize(
    ("command", "listing", "expected"),
    [
        ("UIDL", b"1 a\r\n2 b\r\n", {1: "a", 2: "b"}),
        ("UIDL", b"1 a\r\n\r\n  2\tb \r\n", {1: "a", 2: "b"}),  # a blank line, tabs, spaces
        ("UIDL", b"1 a\r\njunk 2 b\r\n", "bad UIDL line: 'junk 2 b"),  # no match mid-line
        ("UIDL", b"1 a\r\n2 b c\r\n", "bad UIDL line: '2 b c"),
        ("UIDL", b"1 a\r\nx\r\n\r\n", "bad UIDL line: 'x"),  # as many lines as matches + 1
        ("LIST", b"1 120\r\n2 5 extra words\r\n", {1: 120, 2: 5}),  # RFC 1939 allows more
        ("LIST", b"1 120\r\n2 five\r\n", "expected two numbers in '2 five"),
        ("LIST", b"1 120\r\n\r\n", {1: 120}),
    ],
    ids=["uidl", "uidl-blank-line", "uidl-junk-before", "uidl-three-words", "uidl-short-line",
         "list-more-words", "list-not-a-number", "list-blank-line"],
)
async def test_every_listing_line_is_checked(command: str, listing: bytes,
                                             expected: dict[int, Any] | str) -> None:
    """Every line of a UIDL or LIST reply must be an entry (blank lines are passed over); a
    line that is not fails the command, quoting it, whatever the lines around it."""
    async with ScriptedPop3({command: [b"+OK\r\n", listing, b".\r\n"]}) as server:
        pop = scripted_client(server)
        await pop.connect()
        read = pop.uidl if command == "UIDL" else pop.list
        if isinstance(expected, dict):
            assert await read() == expected
        else:
            with pytest.raises(Pop3ProtocolError, match=re.escape(expected)):
                await read()


async def test_listing_bounded_in_bytes() -> None:
    endless = [b"+OK\r\n"] + [b"%d uid\r\n" % n for n in range(1, 5000)]
    async with ScriptedPop3({"UIDL": endless}) as server:
        pop = scripted_client(server, max_message_size=10_000)
        await pop.connect()
        with pytest.raises(Pop3ProtocolError, match="larger than 10000 bytes"):
            await pop.uidl(limit=10)
        assert not pop.connected


async def test_status_line_bound() -> None:
    async with ScriptedPop3({"NOOP": [b"+OK " + b"a" * 2000 + b"\r\n"]}) as server:
        pop = scripted_client(server, max_line=1024)
        await pop.connect()
        with pytest.raises(Pop3ProtocolError, match="longer than 1024 bytes"):
            await pop.noop()


async def test_data_after_the_stls_reply_is_refused() -> None:
    """Bytes sent in clear right after +OK to STLS would pass for TLS-protected: refused."""
    replies = {"STLS": [b"+OK Begin TLS negotiation\r\n-ERR injected in clear\r\n"]}
    async with ScriptedPop3(replies) as server:
        pop = Pop3Client("127.0.0.1", server.port, security=Security.STARTTLS, timeout=5)
        with pytest.raises(Pop3TlsError, match="after its STLS reply"):
            await pop.connect()
        assert not pop.connected


# -- a second, independent server: Dovecot ----------------------------------------------------------
@dataclass
class Dovecot:
    pop3_port: int
    pop3s_port: int
    ca: trustme.CA
    maildir_root: Path
    mail_uid: int
    key_root: Path

    def trust(self, idp: IdentityProvider) -> None:
        """Let Dovecot verify `idp`'s access tokens (its public keys, by azp/alg/kid)."""
        for jwk in idp.jwks()["keys"]:
            folder = self.key_root / CLIENT_ID / jwk["alg"]
            folder.mkdir(parents=True, exist_ok=True)
            pem = RSAKey.import_key(jwk).as_pem(private=False)
            (folder / urllib.parse.quote(jwk["kid"], safe="")).write_bytes(pem)

    def deliver(self, user: str, content: bytes) -> None:
        box = mailbox.Maildir(self.maildir_root / user, create=True)
        box.add(content.replace(b"\r\n", b"\n"))
        for path in [self.maildir_root / user, *(self.maildir_root / user).rglob("*")]:
            os.chown(path, self.mail_uid, self.mail_uid)

    def clear(self, user: str) -> None:
        shutil.rmtree(self.maildir_root / user, ignore_errors=True)

    def count(self, user: str) -> int:
        return len(mailbox.Maildir(self.maildir_root / user, create=False).keys())

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


DOVECOT_CONF = """\
protocols = pop3
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
{users}
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {d}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service pop3-login {{
  {chroot}
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no way in for the auth process: Dovecot then skips its per-IP failure penalty
  # (2-15 s waits after a refused login), which would make the tests slow
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
# JWTs checked locally with the keys under keys/<azp>/<alg>/<kid> (what `trust()` writes).
DOVECOT_OAUTH2 = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={d}/keys/
username_attribute = preferred_username
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot per module (Debian: `apt-get install -y dovecot-pop3d`), free loopback ports.

    Synchronous on purpose: it outlives the per-test event loops. Tests empty the mailbox they
    use first.
    """
    binary = shutil.which("dovecot")
    if binary is None:
        pytest.skip("dovecot is not installed (Debian: apt-get install -y dovecot-pop3d)")
    # Dovecot's unprivileged processes must be able to enter the directory: not tmp_path.
    d = Path(tempfile.mkdtemp(prefix="mfp-dovecot-"))
    d.chmod(0o755)
    proc: subprocess.Popen[bytes] | None = None
    try:
        server, proc = _start_dovecot(binary, d)
        yield server
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(d, ignore_errors=True)


def _start_dovecot(binary: str, d: Path, *, host: str = "127.0.0.1",
                   plaintext_auth: bool = True) -> tuple[Dovecot, subprocess.Popen[bytes]]:
    """Dovecot on `host`; with `plaintext_auth` False it refuses sign-in before TLS to
    clients from another address (it counts a client on its own address as secure)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    (d / "passwd").write_text(f"{BOB}:{{PLAIN}}{BOB_PASSWORD}::::::\n")
    if os.geteuid() == 0:  # mail access as nobody, logins as dovenull (Debian's users)
        uid = gid = pwd.getpwnam("nobody").pw_uid
        users, chroot = "", ""
    else:  # a rootless instance: everything runs as the current user
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        users = f"default_internal_user = {me}\ndefault_login_user = {me}"
        chroot = "chroot ="
    (d / "mail").mkdir()
    os.chown(d / "mail", uid, gid)
    pop3, pop3s = free_port(), free_port()
    conf = DOVECOT_CONF.format(
        d=d, uid=uid, gid=gid, users=users, chroot=chroot, pop3=pop3, pop3s=pop3s
    ).replace("listen = 127.0.0.1", f"listen = {host}")
    if not plaintext_auth:
        conf = conf.replace("disable_plaintext_auth = no", "disable_plaintext_auth = yes")
    (d / "dovecot.conf").write_text(conf)
    (d / "oauth2.conf.ext").write_text(DOVECOT_OAUTH2.format(d=d))
    with open(d / "stdout.txt", "wb") as out:
        proc = subprocess.Popen(
            [binary, "-F", "-c", str(d / "dovecot.conf")], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 10
    while True:  # wait for the listener, bounded
        if proc.poll() is not None:
            output = (d / "stdout.txt").read_text(errors="replace").strip()
            pytest.skip(f"dovecot did not start: {output[:300]}")
        try:
            socket.create_connection((host, pop3), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait(5)
                pytest.skip("dovecot did not listen within 10 s")
            time.sleep(0.05)
    return Dovecot(pop3, pop3s, ca, d / "mail", uid, d / "keys"), proc


@pytest.mark.parametrize("security", [Security.OFF, Security.STARTTLS, Security.SSL])
async def test_dovecot_reads_and_deletes(dovecot: Dovecot, security: Security) -> None:
    dovecot.clear(BOB)
    dovecot.deliver(BOB, fax(1, body=".dot first\r\nline 2"))
    dovecot.deliver(BOB, fax(2))
    port = dovecot.pop3s_port if security is Security.SSL else dovecot.pop3_port
    pop = Pop3Client(
        "127.0.0.1", port, security=security, ssl_context=dovecot.context(), timeout=5
    )
    async with pop:
        assert "XOAUTH2" in (await pop.capa())["SASL"]
        await pop.login_user_pass(BOB, BOB_PASSWORD)
        assert (await pop.stat())[0] == 2
        uids = await pop.uidl()
        assert len(set(uids.values())) == 2
        assert await pop.retr(1) == fax(1, body=".dot first\r\nline 2")
        await pop.dele(1)
    assert dovecot.count(BOB) == 1


async def test_dovecot_wrong_password_text_unchanged(dovecot: Dovecot) -> None:
    pop = Pop3Client("127.0.0.1", dovecot.pop3_port, security=Security.OFF, timeout=5)
    async with pop:
        with pytest.raises(Pop3AuthError) as err:
            await pop.login_user_pass(BOB, "wrong")
    assert err.value.text == "-ERR [AUTH] Authentication failed."
    assert err.value.resp_code == "AUTH"


async def test_dovecot_untrusted_certificate(dovecot: Dovecot, ca: BenchCA) -> None:
    pop = Pop3Client(
        "127.0.0.1", dovecot.pop3s_port, security=Security.SSL, ssl_context=ca.client_context()
    )
    with pytest.raises(Pop3TlsError):
        await pop.connect()


@pytest.fixture
async def wall_clock_idp(ca: BenchCA) -> AsyncIterator[IdentityProvider]:
    """An IdP whose tokens carry real times: Dovecot checks `exp` against the wall clock."""
    async with IdentityProvider(clock=VirtualClock(start=time.time()), ca=ca) as provider:
        yield provider


async def test_dovecot_xoauth2(dovecot: Dovecot, wall_clock_idp: IdentityProvider) -> None:
    dovecot.trust(wall_clock_idp)
    good = wall_clock_idp.mint_access_token(BOB, [POP_SCOPE])
    expired = wall_clock_idp.mint_access_token(BOB, [POP_SCOPE], lifetime=-60)
    async with Pop3Client("127.0.0.1", dovecot.pop3_port, security=Security.OFF, timeout=5) as pop:
        with pytest.raises(Pop3TokenRejected) as err:
            await pop.login_xoauth2(BOB, expired)
        assert err.value.text == "-ERR [AUTH] Authentication failed."
        assert err.value.challenge == {"status": "401", "schemes": "bearer", "scope": "mail"}
        assert await pop.login_xoauth2(BOB, good) == "+OK Logged in."
