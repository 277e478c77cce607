"""Opening a POP3 session as a POP setting says: connect, TLS, CAPA, sign in.

Used by each poll and by the connection test. Sign-in is USER/PASS, or XOAUTH2 with the
setting's own token: a server that refuses the token gets one renewed token (`SessionToken`),
as for SMTP. Every failure is a `MailFailure` with its step (`connect`, `tls`, `auth`,
`token`) and the server's words; nothing here translates errors.

**No secret in clear.** A password or a bearer token goes over a connection that is not
encrypted only when the administrator chose `security off` **and** the server offers the
mechanism before TLS: CAPA (RFC 2449) is asked first, and without `USER` (for USER/PASS) or
`SASL … XOAUTH2` (for OAuth 2.0) in its answer nothing is sent; a server without CAPA offers
nothing. A server that refuses sign-in before TLS anyway (Dovecot: `-ERR [AUTH] Plaintext
authentication disabled.`) is told as a settings problem, step `tls`, naming the setting to
change: it costs no token renewal and never blames the token. Over TLS, a server whose SASL
list lacks XOAUTH2 is told so (the list it offers), as the SMTP sender does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..mail.errors import MailAuthError, MailConnectError, MailTlsError
from ..mail.session_token import SessionToken
from ..pop3 import Pop3AuthError, Pop3Client, Pop3ServerError, Pop3TokenRejected
from ..sentences import Reason
from ..settings import AuthMethod, PopSettings, Security
from ..tokens.store import mask
from ..trust import TrustStore
from .limits import ReceiveLimits

__all__ = ["Mailbox"]

log = logging.getLogger(__name__)

#: Words with which servers refuse a sign-in because the connection is not encrypted
#: (Dovecot: "Plaintext authentication disabled." / "... disallowed on non-secure (SSL/TLS)
#: connections."; Exchange: "... requires SSL/TLS"): in clear, such a refusal is the setting's.
_NEEDS_TLS = re.compile(r"plain ?text|\bssl\b|\btls\b|secure|encrypt", re.IGNORECASE)


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
        try:
            self.trust.check_link(f"{cfg.server}:{cfg.port}")
        except OSError as exc:  # the network cable is out (hwsim.network)
            raise MailConnectError(f"POP3: cannot connect to {cfg.server}:{cfg.port}: "
                                   f"{exc.strerror}") from exc
        pop = Pop3Client(cfg.server, cfg.port, security=cfg.security,
                         ssl_context=self.trust.ssl_context(), timeout=float(cfg.timeout),
                         max_message_size=self.limits.max_message_bytes)
        try:
            greeting = await pop.connect()
            notes.append(f"connected to {cfg.server}:{cfg.port}: {greeting}")
            if cfg.security is not Security.OFF:
                notes.append(f"TLS ({cfg.security.value}): certificate and host name verified")
            caps = await self._capabilities(pop, notes)
            self._check_offered(cfg, caps)
            await self._sign_in(pop, cfg, notes)
        except BaseException:
            await pop.close()
            raise
        return pop

    async def _capabilities(self, pop: Pop3Client,
                            notes: list[str]) -> dict[str, tuple[str, ...]] | None:
        """What the server offers now (after TLS, if any); None when it has no CAPA."""
        try:
            caps = await pop.capa()
        except Pop3ServerError:
            notes.append("the server does not answer CAPA")
            return None
        notes.append("server offers: " + (" ".join(
            " ".join((k, *v)) for k, v in caps.items() if k in ("USER", "SASL", "STLS"))
            or "no sign-in mechanism"))
        return caps

    def _check_offered(self, cfg: PopSettings, caps: dict[str, tuple[str, ...]] | None) -> None:
        """Refuse, before anything secret is sent, what the server does not offer."""
        oauth = cfg.auth is AuthMethod.OAUTH2
        offered_sasl = [m.upper() for m in (caps or {}).get("SASL", ())]
        if cfg.security is Security.OFF:
            offered = "XOAUTH2" in offered_sasl if oauth else caps is not None and "USER" in caps
            if not offered:
                what = "AUTH XOAUTH2" if oauth else "USER/PASS"
                if caps is None:
                    listed = "it does not answer CAPA"
                elif oauth:
                    listed = "it offers: " + (" ".join(offered_sasl) or "no SASL mechanism")
                else:
                    listed = "CAPA lists no USER"
                raise MailTlsError(
                    f"the server does not offer {what} before TLS ({listed}), and "
                    f"{self.section}.security is off: nothing was sent in clear. "
                    f"{self._use_tls()}")
        elif oauth and caps is not None and "SASL" in caps and "XOAUTH2" not in offered_sasl:
            raise MailAuthError("the server does not offer AUTH XOAUTH2 (it offers: "
                                f"{' '.join(offered_sasl) or 'no SASL mechanism'})")

    def _use_tls(self) -> str:
        return f"Set {self.section}.security to ssl (port 995) or starttls (port 110)."

    def _refused_in_clear(self, cfg: PopSettings, exc: Pop3ServerError) -> MailTlsError | None:
        """A refusal that says the connection is not encrypted: the setting's problem."""
        if cfg.security is not Security.OFF or not _NEEDS_TLS.search(exc.text):
            return None
        blame = (" The token is not the cause and was not renewed."
                 if cfg.auth is AuthMethod.OAUTH2 else "")
        return MailTlsError(
            f"the server requires TLS before sign-in ({exc.text}), and {self.section}.security "
            f"is off. {self._use_tls()}{blame}", server_text=exc.text)

    async def _sign_in(self, pop: Pop3Client, cfg: PopSettings, notes: list[str]) -> None:
        if cfg.auth is AuthMethod.OAUTH2:
            token = await self.token.take()
            try:
                await pop.login_xoauth2(token.account, token.access_token)
            except Pop3TokenRejected as exc:
                if (needs_tls := self._refused_in_clear(cfg, exc)) is not None:
                    raise needs_tls from exc
                log.info("%s: XOAUTH2 refused for %s (%s): %s; renewing the token once",
                         self.section, token.account, mask(token.access_token), exc.text)
                renewed = await self.token.renew(token, exc.text)
                try:
                    await pop.login_xoauth2(renewed.account, renewed.access_token)
                except Pop3TokenRejected as again:
                    raise MailAuthError(  # the mailbox, not the token (docs/faults.md)
                        Reason("pop.token_refused_renewed", reply=again.text,
                               account=renewed.account), server_text=again.text) from again
                token = renewed
            notes.append(f"signed in with XOAUTH2 as {token.account}")
            return
        if not cfg.user:
            raise MailAuthError(f"{self.section}.user is not set: enter the POP3 user name")
        try:
            await pop.login_user_pass(cfg.user, cfg.password)
        except Pop3AuthError as exc:
            if (needs_tls := self._refused_in_clear(cfg, exc)) is not None:
                raise needs_tls from exc
            raise
        notes.append(f"signed in with USER/PASS as {cfg.user}")
