"""The bench SMTP service on aiosmtpd: client submission as Exchange Online answers it.

Two listeners share one handler: the submission port (plain, STARTTLS offered, AUTH only after
STARTTLS, like smtp.office365.com:587) and an implicit-TLS port (AUTH at once). Credentials are
a bench user's password or app password (AUTH PLAIN/LOGIN) or an OAuth access token
(AUTH XOAUTH2, checked by the identity provider's verifier for the SMTP scope).

Recipients: the local domain (`example.test`) accepts only bench users (`550 5.1.1` otherwise);
any other domain is relayed for a signed-in client only (`550 5.7.54` otherwise). "Relayed"
means delivered to `maildir_root/<address>/` too, so a test can read what the device sent to
an outside address (a remote fax machine, say) exactly like a local one.

aiosmtpd quirks handled here (see docs/mailserver.md): its 512-byte command limit and its
stream limit reject real OAuth tokens, so both are raised while DATA keeps the RFC 5321 line
limit; a failed XOAUTH2 must send the JSON challenge itself and return `handled=False` with the
535 text, or the client hangs.
"""

from __future__ import annotations

import collections
import datetime
import email.utils
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from mfp_sim.hwsim.clock import Clock
from mfp_sim.tools.bench_users import BenchUsers
from mfp_sim.tools.idp import ArmedFault, FaultBoard

from .auth import SMTP_SCOPE, AuthLog, TokenRejected, TokenVerifier, check_password
from .faults import MailAnswer, MailFaults, SmtpText
from .maildir import InvalidAddress, MailStore, normalise_address
from .xoauth2 import MalformedXoauth2, decode_base64, error_challenge, parse_xoauth2

__all__ = ["LOCAL_DOMAINS", "SMTP_HOSTNAME", "BenchSMTP", "BenchSmtpHandler", "SmtpReply"]

log = logging.getLogger("mfp_sim.tools.mailserver.smtp")


