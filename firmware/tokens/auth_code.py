"""Sign-in through the device's web page: the authorization-code grant with PKCE.

For a provider whose device flow refuses the mail scope (Google: docs/providers.md), a real
device gets its token through its web page: the administrator's browser goes to the
provider's authorization page and comes back to the device's page with a code, which the
device redeems with the PKCE verifier only it holds (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3).

    begin(store, redirect_uri, owner)  msal's initiate_auth_code_flow: state, nonce, PKCE S256;
                                       returns the provider's address to send the browser to
    finish(reply, redirect_uri, owner) msal's acquire_token_by_auth_code_flow: checks the state,
                                       redeems the code; the store takes the token (`signed_in`)
                                       and refreshes it like one from the device flow

msal does the protocol (no hand-written PKCE). What is the device's:
- a sign-in waits in RAM only (a power cycle forgets it, as a real device's would), at most
  `MAX_PENDING` at once (the oldest goes), each for `LIFETIME` seconds of device clock;
- a reply is taken once: its `state` names the sign-in, which is then forgotten whatever
  happens (a reused or replayed reply finds nothing);
- the reply must come back to the address the sign-in was started for, in the same web
  session (`owner`) that started it;
- a refusal changes nothing in the store but its reason, which says what happened in the
  device's words (and the provider's, when it gave any). Nothing raises past `finish` but a
  `SignInError`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import FirmwareError, SignInError
from .answers import Garbled, Granted, Refused, Unanswered, Untrusted
from .provider_client import ProviderClient
from .reasons import seconds
from .store import TokenStore

__all__ = ["SignIns", "LIFETIME", "MAX_PENDING", "REPLY_FIELDS"]

log = logging.getLogger(__name__)

#: How long a sign-in may take, from [Sign in] to the browser's return (Google's own codes
#: live 10 minutes; the person also has to sign in and consent).
LIFETIME = 600.0
#: Sign-ins waiting at once, for all stores of the device.
MAX_PENDING = 4
#: What the device reads of the reply (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 `iss`); each
#: value at most `MAX_FIELD` characters.
REPLY_FIELDS = ("code", "state", "error", "error_description", "error_uri", "scope", "iss",
                "authuser", "prompt", "hd", "session_state")
MAX_FIELD = 2048

#: The provider's `error` in a reply, in the device's words.
_REPLY_ERRORS = {
    "access_denied": "the sign-in was declined at {provider}",
    "invalid_scope": "{provider} does not grant this device the mail scope",
    "invalid_request": "{provider} refused the sign-in request",
    "unauthorized_client": "{provider} does not allow this device to sign in this way",
    "server_error": "{provider} had an error; try again",
    "temporarily_unavailable": "{provider} is busy; try again in a minute",
}


@dataclass
class _Pending:
    store: TokenStore
    client: ProviderClient
    account: str
    flow: dict[str, Any] = field(repr=False)
    redirect_uri: str
    owner: str
    until: float  # device monotonic clock


class SignIns:
    """The device's sign-ins under way through its web page (module docstring)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._pending)

    async def begin(self, store: TokenStore, redirect_uri: str, owner: str = "") -> str:
        """Start a sign-in for `store`; the address to send the browser to."""
        client, account = store.sign_in_client()  # raises: wrong state, no account, no client id
        scopes = client.provider.scopes_for(store.service)
        if not scopes:
            client.discard()
            raise SignInError("no_scope", f"provider {client.provider.name!r} has no "
                              f"{store.service} scope", store=store.name)
        answer = await client.begin_sign_in(scopes, redirect_uri, account)
        if not isinstance(answer, dict) or not isinstance(answer.get("auth_uri"), str):
            client.discard()
            code, words = _said(answer)
            reason = f"Sign in with {client.provider.display_name} could not start: {words}"
            store.sign_in_refused(reason)
            raise SignInError(code, reason, store=store.name)
        self._expire()
        for old in [s for s, p in self._pending.items() if p.store is store]:
            self._forget(old)  # a new sign-in for a store replaces its earlier one
        while len(self._pending) >= MAX_PENDING:
            self._forget(next(iter(self._pending)))
        state = str(answer["state"])
        self._pending[state] = _Pending(store, client, account, answer, redirect_uri, owner,
                                        self._monotonic() + LIFETIME)
        log.info("%s: sign-in started for %s", store.name, account)
        return str(answer["auth_uri"])

    async def finish(self, reply: Mapping[str, str], redirect_uri: str, owner: str = "") -> str:
        """The browser came back with `reply` (the query of the redirect): the store's name
        once it holds the token; `SignInError` with the reason otherwise."""
        fields = {k: str(reply[k])[:MAX_FIELD] for k in REPLY_FIELDS if k in reply}
        self._expire()
        pending = self._pending.get(fields.get("state", ""))
        if pending is None:
            raise SignInError("unknown_state", "This sign-in reply does not match a sign-in the "
                              "device is waiting for (already used, expired after "
                              f"{seconds(LIFETIME)}, started before a restart, or not started "
                              "here). Nothing changed: press Sign in again.")
        store, provider = pending.store, pending.client.provider.display_name
        if pending.owner != owner:  # not forgotten: the right session may still come back
            raise SignInError("other_session", "This sign-in was started in another session of "
                              "the web page; nothing changed.", store=store.name)
        self._pending.pop(fields["state"])
        if redirect_uri != pending.redirect_uri:
            raise self._refused(pending, "wrong_redirect", (
                f"The sign-in came back to {redirect_uri}, but it was started for "
                f"{pending.redirect_uri}. Open the web page at the address the device was "
                "reached with and sign in again."))
        answer = await pending.client.finish_sign_in(pending.flow, fields)
        if isinstance(answer, Granted):
            try:
                store.signed_in(pending.client, answer, pending.account)
            except FirmwareError as exc:
                raise self._refused(pending, "not_taken", str(exc)) from None
            log.info("%s: sign-in finished for %s", store.name, pending.account)
            return store.name
        if isinstance(answer, Refused) and "code" not in fields:  # the reply itself is an error
            said = _REPLY_ERRORS.get(answer.error, "{provider} did not give a code").format(
                provider=provider)
            raise self._refused(pending, answer.error,
                                f"Sign-in failed: {said} ({answer.words()}). Nothing changed.")
        if isinstance(answer, Refused):
            raise self._refused(pending, answer.error, (
                f"Sign-in failed: {provider} did not accept the code ({answer.words()}); an "
                "authorization code is valid for a few minutes and only once. Press Sign in "
                "again."))
        code, words = _said(answer)
        raise self._refused(pending, code, f"Sign-in failed: {words}. Press Sign in again.")

    def cancel(self) -> None:
        """The device stops or boots again: every sign-in under way is forgotten."""
        for state in list(self._pending):
            self._forget(state)

    # ------------------------------------------------------------- plumbing
    def _refused(self, pending: _Pending, error: str, reason: str) -> SignInError:
        """The sign-in ends without a token: its client goes, the store shows the reason."""
        pending.client.discard()
        pending.store.sign_in_refused(reason)
        log.info("%s: sign-in refused: %s", pending.store.name, error)
        return SignInError(error, reason, store=pending.store.name)

    def _expire(self) -> None:
        now = self._monotonic()
        for state in [s for s, p in self._pending.items() if p.until <= now]:
            self._forget(state)

    def _forget(self, state: str) -> None:
        pending = self._pending.pop(state, None)
        if pending is not None:
            pending.client.discard()


def _said(answer: object) -> tuple[str, str]:
    """(error code, words) of an answer that is neither a flow nor a token."""
    if isinstance(answer, Refused):
        return answer.error, answer.words()
    if isinstance(answer, Unanswered | Garbled):
        return answer.code, answer.words()
    if isinstance(answer, Untrusted):
        return answer.error, answer.words()
    return "not_a_token_response", "the identity provider answered something unexpected"
