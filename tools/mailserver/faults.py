"""How the bench mail server refuses: the fault catalogue and the older fault switches.

`CATALOGUE` is the mail half of the bench's fault table (docs/faults.md; the IdP half is
``tools.idp.faults.CATALOGUE``). Its entries are armed through the shared `FaultBoard`
(``POST {control_url}/fault``), for any user or one, for N hits or until disarmed. Each says
where it strikes (phases, below) and what the server sends (`MailAnswer`), in Exchange Online's
or Dovecot's words; the source of each wording is in the table.

Phases::

    smtp.connect         a new SMTP connection, instead of the greeting (then the server hangs up)
    smtp.auth            any AUTH (PLAIN, LOGIN, XOAUTH2), after the client sent its credentials
    smtp.auth_basic      AUTH PLAIN / LOGIN only
    smtp.auth_xoauth2    AUTH XOAUTH2 only: the JSON challenge, the client's empty line, the reply
    smtp.mail_from       MAIL FROM of a signed-in session
    pop.login_before_tls a login (USER/PASS or AUTH) on a connection not (yet) encrypted
    pop.login            any login, before the credentials are judged
    pop.user_pass        PASS
    pop.auth_sasl        AUTH (PLAIN, XOAUTH2); XOAUTH2 gets the challenge first
    pop.mailbox          a login that succeeded, when the mailbox is opened

`MailFaults` are the switches the bench had before the catalogue; they stay (tests and scripts
use them) and send the same texts where they overlap. Faults that need a server which is not
POP3 at all (endless lines, garbage) live in `hostile.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfp_sim.tools.idp.faultboard import FaultEntry

__all__ = ["CATALOGUE", "MailAnswer", "MailFaults", "SmtpText", "PopText"]


class SmtpText:
    """SMTP reply texts of the catalogue (Exchange Online's words)."""

    #: {stamp} = "<host> <ISO time> <id>" as Exchange appends it.
    AUTH_DISABLED_TENANT = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
        "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [{stamp}]"
    )
    AUTH_DISABLED_MAILBOX = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
        "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [{stamp}]"
    )
    BASIC_AUTH_RETIRED = "550 5.7.30 Basic authentication is not supported for Client Submission."
    SEND_AS_DENIED = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
    AUTH_FAILED = "535 5.7.3 Authentication unsuccessful"
    SERVICE_UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"


class PopText:
    """POP3 reply texts of the catalogue (Exchange Online's, Dovecot's, RFC 2449/3206's)."""

    AUTH_FAILED = "-ERR Authentication failure: unknown user name or bad password."
    LOGON_FAILED = "-ERR Logon failure: unknown user name or bad password."
    IN_USE = "-ERR [IN-USE] Mailbox is locked by another POP3 session."
    PLAINTEXT_REFUSED = (
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    )
    TEMP_UNAVAILABLE = "-ERR [SYS/TEMP] Server is temporarily unavailable. Try again later."


@dataclass(frozen=True)
class MailAnswer:
    """What a mail fault sends: the SMTP and/or POP3 reply line."""

    smtp: str | None = None
    pop: str | None = None
    #: XOAUTH2 refusals take two steps: the JSON challenge, the client's empty line, the reply.
    challenge: bool = False

    def wire(self) -> str:
        """The answer as docs/faults.md prints it."""
        parts = [f"SMTP {self.smtp}" if self.smtp else "", f"POP3 {self.pop}" if self.pop else ""]
        text = " / ".join(p for p in parts if p)
        if self.challenge:
            return f"XOAUTH2: the JSON challenge, the client's empty line, then {text}"
        return text


_EXCHANGE = "Exchange Online (SERVICES.md)"


def _entry(name: str, phases: tuple[str, ...], description: str, source: str,
           answer: MailAnswer) -> FaultEntry:
    return FaultEntry(name=name, phases=phases, description=description, wire=answer.wire(),
                      source=source, answer=answer)


