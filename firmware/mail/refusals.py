"""What an SMTP refusal means, decided from its enhanced status code (RFC 3463), and the
sentence the administrator reads for it.

Exchange Online says *why* it refuses in the enhanced code after the reply code, and the
same reply code covers causes an administrator fixes in very different places:

    535 5.7.139  SMTP AUTH is turned off for the tenant or the mailbox (Set-TransportConfig /
                 Set-CASMailbox -SmtpClientAuthenticationDisabled, OfficeDocs-Exchange
                 authenticated-client-smtp-submission.md): a setting of the mail service.
                 The token is not to blame: it is not renewed, the store stays Retrieved.
    550 5.7.30   basic authentication (a password) is no longer accepted: use OAuth 2.0
    550 5.7.60   the signed-in account may not send as the sender address: the Sender
                 Address or a Send As permission; the token stays as it is
    535 5.7.3    authentication unsuccessful: the token may be stale or revoked, so the
                 sender renews it once (`SessionToken.renew`); refused again with a fresh
                 token, the mailbox itself does not take the account's tokens

Anything else keeps the server's own line, verbatim, after the device's few words. Every
sentence here is a `sentences.Reason` whose `{reply}` is the server's line: the panel and the
web page translate the device's words around it, never the server's.
"""

from __future__ import annotations

import re

from ..sentences import Reason
from .errors import MailAuthError, MailReplyError

__all__ = ["NOT_THE_TOKEN", "auth_refusal", "enhanced_code", "sender_refusal"]

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})(?!\d)")

#: Enhanced codes of a refused AUTH that a renewed token cannot change (no refresh is spent).
NOT_THE_TOKEN = frozenset({"5.7.139", "5.7.30"})


def enhanced_code(message: str) -> str | None:
    """The enhanced status code at the start of a reply's text ("5.7.139"), if it has one."""
    found = _ENHANCED.match(message)
    return found.group(1) if found else None


def auth_refusal(code: int, message: str, text: str, *, account: str = "",
                 renewed: bool = False) -> MailAuthError:
    """A refused AUTH (`text` is the reply as one line); `renewed`: refused with a token
    renewed just before."""
    enhanced = enhanced_code(message)
    temporary = 400 <= code < 500
    said: str
    if enhanced == "5.7.139":
        lowered = message.lower()
        where = ("tenant" if "for the tenant" in lowered
                 else "mailbox" if "for the mailbox" in lowered else "")
        said = Reason(f"smtp.auth_disabled_{where}" if where else "smtp.auth_disabled", reply=text)
    elif enhanced == "5.7.30":
        said = Reason("smtp.basic_retired", reply=text)
    elif renewed and code == 535:
        said = Reason("smtp.token_refused_renewed", reply=text, account=account)
    else:
        said = Reason("smtp.sign_in_refused_renewed" if renewed else "smtp.sign_in_refused",
                      reply=text)
    return MailAuthError(said, server_text=text, code=code, temporary=temporary)


def sender_refusal(code: int, message: str, text: str, *, sender: str,
                   account: str) -> MailReplyError:
    """MAIL FROM refused; 5.7.60 is the account's permission to send as `sender`."""
    said: str
    if enhanced_code(message) == "5.7.60" and account:
        said = Reason("smtp.send_as_denied", reply=text, sender=sender, account=account)
    else:
        said = Reason("smtp.message_refused", reply=text)
    return MailReplyError(said, code=code, server_text=text)
