"""The only code that calls msal: one application, its token cache and its HTTPS session.

A `ProviderClient` belongs to one token store and one grant: Get Token makes a new one (a new,
empty token cache), Clear drops it. It runs msal's blocking calls on the device's own bounded
executor (never the loop's default one, which every store and device of the process would
share) under a per-call deadline, and turns whatever happened into one typed `Answer`
(`answers`): nothing a server can send, and no timeout, comes back as an exception.

One call at a time per client: a call that overran its deadline keeps its worker thread until
the socket gives up (`IdpDeadlines.read`); the next call waits for it (bounded) rather than run
beside it, because two refreshes racing with one refresh token would spend it twice, and some
providers revoke the whole grant when a spent refresh token comes back. When such a late call
finishes, `on_late` tells the store, which saves the token cache (a rotated refresh token
must not be lost).

Every token answer's ID token is checked here against the provider's authority (`iss`,
OpenID Connect Core §3.1.3.7): msal 1.39 leaves that to the application, and a token from
another issuer (a wrong tenant, a mix-up) becomes `Untrusted`, never a `Granted`.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import msal
import requests
import urllib3

from ..deadlines import IdpDeadlines
from ..providers import Provider
from ..sentences import Reason
from .answers import (
    Answer,
    Exchange,
    Garbled,
    Granted,
    Refused,
    Unanswered,
    Untrusted,
    error_answer,
    parse_issued,
    parse_token,
)
from .http import AnswerTooLarge, DiscoveryCache, IdpSession, SlowAnswer
from .reasons import shorten

__all__ = ["ProviderClient", "classify", "issuer_matches"]

# The web page's sign-in asks for the reply in the query (`response_mode=query`, Google's and
# RFC 6749's default), not as a cross-site form post: the device page refuses form posts from
# other sites (anti-forgery). msal warns about that on every authorization request.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended",
                        category=UserWarning)


def _remember_absent_extension() -> None:
    """msal looks for its optional `msal_extensions` (persistent caches for desktop apps, which
    a device never uses) every time an application is made, i.e. at each Get Token: a failed
    import searches every folder of `sys.path` again under the import lock (a few ms, and it
    serialises the worker threads). When it is not installed, say so once for the process
    (`None` in `sys.modules`: the import then fails at once, as it would have failed anyway);
    when it is installed, nothing changes."""
    if "msal_extensions" not in sys.modules and importlib.util.find_spec("msal_extensions") is None:
        sys.modules["msal_extensions"] = None  # type: ignore[assignment]


_remember_absent_extension()


class ProviderClient:
    def __init__(self, provider: Provider, *, context: Any, deadlines: IdpDeadlines,
                 executor: Executor, discovery: DiscoveryCache, cache: str = "",
                 link: Any = None) -> None:
        self.provider = provider
        self._deadlines = deadlines
        self._executor = executor
        self._discovery = discovery
        self._cache = msal.SerializableTokenCache()
        if cache:
            self._cache.deserialize(cache)
        self._session = IdpSession(context, deadlines, link)
        self._app: msal.PublicClientApplication | None = None
        self._busy: asyncio.Future[Answer] | None = None
        self.on_late: Callable[[], None] | None = None

    def serialize(self) -> str:
        return str(self._cache.serialize())

    # ------------------------------------------ browser sign-in (auth_code.py)
    async def begin_sign_in(self, scopes: Sequence[str], redirect_uri: str,
                            login_hint: str) -> dict[str, Any] | Answer:
        """msal's authorization request (state, nonce, PKCE S256 verifier and challenge): its
        flow object, or why the provider could not be asked (discovery failed)."""
        def work() -> Any:
            return self._application().initiate_auth_code_flow(
                list(scopes), redirect_uri=redirect_uri, login_hint=login_hint or None)
        return await self._run(work)

    async def finish_sign_in(self, flow: dict[str, Any], reply: dict[str, str]) -> Answer:
        """The browser came back: msal checks the state and redeems the code with the PKCE
        verifier (a refusal in the reply, `error=access_denied`, comes back as `Refused`)."""
        def work() -> Answer:
            try:
                result = self._application().acquire_token_by_auth_code_flow(flow, reply)
            except ValueError as exc:  # msal: state missing or different (CSRF), bad scope
                return Refused("state_mismatch", str(exc).split(":")[0])
            return self._checked(parse_token(result, self._session.last))
        return await self._run(work)

    # ------------------------------------------------------------- requests
    async def start_flow(self, scopes: Sequence[str]) -> Answer:
        """Device authorization request (RFC 8628 §3.1)."""
        def work() -> Answer:
            flow = self._application().initiate_device_flow(list(scopes))
            return parse_issued(flow, self._session.last)
        return await self._run(work)

    async def poll(self, flow: dict[str, Any]) -> Answer:
        """One token request for a device code (the device clock paces them, not msal)."""
        def work() -> Answer:
            mine = dict(flow, latest_attempt_at=0, expires_at=time.time() + 3600)
            result = self._application().acquire_token_by_device_flow(
                mine, exit_condition=lambda f: True)
            return self._checked(parse_token(result, self._session.last))
        return await self._run(work)

    async def refresh(self, scopes: Sequence[str], user: str) -> Answer:
        """A refresh-token grant, forced (the device decides when a token is due)."""
        def work() -> Answer:
            app = self._application()
            accounts = app.get_accounts(username=user) if user else app.get_accounts()
            if not accounts:
                return Refused("no_refresh_token", "the device holds no account for this token")
            result = app.acquire_token_silent_with_error(list(scopes), accounts[0],
                                                         force_refresh=True)
            if result is None:
                return Refused("no_refresh_token",
                               "the device holds no refresh token for this account")
            return self._checked(parse_token(result, self._session.last))
        return await self._run(work)

    def _checked(self, answer: Answer) -> Answer:
        """A token answer whose ID token names another issuer is not used (see the docstring)."""
        if isinstance(answer, Granted) and answer.issuer and not issuer_matches(
                answer.issuer, self.provider.authority, self.provider.authority_kind):
            return Untrusted(answer.issuer, self.provider.authority)
        return answer

    def release(self) -> None:
        """Close idle connections: a store that refreshes once an hour keeps none open."""
        if self._busy is None or self._busy.done():
            self._session.close()

    def discard(self) -> None:
        """This grant is dropped (Clear, a new Get Token): close once any late call is done."""
        self.on_late = None
        if self._busy is None or self._busy.done():
            self._session.close()
        else:
            self._busy.add_done_callback(lambda _f: self._session.close())

    # ------------------------------------------------------------- plumbing
    def _application(self) -> msal.PublicClientApplication:
        """Built in the worker thread: msal reads the discovery document here."""
        if self._app is None:
            p = self.provider
            common: dict[str, Any] = {"token_cache": self._cache, "http_client": self._session,
                                      "http_cache": self._discovery}
            if p.authority_kind == "oidc":
                self._app = msal.PublicClientApplication(p.client_id, oidc_authority=p.authority,
                                                         **common)
            else:
                self._app = msal.PublicClientApplication(p.client_id, authority=p.authority,
                                                         **common)
        return self._app

    async def _run(self, work: Callable[[], Answer]) -> Answer:
        d = self._deadlines
        if self._busy is not None and not self._busy.done():
            done, _ = await asyncio.wait({self._busy}, timeout=d.call)
            if not done:
                return Unanswered("provider_timeout",
                                  Reason("cause.previous_pending", seconds=f"{d.call:g}"))
        started = threading.Event()

        def job() -> Answer:
            started.set()
            self._session.forget()
            try:
                return work()
            except Exception as exc:  # whatever msal made of the answer: classified here
                return classify(exc, self._session.last, d)

        loop = asyncio.get_running_loop()
        try:
            fut = loop.run_in_executor(self._executor, job)
        except RuntimeError:  # the executor was shut down: the device is stopping
            return Unanswered("device_busy", Reason("cause.shutting_down"))
        self._busy = fut
        try:
            done, _ = await asyncio.wait({fut}, timeout=d.call)
        except asyncio.CancelledError:
            fut.add_done_callback(self._late)
            raise
        if not done:
            fut.add_done_callback(self._late)
            if not started.is_set():
                return Unanswered("device_busy", Reason("cause.workers_busy"))
            return Unanswered("provider_timeout", Reason("cause.no_answer", seconds=f"{d.call:g}"))
        return fut.result()

    def _late(self, fut: asyncio.Future[Answer]) -> None:
        if not fut.cancelled() and self.on_late is not None:
            self.on_late()


def classify(exc: BaseException, ex: Exchange, d: IdpDeadlines) -> Answer:
    """An exception from msal or requests, with what the session saw, as an `Answer`."""
    what = ex.what or "token answer"
    if isinstance(exc, requests.exceptions.SSLError):
        return Unanswered("provider_unreachable", Reason("cause.untrusted"))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Unanswered("provider_timeout", Reason("cause.no_connection", seconds=f"{d.connect:g}"))
    if isinstance(exc, SlowAnswer):
        return Unanswered("provider_timeout", Reason("cause.slow_answer", seconds=f"{d.body:g}"))
    if isinstance(exc, requests.exceptions.Timeout):
        return Unanswered("provider_timeout", Reason("cause.no_answer", seconds=f"{d.read:g}"))
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return Unanswered("provider_misconfigured", str(exc))
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _dropped(exc):  # connected, sent the request, then the server hung up
            return Unanswered("provider_unreachable", Reason("cause.dropped"))
        return Unanswered("provider_unreachable", Reason("cause.unreachable"))
    if isinstance(exc, AnswerTooLarge):
        return Garbled(str(exc), what=what)
    refused = error_answer(ex)  # an HTTP 5xx that is an OAuth error answer: keep its words
    if refused is not None:
        return refused
    if isinstance(exc, requests.RequestException):
        return Garbled("a broken HTTP answer", what=what, retry_after=ex.retry_after)
    text = str(exc)
    if isinstance(exc, ValueError) and "issuer" in text and "does not match" in text:
        return Garbled("its issuer does not match the provider's authority",
                       what="discovery document for this authority")
    if isinstance(exc, ValueError) and "device authorization endpoint" in text:
        return Garbled("no device_authorization_endpoint", what="discovery document")
    if ex.status >= 400 or (ex.status and ex.shape not in ("a JSON object", "")):
        detail = f"HTTP {ex.status}" if ex.status >= 400 else f"HTTP {ex.status}, {ex.shape}"
    elif ex.status:
        detail = f"HTTP {ex.status}, a JSON object with fields of the wrong type"
    else:
        detail = shorten(f"{type(exc).__name__}: {text}", 120)
    return Garbled(detail, what=what, retry_after=ex.retry_after)


def _dropped(exc: BaseException) -> bool:
    """Whether a connection error is the server closing an open connection without an answer
    (urllib3's `ProtocolError`: "Connection aborted.", `RemoteDisconnected`), not a refusal."""
    seen: BaseException | None = exc
    for _ in range(8):  # requests wraps urllib3's error, which wraps http.client's
        if seen is None:
            return False
        if isinstance(seen, urllib3.exceptions.ProtocolError | http.client.RemoteDisconnected):
            return True
        nested = [a for a in seen.args if isinstance(a, BaseException)]
        seen = nested[0] if nested else seen.__cause__ or seen.__context__
    return False


def issuer_matches(issuer: str, authority: str, kind: str) -> bool:
    """Whether an ID token's `iss` belongs to the provider's authority.

    An OpenID provider's issuer is its authority, exactly (the bench's, Keycloak's realm,
    Google's). Entra's authority names a tenant, or `organizations`/`common`/`consumers` for
    any tenant, while `iss` is `https://login.microsoftonline.com/<tenant id>/v2.0`: the host
    must match, and the tenant too when the authority names one by its id.
    """
    issuer, authority = issuer.rstrip("/"), authority.rstrip("/")
    if kind != "entra":
        return issuer == authority
    host, _, tenant = authority.removeprefix("https://").partition("/")
    iss_host, _, iss_path = issuer.removeprefix("https://").partition("/")
    if not issuer.startswith("https://") or iss_host.lower() != host.lower():
        return False
    tenant = tenant.split("/")[0].lower()
    if tenant in ("", "organizations", "common", "consumers") or "." in tenant:
        return True  # any tenant, or one named by a domain (its id is not known here)
    return iss_path.split("/")[0].lower() == tenant
