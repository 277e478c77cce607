"""The devices' network in one shard: what they send is counted, and a site can be cut off.

The firmware is not changed to be measured. A shard sits on the three ways a device's work
leaves the event loop:
- **HTTP to the identity provider**: msal speaks through `requests`; every request goes
  through `requests.adapters.HTTPAdapter.send`, which the fleet wraps once per process
  (`_HttpHook`). Each request is counted by kind (discovery, device authorization, device-code
  poll, refresh) and answer (``ok``, the OAuth ``error`` sent, ``http_<status>``), timed, and
  refused with `requests.ConnectionError` when the device's site is cut off.
- **answers the device got**: msal is blocking, so the token stores run it in worker
  threads; the shard's loop gets a `MeteredExecutor`, which sees each msal call and its
  answer (a throttled request is ``http_429`` at the HTTP layer, whose body the token store
  reads itself, and ``temporarily_unavailable`` here). The back-off a device keeps is measured
  here, between an answer saying "not now" and the same store's next call.
- **mail**: SMTP and POP3 sessions open sockets with the loop's `create_connection`; the
  shard's loop wraps it, so each session is counted by server port and timed from connect to
  close, and refused with ENETUNREACH when the site is cut off.

Whose work it is comes from context variables set in the device's own context (`DEVICE`,
`NETWORK`) and inherited by every task the device starts and every call it makes in a worker.
What is in flight (`busy`) tells a virtual-clock shard when its devices have finished what the
last clock step started.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import functools
import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import Context, ContextVar
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import requests.adapters

from .metrics import Histogram

__all__ = ["DEVICE", "NETWORK", "Network", "MeteredExecutor", "TEMPORARY", "THROTTLED",
           "throttled"]

#: The device (its number in the fleet) on whose behalf the current task runs.
DEVICE: ContextVar[int | None] = ContextVar("fleet_device", default=None)
#: The shard network that device is on.
NETWORK: ContextVar[Network | None] = ContextVar("fleet_network", default=None)

#: What a device's call to the identity provider is, by the method that makes it: msal's own
#: (a token store calling msal directly) or the token store's client (`ProviderClient`, whose
#: methods hand the worker a closure named after them).
_CALLS = {
    "initiate_device_flow": "device_authorization",
    "acquire_token_by_device_flow": "device_poll",
    "acquire_token_silent_with_error": "refresh",
    "start_flow": "device_authorization",
    "poll": "device_poll",
    "refresh": "refresh",
}
_LOCAL = re.compile(r"\.(\w+)\.<locals>\.")
_GRANTS = {"urn:ietf:params:oauth:grant-type:device_code": "device_poll",
           "refresh_token": "refresh", "authorization_code": "auth_code"}
#: Answers that say "not now, later": a device should back off after them.
TEMPORARY = frozenset({"temporarily_unavailable", "server_error", "slow_down", "unreachable",
                       "timeout", "http_429", "http_500", "http_502", "http_503",
                       "provider_unreachable", "provider_timeout", "device_busy",
                       "not_a_token_response"})
#: A throttled request, as the HTTP layer sees it: the OAuth error when the body was read
#: there, HTTP 429 when the token store streams the answer and reads the body itself.
THROTTLED = ("temporarily_unavailable", "http_429")
_CODE = re.compile(r"\b(AADSTS\d+)\b")
_UNREACHABLE = "Network is unreachable (the site's network is down)"


def throttled(outcomes: Mapping[str, int]) -> int:
    """Throttled requests among one kind's outcomes (`THROTTLED`)."""
    return sum(outcomes.get(o, 0) for o in THROTTLED)


def _request_kind(request: requests.PreparedRequest) -> str:
    path = urlsplit(request.url or "").path
    if path.endswith("/devicecode"):
        return "device_authorization"
    if path.endswith("/token"):
        body = request.body or ""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        grant = parse_qs(text).get("grant_type", [""])[0]
        return _GRANTS.get(grant, "token_other")
    return "discovery" if request.method == "GET" else "other"


def _answer(response: requests.Response, streamed: bool) -> tuple[str, str]:
    """(outcome, Entra code) of an HTTP answer: ok, the OAuth error, or http_<status>.

    A streamed answer's body is the caller's to read (the token store reads it under its own
    deadline): only its status is looked at here, and the error is the answer's (`answers`).
    """
    if 200 <= response.status_code < 300:
        return "ok", ""
    if streamed:
        return f"http_{response.status_code}", ""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        found = _CODE.search(str(body.get("error_description", "")))
        return body["error"], found.group(1) if found else ""
    return f"http_{response.status_code}", ""


