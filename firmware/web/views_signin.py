"""[Sign in with …] in the token area: the authorization-code flow with PKCE through the page.

For a provider whose device flow refuses the mail scope (Google), the token area offers a
sign-in instead of [Get Token] (`DeviceApi.web_sign_in`). The device does the protocol
(`tokens.auth_code`, with msal); this face only moves the browser:

    POST /token/<page>/sign-in-confirm   the question, as for Get Token
    POST /token/<page>/sign-in           the device starts the sign-in; the answer sends the
                                         browser to the provider (a page that goes on at once,
                                         with a link: a redirect answering a form would be
                                         checked against `form-action 'self'` and blocked)
    GET  /oauth/callback                 where the provider sends the browser back (the redirect
                                         URI: https, on the device page's own address). Open to
                                         all: the session cookie is `SameSite=Strict`, so a
                                         browser coming from another site does not send it. It
                                         only passes the reply on, within the device's site:
    GET  /oauth/finish                   with the session again: the device checks the state
                                         and redeems the code; the token area shows the outcome

The redirect URI is built from the address the administrator used (the `Host` of the
request), accepted only when it is one of the certificate's names on this server's port.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ..errors import FirmwareError, SignInError
from ..tokens.auth_code import MAX_FIELD, REPLY_FIELDS
from .render import catalog, flash, page
from .state import session, state
from .views_token import back_to_token, token_page

__all__ = ["routes", "CALLBACK", "FINISH"]

routes = web.RouteTableDef()

CALLBACK = "/oauth/callback"
FINISH = "/oauth/finish"


def _owner(request: web.Request) -> str:
    """The web session a sign-in belongs to (a digest: the session id itself stays here)."""
    return hashlib.sha256(session(request).id.encode()).hexdigest()[:32]


def _redirect_uri(request: web.Request) -> str:
    """The callback on the address the browser used; refused if that is not the device's."""
    st = state(request)
    try:
        parts = urlsplit(f"https://{request.host}/")
        host, port = (parts.hostname or "").lower(), parts.port or 443
    except ValueError:
        host, port = "", 0
    names = st.certificate.info.names
    if host not in names or port != st.port:
        raise SignInError("wrong_address", f"The web page was opened as {request.host}, which is "
                          f"not one of the device's names ({', '.join(names)}) on port "
                          f"{st.port}: open it at one of those to sign in.")
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}{CALLBACK}"


@routes.post("/token/{page}/sign-in-confirm")
async def confirm(request: web.Request) -> web.Response:
    sp = token_page(request)
    api = state(request).api
    _ = catalog(request).gettext
    provider = api.web_sign_in(sp.token)
    if provider is None:  # the provider changed meanwhile: Get Token is the way now
        raise back_to_token(sp.id)
    status = api.token_status(sp.token)
    question = _("Sign in to {provider} as {account}? The browser goes to {provider}'s sign-in "
                 "page and comes back here.").format(provider=provider.display_name,
                                                      account=status.account or "—")
    return page(request, "confirm.html", title=_("Sign in"), question=question,
                action=f"/token/{sp.id}/sign-in", back=f"/settings/{sp.id}")


@routes.post("/token/{page}/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    sp = token_page(request)
    st = state(request)
    _ = catalog(request).gettext
    try:
        address = await st.api.begin_sign_in(sp.token, _redirect_uri(request), _owner(request))
    except FirmwareError as exc:
        flash(request, str(exc), error=True)
        raise back_to_token(sp.id) from None
    st.log.note(f"sign-in for {sp.token} started on the web page")
    provider = st.api.web_sign_in(sp.token)
    name = provider.display_name if provider is not None else ""
    return page(request, "leaving.html", title=_("Sign in"), target=address,
                text=_("Going to {provider}'s sign-in page…").format(provider=name),
                link=_("Continue to {provider}").format(provider=name))


@routes.get(CALLBACK)
async def callback(request: web.Request) -> web.Response:
    """The browser is back from the provider, without the session cookie: go on within the site."""
    reply = {k: request.query[k][:MAX_FIELD] for k in REPLY_FIELDS if k in request.query}
    target = f"{FINISH}?{urlencode(reply)}"
    _ = catalog(request).gettext
    return page(request, "leaving.html", title=_("Sign in"), target=target,
                text=_("Back from the sign-in page…"), link=_("Continue"))


@routes.get(FINISH)
async def finish(request: web.Request) -> web.Response:
    st = state(request)
    _ = catalog(request).gettext
    reply = {k: request.query[k] for k in REPLY_FIELDS if k in request.query}
    try:
        redirect_uri = _redirect_uri(request)
        store = await st.api.finish_sign_in(reply, redirect_uri, _owner(request))
    except SignInError as exc:
        flash(request, str(exc), error=True)
        st.log.note(f"sign-in refused on the web page: {exc.error}")
        raise (back_to_token(exc.store) if exc.store else web.HTTPSeeOther("/status")) from None
    flash(request, _("Signed in: the token is retrieved."))
    st.log.note(f"sign-in for {store} finished on the web page")
    raise back_to_token(store)
