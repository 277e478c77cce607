"""What the web server's handlers share: the device API and the server's own small state.

One `WebState` per server, stored in the aiohttp application under `STATE`; handlers reach it
with `state(request)`. It holds no device state: settings, tokens, jobs and the tray are read
from the API at every request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .event_log import EventLog
from .guard import LoginGuard, Session, Sessions
from .menu import Link

if TYPE_CHECKING:
    from ..api import DeviceApi
    from .certificate import DeviceCertificate

__all__ = ["WebState", "STATE", "SESSION", "state", "session"]


@dataclass
class WebState:
    api: DeviceApi
    certificate: DeviceCertificate
    sessions: Sessions
    guard: LoginGuard
    log: EventLog
    menu: tuple[Link, ...]
    #: The session cookie's name: `__Host-` (HTTPS only, this host only), and the port, so two
    #: devices on one host (two ports) do not overwrite each other's session in one browser.
    cookie: str = "__Host-mfp-session"
    login_cookie: str = "__Host-mfp-login"
    #: The HTTPS port the server listens on (a sign-in's redirect URI comes back to it).
    port: int = 0
    #: The live event streams open now (ended when the server stops).
    streams: set[asyncio.Task[object]] = field(default_factory=set)


STATE = web.AppKey("mfp_web_state", WebState)
#: The administrator's session of a request (set by the login check, `middleware.admin_only`).
SESSION = web.RequestKey("mfp_web_session", Session)


def state(request: web.Request) -> WebState:
    return request.app[STATE]


def session(request: web.Request) -> Session:
    """The administrator's session (the guard middleware has checked there is one)."""
    found = request.get(SESSION)
    if not isinstance(found, Session):
        raise web.HTTPSeeOther("/login")
    return found
