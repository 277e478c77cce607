"""The values a token store hands to the faces and to mail sessions."""

from __future__ import annotations

from dataclasses import dataclass

from .machine import TokenState
from .reasons import mask

__all__ = ["FlowPrompt", "TokenStatus", "BearerToken", "CheckResult"]


@dataclass(frozen=True)
class FlowPrompt:
    """What the panel shows after [Get Token] → [OK]."""

    verification_uri: str
    user_code: str
    expires_at: float
    verification_uri_complete: str = ""
    message: str = ""


@dataclass(frozen=True)
class TokenStatus:
    store: str
    state: TokenState
    label: str
    account: str
    provider: str
    reason: str
    access_expires_at: float | None
    prompt: FlowPrompt | None
    poll_interval: float | None = None  # while waiting: seconds between polls (slow_down adds 5)
    #: When the device will next ask the provider on its own (a poll, a refresh); None: never.
    next_request_at: float | None = None


@dataclass(frozen=True)
class BearerToken:
    account: str
    access_token: str

    def __repr__(self) -> str:  # never print a token in full, even by accident
        return f"BearerToken(account={self.account!r}, access_token={mask(self.access_token)!r})"


@dataclass(frozen=True)
class CheckResult:
    """`token <store> check`: whether a refresh went through now, and the status after it."""

    refreshed: bool
    status: TokenStatus
