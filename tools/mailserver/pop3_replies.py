"""The bench POP3 server's reply texts: Exchange Online's wording where known.

Kept apart from the session code (pop3_server.py) so the table reads in one place; the texts
shared with the fault catalogue come from `faults.PopText`.
"""

from __future__ import annotations

from .faults import PopText

__all__ = ["Pop3Reply"]


class Pop3Reply:
    """Reply texts; Exchange Online's wording where known."""

    GREETING = "+OK The Microsoft Exchange POP3 service is ready. [bWZwLXNpbSBiZW5jaA==]"
    OK = "+OK"
    CAPA = "+OK Capability list follows"
    LOGGED_ON = "+OK User successfully logged on."
    AUTHENTICATED = "+OK User successfully authenticated."
    LOGON_FAILED = PopText.LOGON_FAILED
    AUTH_FAILED = PopText.AUTH_FAILED
    LOCKED = (
        "-ERR [AUTH] Account locked: too many failed sign-in attempts. "
        "Try again in {minutes} minute(s)."
    )
    IN_USE = PopText.IN_USE
    PLAINTEXT_REFUSED = PopText.PLAINTEXT_REFUSED
    NEED_USER = "-ERR USER command must come first."
    BAD_MECHANISM = "-ERR Unrecognized authentication type."
    AUTH_CANCELLED = "-ERR Authentication canceled by client."
    BAD_BASE64 = "-ERR Authentication failure: invalid base64 data."
    BEGIN_TLS = "+OK Begin TLS negotiation."
    NO_TLS = "-ERR TLS is not available."
    WRONG_STATE = "-ERR Command is not valid in this state."
    UNKNOWN_COMMAND = "-ERR Unknown command."
    BAD_ARGUMENTS = "-ERR Protocol error: invalid arguments."
    LINE_TOO_LONG = "-ERR Command line too long (RFC 2449 allows 255 octets)."
    NO_SUCH_MESSAGE = "-ERR The specified message is out of range."
    ALREADY_DELETED = "-ERR The specified message has been deleted."
    DELETED = "+OK Message marked for deletion."
    SIGN_OFF = "+OK Microsoft Exchange Server POP3 server signing off."
    NOT_ALL_REMOVED = "-ERR Some deleted messages were not removed."
    IDLE = "-ERR Connection is closed: idle too long."
    STORE_FAILED = "-ERR [SYS/TEMP] The mailbox could not be opened."
    MESSAGE_GONE = "-ERR [SYS/TEMP] The message is no longer available."
