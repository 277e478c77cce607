"""What can go wrong when the device talks POP3: one branch of the receive path's one tree.

::

    MailFailure (firmware.mail.errors)   step, temporary, server_text, reason
     └── Pop3Error                 anything the POP3 client raises
          ├── Pop3ConnectError     no connection: port refused or filtered, host unreachable,   temporary
          │                        or the connection was reset during a session
          ├── Pop3TlsError         TLS handshake, certificate or host-name check failed, or
          │                        the server refused STLS (`.text` then holds its -ERR line)
          ├── Pop3Timeout          an operation outlasted the client's timeout                  temporary
          │                        (also a TimeoutError)
          ├── Pop3ProtocolError    the reply is not POP3: malformed, a line over the limit,     temporary
          │    │                   the server hung up mid-reply
          │    └── Pop3TooLarge    a multi-line reply over the size limit (a message larger
          │                        than LIST said, an endless reply)
          └── Pop3ServerError      the server answered -ERR; `.text` is its line, unchanged;
               │                   temporary when its RFC 3206 code says so ([IN-USE],
               │                   [LOGIN-DELAY], [SYS/TEMP])
               ├── Pop3AuthError        USER/PASS (or AUTH PLAIN) refused
               └── Pop3TokenRejected    AUTH XOAUTH2 refused; `.challenge` is the server's JSON

Every error carries what the poller, the connection test and the administrator need, so no
layer above translates them: `step` (where it happened: `connect`, `tls`, `auth`, `receive`;
the client sets it at the raise site, which knows), `temporary` (will the next poll plausibly
succeed?), `server_text` (the server's own line, or "") and `reason`, the sentence a person
reads, with the server's words unchanged (`str(e)` stays the bare message, and for a
`Pop3ServerError` exactly the -ERR line, as tests and logs expect).

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

from mfp_sim.firmware.mail.errors import MailFailure
from mfp_sim.firmware.vocabulary import Step

__all__ = [
    "Pop3AuthError",
    "Pop3ConnectError",
    "Pop3Error",
    "Pop3ProtocolError",
    "Pop3ServerError",
    "Pop3Timeout",
    "Pop3TlsError",
    "Pop3TokenRejected",
    "Pop3TooLarge",
    "TEMPORARY_CODES",
    "response_code",
]

_RESP_CODE = re.compile(r"^-ERR\s+\[([A-Za-z0-9/\-]+)\]")

#: RFC 3206 codes after which trying again later is the right thing.
TEMPORARY_CODES = frozenset({"IN-USE", "LOGIN-DELAY", "SYS/TEMP"})


def response_code(text: str) -> str | None:
    """The RFC 2449 response code of an -ERR line (``"IN-USE"``, ``"AUTH"``), if any."""
    m = _RESP_CODE.match(text)
    return m.group(1).upper() if m else None


class Pop3Error(MailFailure):
    """Base of every POP3 client error."""

    step = Step.RECEIVE
    temporary = False

    def __init__(self, message: str, *, step: Step | None = None, server_text: str = "") -> None:
        super().__init__(message, server_text=server_text, step=step)

    @property
    def reason(self) -> str:
        return f"POP3: {self}"


class Pop3ConnectError(Pop3Error):
    step = Step.CONNECT
    temporary = True


class Pop3TlsError(Pop3Error):
    step = Step.TLS

    def __init__(self, message: str, text: str | None = None) -> None:
        super().__init__(message, server_text=text or "")
        self.text = text  # the server's -ERR line when it refused STLS


class Pop3Timeout(Pop3Error, TimeoutError):
    step = Step.CONNECT
    temporary = True


class Pop3ProtocolError(Pop3Error):
    temporary = True

    @property
    def reason(self) -> str:
        return f"POP3 server sent something that is not POP3: {self}"


class Pop3TooLarge(Pop3ProtocolError):
    """A multi-line reply went past `max_message_size`: the client stopped reading it."""


class Pop3ServerError(Pop3Error):
    """The server said -ERR. `str(e)` and `e.text` are its line exactly as sent."""

    _SAID = "the server said"

    def __init__(self, text: str, *, step: Step = Step.RECEIVE) -> None:
        super().__init__(text, step=step, server_text=text)
        self.text = text
        self.resp_code = response_code(text)
        self.temporary = self.resp_code in TEMPORARY_CODES

    @property
    def reason(self) -> str:
        return f"{self._SAID}: {self.text}"


class Pop3AuthError(Pop3ServerError):
    _SAID = "the server refused the login"

    def __init__(self, text: str, *, step: Step = Step.AUTH) -> None:
        super().__init__(text, step=step)


class Pop3TokenRejected(Pop3ServerError):
    _SAID = "the server refused the token"

    def __init__(self, text: str, challenge: dict[str, Any] | None = None, *,
                 step: Step = Step.AUTH) -> None:
        super().__init__(text, step=step)
        self.challenge = challenge  # e.g. {"status": "400", "schemes": "Bearer", "scope": ...}
