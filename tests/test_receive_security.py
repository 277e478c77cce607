"""No secret in clear on POP3 (issue 8): with `security off`, the device sends a password or a
bearer token only when the server offers the mechanism before TLS; a server that requires TLS
is a settings problem (step `tls`, the setting named), never a token renewal, never the
token's fault. Checked against a server that records every line it gets, the bench server,
and a real Dovecot refusing plaintext authentication.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import TokenChanged
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.testbed import Testbed

from .conftest import BOB, sh
from .mail_helpers import maildir, setup_pop
from .pop3_fakes import DOVECOT_PLAINTEXT_DISABLED, GeneratedMailbox, LoopbackServer
from .test_pop3_client import BOB_PASSWORD, Dovecot, _start_dovecot

pytestmark = pytest.mark.timeout(60)

#: What Dovecot 2.3 lists in CAPA before TLS with `disable_plaintext_auth = yes` (no USER, an
#: empty SASL), seen from dovecot 2.3.19 (the Dovecot test below checks the device with it).
DOVECOT_CAPA_IN_CLEAR = ("CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE",
                         "STLS", "SASL")


def message(n: int) -> bytes:
    return f"From: a@remote.test\r\nSubject: {n}\r\n\r\nhello\r\n".encode()


async def point_at(device: Device, port: int, auth: str) -> None:
    reply = await device.api.update("pop.ifax", {
        "server": "127.0.0.1", "port": str(port), "security": "off", "auth": auth,
        "user": BOB, "password": BOB_PASSWORD}, confirm=True)
    assert reply


def secrets_sent(server: GeneratedMailbox) -> list[str]:
    return [line for line in server.lines if line.split(" ")[0].upper() in ("USER", "PASS", "AUTH")]


@pytest.mark.parametrize("auth", ["plain", "oauth2"])
async def test_nothing_secret_goes_to_a_server_that_offers_no_sign_in_in_clear(
        make_device, bench: Testbed, clock: VirtualClock, auth: str) -> None:
    device = await make_device()
    if auth == "oauth2":
        await setup_pop(device, bench, clock, "pop.ifax")
    token_before = device.stores["pop.ifax"].status()
    events = device.api.subscribe(TokenChanged)
    async with GeneratedMailbox(1, message, capa=DOVECOT_CAPA_IN_CLEAR,
                                plaintext_refused=True) as server:
        await point_at(device, server.port, auth)
        reply = await sh(device, "mail check pop.ifax")
        test = await device.api.test_connection("pop.ifax")
    assert secrets_sent(server) == [] and "CAPA" in server.commands()
    assert reply["step"] == "tls", reply
    what = "AUTH XOAUTH2" if auth == "oauth2" else "USER/PASS"
    assert f"does not offer {what} before TLS" in reply["reason"]
    assert "nothing was sent in clear" in reply["reason"]
    assert "Set pop.ifax.security to ssl (port 995) or starttls (port 110)" in reply["reason"]
    assert (test.ok, test.step) == (False, "tls") and "before TLS" in test.message
    # No renewal spent, nothing blamed on the token.
    assert events.get_nowait() is None
    assert device.stores["pop.ifax"].status().state is token_before.state


async def test_a_server_that_offers_xoauth2_in_clear_then_refuses_it_costs_no_renewal(
        make_device, bench: Testbed, clock: VirtualClock) -> None:
    """The admin chose security off and the server offered XOAUTH2 before TLS: the token may
    go (once). The server then says TLS is required: a settings problem, no refresh, no retry,
    the token still Retrieved (issue 8 saw two sends, a refresh and the token blamed)."""
    device = await make_device()
    await setup_pop(device, bench, clock, "pop.ifax")
    events = device.api.subscribe(TokenChanged)
    async with GeneratedMailbox(1, message, plaintext_refused=True) as server:
        await point_at(device, server.port, "oauth2")
        result = await device.api.check_mail("pop.ifax")
    assert [line.split(" ")[:2] for line in secrets_sent(server)] == [["AUTH", "XOAUTH2"]]
    assert not result.ok and result.step == "tls"
    assert DOVECOT_PLAINTEXT_DISABLED in result.reason
    assert "The token is not the cause and was not renewed" in result.reason
    assert "even after renewal" not in result.reason
    assert events.get_nowait() is None  # no refresh
    assert device.stores["pop.ifax"].state is TokenState.RETRIEVED


async def test_the_bench_server_requiring_tls_is_a_settings_problem(
        make_device, bench: Testbed, clock: VirtualClock) -> None:
    device = await make_device()
    await setup_pop(device, bench, clock, "pop.ifax")
    bench.mail.faults.pop_login_requires_tls = True
    events = device.api.subscribe(TokenChanged)
    for line in ("set pop.ifax.security off",
                 f"set pop.ifax.port {bench.mail.pop3_port} --confirm"):
        assert (await sh(device, line))["_ok"]
    reply = await sh(device, "mail check pop.ifax")
    assert reply["step"] == "tls" and "requires TLS before sign-in" in reply["reason"], reply
    assert [e.reason for e in bench.mail.auth_log.events] == ["plaintext_refused"]  # one send
    assert events.get_nowait() is None
    # The fix the reason names works at once.
    bench.mail.deliver(BOB, message(1))
    for line in ("set pop.ifax.security starttls",):
        assert (await sh(device, line))["_ok"]
    assert (await device.api.check_mail("pop.ifax", wait_printed=False)).received == 1
    assert maildir(bench, BOB) == []


async def test_capa_is_asked_before_sign_in_over_tls_too(make_device, bench, clock) -> None:
    device = await make_device()
    await setup_pop(device, bench, clock, "pop.ifax", auth="plain")
    report = await device.api.test_connection("pop.ifax")
    assert report.ok and any(p.startswith("server offers: USER SASL PLAIN XOAUTH2")
                             for p in report.passed), report.passed


# -- a real Dovecot that refuses plaintext authentication ------------------------------------------
class RecordingProxy(LoopbackServer):
    """A TCP relay from 127.0.0.1 to a server: it records what the client sent. Dovecot then
    sees a client on another address than its own, so its plaintext rule applies."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.sent = bytearray()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            try:
                while data := await src.read(65536):
                    if record:
                        self.sent += data
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


