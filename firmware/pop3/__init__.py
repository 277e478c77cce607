"""The device's POP3 client (Internet Fax receive, E-mail Print).

Map:
    client  `Pop3Client`: asyncio streams, plain/STLS/implicit TLS, USER/PASS and XOAUTH2,
            the RFC 1939 transaction commands, time and size bounds on everything.
    multiline  where a multi-line reply ends and how many dots were stuffed into it.
    errors  the exception tree, drawn in its docstring.
"""

from .client import MAX_COMMAND_LINE, Pop3Client, Security
from .errors import (
    Pop3AuthError,
    Pop3ConnectError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3Timeout,
    Pop3TlsError,
    Pop3TokenRejected,
    Pop3TooLarge,
)

__all__ = [
    "MAX_COMMAND_LINE",
    "Pop3AuthError",
    "Pop3Client",
    "Pop3ConnectError",
    "Pop3Error",
    "Pop3ProtocolError",
    "Pop3ServerError",
    "Pop3Timeout",
    "Pop3TlsError",
    "Pop3TokenRejected",
    "Pop3TooLarge",
    "Security",
]
