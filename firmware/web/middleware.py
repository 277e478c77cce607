"""What every request passes through: the security headers, the login, the anti-forgery check.

- **Headers** on every answer: a Content-Security-Policy that allows scripts, styles and
  images from the device only (no inline script: the page's script is a static file) and no
  framing (`frame-ancestors 'none'`, and X-Frame-Options for old browsers);
  `X-Content-Type-Options: nosniff`; `Referrer-Policy: same-origin` (a page address never
  leaks to another site; `no-referrer` would make browsers send `Origin: null` with the
  device's own forms); `Cache-Control: no-store` on everything but the
  static files, so a page that showed a user code is not kept by the browser. No HSTS: the
  device answers on an address (127.0.0.1, localhost) that other local services share, and a
  browser would force them all to HTTPS.
- **Login**: every path but the login page and the static files needs an administrator
  session; without one a page goes to the login, a part or a stream gets 401.
- **Anti-forgery**: every POST must carry the session's token in its `csrf` field (the login
  form: the token of its own short-lived cookie), and, when the browser says where it comes
  from, come from this device's own pages (`Origin`, `Sec-Fetch-Site`). Checked here, once,
  for every form, so no form can forget it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from .state import SESSION, state

__all__ = ["security_headers", "admin_only", "CSP", "PUBLIC_PREFIXES"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: Paths anyone may open: the login itself, the page's stylesheet and script, and the address
#: a sign-in comes back to (it only passes the reply on to a page behind the login:
#: views_signin.py).
PUBLIC_PREFIXES = ("/login", "/static/", "/oauth/callback")
#: Paths fetched by the page's script, not opened by a person: 401 instead of the login page.
_SCRIPT_PATHS = ("/events", "/part/")
#: The live stream does not keep a session alive (an open tab is not an active admin).
_UNTOUCHED = ("/events",)


def _finish(response: web.StreamResponse, static: bool) -> None:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if not static:
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    static = request.path.startswith("/static/")
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _finish(exc, static)
        raise
    if not response.prepared:  # a stream sets its own headers before it starts (live.py)
        _finish(response, static)
    return response


def _same_origin(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _forbidden(text: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=text, content_type="text/plain")


@web.middleware
async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    st = state(request)
    path = request.path
    if path.startswith(PUBLIC_PREFIXES):
        if request.method == "POST" and not _same_origin(request):
            raise _forbidden("This form did not come from the device's own page.")
        return await handler(request)
    sid = request.cookies.get(st.cookie, "")
    session = st.sessions.get(sid, touch=not path.startswith(_UNTOUCHED)) if sid else None
    if session is None:
        if path.startswith(_SCRIPT_PATHS):
            raise web.HTTPUnauthorized(text="The session ended: log in again.",
                                       content_type="text/plain")
        if request.method == "GET" and path not in ("/", "/logout"):
            raise web.HTTPSeeOther(f"/login?next={path}")
        raise web.HTTPSeeOther("/login")
    request[SESSION] = session
    if request.method == "POST":
        if not _same_origin(request):
            raise _forbidden("This form did not come from the device's own page.")
        form = await request.post()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf):
            raise _forbidden("The form expired or did not come from this page: open the "
                             "page again and repeat.")
    return await handler(request)