class _HttpHook:
    """`HTTPAdapter.send`, wrapped once per process while any shard runs (counted users)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._original: Any = None

    def install(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._original = requests.adapters.HTTPAdapter.send
                original = self._original

                @functools.wraps(original)
                def send(adapter: Any, request: requests.PreparedRequest, *args: Any,
                         **kwargs: Any) -> requests.Response:
                    network = NETWORK.get()
                    if network is None:
                        return original(adapter, request, *args, **kwargs)  # type: ignore[no-any-return]
                    return network.http(original, adapter, request, *args, **kwargs)

                requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._original is not None:
                requests.adapters.HTTPAdapter.send = self._original  # type: ignore[method-assign]
                self._original = None


_HOOK = _HttpHook()


def _unwrap(fn: Callable[..., Any]) -> tuple[Callable[..., Any], Context | None]:
    """`asyncio.to_thread` submits partial(context.run, func, ...): find func and the context."""
    if isinstance(fn, functools.partial):
        owner = getattr(fn.func, "__self__", None)
        if isinstance(owner, Context) and fn.args:
            return fn.args[0], owner
        return fn.func, None
    return fn, None


def _call_of(func: Callable[..., Any]) -> tuple[str, int]:
    """(kind, owner) of a worker's job: msal's bound method, or a client's closure (whose
    owner, the client, is one per token store and grant)."""
    name = getattr(func, "__name__", "")
    if name in _CALLS and hasattr(func, "__self__"):
        return _CALLS[name], id(func.__self__)
    names = getattr(getattr(func, "__code__", None), "co_freevars", ())
    cells = dict(zip(names, [c.cell_contents for c in getattr(func, "__closure__", None) or ()],
                     strict=False))
    work = cells.get("work")
    found = _LOCAL.search(getattr(work, "__qualname__", ""))
    if found and found.group(1) in _CALLS:
        return _CALLS[found.group(1)], id(cells.get("self"))
    return "other", 0


def _call_outcome(result: Any) -> str:
    """An msal answer (a dict) or the token store's typed answer, as a word."""
    if isinstance(result, dict):
        if "access_token" in result or "user_code" in result:
            return "ok"
        if "error" in result:
            return str(result["error"])
    if result is None:
        return "no_answer"
    kind = type(result).__name__
    if kind in ("Issued", "Granted"):
        return "ok"
    if kind in ("Refused", "Untrusted"):  # Untrusted: the ID token's issuer is not the provider's
        return str(getattr(result, "error", kind.lower()))
    if kind in ("Unanswered", "Garbled"):
        return str(getattr(result, "code", kind.lower()))
    return kind.lower()  # an answer type this table does not know yet: shown, not taken for ok


