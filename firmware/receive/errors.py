"""Errors of the device's own side of receiving: the branch of the receive tree that is not POP3.

The receive path has one exception tree, rooted in `firmware.mail.errors.MailFailure`: every
error carries `step`, `temporary`, `server_text` and `reason`, so the poller reports any of
them the same way and nothing translates one error into another::

    MailFailure (firmware.mail.errors)
     ├── Pop3Error ...          the session with the server (firmware.pop3.errors)
     ├── MailAuthError          a setting missing for the sign-in (user not set)
     │    └── MailTokenError    no usable OAuth token (firmware.mail.session_token)
     └── ReceiveError           the device's side
          ├── SpoolError        the spool cannot store or read a message (disk full,
          │                     folder read-only, a damaged file)                     temporary
          └── FaxMemoryFull     the fax memory holds all it may: fetching stopped, the rest
                                stays on the server until printing frees memory       temporary
"""

from __future__ import annotations

from ..mail.errors import MailFailure
from ..vocabulary import Step
from .memory import MemoryUse

__all__ = ["FAX_MEMORY_FULL", "FaxMemoryFull", "ReceiveError", "SpoolError"]

#: How the device says it, first in the reason (status line, alert, `mail check`).
FAX_MEMORY_FULL = "fax memory full"


class ReceiveError(MailFailure):
    """The device could not keep what it received."""

    step = Step.RECEIVE
    temporary = True


class SpoolError(ReceiveError):
    """A spool file that cannot be written, read or understood."""


class FaxMemoryFull(ReceiveError):
    """No more received mail fits until printing frees memory (`memory.FaxMemory`)."""

    def __init__(self, use: MemoryUse, left: int | None = None) -> None:
        waiting = "" if left is None else f"; {left} message(s) stay on the server"
        super().__init__(f"{FAX_MEMORY_FULL}: {use.summary()} waiting to be printed{waiting}. "
                         "Receiving goes on when printing frees memory")
        self.use = use
        self.left = left