@pytest.fixture(scope="module")
def strict_dovecot() -> Iterator[Dovecot]:
    binary = shutil.which("dovecot")
    if binary is None:
        pytest.skip("dovecot is not installed (Debian: apt-get install -y dovecot-pop3d)")
    d = Path(tempfile.mkdtemp(prefix="mfp-dovecot-"))
    d.chmod(0o755)
    proc = None
    try:
        server, proc = _start_dovecot(binary, d, host="127.0.0.2", plaintext_auth=False)
        yield server
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def proxy(strict_dovecot: Dovecot) -> AsyncIterator[RecordingProxy]:
    async with RecordingProxy("127.0.0.2", strict_dovecot.pop3_port) as relay:
        yield relay


async def test_dovecot_refusing_plaintext_gets_no_password_and_starttls_works(
        make_device, strict_dovecot: Dovecot, proxy: RecordingProxy) -> None:
    device = await make_device(trust_bench=False)
    device.trust.add(strict_dovecot.ca.cert_pem.bytes())
    strict_dovecot.clear(BOB)
    strict_dovecot.deliver(BOB, message(1))
    await point_at(device, proxy.port, "plain")
    refused = await device.api.check_mail("pop.ifax", wait_printed=False)
    assert refused.step == "tls" and "CAPA lists no USER" in refused.reason, refused.reason
    assert b"CAPA" in proxy.sent and b"USER" not in proxy.sent and b"PASS" not in proxy.sent
    assert BOB_PASSWORD.encode() not in proxy.sent
    # starttls through the same relay (the certificate names 127.0.0.1): signs in, reads.
    assert (await sh(device, "set pop.ifax.security starttls"))["_ok"]
    received = await device.api.check_mail("pop.ifax", wait_printed=False)
    assert received.ok and received.received == 1, received.reason
    assert BOB_PASSWORD.encode() not in proxy.sent  # went inside TLS
    assert strict_dovecot.count(BOB) == 0
