"""The administrator login and logout.

The login form has an anti-forgery token of its own (there is no session yet): a random value
in a short-lived cookie and in the form, which must match. Attempts are limited by the
`LoginGuard` (delay, then a temporary lockout, on the device clock); the page says which and
for how long. A login opens a session whose cookie is `Secure`, `HttpOnly`, `SameSite=Strict`
and `__Host-` prefixed (this host only, HTTPS only).
"""

from __future__ import annotations

import re
import secrets

from aiohttp import web

from .errors import LoginRefused
from .render import catalog, page
from .state import state

__all__ = ["routes", "set_cookie"]

routes = web.RouteTableDef()

#: The login form's token is good for this long (seconds, the browser's clock).
LOGIN_FORM_LIFETIME = 900
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=max_age)


def _form(request: web.Request, message: str = "", status: int = 200,
          retry_after: float = 0, next_path: str | None = None) -> web.Response:
    _ = catalog(request).gettext
    # One token per browser while its cookie lasts: a second login page (another tab, or a
    # redirect to it) must not invalidate the form the user is typing into.
    token = request.cookies.get(state(request).login_cookie, "")
    if not _TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(24)
    if next_path is None:
        next_path = request.query.get("next", "")
    response = page(request, "login.html", status=status, title=_("Administrator login"),
                    login_token=token, problem=message,
                    next=next_path if _local(next_path) else "")
    set_cookie(response, state(request).login_cookie, token, LOGIN_FORM_LIFETIME)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after + 0.999))
    return response


def _local(path: str) -> bool:
    """Only a path of this device may follow the login (never another site)."""
    return path.startswith("/") and not path.startswith("//") and "\\" not in path


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _form(request)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    st = state(request)
    _ = catalog(request).gettext
    form = await request.post()
    wanted = form.get("next")
    next_path = wanted if isinstance(wanted, str) and _local(wanted) else ""
    sent, expected = form.get("csrf"), request.cookies.get(st.login_cookie, "")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        return _form(request, _("The login form expired: enter the password again."), 403,
                     next_path=next_path)
    try:
        st.guard.check()
    except LoginRefused as exc:
        st.log.note(f"login refused: {exc}")
        return _form(request, str(exc), 429, exc.retry_after, next_path)
    password = form.get("password")
    if not isinstance(password, str) or not st.api.check_admin_password(password):
        message = st.guard.failed()
        st.log.note(f"login refused: wrong password ({st.guard.failures} in a row)")
        return _form(request, message, 401, next_path=next_path)
    st.guard.succeeded()
    session = st.sessions.open()
    st.log.note("administrator logged in on the web page")
    response = web.HTTPSeeOther(next_path or "/status")
    set_cookie(response, st.cookie, session.id)
    response.del_cookie(st.login_cookie, path="/", secure=True, httponly=True, samesite="Strict")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    st = state(request)
    st.sessions.close(request.cookies.get(st.cookie, ""))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(st.cookie, path="/", secure=True, httponly=True, samesite="Strict")
    raise response
