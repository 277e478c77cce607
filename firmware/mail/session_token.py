"""How a mail session uses its token store: take the token, and after the server refuses it,
renew it once (a forced refresh) before giving up.

SMTP sending and every POP poller do exactly this, with their own store: one object here so
the rule (one renewal, then the reason the admin must act on) is the same everywhere.
"""

from __future__ import annotations

from ..errors import TokenUnavailable
from ..tokens.machine import TokenState
from ..tokens.store import BearerToken, TokenStore
from .errors import TOKEN_UPDATE_FAILED, MailTokenError

__all__ = ["SessionToken"]


class SessionToken:
    def __init__(self, store: TokenStore, *, step: str | None = None) -> None:
        self._store = store
        self._step = step  # the stage a token failure is reported at (None: the error's own)

    async def take(self) -> BearerToken:
        try:
            return await self._store.access_token()
        except TokenUnavailable as exc:
            raise self.failure(str(exc)) from exc

    async def renew(self, used: BearerToken, refusal: str) -> BearerToken:
        """After the server refused `used`: one forced refresh, then the new token (or why not)."""
        try:
            state = await self._store.refresh()
        except TokenUnavailable as exc:
            raise self.failure(f"{refusal}; {exc}", refusal) from exc
        if state is not TokenState.RETRIEVED:
            raise self.failure(f"the server refused the token ({refusal}) and renewing it failed: "
                               f"{self._store.status().reason}", refusal)
        token = await self.take()
        if token.access_token == used.access_token:
            reason = self._store.status().reason or "the provider gave no new token"
            raise MailTokenError(
                f"the server refused the token ({refusal}) and it could not be renewed now "
                f"({reason}); will try again", server_text=refusal, temporary=True, step=self._step)
        return token

    def failure(self, detail: str, server_text: str = "") -> MailTokenError:
        """The error for a token that can't be used, by the store's state."""
        state = self._store.state
        if state is TokenState.INVALID:
            return MailTokenError(f"{TOKEN_UPDATE_FAILED} ({detail})", server_text=server_text,
                                  step=self._step)
        if state is TokenState.RETRIEVED:  # a grant is held; renewal failed for now
            return MailTokenError(detail, server_text=server_text, temporary=True, step=self._step)
        name = self._store.name
        return MailTokenError(f"{detail}. Obtain the {name} token first (token {name} get)",
                              server_text=server_text, step=self._step)
