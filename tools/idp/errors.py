"""The identity provider's one exception tree.

::

    IdpError                      anything the bench IdP refuses, outside the OAuth wire protocol
    ├── TokenRejected             an access token a resource server must not accept (.code, .reason)
    └── ControlError              a control request that cannot be carried out (.status, .error)
        ├── BadControlRequest     400: bad JSON, missing field, count not a positive integer
        ├── UnknownUser           404: not a bench user
        ├── UnknownUserCode       404: no pending device authorization has that user code
        └── UnknownFault          404: no catalogue entry has that name

Errors on the OAuth endpoints themselves are not Python exceptions the caller sees: they are
authlib ``OAuth2Error`` objects turned into the JSON bodies a real provider sends
(``authorization_pending``, ``invalid_grant`` with an AADSTS description, ...).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BadControlRequest",
    "ControlError",
    "IdpError",
    "RejectionCode",
    "TokenRejected",
    "UnknownFault",
    "UnknownUser",
    "UnknownUserCode",
]

#: Why a resource server refuses an access token; the mail server maps these to its replies.
RejectionCode = Literal[
    "malformed", "bad_signature", "expired", "wrong_audience", "wrong_scope", "disabled"
]


class IdpError(Exception):
    """Base of every error the bench identity provider raises."""


class TokenRejected(IdpError):
    """An access token failed verification.

    ``code`` is one of :data:`RejectionCode` (stable, for programs); ``reason`` is a sentence
    for logs and people. Neither ever contains the token itself.
    """

    def __init__(self, reason: str, code: RejectionCode) -> None:
        super().__init__(f"{code}: {reason}")
        self.reason = reason
        self.code: RejectionCode = code


class ControlError(IdpError):
    """A control command (HTTP control API or in-process call) that cannot be carried out."""

    status = 400
    error = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


class BadControlRequest(ControlError):
    status = 400
    error = "bad_request"


class UnknownUser(ControlError):
    status = 404
    error = "unknown_user"


class UnknownUserCode(ControlError):
    status = 404
    error = "unknown_user_code"


class UnknownFault(ControlError):
    status = 404
    error = "unknown_fault"
