"""The device's one SMTP client: Scan to E-mail, Internet Fax send and alerts all go through it.

A session has three stages, and a failure names the one it happened in, because that is what
an administrator needs to fix it (a blocked port, an untrusted certificate and a refused login
are three different phone calls):

    connect   TCP to `smtp.server:smtp.port` (implicit TLS is negotiated here, as on port 465)
    tls       STARTTLS when configured (port 587); if the server does not offer it, the device
              stops: nothing, not even the sender's address, goes out in clear
    auth      none, PLAIN, LOGIN (user and password) or XOAUTH2 with the shared `smtp` token

Certificates and host names are checked against the device's `TrustStore`, never skipped.

XOAUTH2: a server that refuses the token answers with a 334 challenge first; aiosmtplib sends
the empty line and reads the 535. On that 535 the device asks the token store for a fresh
token once (the provider may have revoked the old one early, or the clocks disagree) and tries
again; if renewal is refused the store becomes `invalid` and the failure says so in the words
the real device uses.

Timeouts (`smtp.timeout`) are network time on the event loop, not device time: they guard a
real socket.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPDataError,
    SMTPException,
    SMTPResponse,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPStatus,
    SMTPTimeoutError,
)

from ..sentences import Reason
from ..settings import AuthMethod, Security, SmtpSettings
from ..tokens.store import BearerToken, TokenStore, mask
from ..trust import TrustStore
from .errors import (
    MailAuthError,
    MailConnectError,
    MailFailure,
    MailProtocolError,
    MailReplyError,
    MailTimeoutError,
    MailTlsError,
)
from .refusals import NOT_THE_TOKEN, auth_refusal, enhanced_code, sender_refusal
from .session_token import SessionToken

__all__ = ["BeforeData", "SmtpSender", "data_payload", "reply_text"]

log = logging.getLogger(__name__)

#: Called once the server has accepted sender and recipients, just before DATA: the job queue
#: records there that the message may from now on have reached the server.
BeforeData = Callable[[], None]

#: The name the device gives in EHLO (a real MFP uses its host name).
EHLO_NAME = "mfp-sim.local"


def reply_text(code: int, message: str) -> str:
    """An SMTP reply as one line, as the server sent it: `535 5.7.3 Authentication unsuccessful`."""
    return " ".join(f"{code} {message}".split())


class SmtpSender:
    """Sends messages with the current SMTP settings and the shared `smtp` token store."""

    def __init__(
        self,
        settings: Callable[[], SmtpSettings],
        store: TokenStore,
        trust: TrustStore,
        *,
        ehlo_name: str = EHLO_NAME,
    ) -> None:
        self._settings = settings
        self._token = SessionToken(store)
        self._trust = trust
        self._ehlo_name = ehlo_name

    # ----------------------------------------------------------------- public
    async def send(
        self,
        sender: str,
        recipients: Sequence[str],
        message: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> str:
        """Deliver `message` to the server; returns the server's reply to DATA.

        Raises a `MailFailure` subclass naming the stage and carrying the server's words.
        """
        if not recipients:
            raise MailReplyError(Reason("smtp.no_recipient"), code=554, server_text="")
        async with self.session() as (smtp, cfg):
            return await self._transfer(smtp, cfg, sender, list(recipients), message, before_data)

    async def check(self, notes: list[str] | None = None) -> list[str]:
        """Connect, secure and sign in, then QUIT; `notes` gets what each stage achieved.

        For the connection test: raises the same `MailFailure`s a send would, and `notes`
        then shows the stages that passed.
        """
        steps = notes if notes is not None else []
        async with self.session(steps):
            pass
        return steps

    @asynccontextmanager
    async def session(
        self, steps: list[str] | None = None
    ) -> AsyncIterator[tuple[aiosmtplib.SMTP, SmtpSettings]]:
        """A connected, secured, signed-in session; QUIT and close on the way out."""
        cfg = self._settings()
        if not cfg.server:
            raise MailConnectError(Reason("smtp.no_server"), temporary=False)
        notes = steps if steps is not None else []
        smtp = await self._connect(cfg, notes)
        try:
            await self._secure(smtp, cfg, notes)
            await self._sign_in(smtp, cfg, notes)
            yield smtp, cfg
            try:
                await smtp.quit()
            except SMTPException:
                pass  # the message is already accepted: a rude goodbye changes nothing
        finally:
            smtp.close()

    # ----------------------------------------------------------------- stages
    async def _connect(self, cfg: SmtpSettings, notes: list[str]) -> aiosmtplib.SMTP:
        where = f"{cfg.server}:{cfg.port}"
        smtp = aiosmtplib.SMTP(
            hostname=cfg.server,
            port=cfg.port,
            timeout=float(cfg.timeout),
            use_tls=cfg.security is Security.SSL,
            start_tls=False,
            tls_context=self._trust.ssl_context(),
            local_hostname=self._ehlo_name,
        )
        try:
            self._trust.check_link(where)
        except OSError as exc:
            raise MailConnectError(Reason("smtp.cannot_connect", where=where,
                                          error=str(exc.strerror))) from exc
        try:
            greeting = await smtp.connect()
        except SMTPConnectTimeoutError as exc:
            raise MailTimeoutError(Reason("smtp.no_greeting", where=where,
                                          seconds=str(cfg.timeout))) from exc
        except SMTPConnectResponseError as exc:
            text = reply_text(exc.code, exc.message)
            raise MailReplyError(Reason("smtp.greeting_refused", where=where, reply=text),
                                 code=exc.code,
                                 server_text=text, step="connect") from exc
        except SMTPConnectError as exc:
            raise _connect_failure(exc, where, cfg.security is Security.SSL) from exc
        except SMTPResponseException as exc:  # a greeting that is not SMTP at all
            raise _malformed(exc, where, greeting=True) from exc
        except ssl.SSLError as exc:
            raise _tls_failure(exc, where) from exc
        except (SMTPServerDisconnected, ConnectionError) as exc:
            raise MailConnectError(Reason("smtp.closed_at_once", where=where)) from exc
        notes.append(f"connected to {where}: {reply_text(greeting.code, greeting.message)}")
        if cfg.security is Security.SSL:
            notes.append("TLS (implicit): certificate and host name verified")
        return smtp

    async def _secure(self, smtp: aiosmtplib.SMTP, cfg: SmtpSettings, notes: list[str]) -> None:
        where = f"{cfg.server}:{cfg.port}"
        try:
            await smtp.ehlo()
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            text = reply_text(exc.code, exc.message)
            raise MailReplyError(Reason("smtp.ehlo_refused", reply=text), code=exc.code,
                                 server_text=text, step="connect") from exc
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise _lost(exc, "EHLO", cfg) from exc
        if cfg.security is not Security.STARTTLS:
            if cfg.security is Security.OFF:
                notes.append("no encryption (smtp.security=off)")
            return
        if not smtp.supports_extension("starttls"):
            raise MailTlsError(Reason("smtp.no_starttls", where=where))
        try:
            await smtp.starttls(tls_context=self._trust.ssl_context())
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            text = reply_text(exc.code, exc.message)
            raise MailTlsError(Reason("smtp.starttls_refused", where=where, reply=text),
                               server_text=text,
                               code=exc.code, temporary=400 <= exc.code < 500) from exc
        except ssl.SSLError as exc:
            raise _tls_failure(exc, where) from exc
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise MailTlsError(Reason("smtp.tls_negotiation_failed", where=where, error=str(exc)),
                               temporary=True) from exc
        try:
            await smtp.ehlo()  # RFC 3207: forget what was said in clear, ask again
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            text = reply_text(exc.code, exc.message)
            raise MailReplyError(Reason("smtp.ehlo_after_tls_refused", reply=text),
                                 code=exc.code, server_text=text, step="tls") from exc
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise _lost(exc, "EHLO after STARTTLS", cfg) from exc
        notes.append("TLS (STARTTLS): certificate and host name verified")

    async def _sign_in(self, smtp: aiosmtplib.SMTP, cfg: SmtpSettings, notes: list[str]) -> None:
        if cfg.auth is AuthMethod.NONE:
            notes.append("no authentication (smtp.auth=none)")
            return
        mechanism = {AuthMethod.PLAIN: "plain", AuthMethod.LOGIN: "login",
                     AuthMethod.OAUTH2: "xoauth2"}[cfg.auth]
        offered = [m.lower() for m in smtp.server_auth_methods]
        if mechanism not in offered:
            listed = " ".join(m.upper() for m in offered) or Reason("smtp.no_auth_at_all")
            hint = Reason("smtp.hint_auth_after_tls") if cfg.security is Security.OFF else ""
            raise MailAuthError(Reason("smtp.mechanism_missing", mechanism=mechanism.upper(),
                                       offered=listed, hint=hint))
        if cfg.auth is AuthMethod.OAUTH2:
            account = await self._xoauth2(smtp, cfg)
            notes.append(f"signed in with XOAUTH2 as {account}")
            return
        if not cfg.user:
            raise MailAuthError(Reason("smtp.no_user"))
        try:
            if cfg.auth is AuthMethod.PLAIN:
                await smtp.auth_plain(cfg.user, cfg.password)
            else:
                await smtp.auth_login(cfg.user, cfg.password)
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            raise _auth_refused(exc) from exc
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise _lost(exc, "AUTH", cfg) from exc
        notes.append(f"signed in with AUTH {mechanism.upper()} as {cfg.user}")

    async def _xoauth2(self, smtp: aiosmtplib.SMTP, cfg: SmtpSettings) -> str:
        token = await self._token.take()
        try:
            await self._auth_xoauth2(smtp, cfg, token)
            return token.account
        except SMTPAuthenticationError as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            if exc.code != 535 or enhanced_code(exc.message) in NOT_THE_TOKEN:
                raise _auth_refused(exc, token.account) from exc  # a tenant setting: no refresh
            first = reply_text(exc.code, exc.message)
        log.info("smtp: XOAUTH2 refused for %s (%s): %s; renewing the token once",
                 token.account, mask(token.access_token), first)
        renewed = await self._token.renew(token, first)
        if not smtp.is_connected:
            raise MailConnectError(Reason("smtp.closed_after_refusal", reply=first),
                                   server_text=first)
        try:
            await self._auth_xoauth2(smtp, cfg, renewed)
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            raise _auth_refused(exc, renewed.account, renewed=True) from exc
        return renewed.account

    async def _auth_xoauth2(self, smtp: aiosmtplib.SMTP, cfg: SmtpSettings,
                            token: BearerToken) -> None:
        try:
            await smtp.auth_xoauth2(token.account, token.access_token)
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise _lost(exc, "AUTH XOAUTH2", cfg) from exc


    # ----------------------------------------------------------------- transfer
    async def _transfer(
        self,
        smtp: aiosmtplib.SMTP,
        cfg: SmtpSettings,
        sender: str,
        recipients: list[str],
        message: bytes,
        before_data: BeforeData | None,
    ) -> str:
        options = [f"SIZE={len(message)}"] if smtp.supports_extension("size") else []
        try:
            await smtp.mail(sender, options=options)
            for rcpt in recipients:
                await smtp.rcpt(rcpt)
            if before_data is not None:
                before_data()
            reply = await _data(smtp, message)
        except SMTPResponseException as exc:
            _check_reply(exc, f"{cfg.server}:{cfg.port}")
            text = reply_text(exc.code, exc.message)
            raise sender_refusal(exc.code, exc.message, text, sender=sender,
                                 account=cfg.account if cfg.auth is AuthMethod.OAUTH2
                                 else cfg.user) from exc
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise _lost(exc, Reason("smtp.during_transaction"), cfg) from exc
        except ValueError as exc:  # aiosmtplib refuses an address it cannot send safely
            raise MailReplyError(Reason("smtp.address_refused", error=str(exc)), code=501,
                                 server_text="") from exc
        except SMTPException as exc:
            raise MailProtocolError(Reason("smtp.transaction_failed", error=str(exc)),
                                    step="send", temporary=True) from exc
        text = reply_text(reply.code, reply.message)
        log.info("smtp: %s accepted %d bytes for %s: %s", cfg.server, len(message),
                 ", ".join(recipients), text)
        return text


def data_payload(message: bytes) -> bytes:
    """What DATA sends for `message` (RFC 5321 §4.5.2): every line end CRLF (a lone CR or LF
    made one), a dot added to each line that starts with a dot, then the `.CRLF` end.

    Byte for byte what aiosmtplib's `execute_data_command` sends (tests compare them), made
    with bytes operations instead of its two regular expressions: 0.1 ms rather than 0.9 ms
    for an 80 KiB scan, which was an eighth of the device's CPU per job (docs/bench.md).
    """
    if message.count(b"\r\n") != message.count(b"\n") or \
            message.count(b"\r") != message.count(b"\n"):  # a lone CR or LF somewhere
        message = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    if _has_line_leading_dot(message):
        message = message.replace(b"\n.", b"\n..")
    return message + b".\r\n"


def _has_line_leading_dot(message: bytes) -> bool:
    """Whether some line after the first starts with a dot. A scan's message has dots only
    in its few header lines (base64 has none), so jumping from dot to dot (`find` of one byte
    is memchr) is much quicker than the substring search `replace` would do for nothing."""
    at = message.find(b".", 1)
    for _ in range(64):  # a text dense with dots: let `replace` search instead
        if at < 0:
            return False
        if message[at - 1] == 0x0A:
            return True
        at = message.find(b".", at + 1)
    return True


async def _data(smtp: aiosmtplib.SMTP, message: bytes) -> SMTPResponse:
    """`smtp.data(message)` with the payload made by `data_payload`; the same exchange as
    aiosmtplib's: DATA (its `execute_command`), 354, the payload written with its protocol's
    `write`, the reply read with its `read_response` before anything else runs on the loop
    (the reply cannot be missed), and the connection closed when it is lost or times out."""
    payload = data_payload(message)
    start = await smtp.execute_command(b"DATA")
    if start.code != SMTPStatus.start_input:
        raise SMTPDataError(start.code, start.message)
    protocol = smtp.protocol
    if protocol is None:
        raise SMTPServerDisconnected("Connection lost")
    try:
        protocol.write(payload)
        reply = await protocol.read_response(timeout=smtp.timeout)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        smtp.close()
        raise
    if reply.code != SMTPStatus.completed:
        raise SMTPDataError(reply.code, reply.message)
    return reply


# --------------------------------------------------------------- mapping
#: The most of a server's unreadable answer a message quotes.
QUOTE = 80


def _check_reply(exc: SMTPResponseException, where: str) -> None:
    """aiosmtplib reports an answer that is not an SMTP reply as code -1: a broken or hostile
    server, not a refusal; raise that (temporary: trying again later is right)."""
    if exc.code < 0:
        raise _malformed(exc, where) from exc


def _malformed(exc: SMTPResponseException, where: str, *,
               greeting: bool = False) -> MailProtocolError:
    what: str
    if "too long" in exc.message.lower():
        what = Reason("smtp.line_too_long")
    else:
        text = exc.message.removeprefix("Malformed SMTP response line: ")
        shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text.strip())
        shown = shown if len(shown) <= QUOTE else shown[:QUOTE] + "…"
        what = Reason("smtp.not_a_reply", shown=shown)
    during = Reason("smtp.during_greeting" if greeting else "smtp.during_command")
    return MailProtocolError(Reason("smtp.not_smtp", where=where, during=during, what=what),
                             step="connect" if greeting else "send", temporary=True)


def _connect_failure(exc: SMTPConnectError, where: str, implicit_tls: bool) -> MailFailure:
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError):
        return _tls_failure(cause, where)
    if isinstance(cause, ConnectionRefusedError):
        return MailConnectError(Reason("smtp.port_refused", where=where))
    if isinstance(cause, OSError) and cause.strerror:
        return MailConnectError(Reason("smtp.cannot_reach", where=where, error=cause.strerror))
    if implicit_tls and isinstance(cause, (ConnectionResetError, EOFError)):
        return MailTlsError(Reason("smtp.implicit_tls_closed", where=where))
    return MailConnectError(Reason("smtp.cannot_connect", where=where, error=str(exc)))


def _tls_failure(exc: ssl.SSLError, where: str) -> MailTlsError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailTlsError(Reason("smtp.untrusted", where=where,
                                   error=str(exc.verify_message or exc.reason)))
    reason = str(exc.reason or exc)
    return MailTlsError(Reason("smtp.handshake_failed", where=where, error=reason,
                               hint=_tls_hint(reason)))


def _tls_hint(reason: str) -> str:
    if "WRONG_VERSION_NUMBER" in reason:
        return Reason("smtp.hint_not_tls")
    return ""


def _lost(exc: Exception, during: str, cfg: SmtpSettings) -> MailFailure:
    """The server went silent or away; `during` a command's name, or a `Reason`."""
    if isinstance(exc, SMTPTimeoutError):
        return MailTimeoutError(Reason("smtp.silent_during", during=during,
                                       seconds=str(cfg.timeout)), step="send")
    return MailProtocolError(Reason("smtp.closed_during", during=during), step="send",
                             temporary=True)


def _auth_refused(exc: SMTPResponseException, account: str = "", *,
                  renewed: bool = False) -> MailAuthError:
    """A refused AUTH, worded by its enhanced code (`refusals`)."""
    return auth_refusal(exc.code, exc.message, reply_text(exc.code, exc.message),
                        account=account, renewed=renewed)
