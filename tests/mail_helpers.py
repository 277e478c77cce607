"""Helpers shared by the mail tests: configure a device's SMTP and POP settings for the bench,
wait (bounded) for a job, read a Maildir, and two small servers the bench does not provide:
one that answers SMTP from a script and records every line, and a verifier that can refuse
chosen tokens the way Exchange's continuous access evaluation does.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.mail.jobs import JobInfo
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.idp import TokenRejected
from mfp_sim.tools.mailserver import TokenVerifier
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, obtain_token, sh, wait_for

__all__ = ["ALICE", "BOB", "setup_smtp", "setup_pop", "wait_job", "maildir", "pdf_pages",
           "ScriptedSmtp", "RefusingVerifier", "closed_port"]


async def setup_smtp(device: Device, bench: Testbed, clock: VirtualClock, *, auth: str = "oauth2",
                     account: str = ALICE, security: str = "starttls") -> None:
    """SMTP to the bench: provider `local` fills server and port; then auth and sender."""
    if auth == "oauth2":
        await obtain_token(device, bench, clock, "smtp", account)
    else:
        assert (await sh(device, "set smtp.provider local"))["_ok"]
    lines = [f"set smtp.auth {auth}", f"set smtp.sender_address {account}",
             "set smtp.sender_name Front-desk MFP"]
    if auth in ("plain", "login"):
        lines += [f"set smtp.user {account}", f"set smtp.password {account.split('@')[0]}-pass-1"]
    if security == "ssl":
        lines += ["set smtp.security ssl", f"set smtp.port {bench.mail.smtps_port} --confirm"]
    for line in lines:
        reply = await sh(device, line)
        assert reply["_ok"], (line, reply["_err"])


async def setup_pop(device: Device, bench: Testbed, clock: VirtualClock, section: str = "pop.ifax",
                    *, auth: str = "oauth2", account: str = BOB, leave_copy: bool = False,
                    enabled: bool = False) -> None:
    """POP3 over implicit TLS to the bench as `account`, with its own token when oauth2."""
    if auth == "oauth2":
        await obtain_token(device, bench, clock, section, account)
    else:
        assert (await sh(device, f"set {section}.provider local"))["_ok"]
    lines = [f"set {section}.auth {auth}", f"set {section}.leave_copy {'on' if leave_copy else 'off'}",
             f"set {section}.enabled {'on' if enabled else 'off'}"]
    if auth == "plain":
        lines += [f"set {section}.user {account}",
                  f"set {section}.password {account.split('@')[0]}-pass-1"]
    for line in lines:
        reply = await sh(device, line)
        assert reply["_ok"], (line, reply["_err"])


async def wait_job(device: Device, job_id: str, *states: str, timeout: float = 10.0,
                   attempts: int | None = None) -> JobInfo:
    """Wait (real time, bounded) until the job is in one of `states` (after `attempts`)."""
    wanted = states or ("sent", "failed")

    def reached() -> bool:
        job = device.jobs.get(job_id)
        return job.state.value in wanted and (attempts is None or job.attempts >= attempts)

    await wait_for(reached, timeout, f"job {job_id} in {wanted}")
    return device.jobs.get(job_id)


def maildir(bench: Testbed, address: str) -> list[Any]:
    """The messages in `address`'s Maildir, read with stdlib `mailbox` (no server between)."""
    path = bench.maildir_root / address
    if not path.exists():
        return []
    box = mailbox.Maildir(path, factory=None, create=False)
    return [box.get_message(key) for key in sorted(box.keys())]


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF: its page objects, checked against the page tree's /Count."""
    objects = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    counts = [int(c) for c in re.findall(rb"/Count\s+(\d+)", data)]
    assert counts and max(counts) == objects, (objects, counts)
    return objects


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScriptedSmtp:
    """A plaintext SMTP server answering from a script; records every line it receives.

    `replies` maps a command word (EHLO, MAIL, RCPT, DATA, QUIT, or "." for the end of the
    message) to a callable giving the reply for the n-th time it is seen (n from 1).
    """

    def __init__(self, replies: dict[str, Callable[[int], str]] | None = None) -> None:
        self.replies = {
            "EHLO": lambda n: "250-mail.scripted.test\r\n250-SIZE 10000000\r\n250 8BITMIME",
            "MAIL": lambda n: "250 2.1.0 Sender OK",
            "RCPT": lambda n: "250 2.1.5 Recipient OK",
            "DATA": lambda n: "354 Start mail input; end with <CRLF>.<CRLF>",
            ".": lambda n: "250 2.6.0 Queued mail for delivery",
            "RSET": lambda n: "250 2.0.0 Resetting",
            "QUIT": lambda n: "221 2.0.0 Service closing transmission channel",
        }
        self.replies.update(replies or {})
        self.lines: list[str] = []
        self.counts: dict[str, int] = {}
        self.messages: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def commands(self) -> list[str]:
        return [line.split(" ")[0].upper() for line in self.lines]

    def _reply(self, word: str) -> str:
        self.counts[word] = self.counts.get(word, 0) + 1
        make = self.replies.get(word)
        return make(self.counts[word]) if make else "502 5.5.2 Command not implemented"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 mail.scripted.test ESMTP ready\r\n")
            while line := await reader.readline():
                text = line.decode("latin-1").rstrip("\r\n")
                self.lines.append(text)
                word = text.split(" ")[0].upper()
                reply = self._reply(word)
                writer.write(reply.encode() + b"\r\n")
                await writer.drain()
                if word == "DATA" and reply.startswith("354"):
                    body = bytearray()
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        body += chunk
                    self.messages.append(bytes(body))
                    writer.write(self._reply(".").encode() + b"\r\n")
                    await writer.drain()
                if word == "QUIT":
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()


class RefusingVerifier:
    """The IdP's verifier, plus a list of tokens the mail server refuses anyway.

    Real Exchange Online honours revocation within minutes (continuous access evaluation),
    before the access token's own expiry; `refuse(token)` models that for one token.
    """

    def __init__(self, inner: TokenVerifier) -> None:
        self.inner = inner
        self.refused: set[str] = set()
        self.seen: list[str] = []

    def refuse(self, token: str) -> None:
        self.refused.add(token)

    def verify(self, token: str, required_scope: str) -> str:
        self.seen.append(token)
        if token in self.refused:
            raise TokenRejected("token revoked (continuous access evaluation)", "revoked")
        return self.inner.verify(token, required_scope)


def spool_dir(device: Device, section: str = "pop.ifax") -> Path:
    """The receive spool folder (fax memory) of one POP setting."""
    return device.dir / "spool" / section


async def powered_on(bench: Testbed, clock: VirtualClock, nvram_dir: Path) -> tuple[Device, Any]:
    """A device on an existing NVRAM dir, listening to its events from before power-on."""
    registry = ProviderRegistry()
    registry.add(bench.provider())
    device = Device(nvram_dir, clock=clock, providers=registry, ca_pems=[bench.ca.ca_pem])
    sub = device.api.subscribe()
    await device.start()
    return device, sub


def tray_names(device: Device) -> list[str]:
    return [item.name for item in device.tray.list()]


def read_tray(device: Device, name: str) -> bytes:
    return Path(device.tray.folder / name).read_bytes()
