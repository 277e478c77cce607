"""The device's web server: HTTPS on its own certificate, the pages, and their life cycle.

    server = DeviceWebServer(device.api, certificate, WebConfig(port=0))
    url = await server.start()          # https://127.0.0.1:PORT/
    ...
    await server.stop()

It binds to the loopback address unless told another (`WebConfig.host`): the simulated
device is on the developer's machine, and its admin pages should not be on the LAN by
accident. Plain HTTP is served only when asked for (`http_port`), and then only answers with
a redirect to the HTTPS address (308, same path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..api import DeviceApi
from ..device import Device
from . import (
    live,
    views_login,
    views_pages,
    views_security,
    views_settings,
    views_signin,
    views_token,
)
from .certificate import DEFAULT_NAMES, DeviceCertificate
from .event_log import EventLog
from .guard import LoginGuard, Sessions
from .menu import web_menu
from .middleware import admin_only, security_headers
from .state import STATE, WebState

__all__ = ["DeviceWebServer", "WebConfig", "web_server"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: Forms are small; the largest is a CA certificate upload (views_security.MAX_UPLOAD).
MAX_REQUEST = 128 * 1024


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: the system chooses
    http_port: int | None = None  # plain HTTP, redirecting to HTTPS; None: no plain HTTP


def _address(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"


class DeviceWebServer:
    def __init__(self, api: DeviceApi, certificate: DeviceCertificate,
                 config: WebConfig | None = None) -> None:
        self.api = api
        self.config = config or WebConfig()
        self.certificate = certificate
        self.state = WebState(api=api, certificate=certificate, sessions=Sessions(api.now),
                              guard=LoginGuard(api.now), log=EventLog(api.now),
                              menu=web_menu(api.contexts))
        self._runners: list[web.AppRunner] = []
        self._unlisten: list[Callable[[], None]] = []
        self.port = 0
        self.http_port: int | None = None

    @property
    def url(self) -> str:
        return _address(self.config.host, self.port, "https")

    @property
    def http_url(self) -> str | None:
        if self.http_port is None:
            return None
        return _address(self.config.host, self.http_port, "http")

    def application(self) -> web.Application:
        app = web.Application(middlewares=[security_headers, admin_only],
                              client_max_size=MAX_REQUEST)
        app[STATE] = self.state
        aiohttp_jinja2.setup(
            app, loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(["html"], default=True),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        for module in (views_login, views_pages, views_settings, views_token, views_signin,
                       views_security, live):
            app.router.add_routes(module.routes)
        app.router.add_static("/static/", HERE / "static", append_version=False)
        app.on_shutdown.append(self._end_streams)
        return app

    async def start(self) -> str:
        """Listen (HTTPS, and plain HTTP if asked for); returns the HTTPS address."""
        stop_log = self.api.listen(self.state.log.heard)
        self._unlisten.append(stop_log)
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, self.config.port,
                           ssl_context=self.certificate.server_context())
        await site.start()
        self.port = int(runner.addresses[0][1])
        self.state.port = self.port
        self.api.web_address = self.url
        self.state.cookie = f"__Host-mfp-session-{self.port}"
        self.state.login_cookie = f"__Host-mfp-login-{self.port}"
        if self.config.http_port is not None:
            await self._start_redirect(self.config.http_port)
        log.info("web page at %s", self.url)
        return self.url

    async def _start_redirect(self, port: int) -> None:
        async def redirect(request: web.Request) -> web.Response:
            target = self.url.rstrip("/") + request.rel_url.path_qs
            raise web.HTTPPermanentRedirect(target)

        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_route("*", "/{tail:.*}", redirect)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, self.config.host, port).start()
        self.http_port = int(runner.addresses[0][1])

    async def _end_streams(self, app: web.Application) -> None:
        for task in list(self.state.streams):
            task.cancel()
        if self.state.streams:
            await asyncio.wait(list(self.state.streams), timeout=2)

    async def stop(self) -> None:
        if self.api.web_address == self.url:
            self.api.web_address = ""
        for stop_log in self._unlisten:
            stop_log()
        self._unlisten.clear()
        while self._runners:
            await self._runners.pop().cleanup()


def web_server(device: Device, config: WebConfig | None = None,
               names: Sequence[str] = DEFAULT_NAMES) -> DeviceWebServer:
    """The web server of a device: its certificate (made on first start, kept in the device's
    NVRAM and sealed with its key) for `names`, served as `config` says."""
    certificate = DeviceCertificate(device.nvram, device.keystore, device.clock.now, names)
    return DeviceWebServer(device.api, certificate, config)
