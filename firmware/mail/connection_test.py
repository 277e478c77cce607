"""The [Connection Test] button of the SMTP and POP3 screens.

It runs the same stages a real send or poll would (connect, TLS, sign in; for POP3 also a
STAT) and stops at the first that fails, reporting which one and the server's own words, so
the administrator knows whether to look at the firewall, the certificate, the password or the
token. Nothing is sent and nothing is deleted.

A token that cannot be renewed gets the sentence the real device shows, word for word:
"Token update failed. Please delete the token and obtain it again."
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import FirmwareError
from ..tokens.machine import TokenState
from ..tokens.store import TokenStore
from ..vocabulary import Step
from .errors import TOKEN_UPDATE_FAILED, MailFailure, MailTokenError
from .smtp_sender import SmtpSender

__all__ = ["DONE", "ConnectionReport", "Probe", "check_pop", "check_smtp"]

#: The step of a test that passed every stage.
DONE = "done"


@dataclass(frozen=True)
class ConnectionReport:
    """`step` is where the test stopped (a `Step`), or `done`."""

    ok: bool
    step: str
    message: str
    detail: str = ""
    passed: tuple[str, ...] = ()


async def check_smtp(sender: SmtpSender, store: TokenStore) -> ConnectionReport:
    return await _check(sender.check, store)


class Probe(Protocol):
    """A POP receiver's connection test: sign in, count the messages, note each stage."""

    async def probe(self, notes: list[str]) -> int: ...


async def check_pop(receiver: Probe, store: TokenStore) -> ConnectionReport:
    return await _check(receiver.probe, store)


async def _check(probe: Callable[[list[str]], Awaitable[object]], store: TokenStore) -> ConnectionReport:
    """Run a probe that notes each step it passed; report the first that failed, in its words."""
    notes: list[str] = []
    try:
        await probe(notes)
    except MailFailure as exc:
        return _failed(exc, store, notes)
    except FirmwareError as exc:
        return ConnectionReport(False, Step.CONNECT, str(exc), passed=tuple(notes))
    return ConnectionReport(True, DONE, "Connection OK: " + "; ".join(notes),
                            passed=tuple(notes))


def _failed(exc: MailFailure, store: TokenStore, notes: list[str]) -> ConnectionReport:
    if isinstance(exc, MailTokenError) and store.state is TokenState.INVALID:
        return ConnectionReport(False, Step.TOKEN, TOKEN_UPDATE_FAILED, detail=str(exc),
                                passed=tuple(notes))
    step = Step.TOKEN if isinstance(exc, MailTokenError) else exc.step
    return ConnectionReport(False, step, exc.reason, detail=exc.server_text, passed=tuple(notes))