def _failure(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "unreachable"
    return type(exc).__name__


class Network:
    """Counters and switches for one shard's devices (thread-safe: workers report too)."""

    def __init__(self, now: Callable[[], float], mail_ports: Mapping[int, str]) -> None:
        self._now = now
        self.mail_ports = dict(mail_ports)
        self.down: set[int] = set()
        self._lock = threading.Lock()
        self.busy = 0  # device work in flight: calls in workers, open sessions
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.answers: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.codes: Counter[str] = Counter()
        self.idp_latency = Histogram()
        self.sessions: Counter[str] = Counter()
        self.connect_failed: Counter[str] = Counter()
        self.mail_latency = Histogram()
        self._open: defaultdict[int, set[asyncio.BaseTransport]] = defaultdict(set)
        self._refused_at: dict[tuple[int, int, str], float] = {}
        self.backoff = Histogram()  # between an answer "not now" and the store's next call
        self.request_backoff = Histogram()  # between a 429/5xx and the session's next request
        self._request_refused_at: dict[tuple[int, int, str], float] = {}
        self.retries_after_refusal = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.executor: MeteredExecutor | None = None

    # ---------------------------------------------------------------- the loop
    def install(self, loop: asyncio.AbstractEventLoop, workers: int) -> MeteredExecutor:
        """Measure `loop`'s worker threads and connections, and HTTP, until `uninstall`."""
        self.executor = MeteredExecutor(self, workers)
        loop.set_default_executor(self.executor)
        self._loop = loop
        self._original_connect = loop.create_connection
        loop.create_connection = self._connect  # type: ignore[method-assign]
        _HOOK.install()
        return self.executor

    def uninstall(self) -> None:
        if self._loop is not None:
            del self._loop.create_connection  # the instance attribute: the class's is back
            # A plain executor again, as asyncio would make one (this one shuts down now).
            self._loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
            self._loop = None
            _HOOK.uninstall()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    def enter(self, context: Context, device: int) -> None:
        """Put `device` on this network: its context carries both variables."""
        context.run(DEVICE.set, device)
        context.run(NETWORK.set, self)

    # --------------------------------------------------------------- the cuts
    def cut(self, devices: set[int]) -> int:
        """Cut these devices off; their open sessions are reset. Returns sessions reset."""
        self.down |= devices
        reset = 0
        for n in devices:
            for transport in list(self._open.get(n, ())):
                transport.abort()
                reset += 1
        return reset

    def restore(self, devices: set[int]) -> None:
        self.down -= devices

    # ------------------------------------------------------------------ HTTP
    def http(self, send: Callable[..., requests.Response], adapter: Any,
             request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        kind = _request_kind(request)
        device = DEVICE.get()
        began = time.perf_counter()
        key = (device or 0, id(adapter), kind)  # one HTTP session (adapter) per token store
        with self._lock:
            refused = self._request_refused_at.pop(key, None)
            if refused is not None:
                self.request_backoff.add(max(1e-5, self._now() - refused))
        if device in self.down:
            with self._lock:
                self.requests[kind]["unreachable"] += 1
            raise requests.exceptions.ConnectionError(_UNREACHABLE, request=request)
        try:
            response = send(adapter, request, *args, **kwargs)
        except BaseException as exc:
            with self._lock:
                self.requests[kind][_failure(exc)] += 1
            raise
        outcome, code = _answer(response, bool(kwargs.get("stream", args[0] if args else False)))
        with self._lock:
            self.requests[kind][outcome] += 1
            if outcome in TEMPORARY or response.status_code == 429:
                self._request_refused_at[key] = self._now()
            if code:
                self.codes[f"{outcome}:{code}"] += 1
            self.idp_latency.add(time.perf_counter() - began)
        return response

    # ------------------------------------------------------------ msal calls
    def begin_call(self, func: Callable[..., Any], device: int | None) -> tuple[str, int]:
        kind, owner = _call_of(func)
        with self._lock:
            if device is not None:
                self.busy += 1
            if kind != "other" and device is not None:
                refused = self._refused_at.pop((device, owner, kind), None)
                if refused is not None:
                    self.retries_after_refusal += 1
                    self.backoff.add(max(1e-5, self._now() - refused))
        return kind, owner

    def end_call(self, device: int | None, kind: str, owner: int, result: Any = None,
                 failure: BaseException | None = None) -> None:
        outcome = _failure(failure) if failure is not None else _call_outcome(result)
        codes = [f"AADSTS{c}" for c in getattr(result, "codes", ())]
        if isinstance(result, dict):
            codes = _CODE.findall(str(result.get("error_description", "")))[:1]
        with self._lock:
            if device is not None:
                self.busy -= 1
            if kind == "other" or device is None:
                return
            self.answers[kind][outcome] += 1
            for code in codes[:1]:
                self.codes[f"{outcome}:{code}"] += 1
            if outcome in TEMPORARY:
                self._refused_at[(device, owner, kind)] = self._now()

    # --------------------------------------------------------- mail sessions
    async def _connect(self, protocol_factory: Callable[[], asyncio.BaseProtocol], host: Any = None,
                       port: Any = None, **kwargs: Any) -> tuple[asyncio.BaseTransport, Any]:
        device = DEVICE.get()
        connect = self._original_connect
        if device is None:
            return await connect(protocol_factory, host, port, **kwargs)  # type: ignore[no-any-return]
        service = self.mail_ports.get(int(port or 0), "other")
        if device in self.down:
            with self._lock:
                self.connect_failed[service] += 1
            raise OSError(errno.ENETUNREACH, _UNREACHABLE)
        began = time.perf_counter()
        with self._lock:
            self.busy += 1
        try:
            transport, protocol = await connect(protocol_factory, host, port, **kwargs)
        except BaseException:
            with self._lock:
                self.busy -= 1
                self.connect_failed[service] += 1
            raise
        with self._lock:
            self.sessions[service] += 1
        self._open[device].add(transport)
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                with self._lock:
                    self.busy -= 1
                    self.mail_latency.add(time.perf_counter() - began)
                self._open[device].discard(transport)

        protocol.connection_lost = connection_lost
        return transport, protocol

    # ----------------------------------------------------------------- sample
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "idp_requests": {k: dict(v) for k, v in self.requests.items()},
                "token_calls": {k: dict(v) for k, v in self.answers.items()},
                "provider_codes": dict(self.codes),
                "mail_sessions": dict(self.sessions),
                "mail_connect_failed": dict(self.connect_failed),
                "hist": {"token": self.idp_latency.to_json(),
                         "mail": self.mail_latency.to_json(),
                         "backoff": self.backoff.to_json(),
                         "request_backoff": self.request_backoff.to_json()},
                "retries_after_refusal": self.retries_after_refusal,
            }


class MeteredExecutor(ThreadPoolExecutor):
    """The devices' worker threads: each call runs in the submitting device's context."""

    def __init__(self, network: Network, workers: int) -> None:
        super().__init__(workers, thread_name_prefix="fleet")
        self._network = network

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        network = self._network
        func, context = _unwrap(fn)
        if context is None:  # run_in_executor does not carry the context: take the caller's
            context = contextvars.copy_context()
            fn = functools.partial(context.run, fn)
        device = context.get(DEVICE)
        kind, owner = network.begin_call(func, device)

        def run() -> Any:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                network.end_call(device, kind, owner, failure=exc)
                raise
            network.end_call(device, kind, owner, result=result)
            return result

        return super().submit(run)
