"""The sign-in and consent page of the authorization endpoint (browser flow with PKCE).

``GET {issuer}/oauth2/v2.0/authorize?response_type=code&client_id=…&redirect_uri=…&scope=…
&state=…&code_challenge=…&code_challenge_method=S256`` shows who asks for what, and a form for a
bench account and its password with **Allow** / **Deny**. The form posts every parameter back
(hidden fields), so a script can do the same with one POST and read the ``Location`` header:

    Allow  → 302 to redirect_uri?code=…&state=…
    Deny   → 302 to redirect_uri?error=access_denied&state=…

A request whose client or redirect URI is not acceptable is *not* redirected (RFC 6749
§4.1.2.1): the page says what is wrong, with status 400. Other request errors (no PKCE, unknown
scope) are redirected with ``error=invalid_request`` / ``invalid_scope``, as RFC 6749 says.
Plain HTML, no JavaScript, every echoed value escaped.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping

from aiohttp import web
from authlib.oauth2.rfc6749.errors import OAuth2Error

from .grants import BenchAuthorizationServer, HttpRequest
from .pages import page
from .state import IdpState

__all__ = ["AUTHORIZE_PARAMS", "handle_authorize"]

log = logging.getLogger(__name__)

#: The parameters carried from the GET to the POST (and checked again there).
AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state",
                    "code_challenge", "code_challenge_method", "nonce")

_SCOPE_WORDS = {
    "https://mail.bench.test/SMTP.Send": "Send mail as you (SMTP)",
    "https://mail.bench.test/POP.AccessAsUser.All": "Read and delete your mail (POP3)",
    "offline_access": "Keep this access when you are not signed in",
    "openid": "Sign you in", "profile": "See your name", "email": "See your address",
}


def _form(params: Mapping[str, str], error: str | None = None, username: str = "",
          status: int = 200) -> web.Response:
    esc = html.escape
    asks = "".join(f"<li>{esc(_SCOPE_WORDS.get(s, s))}</li>"
                   for s in params.get("scope", "").split() if s)
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(params[k])}">'
                     for k in AUTHORIZE_PARAMS if k in params)
    err = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = f"""<h1>Sign in</h1>
<p>The device <b>{esc(params.get("client_id", ""))}</b> asks to:</p><ul>{asks}</ul>
<p>It will return to <code>{esc(params.get("redirect_uri", ""))}</code>.</p>{err}
<form method="post">{hidden}
<label>Account <input type="text" name="username" value="{esc(username)}"
 placeholder="alice@example.test" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<div class="buttons"><button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny">Deny</button></div>
</form>"""
    return page("Sign in - bench identity provider", body, status)


def _refused(message: str) -> web.Response:
    body = f'<h1>Sign-in request refused</h1><p class="error" role="alert">{html.escape(message)}</p>'
    return page("Sign-in request refused", body, 400)


def _redirect(status: int, headers: list[tuple[str, str]]) -> web.Response:
    location = dict(headers).get("Location", "")
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


async def handle_authorize(request: web.Request, oauth: BenchAuthorizationServer,
                           state: IdpState) -> web.Response:
    """GET shows the page, POST decides; both validate the whole request with authlib."""
    source = await request.post() if request.method == "POST" else request.query
    params = {k: str(source[k]) for k in AUTHORIZE_PARAMS if k in source}
    http = HttpRequest(request.method, str(request.url), dict(request.headers),
                       form=params if request.method == "POST" else {},
                       query=params if request.method == "GET" else {})
    try:
        grant = oauth.get_consent_grant(http)
    except OAuth2Error as err:
        if err.redirect_uri:
            status, _, headers = err()
            return _redirect(status, headers)
        return _refused(f"{err.error}: {err.description or 'the request is not valid'}. "
                        "Redirect URIs must be loopback (https://127.0.0.1:PORT/...) or listed "
                        "in extra_redirect_uris; PKCE (S256) is required.")
    if request.method == "GET":
        return _form(params)
    username = str(source.get("username", "")).strip()
    action = str(source.get("action", ""))
    if action not in ("allow", "deny"):
        return _form(params, "Choose Allow or Deny.", username, status=400)
    grant_user: str | None = None
    if action == "allow":
        user = state.users.find(username)
        if user is None or user.password != str(source.get("password", "")):
            return _form(params, "Your account or password is incorrect. Use one of the bench "
                         "accounts listed in docs/testbed.md.", username, status=400)
        if state.is_disabled(user.username):
            return _form(params, f"Your account {user.username} is disabled (AADSTS50057).",
                         username, status=400)
        grant_user = user.username
    response = oauth.authorization_response(http, grant, grant_user)
    log.info("authorize: %s %s for %s", action, params.get("client_id"), grant_user or "-")
    return _redirect(response.status, response.headers)
