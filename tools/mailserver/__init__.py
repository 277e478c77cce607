"""The bench mail server: SMTP submission (aiosmtpd) and POP3 (ours) over shared Maildirs.

Map (docs/mailserver.md says what it speaks on the wire):
    server       `MailServer`: the four listeners on OS-chosen ports, in the caller's loop.
    smtp_server  aiosmtpd handler and protocol: AUTH PLAIN/LOGIN/XOAUTH2, recipients, delivery.
    pop3_server  the POP3 session state machine and its listeners.
    auth         credentials (bench users, app passwords), the token-verifier protocol,
                 failed-login lockout, the record of sign-in attempts.
    xoauth2      SASL XOAUTH2 parsing and the JSON error challenge.
    maildir      one stdlib Maildir per address; delivery order, UIDs, mailbox locks.
    faults       the mail fault catalogue (armed through the shared FaultBoard) and the
                 older fault switches (no STARTTLS, SMTP AUTH disabled, ...).
    certs        which certificate the server shows (trusted, wrong host name, untrusted CA).
    pop3_replies the POP3 reply texts.
    hostile      a POP3 server that sends malformed, endless or oversized replies.
"""

from .auth import POP_SCOPE, SMTP_SCOPE, AuthEvent, LoginLockout, TokenRejected, TokenVerifier
from .certs import CERTIFICATE_CHOICES, CertificateChoice
from .faults import CATALOGUE, MailFaults
from .hostile import HostilePop3Server, Hostility
from .maildir import MailStore
from .pop3_server import Pop3Reply
from .server import MailServer
from .smtp_server import SmtpReply

__all__ = [
    "CATALOGUE",
    "CERTIFICATE_CHOICES",
    "POP_SCOPE",
    "SMTP_SCOPE",
    "AuthEvent",
    "CertificateChoice",
    "HostilePop3Server",
    "Hostility",
    "LoginLockout",
    "MailFaults",
    "MailServer",
    "MailStore",
    "Pop3Reply",
    "SmtpReply",
    "TokenRejected",
    "TokenVerifier",
]
