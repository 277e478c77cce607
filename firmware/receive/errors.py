"""Errors of the device's own side of receiving: the branch of the receive tree that is not POP3.

The receive path has one exception tree, rooted in `firmware.mail.errors.MailFailure`: every
error carries `step`, `temporary`, `server_text` and `reason`, so the poller reports any of
them the same way and nothing translates one error into another::

    MailFailure (firmware.mail.errors)
     ├── Pop3Error ...          the session with the server (firmware.pop3.errors)
     ├── MailAuthError          a setting missing for the sign-in (user not set)
     │    └── MailTokenError    no usable OAuth token (firmware.mail.session_token)
     └── ReceiveError           the device's side
          └── SpoolError        the spool cannot store or read a message (disk full,
                                folder read-only, a damaged file)                     temporary
"""

from __future__ import annotations

from ..mail.errors import MailFailure
from ..vocabulary import Step

__all__ = ["ReceiveError", "SpoolError"]


class ReceiveError(MailFailure):
    """The device could not keep what it received."""

    step = Step.RECEIVE
    temporary = True


class SpoolError(ReceiveError):
    """A spool file that cannot be written, read or understood."""