class _LegacyLoginDataNoise(logging.Filter):
    """aiosmtpd 1.4 sets its own deprecated `Session.login_data` on every successful AUTH and
    warns about it each time; the warning is about aiosmtpd's code, not ours, so drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_LegacyLoginDataNoise())

#: Domains whose mailboxes this server owns: only bench users exist there.
LOCAL_DOMAINS: frozenset[str] = frozenset({"example.test"})
#: The name the server gives in its greeting and EHLO reply.
SMTP_HOSTNAME = "mail.example.test"


class SmtpReply:
    """Reply texts, as Exchange Online words them where known."""

    AUTH_OK = "235 2.7.0 Authentication successful"
    AUTH_FAILED = SmtpText.AUTH_FAILED
    #: {stamp}: "<host> <ISO time> <id>", as Exchange appends it (`BenchSmtpHandler.stamp`).
    AUTH_DISABLED = SmtpText.AUTH_DISABLED_TENANT
    BASIC_AUTH_DISABLED = SmtpText.BASIC_AUTH_RETIRED
    BAD_BASE64 = "501 5.5.2 Cannot decode base64"
    SENDER_OK = "250 2.1.0 Sender OK"
    NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail."
    SEND_AS_DENIED = "554 5.2.252 SendAsDenied; {user} not allowed to send as {sender}"
    RECIPIENT_OK = "250 2.1.5 Recipient OK"
    UNKNOWN_RECIPIENT = "550 5.1.1 <{address}>: Recipient address rejected: User unknown"
    BAD_ADDRESS = "501 5.1.3 Invalid address"
    RELAY_DENIED = "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
    QUEUED = "250 2.6.0 Queued mail for delivery"
    STORE_FAILED = "451 4.3.0 Mail delivery failed, please try again later"
    TLS_NOT_AVAILABLE = "454 4.7.0 TLS not available due to temporary reason"


@dataclass(frozen=True)
class SaslIdentity:
    """What a successful XOAUTH2 leaves on the session (aiosmtpd reads `.login`)."""

    login: bytes
    mechanism: str


class BenchSmtpHandler:
    """aiosmtpd handler: authentication, recipient policy and Maildir delivery."""

    def __init__(
        self,
        clock: Clock,
        store: MailStore,
        verifier: TokenVerifier,
        faults: MailFaults,
        attempts: AuthLog,
        board: FaultBoard,
        users: BenchUsers,
    ) -> None:
        self.clock = clock
        self.users = users
        self.store = store
        self.verifier = verifier
        self.faults = faults
        self.attempts = attempts
        self.board = board

    # -- the fault catalogue --------------------------------------------------------------------
    def stamp(self) -> str:
        """What Exchange appends to a 5.7.139: host, time (bench clock) and a request id."""
        moment = datetime.datetime.fromtimestamp(self.clock.now(), tz=datetime.UTC)
        return f"{SMTP_HOSTNAME} {moment.strftime('%Y-%m-%dT%H:%M:%S.000Z')} {secrets.token_hex(8).upper()}"

    def reply(self, armed: ArmedFault) -> str:
        answer: MailAnswer = armed.entry.answer
        assert answer.smtp is not None
        return answer.smtp.format(stamp=self.stamp())

    def refuse_auth(self, mechanism: str, username: str) -> AuthResult | None:
        """A catalogue fault or a switch that refuses this AUTH outright, or None."""
        armed = self.board.take("smtp.auth", username)
        if armed is None and mechanism != "XOAUTH2":
            armed = self.board.take("smtp.auth_basic", username)
        if armed is not None:
            self.attempts.record("smtp", mechanism, username, False, f"fault:{armed.entry.name}")
            return AuthResult(success=False, handled=False, message=self.reply(armed))
        if self.faults.smtp_auth_disabled:
            self.attempts.record("smtp", mechanism, username, False, "auth_disabled")
            message = SmtpReply.AUTH_DISABLED.format(stamp=self.stamp())
            return AuthResult(success=False, handled=False, message=message)
        if self.faults.smtp_basic_auth_disabled and mechanism != "XOAUTH2":
            self.attempts.record("smtp", mechanism, username, False, "basic_auth_disabled")
            return AuthResult(success=False, handled=False, message=SmtpReply.BASIC_AUTH_DISABLED)
        return None

    # -- EHLO: the STARTTLS fault ------------------------------------------------------------
    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # the 5-argument hook must do this itself
        if not self.faults.smtp_offer_starttls:
            responses = [r for r in responses if r[4:].upper() != "STARTTLS"]
        return responses

    # -- AUTH PLAIN / LOGIN (aiosmtpd's built-in mechanisms call this) ------------------------
    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        username = auth_data.login.decode("utf-8", "replace")
        refused = self.refuse_auth(mechanism, username)
        if refused is not None:
            return refused
        canonical = check_password(self.users, username, auth_data.password.decode("utf-8", "replace"))
        if canonical is None:
            self.attempts.record("smtp", mechanism, username, False, "bad_password")
            return AuthResult(success=False, handled=False, message=SmtpReply.AUTH_FAILED)
        self.attempts.record("smtp", mechanism, canonical, True, "ok")
        return AuthResult(success=True, auth_data=LoginPassword(canonical.encode(), b""))

    # -- AUTH XOAUTH2 ---------------------------------------------------------------------------
    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            answer = await server.challenge_auth("", encode_to_b64=False)
            if answer is MISSING:  # "*" or bad base64: aiosmtpd has replied already
                return AuthResult(success=False, handled=True)
            assert isinstance(answer, bytes)
            blob = answer
        else:
            try:
                blob = decode_base64(args[1])
            except MalformedXoauth2:
                return AuthResult(success=False, handled=False, message=SmtpReply.BAD_BASE64)
        try:
            response = parse_xoauth2(blob)
        except MalformedXoauth2:
            refused = self.refuse_auth("XOAUTH2", "")
            if refused is not None:
                return refused
            self.attempts.record("smtp", "XOAUTH2", "", False, "malformed")
            return AuthResult(success=False, handled=False, message=SmtpReply.AUTH_FAILED)
        refused = self.refuse_auth("XOAUTH2", response.user)
        if refused is not None:
            return refused
        armed = self.board.take("smtp.auth_xoauth2", response.user)
        reason = (f"fault:{armed.entry.name}" if armed is not None
                  else self._check_token(response.user, response.token))
        if reason is not None:
            self.attempts.record("smtp", "XOAUTH2", response.user, False, reason)
            # Exchange's two-step failure: challenge, the client's empty line, then 535.
            answer = await server.challenge_auth(error_challenge(SMTP_SCOPE), encode_to_b64=False)
            if answer is MISSING:
                return AuthResult(success=False, handled=True)
            return AuthResult(success=False, handled=False, message=SmtpReply.AUTH_FAILED)
        self.attempts.record("smtp", "XOAUTH2", response.user, True, "ok")
        identity = SaslIdentity(login=response.user.lower().encode(), mechanism="XOAUTH2")
        return AuthResult(success=True, auth_data=identity)

    def _check_token(self, user: str, token: str) -> str | None:
        """None if the token is good for SMTP and speaks for `user`, else the reason."""
        try:
            token_user = self.verifier.verify(token, SMTP_SCOPE)
        except TokenRejected as exc:
            return str(exc.code)
        if token_user.strip().lower() != user.strip().lower():
            return "user_mismatch"
        return None

    # -- envelope ---------------------------------------------------------------------------
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.faults.smtp_auth_required and not session.authenticated:
            return SmtpReply.NOT_AUTHENTICATED
        login: bytes = getattr(session.auth_data, "login", b"") if session.authenticated else b""
        user = login.decode("utf-8", "replace")
        if session.authenticated:
            armed = self.board.take("smtp.mail_from", user)
            if armed is not None:
                return self.reply(armed)
        if self.faults.smtp_enforce_send_as and session.authenticated:
            if user.lower() != address.lower():
                return SmtpReply.SEND_AS_DENIED.format(user=user, sender=address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return SmtpReply.SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            mailbox = normalise_address(address)
        except InvalidAddress:
            return SmtpReply.BAD_ADDRESS
        domain = mailbox.rpartition("@")[2]
        if domain in LOCAL_DOMAINS:
            if self.users.find(mailbox) is None:
                return SmtpReply.UNKNOWN_RECIPIENT.format(address=address)
        elif not session.authenticated:
            return SmtpReply.RELAY_DENIED
        envelope.rcpt_tos.append(mailbox)
        envelope.rcpt_options.extend(options)
        return SmtpReply.RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = (
            f"Return-Path: <{envelope.mail_from}>\r\n"
            f"Received: from {session.host_name} by {SMTP_HOSTNAME} with "
            f"{'ESMTPSA' if session.authenticated else 'ESMTP'}; "
            f"{email.utils.formatdate(self.clock.now(), usegmt=True)}\r\n"
        ).encode("ascii", "replace")
        try:
            for rcpt in envelope.rcpt_tos:
                self.store.deliver(rcpt, stamp + content)
        except OSError:
            log.exception("delivery failed")
            return SmtpReply.STORE_FAILED
        log.info("delivered %d bytes from %s to %s", len(content), envelope.mail_from, envelope.rcpt_tos)
        return SmtpReply.QUEUED


#: Long enough for "AUTH XOAUTH2 <base64 of a real token>" (Entra tokens reach 2-3 KB).
COMMAND_LIMIT = 64 * 1024


class BenchSMTP(SMTP):
    """aiosmtpd's SMTP with limits fit for OAuth tokens and a switchable STARTTLS.

    `line_length_limit` is read by aiosmtpd's constructor to size the stream reader, and by
    DATA to police message lines; the class value makes the reader big enough for an AUTH line
    and the instance value puts DATA back on RFC 5321's 1001 octets.
    """

    line_length_limit = COMMAND_LIMIT
    command_size_limit = COMMAND_LIMIT

    def __init__(self, handler: BenchSmtpHandler, *, live: set[BenchSMTP], **kwargs: Any) -> None:
        # An instance dict: aiosmtpd's class-level one is shared and grows on every EHLO.
        self.command_size_limits = collections.defaultdict(lambda: COMMAND_LIMIT)
        super().__init__(handler, **kwargs)
        self.line_length_limit = 1001
        self._live = live
        self._faults = handler.faults

    def connection_made(self, transport: Any) -> None:
        if self._original_transport is not None:
            # STARTTLS: aiosmtpd calls this again for the same session, now over TLS. It is
            # not a new session: not counted again, and the connect fault is not taken twice.
            super().connection_made(transport)
            return
        handler: BenchSmtpHandler = self.event_handler
        handler.attempts.stats.mail_session("smtp")
        armed = handler.board.take("smtp.connect")
        if armed is not None:  # refuse instead of the greeting, as a server going down does
            self._refused = True
            transport.write(handler.reply(armed).encode("ascii") + b"\r\n")
            transport.close()
            return
        self._refused = False
        self._live.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._live.discard(self)
        if getattr(self, "_refused", False):
            return
        super().connection_lost(error)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if not self._faults.smtp_offer_starttls:
            await self.push(SmtpReply.TLS_NOT_AVAILABLE)
            return
        await super().smtp_STARTTLS(arg)

    def close(self) -> None:
        """Drop the connection (server shutdown)."""
        if self.transport is not None:
            self.transport.close()
