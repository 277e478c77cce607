"""The HTTPS session msal talks through: the device's trust, real deadlines, bounded answers.

msal 1.39 applies its own `timeout=` only to a session it makes itself; given `http_client=`
it sends every request with no timeout at all, so a provider that accepts the connection and
never answers holds the call forever. This session enforces, on every request:

* connect and read timeouts (`IdpDeadlines.connect`, `.read`) through requests' `timeout=`;
* a deadline on the whole body (`.body`) and a size bound (`MAX_ANSWER_BYTES`), read here,
  so that a server dripping a byte every few seconds, or sending megabytes, is cut off;
* the device's trust: one shared `ssl.SSLContext` (`TrustStore.ssl_context()`) handed to
  urllib3's pool by `_TrustAdapter`, instead of a context built with the whole CA bundle for
  every connection; plain `http://` is refused (a token never travels in clear);
* `trust_env = False`: this environment's REQUESTS_CA_BUNDLE would otherwise replace the
  device's trust silently.

It remembers what it saw of the last answer (`last`: status, Retry-After, the JSON shape), which
the adapter uses to say "HTTP 500" or "a JSON list" and to honour Retry-After, since msal keeps
neither. `DiscoveryCache` is the `http_cache` handed to msal: it keeps OIDC discovery documents
(one GET per provider instead of one per Get Token) and drops msal's own throttling of error
answers, which counts in real seconds: on a device the device clock paces retries.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..deadlines import MAX_ANSWER_BYTES, IdpDeadlines
from .answers import Exchange, shape_of

__all__ = ["IdpSession", "DiscoveryCache", "SlowAnswer", "AnswerTooLarge"]


class SlowAnswer(requests.exceptions.ReadTimeout):
    """The body did not arrive within the body deadline (a drip)."""


class AnswerTooLarge(requests.exceptions.RequestException):
    """The answer is larger than any identity provider's answer can be."""


class _TrustAdapter(HTTPAdapter):
    """Every pool gets the device's one SSL context; no CA file is loaded per connection; and
    no request goes out without connect and read timeouts, whoever sends it."""

    def __init__(self, context: Any, deadlines: IdpDeadlines) -> None:
        self._context = context
        self._timeouts = (deadlines.connect, deadlines.read)
        super().__init__(pool_connections=2, pool_maxsize=1, max_retries=0)

    def send(self, request: Any, stream: bool = False, timeout: Any = None,
             *args: Any, **kwargs: Any) -> Any:
        return super().send(request, stream, timeout or self._timeouts, *args, **kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        pool_kwargs["ssl_context"] = self._context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None,
                                             ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool.pop("ca_certs", None)
        pool.pop("ca_cert_dir", None)
        pool["ssl_context"] = self._context
        pool["cert_reqs"] = "CERT_REQUIRED"
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would point the pool at a CA file, which urllib3 then loads into the
        # context on every new connection; the shared context already holds the trust.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class _NoPlainHttp(HTTPAdapter):
    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.InvalidSchema(
            f"{request.url.split('?')[0]}: the identity provider must be reached over HTTPS")


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _what(url: str) -> str:
    if "openid-configuration" in url:
        return "discovery document"
    if "devicecode" in url or "device_authorization" in url or url.rstrip("/").endswith("/device"):
        return "device-code answer"
    return "token answer"


class IdpSession(requests.Session):
    """`link` (the device's network link, `hwsim.network`) is checked before every request:
    with the cable out, the request fails as a connection failure, like every other client's."""

    def __init__(self, context: Any, deadlines: IdpDeadlines, link: Any = None) -> None:
        super().__init__()
        self._link = link
        self.trust_env = False
        self.verify = True
        self.deadlines = deadlines
        self.mount("https://", _TrustAdapter(context, deadlines))
        self.mount("http://", _NoPlainHttp())
        self._seen = threading.local()

    @property
    def last(self) -> Exchange:
        """What the last answer on this thread looked like (empty before any)."""
        seen: Exchange | None = getattr(self._seen, "last", None)
        return seen if seen is not None else Exchange()

    def forget(self) -> None:
        self._seen.last = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any,
                ) -> requests.Response:
        d = self.deadlines
        kwargs["timeout"] = (d.connect, d.read)
        kwargs["stream"] = True
        text_url = url.decode() if isinstance(url, bytes) else str(url)
        self._seen.last = Exchange(what=_what(text_url))
        verb = method.decode() if isinstance(method, bytes) else str(method)
        if self._link is not None:
            try:
                self._link.check(text_url.split("?")[0])
            except OSError as exc:
                raise requests.exceptions.ConnectionError(exc) from exc
        response = super().request(verb, text_url, *args, **kwargs)
        try:
            body = self._read(response, time.monotonic() + d.body)
        except BaseException:
            response.close()  # a half-read answer: the connection is not reused
            raise
        response._content = body  # the body as read under the deadline (requests' own fields)
        response._content_consumed = True
        response.close()  # read to the end: the connection goes back to the pool
        self._seen.last = Exchange(
            status=response.status_code,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            shape=_shape(body),
            what=_what(text_url),
            error_body=_error_body(body) if response.status_code >= 500 else None,
        )
        return response

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        """The body, a read at a time (`read1` returns what has arrived, so a drip is seen)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = response.raw.read1(16384)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise requests.exceptions.ReadTimeout(str(exc)) from exc
            except urllib3.exceptions.HTTPError as exc:
                raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(f"an answer larger than {MAX_ANSWER_BYTES // 1024} KB")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise SlowAnswer(f"the answer did not arrive within {self.deadlines.body:g} s")


def _error_body(body: bytes) -> dict[str, Any] | None:
    """An error answer's JSON object, kept for its `error` and codes (msal raises on 5xx)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "error" in doc else None


def _shape(body: bytes) -> str:
    if not body.strip():
        return "an empty body"
    try:
        return shape_of(json.loads(body))
    except ValueError:
        return "not JSON"


class DiscoveryCache(dict[str, Any]):
    """msal's `http_cache`, keeping only what is worth keeping (see the module docstring).

    msal stores three kinds of entries: discovery GETs ("GET …", kept 24 h), and throttled
    POST answers ("POST … 429/5xx/Retry-After", "POST … 400"), replayed without a request for
    up to an hour of real time. Only GETs whose body is a JSON object naming a token endpoint
    are kept: a provider that answered garbage once is asked again next time.
    """

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "_index_" or (isinstance(key, str) and key.startswith("GET ")
                                and _is_discovery(value)):
            super().__setitem__(key, value)


def _is_discovery(response: Any) -> bool:
    try:
        doc = json.loads(getattr(response, "text", ""))
    except (TypeError, ValueError):
        return False
    return isinstance(doc, Mapping) and isinstance(doc.get("token_endpoint"), str)