CATALOGUE: tuple[FaultEntry, ...] = (
    _entry("smtp_auth_disabled_tenant", ("smtp.auth",),
           "SMTP AUTH is turned off for the whole tenant (the Exchange default since 2020)",
           "simonrob/email-oauth2-proxy#193, nodemailer/nodemailer#1484 (verbatim)",
           MailAnswer(smtp=SmtpText.AUTH_DISABLED_TENANT)),
    _entry("smtp_auth_disabled_mailbox", ("smtp.auth",),
           "SMTP AUTH is turned off for this one mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled)",
           "by analogy with the Tenant text (aka.ms/smtp_auth_disabled); unverified",
           MailAnswer(smtp=SmtpText.AUTH_DISABLED_MAILBOX)),
    _entry("basic_auth_retired", ("smtp.auth_basic",),
           "password sign-in (AUTH PLAIN/LOGIN) is no longer accepted; XOAUTH2 still is",
           f"{_EXCHANGE}: wording unverified; seed 002",
           MailAnswer(smtp=SmtpText.BASIC_AUTH_RETIRED)),
    _entry("send_as_denied", ("smtp.mail_from",),
           "the signed-in account may not send as the sender address (the bench refuses "
           "every sender while armed)",
           f"{_EXCHANGE}: wording unverified",
           MailAnswer(smtp=SmtpText.SEND_AS_DENIED)),
    _entry("xoauth2_rejected", ("smtp.auth_xoauth2",),
           "Exchange refuses the OAuth token (wrong scope, wrong tenant, mailbox without licence)",
           "office-developer-exchange-docs how-to-authenticate-an-imap-pop-smtp-application-by-"
           "using-oauth.md; two steps as on the wire (SERVICES.md)",
           MailAnswer(smtp=SmtpText.AUTH_FAILED, challenge=True)),
    _entry("pop_auth_failed", ("pop.auth_sasl",),
           "Exchange refuses an AUTH (XOAUTH2 token or AUTH PLAIN) on POP3",
           f"{_EXCHANGE}, simonrob/email-oauth2-proxy issues",
           MailAnswer(pop=PopText.AUTH_FAILED, challenge=True)),
    _entry("pop_logon_failure", ("pop.user_pass",),
           "Exchange refuses a USER/PASS login on POP3",
           f"{_EXCHANGE}",
           MailAnswer(pop=PopText.LOGON_FAILED)),
    _entry("mailbox_in_use", ("pop.mailbox",),
           "another POP3 session holds the mailbox (RFC 2449 / RFC 3206 IN-USE)",
           "RFC 2449 §8.1.1, RFC 3206; text as the bench's POP3 server words it",
           MailAnswer(pop=PopText.IN_USE)),
    _entry("tls_required", ("pop.login_before_tls",),
           "the server refuses a login before TLS (STLS) (SMTP's submission port always does: "
           "538 5.7.11)",
           "Dovecot pop3-login (disable_plaintext_auth), RFC 2449 [AUTH]",
           MailAnswer(pop=PopText.PLAINTEXT_REFUSED)),
    _entry("temp_unavailable", ("smtp.connect", "pop.login"),
           "the service is temporarily down: SMTP at connect, POP3 at login",
           "RFC 5321 §3.8 (421), RFC 3463 4.3.2; RFC 3206 [SYS/TEMP]",
           MailAnswer(smtp=SmtpText.SERVICE_UNAVAILABLE, pop=PopText.TEMP_UNAVAILABLE)),
)


@dataclass
class MailFaults:
    """The fault switches: each stays as set until changed (read live by every session)."""

    #: False: EHLO on the plain SMTP port omits STARTTLS and the command answers 454, as a
    #: server without TLS (or a downgrading middlebox) would.
    smtp_offer_starttls: bool = True
    #: True: every SMTP AUTH is answered like ``smtp_auth_disabled_tenant``.
    smtp_auth_disabled: bool = False
    #: True: SMTP AUTH PLAIN/LOGIN are answered like ``basic_auth_retired`` (XOAUTH2 works).
    smtp_basic_auth_disabled: bool = False
    #: True: MAIL FROM needs a signed-in client ("530 5.7.57"); False: an unauthenticated
    #: client may still send to local bench users (internal relay), never to other domains.
    smtp_auth_required: bool = False
    #: True: MAIL FROM must be the signed-in account ("554 5.2.252 SendAsDenied").
    smtp_enforce_send_as: bool = False
    #: False: CAPA on the plain POP3 port omits STLS and STLS answers -ERR.
    pop_offer_stls: bool = True
    #: True: USER/PASS and AUTH on an unencrypted POP3 connection are refused (like
    #: ``tls_required``).
    pop_login_requires_tls: bool = False
    #: Text (without "-ERR ") sent verbatim for every POP3 password login, correct or not,
    #: e.g. "Login to your account via a web browser to verify your account" (seed 004).
    pop_login_refusal: str | None = None
