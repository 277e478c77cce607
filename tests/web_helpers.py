"""Helpers for the web page's tests: start a device's web server with a certificate the bench
CA issued for the device key, and a `requests` client that trusts only the bench CA.

`requests` runs in a thread (`asyncio.to_thread`) so the server, in the test's event loop,
keeps answering; every call has a timeout.
"""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any

import requests

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.web import DeviceWebServer, WebConfig, web_server
from mfp_sim.tools.testbed import Testbed

__all__ = ["start_web", "Client", "forms", "csrf_of"]


async def start_web(device: Device, bench: Testbed, config: WebConfig | None = None) -> DeviceWebServer:
    """The device's web server with a bench-CA certificate for its own key (as the demo does)."""
    server = web_server(device, config)
    server.certificate.install(bench.ca.sign_request(server.certificate.csr()))
    await server.start()
    return server


class Client:
    """A browser stand-in: cookies, the bench CA, no environment proxies or CA bundles."""

    def __init__(self, base: str, verify: str, *, allow_redirects: bool = True) -> None:
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = verify
        self.allow_redirects = allow_redirects

    async def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", self.allow_redirects)
        return await asyncio.to_thread(self.http.get, self.base + path, timeout=15, **kw)

    async def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", self.allow_redirects)
        return await asyncio.to_thread(self.http.post, self.base + path, data=data, timeout=15,
                                       **kw)

    async def get_absolute(self, url: str, **kw: Any) -> requests.Response:
        """A page elsewhere (the bench's sign-in page), or here by its whole address."""
        kw.setdefault("allow_redirects", self.allow_redirects)
        return await asyncio.to_thread(self.http.get, url, timeout=15, **kw)

    async def post_absolute(self, url: str, data: dict[str, Any], **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", self.allow_redirects)
        return await asyncio.to_thread(self.http.post, url, data=data, timeout=15, **kw)

    async def login(self, password: str = "admin") -> requests.Response:
        form = await self.get("/login")
        return await self.post("/login", {"csrf": csrf_of(form.text), "password": password})

    async def form_post(self, page: str, action: str, data: dict[str, str] | None = None) -> requests.Response:
        """Open `page`, then post the form whose action is `action` with its token."""
        shown = await self.get(page)
        return await self.post(action, {"csrf": csrf_of(shown.text), **(data or {})})


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page[:3000]
    return match.group(1)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, Any]] = []
        self._select = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.found.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                               "fields": {}})
        elif tag in ("input", "select", "textarea") and self.found and a.get("name"):
            self.found[-1]["fields"][a["name"]] = a.get("value") or ""
            self._select = str(a["name"]) if tag == "select" else ""
        elif tag == "option" and self._select and "selected" in a:
            self.found[-1]["fields"][self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = ""


def forms(page: str) -> list[dict[str, Any]]:
    """Every form of a page: action, method and field names with their values."""
    parser = _Forms()
    parser.feed(page)
    return parser.found
