"""`MailServer`: the bench's SMTP and POP3 services on four OS-chosen loopback ports.

It runs in the caller's event loop (a test's, or the testbed's), shares the bench clock with
the identity provider and the device, and checks OAuth tokens with the verifier it is given.
aiosmtpd's `Controller` runs its own thread and cannot take port 0, so the SMTP listeners are
made here with `loop.create_server`.

Faults come from a `FaultBoard` (its own, or the one the bench shares with the identity
provider, so one control API arms both); sessions and AUTH attempts are counted in a
`BenchStats` shared the same way. The certificate shown is `certificate` (certs.py).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_users import BenchUsers
from mfp_sim.tools.idp import BenchStats, FaultBoard

from .auth import AuthLog, LoginLockout, TokenVerifier
from .certs import CertificateChoice, IssuingCA, ServerCertificates
from .faults import CATALOGUE, MailFaults
from .maildir import MailStore
from .pop3_server import Pop3Service
from .smtp_server import SMTP_HOSTNAME, BenchSMTP, BenchSmtpHandler

__all__ = ["MailServer", "ServerTls"]

log = logging.getLogger("mfp_sim.tools.mailserver")


class ServerTls(IssuingCA, Protocol):
    """Where the server gets its certificates (`BenchCA` fits)."""


class MailServer:
    """SMTP (587-like STARTTLS and 465-like implicit TLS) and POP3 (110/995-like) for the bench."""

    def __init__(
        self,
        clock: Clock,
        ca: ServerTls,
        verifier: TokenVerifier,
        maildir_root: Path,
        host: str = "127.0.0.1",
        *,
        faults: MailFaults | None = None,
        board: FaultBoard | None = None,
        stats: BenchStats | None = None,
        users: BenchUsers | None = None,
        certificate: CertificateChoice = "trusted",
        lockout_threshold: int = 5,
        lockout_seconds: float = 900.0,
        pop_idle_timeout: float = 600.0,
        smtp_idle_timeout: float = 300.0,
    ) -> None:
        self.clock = clock
        self.host = host
        self.store = MailStore(Path(maildir_root))
        self.faults = faults if faults is not None else MailFaults()
        self.board = board if board is not None else FaultBoard()
        self.board.register(CATALOGUE)
        self.users = users if users is not None else BenchUsers()
        self.auth_log = AuthLog(clock, stats)
        self.stats = self.auth_log.stats
        self.lockout = LoginLockout(clock, lockout_threshold, lockout_seconds)
        self.certificates = ServerCertificates(ca, certificate)
        self._tls = self.certificates.context
        self._smtp_idle_timeout = smtp_idle_timeout
        self._handler = BenchSmtpHandler(clock, self.store, verifier, self.faults, self.auth_log,
                                         self.board, self.users)
        self._pop = Pop3Service(
            clock=clock,
            store=self.store,
            verifier=verifier,
            lockout=self.lockout,
            faults=self.faults,
            auth_log=self.auth_log,
            tls_context=self._tls,
            board=self.board,
            users=self.users,
            idle_timeout=pop_idle_timeout,
        )
        self._smtp_servers: list[asyncio.Server] = []
        self._smtp_live: set[BenchSMTP] = set()
        self.smtp_port = 0
        self.smtps_port = 0
        self.pop3_port = 0
        self.pop3s_port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def submission() -> BenchSMTP:
            return BenchSMTP(
                self._handler,
                live=self._smtp_live,
                hostname=SMTP_HOSTNAME,
                tls_context=self._tls,
                auth_require_tls=True,
                authenticator=self._handler.authenticate,
                timeout=self._smtp_idle_timeout,
                loop=loop,
            )

        def implicit() -> BenchSMTP:
            return BenchSMTP(
                self._handler,
                live=self._smtp_live,
                hostname=SMTP_HOSTNAME,
                auth_require_tls=False,
                authenticator=self._handler.authenticate,
                timeout=self._smtp_idle_timeout,
                loop=loop,
            )

        plain = await loop.create_server(submission, self.host, 0)
        tls = await loop.create_server(implicit, self.host, 0, ssl=self._tls)
        self._smtp_servers = [plain, tls]
        self.smtp_port = plain.sockets[0].getsockname()[1]
        self.smtps_port = tls.sockets[0].getsockname()[1]
        self.pop3_port = await self._pop.listen(self.host, implicit_tls=False)
        self.pop3s_port = await self._pop.listen(self.host, implicit_tls=True)
        log.info(
            "mail server on %s: smtp %d, smtps %d, pop3 %d, pop3s %d",
            self.host,
            self.smtp_port,
            self.smtps_port,
            self.pop3_port,
            self.pop3s_port,
        )

    async def stop(self) -> None:
        for server in self._smtp_servers:
            server.close()
        for protocol in list(self._smtp_live):
            protocol.close()
        await self._pop.close()
        for server in self._smtp_servers:
            await server.wait_closed()
        self._smtp_servers = []
        await asyncio.sleep(0)  # let the closed SMTP transports run connection_lost

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- conveniences for tests and the bench console ---------------------------------------
    @property
    def certificate(self) -> CertificateChoice:
        return self.certificates.choice

    def use_certificate(self, choice: str) -> None:
        """Show another certificate from the next TLS handshake on (certs.py)."""
        self.certificates.use(choice)
        log.info("mail server now shows the %s certificate", choice)

    def deliver(self, address: str, content: bytes) -> str:
        """Put a message straight into `address`'s Maildir (no SMTP); returns its key."""
        return self.store.deliver(address, content)

    def messages(self, address: str) -> list[bytes]:
        """The messages in `address`'s Maildir, oldest first (LF line ends)."""
        box = self.store.maildir(address)
        return [box.get_bytes(m.key) for m in self.store.snapshot(address)]
