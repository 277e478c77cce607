"""The token area of an SMTP or POP page: status, [Get Token] and [Clear], each after a
confirmation, and the code to enter while the device waits for authorization.

While a flow waits, the area shows the verification address (a link), the user code, a QR
code of the address (segno, drawn as inline SVG: no image request, nothing for the CSP to
allow) and the time left. The page's script keeps the area current: at every token event of
the device for this store (`live.py`) it fetches the area again (`/part/token/<page>`), so a
token approved on a phone, or cleared on the panel or the console, shows here at once.
"""

from __future__ import annotations

from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from ..errors import FirmwareError
from ..sentences import say
from ..tokens.machine import TokenState
from ..words import TOKEN_LABELS, field_label
from .render import catalog, flash, fragment, page
from .settings_pages import SettingsPage, settings_page
from .state import state

__all__ = ["back_to_token", "routes", "token_area", "token_page"]

routes = web.RouteTableDef()


def _qr(address: str) -> Markup:
    svg = segno.make(address, error="l", micro=False).svg_inline(scale=4, border=2, light="#fff")
    return Markup(svg)  # segno's own output: numbers and paths, no text from outside


def token_area(request: web.Request, sp: SettingsPage) -> dict[str, Any]:
    """What the token area shows for a page, read from the device now."""
    api = state(request).api
    _ = catalog(request).gettext
    status = api.token_status(sp.token)
    area: dict[str, Any] = {
        "page": sp.id, "store": status.store, "state": status.state.value,
        "label": _(TOKEN_LABELS[status.state.value]), "reason": say(status.reason, _),
        "account": status.account, "prompt": None, "sign_in": "",
    }
    provider = api.web_sign_in(sp.token)
    if provider is not None:  # no device flow for mail: [Sign in with …] (views_signin.py)
        area["sign_in"] = provider.display_name
    prompt = status.prompt
    if status.state is TokenState.WAITING and prompt is not None:
        left = max(0, int(prompt.expires_at - api.now()))
        address = prompt.verification_uri_complete or prompt.verification_uri
        area["prompt"] = {
            "uri": prompt.verification_uri, "code": prompt.user_code, "seconds": left,
            "left": f"{left // 60}:{left % 60:02d}", "qr": _qr(address),
        }
    return area


def token_page(request: web.Request) -> SettingsPage:
    """The settings page named in the address, when it has a token (Get Token, Clear, Sign in
    act on it); any other is not found."""
    found = settings_page(state(request).api.contexts, request.match_info["page"])
    if found is None or not found.token:
        raise web.HTTPNotFound(text="This page has no token.", content_type="text/plain")
    return found


def back_to_token(page_id: str) -> web.HTTPSeeOther:
    """Back to the token area of a settings page, after a button there."""
    return web.HTTPSeeOther(f"/settings/{page_id}#token")


@routes.get("/part/token/{page}")
async def area(request: web.Request) -> web.Response:
    sp = token_page(request)
    return fragment(request, "_token_area.html", token=token_area(request, sp))


@routes.post("/token/{page}/get-confirm")
async def confirm_get(request: web.Request) -> web.Response:
    sp = token_page(request)
    api = state(request).api
    _ = catalog(request).gettext
    status = api.token_status(sp.token)
    if status.state is TokenState.WAITING:  # the code is still valid: show it, no new flow
        raise back_to_token(sp.id)
    if not status.account:
        label = _(field_label(api.contexts, sp.section, "account"))
        flash(request, _("Get Token: set “{field}” first (the e-mail address to sign in "
                         "with).").format(field=label), error=True)
        raise back_to_token(sp.id)
    provider = next((p.display_name for p in api.providers() if p.name == status.provider),
                    status.provider)
    question = _("Get a token for {account} from {provider}?").format(
        account=status.account, provider=provider)
    return page(request, "confirm.html", title=_("Get Token"), question=question,
                action=f"/token/{sp.id}/get", back=f"/settings/{sp.id}")


@routes.post("/token/{page}/get")
async def get_token(request: web.Request) -> web.Response:
    sp = token_page(request)
    st = state(request)
    try:
        await st.api.get_token(sp.token)
    except FirmwareError as exc:
        flash(request, str(exc), error=True)
    else:
        st.log.note(f"Get Token pressed on the web page for {sp.token}")
    raise back_to_token(sp.id)


@routes.post("/token/{page}/clear-confirm")
async def confirm_clear(request: web.Request) -> web.Response:
    sp = token_page(request)
    _ = catalog(request).gettext
    return page(request, "confirm.html", title=_("Clear"),
                question=_("Delete the token? The status becomes “Not retrieved”."),
                action=f"/token/{sp.id}/clear", back=f"/settings/{sp.id}")


@routes.post("/token/{page}/clear")
async def clear(request: web.Request) -> web.Response:
    sp = token_page(request)
    st = state(request)
    try:
        await st.api.clear_token(sp.token)
    except FirmwareError as exc:
        flash(request, str(exc), error=True)
    else:
        st.log.note(f"token of {sp.token} cleared on the web page")
    raise back_to_token(sp.id)
