"""What can go wrong when the device talks POP3, as one tree.

::

    MailError (firmware.errors)
     └── Pop3Error                 anything the POP3 client raises
          ├── Pop3ConnectError     no connection: port refused or filtered, host unreachable,
          │                        or the connection was reset during a session
          ├── Pop3TlsError         TLS handshake, certificate or host-name check failed, or
          │                        the server refused STLS (`.text` then holds its -ERR line)
          ├── Pop3Timeout          an operation outlasted the client's timeout (also TimeoutError)
          ├── Pop3ProtocolError    the reply is not POP3: malformed, a line over the limit, a
          │                        message over the size limit, the server hung up mid-reply
          └── Pop3ServerError      the server answered -ERR; `.text` is its line, unchanged
               ├── Pop3AuthError        USER/PASS (or AUTH PLAIN) refused
               └── Pop3TokenRejected    AUTH XOAUTH2 refused; `.challenge` is the server's JSON

The split follows what the administrator must do next: a connect error means check host, port
and firewall (seed 004: a blocked port 995 must not look like a wrong password); a TLS error
means check the SSL/TLS setting or import the CA; an auth error means check the account or
password and show the server's own words (`.text`); a rejected token means obtain a new token.

A refusal whose RFC 3206 response code says it is not about credentials (`[IN-USE]`,
`[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`) is a plain `Pop3ServerError`, not an auth error:
the password or token is fine, so it must not be marked invalid.
"""

from __future__ import annotations

import re
from typing import Any

from mfp_sim.firmware.errors import MailError

__all__ = [
    "Pop3AuthError",
    "Pop3ConnectError",
    "Pop3Error",
    "Pop3ProtocolError",
    "Pop3ServerError",
    "Pop3Timeout",
    "Pop3TlsError",
    "Pop3TokenRejected",
    "response_code",
]

_RESP_CODE = re.compile(r"^-ERR\s+\[([A-Za-z0-9/\-]+)\]")


def response_code(text: str) -> str | None:
    """The RFC 2449 response code of an -ERR line (``"IN-USE"``, ``"AUTH"``), if any."""
    m = _RESP_CODE.match(text)
    return m.group(1).upper() if m else None


class Pop3Error(MailError):
    """Base of every POP3 client error."""


class Pop3ConnectError(Pop3Error):
    pass


class Pop3TlsError(Pop3Error):
    def __init__(self, message: str, text: str | None = None) -> None:
        super().__init__(message)
        self.text = text  # the server's -ERR line when it refused STLS


class Pop3Timeout(Pop3Error, TimeoutError):
    pass


class Pop3ProtocolError(Pop3Error):
    pass


class Pop3ServerError(Pop3Error):
    """The server said -ERR. `str(e)` and `e.text` are its line exactly as sent."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
        self.resp_code = response_code(text)


class Pop3AuthError(Pop3ServerError):
    pass


class Pop3TokenRejected(Pop3ServerError):
    def __init__(self, text: str, challenge: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.challenge = challenge  # e.g. {"status": "400", "schemes": "Bearer", "scope": ...}
