"""Drawing a page: the template, and what every page has (menu, language, device clock, the
form token, messages left by the last form).

The page's language is the device's (`device.language`), read at each request, so switching it
on the panel or the console switches the web page at its next page. Templates get the words
through `_` (gettext of that language), and the firmware's reasons through `say`; the Italian lives in the one catalog
(`firmware/locale/it/LC_MESSAGES/mfp-sim.po`). Jinja2 escapes every value it prints.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..i18n import Catalog
from ..sentences import say
from .guard import Session
from .state import SESSION, state

__all__ = ["catalog", "page", "fragment", "device_time", "flash"]


def catalog(request: web.Request) -> Catalog:
    return Catalog(state(request).api.get("device.language"))


def device_time(seconds: float) -> str:
    """A moment on the device clock, as its pages show it (UTC: the device has no time zone)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def flash(request: web.Request, text: str, *, error: bool = False) -> None:
    """Leave a message for the next page this session opens (after a redirect)."""
    found = request.get(SESSION)
    if isinstance(found, Session):
        found.flash.append((text, error))


def _common(request: web.Request, ctx: dict[str, Any], *, take_flash: bool) -> dict[str, Any]:
    st = state(request)
    words = catalog(request)
    found = request.get(SESSION)
    messages: list[tuple[str, bool]] = []
    if isinstance(found, Session) and take_flash:
        messages, found.flash[:] = list(found.flash), []
    return {
        "_": words.gettext,
        # A reason the firmware composed (`sentences.Reason`) in the page's language; any
        # other text (a server's reply) as it is.
        "say": lambda text: say(text, words.gettext),
        "lang": words.language,
        "path": request.path,
        "csrf": found.csrf if isinstance(found, Session) else "",
        "device_name": st.api.get("device.name"),
        "device_time": device_time(st.api.now()),
        "fmt_time": device_time,
        "menu": st.menu,
        "messages": messages,
        "trail": [],
        "problem": "",
        **ctx,
    }


def page(request: web.Request, template: str, *, status: int = 200, **ctx: Any) -> web.Response:
    context = _common(request, ctx, take_flash=True)
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def fragment(request: web.Request, template: str, **ctx: Any) -> web.Response:
    """Part of a page, fetched by the page's script when a device event says it changed."""
    context = _common(request, ctx, take_flash=False)
    return aiohttp_jinja2.render_template(template, request, context)
