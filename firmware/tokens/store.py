"""A token store: one OAuth 2.0 token for one authentication context.

The device has one store for SMTP (shared by every function that sends mail) and one per POP
setting. A store wires the parts of this package together and owns nothing else:

    TokenMachine       its state, moved only through the table in `machine`
    ProviderClient     msal and HTTPS for the current grant (`provider_client`)
    DeviceFlowPoller   when to poll and what each poll answer means (`device_flow`)
    RefreshPolicy      when to renew and what each refresh answer means (`refresh`)
    TokenRecord        what survives a power cut, sealed in NVRAM (`record`)

Locks are never held across the network. Every operation that waits for the identity
provider notes the store's epoch first and, when the answer comes, drops it if the epoch moved
(Clear, an account change, a new Get Token): so Clear answers at once while a Get Token or a
refresh hangs, and a late answer never brings back a cleared token. Refreshes are single
flight: a mail session that needs the token joins the refresh under way instead of starting
another.

The background task (polling, then keeping the token fresh) runs under a supervisor: the
loops turn every answer into an action, and anything unexpected that still escapes is logged,
the task waits (with back-off) and starts again. Setting the device clock wakes the task to
plan again (`Clock.on_set`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from ..deadlines import IDP_DEADLINES, IdpDeadlines
from ..errors import DeviceFlowError, FirmwareError, RecordError, TokenStateError, TokenUnavailable
from ..events import EventBus, TokenChanged
from ..providers import Provider, ProviderRegistry
from ..sentences import Reason
from ..trust import TrustStore
from ..vocabulary import Service
from .answers import Garbled, Granted, Issued, Refused, Unanswered, Untrusted
from .device_flow import Authorized, DeviceFlowPoller, Ended, PollAgain, expired_reason
from .http import DiscoveryCache
from .machine import LABELS, Phase, TokenMachine, TokenState
from .provider_client import ProviderClient
from .reasons import advice_for, invalid_reason, mask, seconds
from .record import FlowRecord, TokenRecord, seal, unseal
from .refresh import GrantGone, RefreshPolicy, Renewed, Urgency
from .tasks import TaskKeeper
from .timing import Instant
from .values import BearerToken, CheckResult, FlowPrompt, TokenStatus

__all__ = ["TokenStore", "FlowPrompt", "TokenStatus", "BearerToken", "CheckResult", "Urgency",
           "mask"]

log = logging.getLogger(__name__)

_HELD = (Phase.RETRIEVED, Phase.REFRESH_FAILING)
#: Keep the HTTPS connection to the provider open only while the next request is due within
#: this long (polls, back-to-back refreshes); before a longer wait it is closed, so an idle
#: device holds no connection (a provider drops idle ones after a few minutes anyway).
KEEP_ALIVE = 30.0


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
        executor: Executor | None = None,
        deadlines: IdpDeadlines = IDP_DEADLINES,
        discovery: DiscoveryCache | None = None,
        rng: random.Random | None = None,
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
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"idp-{name}")
        self._deadlines = deadlines
        self._discovery = discovery if discovery is not None else DiscoveryCache()
        self._rng = rng or random.Random()
        self._epoch = 0
        self._machine = TokenMachine()
        self._reason = ""
        self._cause = ""
        self._account = ""
        self._provider = ""
        self._token_user = ""
        self._access_token = ""
        self._cache = ""  # the msal cache as stored, until a client takes it over
        self._client: ProviderClient | None = None
        self._flow: dict[str, Any] | None = None  # msal's flow object while waiting
        self._resume: FlowRecord | None = None  # a stored flow, until start() resumes it
        self._poller: DeviceFlowPoller | None = None
        self._policy: RefreshPolicy | None = None
        self._tasks = TaskKeeper(name, clock)
        self._load()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> TokenState:
        return self._machine.state

    @property
    def phase(self) -> Phase:
        return self._machine.phase

    @property
    def key(self) -> str:
        return f"token.{self.name}"

    def status(self) -> TokenStatus:
        now = self._now()
        state = self.state
        expires = self._policy.expires_at(now) if (self._policy and self.phase in _HELD) else None
        return TokenStatus(
            store=self.name, state=state, label=LABELS[state],
            account=self._account or self._target()[1],
            provider=self._provider or self._target()[0],
            reason=self._reason, access_expires_at=expires,
            prompt=self._prompt(now) if state is TokenState.WAITING else None,
            poll_interval=self._poller.interval if self._poller is not None else None,
            next_request_at=self._next_request_at(now),
        )

    def _next_request_at(self, now: Instant) -> float | None:
        if self.phase is Phase.WAITING and self._poller is not None:
            return now.wall + self._poller.wait(now)
        if self.phase in _HELD and self._policy is not None:
            return now.wall + self._policy.wait_before(now, Urgency.SCHEDULED)
        return None

    def _prompt(self, now: Instant) -> FlowPrompt | None:
        f, poller = self._flow, self._poller
        if f is None or poller is None:
            return None
        return FlowPrompt(
            verification_uri=str(f.get("verification_uri") or f.get("verification_url", "")),
            user_code=str(f.get("user_code", "")),
            expires_at=poller.expires_at(now),
            verification_uri_complete=str(f.get("verification_uri_complete", "")),
            message=str(f.get("message", "")),
        )

    def _now(self) -> Instant:
        return Instant(self._clock.now(), self._clock.monotonic())

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Resume after power-on: poll a flow whose code is still valid, keep a token fresh."""
        if self.phase is Phase.WAITING:
            stored, self._resume = self._resume, None
            self._poller = None if stored is None else DeviceFlowPoller.resume(
                interval=stored.interval, expires_at=stored.expires_at, now=self._now())
            if self._poller is None:
                self._flow = None
                self._fire("flow_failed", Reason("token.code_expired_offline"))
            else:
                self._spawn(self._poll_loop)
        elif self.phase in _HELD:
            self._spawn(self._refresh_loop)

    async def stop(self) -> None:
        self._tasks.close()
        await self._tasks.cancel()
        if self._client is not None:
            self._client.discard()
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -------------------------------------------------------------- commands
    async def get_token(self) -> FlowPrompt:
        """[Get Token] → [OK]: start the device-code flow; polling goes on in the background.

        While a flow is already waiting, show its code again rather than start another: a user
        who closed the dialog must still be able to read the code. A second Get Token while
        the first is still asking the provider gets the first one's answer.
        """
        if self.phase is Phase.WAITING:
            prompt = self._prompt(self._now())
            if prompt is not None:
                return prompt
        task = await self._tasks.join("get-token", self._start_flow)
        if task.cancelled():
            raise TokenStateError("Get Token was cancelled: the token was cleared meanwhile")
        return task.result()

    async def _start_flow(self) -> FlowPrompt:
        if not self._machine.can("start"):
            self._machine.fire("start")  # raises TokenStateError with the advice
        provider, account = self._sign_in_target("Get Token")
        scopes = provider.scopes_for(self.service)
        if not scopes:
            raise DeviceFlowError("no_scope", f"provider {provider.name!r} has no {self.service} scope")
        epoch = self._epoch
        client = self._new_client(provider, cache="")
        answer = await client.start_flow(scopes)
        if epoch != self._epoch:
            client.discard()
            raise TokenStateError("Get Token was cancelled: the token was cleared or its "
                                  "settings changed meanwhile")
        if not isinstance(answer, Issued):
            self._drop_client()
            reason: str
            if isinstance(answer, Refused):
                reason = _describe_refusal(answer, provider)
                error = answer.error
            elif isinstance(answer, Granted | Untrusted):  # a token where a device code belongs
                reason = Reason("token.get_failed", cause=Garbled("a token answer", what=(
                    "device-code answer")).words())
                error = "not_a_device_code"
            else:
                reason = Reason("token.get_failed", cause=answer.words())
                error = answer.code
            self._set_reason(reason)
            raise DeviceFlowError(error, reason)
        now = self._now()
        self._poller = DeviceFlowPoller.begin(answer, now)
        self._flow = answer.flow
        self._account, self._provider = account, provider.name
        self._fire("start", "")
        self._spawn(self._poll_loop)
        prompt = self._prompt(now)
        assert prompt is not None
        return prompt

    async def clear(self) -> None:
        """[Clear] → [OK]: forget the token (and any flow under way). Never waits on the network."""
        self._epoch += 1
        await self._tasks.cancel()
        self._drop_client()
        self._flow = None
        self._poller = None
        self._policy = None
        self._access_token = ""
        self._token_user = ""
        self._account = ""
        self._provider = ""
        self._fire("clear", "")

    async def access_token(self) -> BearerToken:
        """The token for a mail session, renewed first if it is due and may be asked for."""
        self._require_held()
        policy = self._policy
        assert policy is not None
        now = self._now()
        if policy.due(now) and policy.wait_before(now, Urgency.NEEDED) == 0:
            await self._refresh_now()
            self._require_held()
        now = self._now()
        if not policy.fresh(now):
            wait = policy.wait_before(now, Urgency.NEEDED)
            cause = self._cause or Reason("token.not_renewed_in_time")
            raise TokenUnavailable(
                Reason("token.not_renewed_yet", store=self.name, cause=cause,
                       wait=seconds(max(wait, 1))), cause=cause)
        return BearerToken(self._account, self._access_token)

    async def refresh(self, urgency: Urgency = Urgency.ASKED) -> TokenState:
        """Renew the access token now, if `urgency` may (a server's 535 on XOAUTH2: REFUSED)."""
        self._require_held()
        assert self._policy is not None
        if self._policy.wait_before(self._now(), urgency) == 0:
            await self._refresh_now()
        return self.state

    async def check(self) -> CheckResult:
        """`token <store> check`: refresh now (honouring only Retry-After) and report."""
        self._require_held()
        assert self._policy is not None
        before = self._access_token
        held_back = self._policy.wait_before(self._now(), Urgency.ASKED)
        if held_back > 0:  # a Retry-After is running: not even the administrator may ask
            self._set_reason(Reason("token.held_back", wait=seconds(held_back)))
        else:
            await self._refresh_now()
        refreshed = self.phase in _HELD and self._access_token != before
        return CheckResult(refreshed, self.status())

    async def settings_changed(self) -> None:
        """The provider or account in the settings changed: never reuse another account's token."""
        provider, account = self._target()
        changed = account.lower() != self._account.lower() or provider != self._provider
        if self.phase in _HELD and changed:
            reason = (Reason("token.account_changed", old=self._account, new=account or "(empty)")
                      if account.lower() != self._account.lower()
                      else Reason("token.provider_changed", old=self._provider, new=provider))
            self._epoch += 1
            await self._tasks.cancel()
            self._drop_client()  # the old account's refresh token is not kept
            self._fire("invalidate", reason, cause=reason)
        elif self.phase is Phase.WAITING and changed:
            self._epoch += 1
            await self._tasks.cancel()
            self._drop_client()
            self._flow = self._poller = None
            self._fire("flow_failed", Reason("token.target_changed"))
        elif self._tasks.busy("get-token"):
            self._epoch += 1  # a Get Token under way for the old settings is dropped

    # ---------------------------------------------------------------- flow
    async def _poll_loop(self) -> None:
        epoch = self._epoch
        while self._current(epoch, Phase.WAITING):
            poller, flow = self._poller, self._flow
            assert poller is not None and flow is not None
            now = self._now()
            if poller.expired(now):
                self._end_flow(expired_reason())
                return
            wait = poller.wait(now)
            if wait > 0:
                await self._tasks.nap(wait)
                continue
            try:
                client = self._client_for()
            except FirmwareError as exc:  # e.g. the provider was removed from the device
                self._end_flow(Reason("token.flow_stopped", cause=str(exc)))
                return
            answer = await client.poll(flow)
            if not self._current(epoch, Phase.WAITING):
                return
            action = poller.on_answer(answer, self._now())
            if isinstance(action, PollAgain):
                if action.note != self._reason:
                    self._set_reason(action.note)
                elif action.interval_changed:
                    self._persist()
            elif isinstance(action, Authorized):
                self._accept(action.grant)
                return
            elif isinstance(action, Ended):
                self._end_flow(action.reason)
                return

    def _accept(self, grant: Granted) -> None:
        user = grant.user
        if user and user.lower() != self._account.lower():
            self._drop_client()
            self._end_flow(Reason("token.wrong_account", user=user, account=self._account))
            return
        now = self._now()
        self._token_user = user or self._account
        self._access_token = grant.access_token
        self._policy = RefreshPolicy.issued(grant, now, self._rng)
        self._flow = self._poller = None
        self._fire("authorized", "")
        log.info("%s: token retrieved for %s (%s)", self.name, self._account, mask(grant.access_token))
        self._spawn(self._refresh_loop)  # the poll task ends here; the refresh task takes over

    def _end_flow(self, reason: str) -> None:
        self._flow = self._poller = None
        self._drop_client()
        self._fire("flow_failed", reason)

    # -------------------------------------------------------------- refresh
    async def _refresh_loop(self) -> None:
        epoch = self._epoch
        while self._current(epoch, *_HELD):
            assert self._policy is not None
            wait = self._policy.wait_before(self._now(), Urgency.SCHEDULED)
            if wait > 0:
                if wait > KEEP_ALIVE and self._client is not None:
                    self._client.release()  # nothing to say to the provider for a while
                await self._tasks.nap(wait)
                continue
            await self._refresh_now()

    async def _refresh_now(self) -> None:
        """Join the refresh under way, or start one; returns when it has ended."""
        await self._tasks.join("refresh", self._do_refresh)
        self._tasks.replan()  # the timer plans from what this refresh changed

    async def _do_refresh(self) -> None:
        epoch = self._epoch
        policy = self._policy
        assert policy is not None
        policy.on_attempt(self._now())
        try:
            client = self._client_for()
            scopes = client.provider.scopes_for(self.service)
        except FirmwareError as exc:
            answer: Any = Unanswered("provider_misconfigured", str(exc))
        else:
            answer = await client.refresh(scopes, self._token_user)
        if not self._current(epoch, *_HELD):
            return
        now = self._now()
        outcome = policy.on_answer(answer, now)
        if isinstance(outcome, Renewed):
            self._access_token = outcome.grant.access_token
            self._fire("refreshed", "", refreshed=True)
        elif isinstance(outcome, GrantGone):
            self._drop_client()  # a dead grant's refresh token (or another issuer's) is not kept
            self._fire("invalidate", invalid_reason(outcome.cause, outcome.advice),
                       cause=outcome.cause)
        else:
            code = "token.renewal_failed" if policy.fresh(now) else "token.expired_unrenewed"
            self._fire("refresh_failed", Reason(code, cause=outcome.cause,
                                                wait=seconds(outcome.delay)), cause=outcome.cause)

    def _require_held(self) -> None:
        phase = self.phase
        if phase in _HELD:
            return
        if phase is Phase.INVALID:
            cause = self._cause or self._reason
            raise TokenUnavailable(Reason("token.is_invalid", store=self.name,
                                          reason=self._reason or invalid_reason(cause)),
                                   cause=cause)
        raise TokenUnavailable(Reason("token.is_not_retrieved" if phase is Phase.NOT_RETRIEVED
                                      else "token.is_waiting", store=self.name))

    # ------------------------------------------ browser sign-in (auth_code.py)
    def sign_in_client(self) -> tuple[ProviderClient, str]:
        """[Sign in with …]: a new client for the provider in the settings, and the account to
        sign in as. The client is not this store's until `signed_in`: nothing changes here."""
        if not self._machine.can("signed_in"):
            self._machine.fire("signed_in")  # raises TokenStateError with the advice
        provider, account = self._sign_in_target("Sign in")
        client = ProviderClient(provider, context=self._trust.ssl_context(),
                                deadlines=self._deadlines, executor=self._executor,
                                discovery=self._discovery, link=self._trust.link)
        return client, account

    def _sign_in_target(self, action: str) -> tuple[Provider, str]:
        """The provider and account the settings name, refused with what to set if either is
        missing (Get Token and Sign in say the same)."""
        provider_name, account = self._target()
        if not account:
            raise TokenStateError(
                f"{action}: set {self.name}.account first (the e-mail address to sign in with)")
        provider = self._providers.get(provider_name)
        if not provider.client_id:
            raise DeviceFlowError("no_client_id", f"provider {provider.name!r} has no client id: "
                                  "add one in a providers file (docs/providers.md)")
        return provider, account

    def signed_in(self, client: ProviderClient, grant: Granted, account: str) -> None:
        """The browser sign-in gave a token: held and refreshed from now on exactly as one from
        the device flow. Raises (and nothing changes) if the settings or the state moved on."""
        provider_name, current = self._target()
        if (provider_name, current.lower()) != (client.provider.name, account.lower()):
            raise TokenStateError("Sign in: the account or provider changed during the sign-in; "
                                  "sign in again")
        if not self._machine.can("signed_in"):
            self._machine.fire("signed_in")
        user = grant.user
        if user and user.lower() != account.lower():
            raise TokenStateError(f"Signed in as {user}, but the account name is {account}; "
                                  f"sign in again as {account}")
        self._epoch += 1
        self._drop_client()
        client.on_late = lambda: self._late_answer(client)
        self._client = client
        self._account, self._provider = account, client.provider.name
        self._token_user = user or account
        self._access_token = grant.access_token
        self._policy = RefreshPolicy.issued(grant, self._now(), self._rng)
        self._fire("signed_in", "")
        log.info("%s: token retrieved for %s by sign-in (%s)", self.name, account,
                 mask(grant.access_token))
        self._spawn(self._refresh_loop)

    def sign_in_refused(self, reason: str) -> None:
        """A sign-in through the web page ended without a token: the state stays, the reason shows."""
        self._set_reason(reason)

    # ----------------------------------------------------------- supervision
    def _spawn(self, body: Callable[[], Awaitable[None]]) -> None:
        epoch = self._epoch
        self._tasks.spawn(body, lambda: epoch == self._epoch, body.__name__.strip("_"))

    def _current(self, epoch: int, *phases: Phase) -> bool:
        return epoch == self._epoch and self.phase in phases

    # ------------------------------------------------------------- plumbing
    def _new_client(self, provider: Provider, cache: str) -> ProviderClient:
        self._drop_client()
        client = ProviderClient(provider, context=self._trust.ssl_context(),
                                deadlines=self._deadlines, executor=self._executor,
                                discovery=self._discovery, cache=cache,
                                link=self._trust.link)
        client.on_late = lambda: self._late_answer(client)
        self._client = client
        return client

    def _client_for(self) -> ProviderClient:
        """The current grant's client; after power-on, made from the stored token cache."""
        if self._client is None:
            try:
                self._new_client(self._providers.get(self._provider), self._cache)
            except ValueError as exc:  # msal: a stored cache it cannot read
                raise RecordError(f"the stored token cache could not be read ({exc})") from exc
        assert self._client is not None
        return self._client

    def _drop_client(self) -> None:
        """The grant is over (Clear, flow ended, Invalid, a new Get Token): forget its cache."""
        self._cache = ""
        if self._client is not None:
            self._client.discard()
            self._client = None

    def _late_answer(self, client: ProviderClient) -> None:
        """A call that overran its deadline finished: keep what it put in the token cache."""
        if client is self._client and self.phase in (*_HELD, Phase.WAITING):
            self._persist()

    def _fire(self, trigger: str, reason: str, *, cause: str = "", refreshed: bool = False) -> None:
        self._machine.fire(trigger)
        self._reason, self._cause = reason, cause
        self._persist()
        self._events.publish(TokenChanged(self.name, self.state, reason, refreshed=refreshed))

    def _set_reason(self, reason: str) -> None:
        self._reason = reason
        self._persist()
        self._events.publish(TokenChanged(self.name, self.state, reason))

    def _persist(self) -> None:
        now = self._now()
        flow = None
        if self._flow is not None and self._poller is not None:
            flow = FlowRecord(self._flow, self._poller.expires_at(now), self._poller.interval)
        policy = self._policy if self.phase in _HELD else None
        record = TokenRecord(
            phase=self.phase, reason=self._reason, cause=self._cause, account=self._account,
            provider=self._provider, token_user=self._token_user,
            access_token=self._access_token if policy else "",
            issued_at=policy.issued_at if policy else None,
            lifetime=policy.lifetime if policy else None, flow=flow,
            refresh_lifetime=policy.refresh_lifetime if policy else None,
            cache=self._client.serialize() if self._client is not None else self._cache,
        )
        self._nvram.write(self.key, seal(record, self._keys, self.key))

    def _load(self) -> None:
        blob = self._nvram.read(self.key)
        if blob is None:
            return
        try:
            rec = unseal(blob, self._keys, self.key)
        except RecordError as exc:
            self._reason = Reason("token.unreadable", cause=str(exc))
            log.warning("%s: %s", self.name, self._reason)
            return
        self._machine = TokenMachine(rec.phase)
        self._reason, self._cause = rec.reason, rec.cause
        self._account, self._provider = rec.account, rec.provider
        self._token_user, self._access_token = rec.token_user, rec.access_token
        self._cache = rec.cache
        if rec.flow is not None and rec.phase is Phase.WAITING:
            self._flow, self._resume = rec.flow.msal, rec.flow
        if rec.phase in _HELD:
            now = self._now()
            lifetime = rec.lifetime or 3600.0
            issued_at = rec.issued_at if rec.issued_at is not None else now.wall - lifetime
            self._policy = RefreshPolicy.restore(lifetime=lifetime, issued_at=issued_at, now=now,
                                                 refresh_lifetime=rec.refresh_lifetime,
                                                 rng=self._rng)


def _describe_refusal(answer: Refused, provider: Provider) -> Reason:
    name = provider.display_name
    if answer.error == "invalid_scope":
        return Reason("token.scope_refused", provider=name, cause=answer.words())
    if answer.temporary:
        later = seconds(answer.retry_after) if answer.retry_after else Reason("wait.a_minute")
        return Reason("token.start_later", provider=name, cause=answer.words_with_status(),
                      wait=later)
    advice = advice_for(answer.error, answer.codes, get_token=True)
    if advice.code == "advice.get_again":
        advice = Reason("advice.check_provider")
    return Reason("token.start_refused", provider=name, cause=answer.words(), advice=advice)
