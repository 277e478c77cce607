"""Why a mail session failed, in words the administrator can act on.

    FirmwareError                      (firmware.errors)
     └── MailError                     every failure of an SMTP or POP3 session
          ├── MailConnectError         no session: port refused, host unreachable, no answer   temporary
          ├── MailTimeoutError         the server stopped answering within the timeout          temporary
          ├── MailTlsError             TLS failed: handshake, untrusted certificate, wrong host name,
          │                            or STARTTLS/STLS configured and not offered (nothing sent in clear)
          ├── MailAuthError            the server refused the login; `.server_text` as it said it
          │    └── MailTokenError      no usable OAuth token: not retrieved, invalid, renewal failed
          ├── MailReplyError           SMTP refused the message (MAIL, RCPT, DATA); 4xx is temporary
          ├── MailProtocolError        the reply is not SMTP: garbage, oversized, cut off
          ├── MailContentError         a received message holds nothing printable, or a bad document
          ├── Pop3Error                the POP3 session (firmware.pop3.errors: its own branch)
          └── ReceiveError             the device's side of receiving: spool, fax memory
                                       (firmware.receive.errors)

Every error carries what the job queue, the receivers and the connection test need: `step`
(which stage failed, a `vocabulary.Step`: connect, tls, auth, token, send, receive, print),
`temporary` (will trying again later plausibly help?), `server_text` (the server's own reply
line, verbatim, or "" when the server said nothing) and `reason`, the sentence the
administrator reads. The reason always ends with the server's words unchanged, because the
seeds insist that a refusal such as "Login to your account via a web browser to verify your
account" reaches the administrator as the server wrote it. The POP3 and receive branches are
subclasses, not a parallel tree: nothing translates one error into another.

The outcomes of the fault catalogue (docs/faults.md) are worded as `sentences.Reason`s: the
message is then a `Reason`, and `reason` hands it on as one, so the panel and the web page
can say it in the device's language while the console reads the English.
"""

from __future__ import annotations

from ..errors import MailError
from ..sentences import Reason
from ..vocabulary import Step

__all__ = [
    "TOKEN_UPDATE_FAILED",
    "MailAuthError",
    "MailConnectError",
    "MailContentError",
    "MailError",
    "MailFailure",
    "MailProtocolError",
    "MailReplyError",
    "MailTimeoutError",
    "MailTlsError",
    "MailTokenError",
]

#: What the real device's connection test shows for a token that cannot be renewed.
TOKEN_UPDATE_FAILED = Reason("mail.token_update_failed")


class MailFailure(MailError):
    """A mail session failure with its stage, its retry class and the server's words."""

    step: Step = Step.CONNECT
    temporary = False

    def __init__(
        self,
        message: str,
        *,
        server_text: str = "",
        code: int | None = None,
        step: Step | str | None = None,
        temporary: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.server_text = server_text
        self.code = code
        if step is not None:
            self.step = Step(step)
        if temporary is not None:
            self.temporary = temporary

    @property
    def reason(self) -> str:
        """What the administrator reads (console, panel, alert), the server's words included
        (a `Reason` when the device words it as a sentence of its table)."""
        return self.message if isinstance(self.message, Reason) else str(self)


class MailConnectError(MailFailure):
    step = Step.CONNECT
    temporary = True


class MailTimeoutError(MailFailure):
    step = Step.CONNECT
    temporary = True


class MailTlsError(MailFailure):
    step = Step.TLS
    temporary = False


class MailAuthError(MailFailure):
    step = Step.AUTH
    temporary = False


class MailTokenError(MailAuthError):
    """No usable OAuth token. `temporary` when the store still holds a grant (renewal pending)."""


class MailReplyError(MailFailure):
    """An SMTP reply that refused the message; `code` is the reply code."""

    step = Step.SEND

    def __init__(self, message: str, *, code: int, server_text: str,
                 step: Step | str = Step.SEND) -> None:
        super().__init__(message, server_text=server_text, code=code, step=step,
                         temporary=400 <= code < 500)


class MailProtocolError(MailFailure):
    step = Step.RECEIVE
    temporary = True


class MailContentError(MailFailure):
    step = Step.PRINT
    temporary = False
