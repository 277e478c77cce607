"""Switches that make the bench mail server misbehave the way real services do.

One mutable object per `MailServer` (`server.faults`); every session reads it when it needs
it, so a test can flip a switch while the server runs and the next command sees it. Faults
that need a server which is not POP3 at all (endless or oversized lines, garbage) live in
`hostile.py` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MailFaults"]


@dataclass
class MailFaults:
    #: False: EHLO on the plain SMTP port omits STARTTLS and the command answers 454, as a
    #: server without TLS (or a downgrading middlebox) would.
    smtp_offer_starttls: bool = True
    #: True: every SMTP AUTH gets "535 5.7.139 ... SmtpClientAuthentication is disabled for the
    #: Tenant" (Exchange Online with SMTP AUTH turned off).
    smtp_auth_disabled: bool = False
    #: True: SMTP AUTH PLAIN/LOGIN get "550 5.7.30 Basic authentication is not supported for
    #: Client Submission." (XOAUTH2 still works).
    smtp_basic_auth_disabled: bool = False
    #: True: MAIL FROM needs a signed-in client ("530 5.7.57"); False: an unauthenticated
    #: client may still send to local bench users (internal relay), never to other domains.
    smtp_auth_required: bool = False
    #: True: MAIL FROM must be the signed-in account ("554 5.2.252 SendAsDenied").
    smtp_enforce_send_as: bool = False
    #: False: CAPA on the plain POP3 port omits STLS and STLS answers -ERR.
    pop_offer_stls: bool = True
    #: True: USER/PASS and AUTH on an unencrypted POP3 connection are refused.
    pop_login_requires_tls: bool = False
    #: Text (without "-ERR ") sent verbatim for every POP3 password login, correct or not,
    #: e.g. "Login to your account via a web browser to verify your account" (seed 004).
    pop_login_refusal: str | None = None
