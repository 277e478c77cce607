"""The device's web page: the third face on the command API, as on a real MFP's embedded server.

It shows each token store's state and lets the administrator clear a token after a
confirmation step (the manual: "Clearing is also possible from the device's web page").
Everything behind the login needs the administrator password; forms carry a per-session
anti-forgery token; every value shown is HTML-escaped; no token or password is ever printed.
Sessions live on the device clock (10 minutes idle), like the panel's admin login.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import FirmwareError

if TYPE_CHECKING:
    from .api import DeviceApi

__all__ = ["DeviceWebPage"]

SESSION_IDLE = 600.0
COOKIE = "mfpsid"

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:52em}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}
.msg{background:#eef;padding:.5em}.err{background:#fee;padding:.5em}button{margin-right:.5em}"""


@dataclass
class _Session:
    csrf: str
    expires_at: float


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=doc, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


class DeviceWebPage:
    def __init__(self, api: DeviceApi, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self._host = host
        self._port = port
        self._sessions: dict[str, _Session] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/"

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes([
            web.get("/", self._home),
            web.get("/login", self._login_form),
            web.post("/login", self._login),
            web.post("/logout", self._logout),
            web.get("/tokens", self._tokens),
            web.post("/tokens/confirm", self._confirm),
            web.post("/tokens/clear", self._clear),
        ])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- sessions
    def _session(self, request: web.Request) -> _Session | None:
        sid = request.cookies.get(COOKIE, "")
        session = self._sessions.get(sid)
        now = self.api.now()
        if session is None or now >= session.expires_at:
            self._sessions.pop(sid, None)
            return None
        session.expires_at = now + SESSION_IDLE
        return session

    async def _form(self, request: web.Request, session: _Session) -> dict[str, str] | None:
        """The posted form, or None when its anti-forgery token is missing or wrong."""
        data = await request.post()
        form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        if not secrets.compare_digest(form.get("csrf", ""), session.csrf):
            return None
        return form

    def _need_login(self) -> web.Response:
        raise web.HTTPSeeOther("/login")

    async def _posted(self, request: web.Request) -> tuple[_Session, dict[str, str]]:
        """The session and form of an administrator's POST; else to the login, or refused."""
        session = self._session(request)
        if session is None:
            self._need_login()
        assert session is not None
        form = await self._form(request, session)
        if form is None:
            raise web.HTTPForbidden(text="The form expired; open the token page again.")
        return session, form

    # ---------------------------------------------------------------- handlers
    async def _home(self, request: web.Request) -> web.Response:
        name = html.escape(self.api.get("device.name"))
        return _page(f"{name}: device web page",
                     "<p>Token and mail settings are for the administrator.</p>"
                     "<p><a href='/tokens'>OAuth 2.0 tokens</a> (administrator login)</p>")

    async def _login_form(self, request: web.Request, message: str = "", status: int = 200) -> web.Response:
        err = f"<p class='err'>{html.escape(message)}</p>" if message else ""
        return _page("Administrator login", err +
                     "<form method='post' action='/login'><label>Password "
                     "<input type='password' name='password' autofocus></label> "
                     "<button type='submit'>Login</button></form>", status)

    async def _login(self, request: web.Request) -> web.Response:
        data = await request.post()
        password = data.get("password")
        if not isinstance(password, str) or not self.api.check_admin_password(password):
            return await self._login_form(request, "The password is not correct.", 401)
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = _Session(secrets.token_urlsafe(24), self.api.now() + SESSION_IDLE)
        response = web.HTTPSeeOther("/tokens")
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)
        raise web.HTTPSeeOther("/")

    async def _tokens(self, request: web.Request, message: str = "", error: bool = False) -> web.Response:
        session = self._session(request)
        if session is None:
            return self._need_login()
        rows = []
        for store in self.api.store_names():
            st = self.api.token_status(store)
            rows.append(
                f"<tr><td>{html.escape(store)}</td><td>{html.escape(st.label)}</td>"
                f"<td>{html.escape(st.account)}</td><td>{html.escape(st.reason)}</td>"
                f"<td><form method='post' action='/tokens/confirm'>"
                f"<input type='hidden' name='csrf' value='{html.escape(session.csrf)}'>"
                f"<input type='hidden' name='store' value='{html.escape(store)}'>"
                f"<button type='submit'>Clear</button></form></td></tr>")
        note = ""
        if message:
            note = f"<p class='{'err' if error else 'msg'}'>{html.escape(message)}</p>"
        return _page("OAuth 2.0 tokens", note +
                     "<table><tr><th>Setting</th><th>Token</th><th>Account</th><th>Reason</th><th></th></tr>"
                     + "".join(rows) + "</table>"
                     "<p>The SMTP token is shared by Scan to E-mail, Internet Fax send, e-mail alerts "
                     "and status notices. Each POP setting has its own token.</p>"
                     "<form method='post' action='/logout'><button>Logout</button></form>")

    async def _confirm(self, request: web.Request) -> web.Response:
        session, form = await self._posted(request)
        store = form.get("store", "")
        if store not in self.api.store_names():
            return await self._tokens(request, f"Unknown setting {store!r}.", error=True)
        return _page("Clear the token?",
                     f"<p>Delete the token of <b>{html.escape(store)}</b>? Its status becomes "
                     "“Not retrieved”; obtain a new one with Get Token.</p>"
                     "<form method='post' action='/tokens/clear'>"
                     f"<input type='hidden' name='csrf' value='{html.escape(session.csrf)}'>"
                     f"<input type='hidden' name='store' value='{html.escape(store)}'>"
                     "<button type='submit' name='ok' value='1'>OK</button>"
                     "<a href='/tokens'>Cancel</a></form>")

    async def _clear(self, request: web.Request) -> web.Response:
        _, form = await self._posted(request)
        store = form.get("store", "")
        if store not in self.api.store_names() or form.get("ok") != "1":
            return await self._tokens(request, "Nothing was cleared.", error=True)
        try:
            await self.api.clear_token(store)
        except FirmwareError as exc:
            return await self._tokens(request, str(exc), error=True)
        return await self._tokens(request, f"The token of {store} was cleared.")
