"""Opening a POP3 session as a POP setting says: connect, TLS, sign in.

Used by each poll and by the connection test. Sign-in is USER/PASS, or XOAUTH2 with the
setting's own token: a server that refuses the token gets one renewed token (`SessionToken`),
as for SMTP. Every failure is a `MailFailure` with its step (`connect`, `tls`, `auth`,
`token`) and the server's words; nothing here translates errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..mail.errors import MailAuthError, MailConnectError
from ..mail.session_token import SessionToken
from ..pop3 import Pop3Client, Pop3TokenRejected
from ..settings import AuthMethod, PopSettings, Security
from ..tokens.store import mask
from ..trust import TrustStore
from .limits import ReceiveLimits

__all__ = ["Mailbox"]

log = logging.getLogger(__name__)


@dataclass
class Mailbox:
    """How one POP setting reaches its mailbox: its name, token and the device's trust store."""

    section: str
    token: SessionToken
    trust: TrustStore
    limits: ReceiveLimits

    async def open(self, cfg: PopSettings, notes: list[str]) -> Pop3Client:
        """A connected, secured, signed-in session; `notes` gets what each stage achieved."""
        if not cfg.server:
            raise MailConnectError(f"{self.section}.server is not set: enter the POP3 server",
                                   temporary=False)
        pop = Pop3Client(cfg.server, cfg.port, security=cfg.security,
                         ssl_context=self.trust.ssl_context(), timeout=float(cfg.timeout),
                         max_message_size=self.limits.max_message_bytes)
        try:
            greeting = await pop.connect()
            notes.append(f"connected to {cfg.server}:{cfg.port}: {greeting}")
            if cfg.security is not Security.OFF:
                notes.append(f"TLS ({cfg.security.value}): certificate and host name verified")
            await self._sign_in(pop, cfg, notes)
        except BaseException:
            await pop.close()
            raise
        return pop

    async def _sign_in(self, pop: Pop3Client, cfg: PopSettings, notes: list[str]) -> None:
        if cfg.auth is AuthMethod.OAUTH2:
            token = await self.token.take()
            try:
                await pop.login_xoauth2(token.account, token.access_token)
            except Pop3TokenRejected as exc:
                log.info("%s: XOAUTH2 refused for %s (%s): %s; renewing the token once",
                         self.section, token.account, mask(token.access_token), exc.text)
                renewed = await self.token.renew(token, exc.text)
                try:
                    await pop.login_xoauth2(renewed.account, renewed.access_token)
                except Pop3TokenRejected as again:
                    raise MailAuthError(
                        f"the server refused the token even after renewal: {again.text}",
                        server_text=again.text) from again
                token = renewed
            notes.append(f"signed in with XOAUTH2 as {token.account}")
            return
        if not cfg.user:
            raise MailAuthError(f"{self.section}.user is not set: enter the POP3 user name")
        await pop.login_user_pass(cfg.user, cfg.password)
        notes.append(f"signed in with USER/PASS as {cfg.user}")
