"""A token store: one OAuth 2.0 token for one authentication context.

The device has one store for SMTP (shared by every function that sends mail) and one per POP
setting. Each store owns an msal public-client application with its own token cache, and a
`TokenMachine` for its state. msal does the HTTP; the store decides *when*, from the device
clock: when to poll the device-code flow (honouring `interval`, `slow_down` and the code's
lifetime), and when the access token is due for a refresh. msal's own notion of time (the
host's wall clock) is never relied on for a decision, so a virtual clock can run days ahead.

Everything the store knows is persisted as one sealed record in NVRAM, written in one atomic
transaction at every change, so after a power cut the store comes back as it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msal
import requests

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.errors import KeystoreError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from ..errors import DeviceFlowError, FirmwareError, TokenStateError, TokenUnavailable
from ..events import EventBus, TokenChanged
from ..providers import Provider, ProviderRegistry
from ..trust import TrustStore
from ..vocabulary import Service
from .machine import LABELS, TokenMachine, TokenState

__all__ = ["TokenStore", "FlowPrompt", "TokenStatus", "BearerToken", "mask"]

log = logging.getLogger(__name__)

#: Refresh this long before the access token expires (real clients use a few minutes).
REFRESH_MARGIN = 300.0
#: After a refresh that failed for a passing reason (provider unreachable), try again after this.
REFRESH_RETRY = 60.0
#: How long msal may take for one HTTP exchange.
HTTP_TIMEOUT = 15.0

#: OAuth errors that end a device flow for good, with the words the device shows.
_FLOW_ENDINGS = {
    "authorization_declined": "Authorization was declined at the sign-in page",
    "access_denied": "Authorization was declined at the sign-in page",
    "expired_token": "The code expired before it was approved; press Get Token to start again",
    "bad_verification_code": "The provider does not know this code; press Get Token to start again",
}
#: Refresh errors that mean the grant is gone: the token becomes Invalid.
_GRANT_GONE = {"invalid_grant", "interaction_required", "invalid_client", "unauthorized_client",
               "consent_required", "login_required"}


def mask(secret: str | None) -> str:
    """A secret as it may appear anywhere a person can read it: first characters and length."""
    if not secret:
        return ""
    return f"{secret[:6]}…({len(secret)} chars)"


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


@dataclass(frozen=True)
class BearerToken:
    account: str
    access_token: str

    def __repr__(self) -> str:  # never print a token in full, even by accident
        return f"BearerToken(account={self.account!r}, access_token={mask(self.access_token)!r})"


@dataclass
class _PendingFlow:
    msal_flow: dict[str, Any]
    expires_at: float
    interval: float
    next_poll_at: float

    def prompt(self) -> FlowPrompt:
        f = self.msal_flow
        return FlowPrompt(
            verification_uri=str(f.get("verification_uri") or f.get("verification_url", "")),
            user_code=str(f["user_code"]),
            expires_at=self.expires_at,
            verification_uri_complete=str(f.get("verification_uri_complete", "")),
            message=str(f.get("message", "")),
        )


class TokenStore:
    def __init__(
        self,
        name: str,
        service: Service,
        *,
        clock: Clock,
        nvram: Nvram,
        keystore: KeyStore,
        trust: TrustStore,
        providers: ProviderRegistry,
        events: EventBus,
        target: Callable[[], tuple[str, str]],
    ) -> None:
        self.name = name
        self.service = service
        self._clock = clock
        self._nvram = nvram
        self._keys = keystore
        self._trust = trust
        self._providers = providers
        self._events = events
        self._target = target  # () -> (provider name, account) from the current settings
        self._lock = asyncio.Lock()
        self._machine = TokenMachine()
        self._reason = ""
        self._account = ""
        self._provider = ""
        self._token_user = ""
        self._access_token = ""
        self._access_expires_at: float | None = None
        self._next_refresh_at: float | None = None
        self._flow: _PendingFlow | None = None
        self._cache = msal.SerializableTokenCache()
        self._app: msal.PublicClientApplication | None = None
        self._app_key: tuple[str, str, str, int] | None = None
        self._session: requests.Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._load()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> TokenState:
        return self._machine.state

    @property
    def key(self) -> str:
        return f"token.{self.name}"

    def status(self) -> TokenStatus:
        state = self.state
        return TokenStatus(
            store=self.name,
            state=state,
            label=LABELS[state],
            account=self._account or self._target()[1],
            provider=self._provider or self._target()[0],
            reason=self._reason,
            access_expires_at=self._access_expires_at if state is TokenState.RETRIEVED else None,
            prompt=self._flow.prompt() if (self._flow and state is TokenState.WAITING) else None,
        )

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Resume after power-on: poll a flow whose code is still valid, keep a token fresh."""
        async with self._lock:
            if self.state is TokenState.WAITING:
                if self._flow is None or self._clock.now() >= self._flow.expires_at:
                    self._fire("flow_failed", "The code expired while the device was off; "
                               "press Get Token to start again")
                else:
                    self._flow.next_poll_at = self._clock.now() + self._flow.interval
                    self._spawn(self._poll_loop())
            elif self.state is TokenState.RETRIEVED:
                self._spawn(self._refresh_loop())

    async def stop(self) -> None:
        await self._cancel_task()

    # -------------------------------------------------------------- commands
    async def get_token(self) -> FlowPrompt:
        """[Get Token] → [OK]: start the device-code flow; polling goes on in the background.

        While a flow is already waiting, show its code again rather than start another: a user
        who closed the dialog must still be able to read the code.
        """
        async with self._lock:
            if self.state is TokenState.WAITING and self._flow is not None:
                return self._flow.prompt()
            if not self._machine.can("start"):
                self._machine.fire("start")  # raises TokenStateError with the advice
            provider_name, account = self._target()
            if not account:
                raise TokenStateError(
                    f"Get Token: set {self.name}.account first (the e-mail address to sign in with)"
                )
            provider = self._providers.get(provider_name)
            if not provider.client_id:
                raise DeviceFlowError(
                    "no_client_id",
                    f"provider {provider.name!r} has no client id: add one in a providers file "
                    "(docs/providers.md)",
                )
            scopes = provider.scopes_for(self.service)
            if not scopes:
                raise DeviceFlowError("no_scope", f"provider {provider.name!r} has no {self.service} scope")
            self._cache = msal.SerializableTokenCache()
            self._app = None
            app = await self._call(self._build_app, provider)
            flow: dict[str, Any] = await self._call(app.initiate_device_flow, scopes)
            if "user_code" not in flow:
                error = str(flow.get("error", "unknown_error"))
                description = str(flow.get("error_description", "")).strip()
                self._set_reason(_describe_refusal(error, description, provider))
                raise DeviceFlowError(error, self._reason)
            now = self._clock.now()
            interval = float(flow.get("interval") or 5)
            self._flow = _PendingFlow(flow, now + float(flow.get("expires_in") or 900), interval,
                                      now + interval)
            self._account, self._provider = account, provider.name
            self._fire("start", "")
            self._spawn(self._poll_loop())
            return self._flow.prompt()

    async def clear(self) -> None:
        """[Clear] → [OK]: forget the token (and any flow under way)."""
        await self._cancel_task()
        async with self._lock:
            self._cache = msal.SerializableTokenCache()
            self._app = None
            self._flow = None
            self._access_token = ""
            self._access_expires_at = None
            self._next_refresh_at = None
            self._token_user = ""
            self._account = ""
            self._provider = ""
            self._fire("clear", "")

    async def access_token(self) -> BearerToken:
        """The token for a mail session, refreshed first if the device clock says it is due."""
        async with self._lock:
            self._require_retrieved()
            assert self._access_expires_at is not None
            if self._clock.now() >= self._access_expires_at - REFRESH_MARGIN:
                await self._refresh_locked()
                self._require_retrieved()
            if self._clock.now() >= self._access_expires_at:
                raise TokenUnavailable(
                    f"{self.name}: the access token expired and could not be renewed yet ({self._reason})"
                )
            return BearerToken(self._account, self._access_token)

    async def refresh(self) -> TokenState:
        """Renew the access token now (also what a server's 535 on XOAUTH2 triggers)."""
        async with self._lock:
            self._require_retrieved()
            await self._refresh_locked()
            return self.state

    async def settings_changed(self) -> None:
        """The provider or account in the settings changed: never reuse another account's token."""
        provider, account = self._target()
        if self.state is TokenState.RETRIEVED and (
            account.lower() != self._account.lower() or provider != self._provider
        ):
            what = (f"account name changed from {self._account} to {account or '(empty)'}"
                    if account.lower() != self._account.lower()
                    else f"provider changed from {self._provider} to {provider}")
            await self._cancel_task()
            async with self._lock:
                self._fire("invalidate", f"The {what}: clear the token and obtain it again")
        elif self.state is TokenState.WAITING and (
            account.lower() != self._account.lower() or provider != self._provider
        ):
            await self._cancel_task()
            async with self._lock:
                self._flow = None
                self._fire("flow_failed", "The account or provider changed during authorization; "
                           "press Get Token again")

    # ---------------------------------------------------------------- flow
    async def _poll_loop(self) -> None:
        while True:
            flow = self._flow
            if flow is None or self.state is not TokenState.WAITING:
                return
            await self._clock.sleep_until(min(flow.next_poll_at, flow.expires_at))
            async with self._lock:
                if self._flow is not flow or self.state is not TokenState.WAITING:
                    return
                if self._clock.now() >= flow.expires_at:
                    self._flow = None
                    self._fire("flow_failed", _FLOW_ENDINGS["expired_token"] + " (expired_token)")
                    return
                try:
                    if await self._poll_once(flow):
                        return
                except FirmwareError as exc:  # e.g. the provider was removed from the device
                    self._flow = None
                    self._fire("flow_failed", f"Authorization stopped: {exc}")
                    return

    async def _poll_once(self, flow: _PendingFlow) -> bool:
        """One token request; True when the flow has ended (either way)."""
        flow.msal_flow["latest_attempt_at"] = 0  # the device clock paces polls, not msal's
        try:
            # After a power cycle the msal application is rebuilt from the restored cache.
            app = self._app or await self._call(self._build_app, self._providers.get(self._provider))
            result: dict[str, Any] = await self._call(
                app.acquire_token_by_device_flow, flow.msal_flow, exit_condition=lambda f: True
            )
        except DeviceFlowError as exc:
            flow.next_poll_at = self._clock.now() + flow.interval
            self._set_reason(f"Cannot reach the provider ({exc.description}); still trying")
            return False
        now = self._clock.now()
        if "access_token" in result:
            return self._accept(result, now)
        error = str(result.get("error", "unknown_error"))
        if error == "authorization_pending":
            flow.next_poll_at = now + flow.interval
            if self._reason:
                self._set_reason("")
            return False
        if error == "slow_down":
            flow.interval += 5
            flow.next_poll_at = now + flow.interval
            self._persist()
            return False
        description = str(result.get("error_description", "")).split("\r\n")[0].strip()
        words = _FLOW_ENDINGS.get(error, description or "The provider ended the authorization")
        self._flow = None
        self._fire("flow_failed", f"{words} ({error})")
        return True

    def _accept(self, result: dict[str, Any], now: float) -> bool:
        claims = result.get("id_token_claims") or {}
        user = str(claims.get("preferred_username") or claims.get("upn") or claims.get("email") or "")
        self._flow = None
        if user and user.lower() != self._account.lower():
            self._cache = msal.SerializableTokenCache()
            self._app = None
            self._fire("flow_failed", f"Signed in as {user}, but the account name is {self._account}; "
                       f"press Get Token and sign in as {self._account}")
            return True
        self._token_user = user or self._account
        self._access_token = str(result["access_token"])
        self._access_expires_at = now + float(result.get("expires_in") or 3600)
        self._next_refresh_at = self._access_expires_at - REFRESH_MARGIN
        self._fire("authorized", "")
        log.info("%s: token retrieved for %s (%s)", self.name, self._account, mask(self._access_token))
        self._task = None  # the poll loop ends here; the refresh loop takes over
        self._spawn(self._refresh_loop())
        return True

    # -------------------------------------------------------------- refresh
    async def _refresh_loop(self) -> None:
        while self.state is TokenState.RETRIEVED:
            due = self._next_refresh_at
            if due is None:
                return
            await self._clock.sleep_until(due)
            async with self._lock:
                if self.state is not TokenState.RETRIEVED:
                    return
                if self._next_refresh_at is not None and self._clock.now() >= self._next_refresh_at:
                    try:
                        await self._refresh_locked()
                    except FirmwareError as exc:
                        self._next_refresh_at = self._clock.now() + REFRESH_RETRY
                        self._set_reason(f"Refresh failed ({exc}); retrying in {int(REFRESH_RETRY)} s")

    async def _refresh_locked(self) -> None:
        provider = self._providers.get(self._provider)
        now = self._clock.now()
        try:
            app = self._app or await self._call(self._build_app, provider)
            accounts = app.get_accounts(username=self._token_user) if self._token_user else app.get_accounts()
            if not accounts:
                self._invalidate("The token cache holds no account for this token")
                return
            result = await self._call(
                app.acquire_token_silent_with_error,
                provider.scopes_for(self.service), accounts[0], force_refresh=True,
            )
        except DeviceFlowError as exc:
            self._next_refresh_at = now + REFRESH_RETRY
            self._set_reason(f"Refresh failed ({exc.description}); retrying in {int(REFRESH_RETRY)} s")
            return
        if result is None:
            self._invalidate("The provider gave no token and no reason (no refresh token held)")
        elif "access_token" in result:
            self._access_token = str(result["access_token"])
            self._access_expires_at = now + float(result.get("expires_in") or 3600)
            self._next_refresh_at = self._access_expires_at - REFRESH_MARGIN
            self._reason = ""
            self._persist()
            self._events.publish(TokenChanged(self.name, self.state, "", refreshed=True))
        else:
            error = str(result.get("error", "unknown_error"))
            description = str(result.get("error_description", "")).split("\r\n")[0].strip()
            if error in _GRANT_GONE:
                self._invalidate(f"{description or 'The provider refused to renew the token'} ({error})")
            else:
                self._next_refresh_at = now + REFRESH_RETRY
                self._set_reason(f"Refresh failed ({error}: {description}); retrying in {int(REFRESH_RETRY)} s")

    def _invalidate(self, reason: str) -> None:
        self._next_refresh_at = None
        self._fire("invalidate", f"{reason}. Token update failed: please delete the token and obtain it again")

    def _require_retrieved(self) -> None:
        state = self.state
        if state is not TokenState.RETRIEVED:
            hint = {
                TokenState.NOT_RETRIEVED: "press Get Token first",
                TokenState.WAITING: "authorization is not finished yet",
                TokenState.INVALID: "Token update failed. Please delete the token and obtain it again",
            }[state]
            detail = f" ({self._reason})" if self._reason and state is TokenState.INVALID else ""
            raise TokenUnavailable(f"{self.name}: token is {LABELS[state]}: {hint}{detail}")

    # ------------------------------------------------------------- plumbing
    def _build_app(self, provider: Provider) -> msal.PublicClientApplication:
        key = (provider.name, provider.authority, provider.client_id, self._trust.version)
        if self._app is not None and self._app_key == key:
            return self._app
        if self._session is None or self._app_key is None or self._app_key[3] != self._trust.version:
            # One HTTP session per store, kept across flows: its pooled TLS connections save a
            # handshake and a CA-bundle load on every Get Token and refresh.
            self._session = self._trust.http_session()
        common: dict[str, Any] = {"token_cache": self._cache, "http_client": self._session,
                                  "timeout": HTTP_TIMEOUT}
        if provider.authority_kind == "oidc":
            app = msal.PublicClientApplication(provider.client_id, oidc_authority=provider.authority, **common)
        else:
            app = msal.PublicClientApplication(provider.client_id, authority=provider.authority, **common)
        self._app, self._app_key = app, key
        return app

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking msal call in a thread; network failures become DeviceFlowError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except requests.RequestException as exc:
            raise DeviceFlowError("provider_unreachable", _short_network_error(exc)) from exc
        except ValueError as exc:  # msal: discovery document missing or malformed
            raise DeviceFlowError("provider_misconfigured", str(exc)[:200]) from exc

    def _spawn(self, coro: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(coro, name=f"token.{self.name}")

    async def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, FirmwareError):
                pass

    def _fire(self, trigger: str, reason: str) -> None:
        self._machine.fire(trigger)
        self._reason = reason
        self._persist()
        self._publish()

    def _set_reason(self, reason: str) -> None:
        self._reason = reason
        self._persist()
        self._publish()

    def _publish(self) -> None:
        self._events.publish(TokenChanged(self.name, self.state, self._reason))

    def _record(self) -> dict[str, Any]:
        flow = self._flow
        return {
            "state": self.state.value,
            "reason": self._reason,
            "account": self._account,
            "provider": self._provider,
            "token_user": self._token_user,
            "access_token": self._access_token,
            "access_expires_at": self._access_expires_at,
            "next_refresh_at": self._next_refresh_at,
            "flow": None if flow is None else {
                "msal": flow.msal_flow, "expires_at": flow.expires_at, "interval": flow.interval,
            },
            "cache": self._cache.serialize(),
        }

    def _persist(self) -> None:
        blob = json.dumps(self._record(), separators=(",", ":")).encode()
        self._nvram.write(self.key, self._keys.seal(blob, context=self.key))

    def _load(self) -> None:
        blob = self._nvram.read(self.key)
        if blob is None:
            return
        try:
            rec = json.loads(self._keys.open(blob, context=self.key))
            state = TokenState(rec["state"])
        except (KeystoreError, ValueError, KeyError, TypeError) as exc:
            self._reason = f"The stored token could not be read ({exc}); obtain it again"
            log.warning("%s: %s", self.name, self._reason)
            return
        self._machine = TokenMachine(state)
        self._reason = str(rec.get("reason", ""))
        self._account = str(rec.get("account", ""))
        self._provider = str(rec.get("provider", ""))
        self._token_user = str(rec.get("token_user", ""))
        self._access_token = str(rec.get("access_token", ""))
        self._access_expires_at = rec.get("access_expires_at")
        self._next_refresh_at = rec.get("next_refresh_at")
        if rec.get("cache"):
            self._cache.deserialize(rec["cache"])
        flow = rec.get("flow")
        if flow:
            self._flow = _PendingFlow(flow["msal"], float(flow["expires_at"]), float(flow["interval"]), 0.0)


def _describe_refusal(error: str, description: str, provider: Provider) -> str:
    first = description.split("\r\n")[0].strip()
    if error == "invalid_scope":
        return (f"{provider.display_name} refused the device-code flow for the mail scope "
                f"(invalid_scope{': ' + first if first else ''}). This provider does not grant mail "
                "access to devices through the device-code flow")
    return f"{provider.display_name} refused to start authorization ({error}{': ' + first if first else ''})"


def _short_network_error(exc: requests.RequestException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failure: the provider's certificate is not trusted by this device"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    return text[:200]
