"""The device's vocabulary: the small enums its packages, its events and its faces share.

They live here, below everything else in `firmware`, so that the event module, the job queue,
the receive path and the faces can all name the same things without importing each other.
Values are the words the console prints (`state=queued`, `step=auth`); faces translate them.
The token states are the token machine's own (`firmware.tokens.machine.TokenState`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["JobKind", "JobState", "Outcome", "ReceiveKind", "Service", "Step"]


class Service(StrEnum):
    """What a mail context authenticates to; a provider has scopes per service."""

    SMTP = "smtp"
    POP = "pop"


class Step(StrEnum):
    """The stage of a mail session (or of printing) that failed: what the admin has to fix."""

    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    TOKEN = "token"
    SEND = "send"
    RECEIVE = "receive"
    PRINT = "print"


class JobKind(StrEnum):
    SCAN = "scan"
    IFAX = "ifax"
    ALERT = "alert"


class JobState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class ReceiveKind(StrEnum):
    """What a POP context receives: Internet Faxes (TIFF-F) or documents to print."""

    FAX = "fax"
    PRINT = "print"


class Outcome(StrEnum):
    """What became of one received message."""

    SPOOLED = "spooled"
    PRINTED = "printed"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    TOO_LARGE = "too_large"
    VANISHED = "vanished"  # removed from the server by another client during the poll
