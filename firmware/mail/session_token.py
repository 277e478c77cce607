"""How a mail session uses its token store: take the token, and after the server refuses it,
renew it once (a forced refresh) before giving up.

SMTP sending and every POP poller do exactly this, with their own store: one object here so
the rule (one renewal, then the reason the admin must act on) is the same everywhere. A refusal
renews at once (`Urgency.REFUSED` skips the back-off, not the floor between two refreshes), so
a revoked grant is noticed at the first 535, and the store becomes Invalid right then.

Reasons are said once: a failure wraps the store's *cause* (the provider's words), never the
store's whole reason, which already carries its own advice.
"""

from __future__ import annotations

from ..errors import TokenUnavailable
from ..sentences import Reason
from ..tokens.machine import TokenState
from ..tokens.store import BearerToken, TokenStore, Urgency
from .errors import MailTokenError

__all__ = ["SessionToken"]


class SessionToken:
    def __init__(self, store: TokenStore, *, step: str | None = None) -> None:
        self._store = store
        self._step = step  # the stage a token failure is reported at (None: the error's own)

    async def take(self) -> BearerToken:
        try:
            return await self._store.access_token()
        except TokenUnavailable as exc:
            raise self.failure(exc) from exc

    async def renew(self, used: BearerToken, refusal: str) -> BearerToken:
        """After the server refused `used`: one forced refresh, then the new token (or why not)."""
        try:
            await self._store.refresh(Urgency.REFUSED)
            token = await self._store.access_token()
        except TokenUnavailable as exc:
            raise self.failure(exc, refusal) from exc
        if token.access_token == used.access_token:
            why = self._store.status().reason or Reason("mail.renewed_moments_ago")
            raise MailTokenError(Reason("mail.token_not_renewed_now", refusal=refusal, why=why),
                                 server_text=refusal, temporary=True, step=self._step)
        return token

    def failure(self, exc: TokenUnavailable, refusal: str = "") -> MailTokenError:
        """The error for a token that can't be used, by the store's state."""
        state = self._store.state
        name = self._store.name
        why = _reason_of(exc)
        if state is TokenState.INVALID:
            said = (Reason("mail.token_invalid_refused", refusal=refusal, store=name, cause=exc.cause)
                    if refusal else Reason("mail.token_invalid", store=name, cause=exc.cause))
            return MailTokenError(said, server_text=refusal, step=self._step)
        if refusal:
            why = Reason("mail.token_refused_for_now", refusal=refusal, why=why)
        if state is TokenState.RETRIEVED:  # a grant is held; renewal failed for now
            return MailTokenError(why, server_text=refusal, temporary=True, step=self._step)
        return MailTokenError(Reason("mail.token_missing", why=why, store=name),
                              server_text=refusal, step=self._step)


def _reason_of(exc: TokenUnavailable) -> str:
    """The store's sentence (a `Reason`, so it can be translated), or its plain text."""
    said = exc.args[0] if exc.args else ""
    return said if isinstance(said, Reason) else str(exc)
