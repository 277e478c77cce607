"""The verification page: where a person types the user code and signs in, in a browser.

Plain HTML forms, no JavaScript, every echoed value escaped. Approving needs a bench user's
password (the page is the stand-in for Entra's sign-in); declining needs only the code, as
anyone holding the code may refuse it. The messages imitate Entra's wording.
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from .errors import ControlError
from .state import IdpState, normalize_user_code

__all__ = ["add_routes", "page", "render_form", "render_result"]

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:sans-serif;max-width:28em;margin:3em auto;color:#1b1b1b}
h1{font-size:1.4em} label{display:block;margin-top:1em}
input[type=text],input[type=password]{width:100%;padding:.4em;font-size:1em}
.buttons{margin-top:1.5em} button{padding:.5em 1.2em;margin-right:.5em;font-size:1em}
.error{color:#a80000;border:1px solid #a80000;padding:.6em} .ok{color:#107c10}
"""


def page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
           f"<body>{body}</body></html>")
    return web.Response(text=doc, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


def render_form(action: str, user_code: str = "", username: str = "",
                error: str | None = None, status: int = 200) -> web.Response:
    esc = html.escape
    err = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = f"""<h1>Enter code</h1>
<p>Enter the code displayed on your device, then sign in with a bench account
to allow the device to send and receive mail on your behalf.</p>{err}
<form method="post" action="{esc(action)}">
<label>Code <input type="text" name="user_code" value="{esc(user_code)}"
 autocomplete="off" required></label>
<label>Account <input type="text" name="username" value="{esc(username)}"
 placeholder="alice@example.test" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<div class="buttons"><button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="decline">Decline</button></div>
</form>"""
    return page("Enter code - bench identity provider", body, status)


def render_result(title: str, text: str) -> web.Response:
    body = f'<h1>{html.escape(title)}</h1><p class="ok">{html.escape(text)}</p>'
    return page(title, body)


def add_routes(app: web.Application, path: str, state: IdpState) -> None:
    async def show(request: web.Request) -> web.Response:
        return render_form(path, user_code=request.query.get("user_code", ""))

    async def submit(request: web.Request) -> web.Response:
        form = await request.post()
        code = str(form.get("user_code", "")).strip()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        action = str(form.get("action", ""))

        def again(message: str) -> web.Response:
            return render_form(path, code, username, message, status=400)

        if action not in ("approve", "decline"):
            return again("Choose Approve or Decline.")
        device = state.by_user_code(code) if code else None
        if device is None:
            return again("That code wasn't recognised. Check the code shown on the device "
                         "and try again.")
        if device.is_expired():
            return again("That code has expired. Start again on the device to get a new code.")
        if device.status != "pending":
            return again(f"That code was already used ({device.status}). Start again on the "
                         "device to get a new code.")
        try:
            if action == "decline":
                state.deny(code)
                return render_result("Sign-in declined",
                                     "You declined the sign-in. You can close this window; "
                                     "the device will not get access.")
            user = state.users.find(username)
            if user is None or user.password != password:
                return again("Your account or password is incorrect. Use one of the bench "
                             "accounts listed in docs/testbed.md.")
            if state.is_disabled(user.username):
                return again(f"Your account {user.username} is disabled (AADSTS50057). Ask "
                             "the administrator to enable it.")
            state.approve(code, user.username)
        except ControlError as err:  # raced with another approval or expiry
            return again(err.message)
        log.info("verification page: %s approved user code %s", user.username,
                 normalize_user_code(code))
        return render_result("You're signed in",
                             f"{user.display_name} ({user.username}) approved the device. "
                             "You can close this window; the device will finish on its own.")

    app.router.add_get(path, show)
    app.router.add_post(path, submit)
