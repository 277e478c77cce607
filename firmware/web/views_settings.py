"""The settings pages: every field of the panel's form, saved all or nothing, and the
connection test.

A form is checked by the device, not here: the page sends the fields the administrator
changed in one `DeviceApi.update`, which parses them with the same field table as the panel
and the console, and accepts all or refuses all. A refused field gets the device's message
under it, and the page keeps what was typed. Only changed fields are sent, as the panel
does: choosing a provider lets the device fill that provider's server, port and security
(the page's script shows them at once; the device decides on save). Passwords are never
sent back to the browser: an empty password field means "unchanged".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..errors import FirmwareError, SettingsError
from ..sentences import say
from ..settings import SettingsErrors
from ..words import HINTS, STEP_LABELS, choices_of, field_label
from .render import catalog, flash, page
from .settings_pages import SettingsPage, settings_page
from .state import state
from .views_token import token_area

__all__ = ["routes"]

routes = web.RouteTableDef()


@dataclass
class FieldView:
    name: str
    label: str  # translated
    kind: str  # select, text or password
    value: str
    loaded: str  # what the device holds (the script leaves fields the user edited alone)
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, translated label)
    hint: str = ""
    error: str = ""
    is_set: bool = False  # a password the device holds (shown as "(unchanged)")


def _page_of(request: web.Request) -> SettingsPage:
    found = settings_page(state(request).api.contexts, request.match_info["page"])
    if found is None:
        raise web.HTTPNotFound(text="No such settings page.", content_type="text/plain")
    return found


def _device_texts(request: web.Request, section: str) -> dict[str, str]:
    prefix = f"{section}."
    return {k.removeprefix(prefix): v for k, v in state(request).api.settings_items(section)}


def _fields(request: web.Request, sp: SettingsPage, typed: dict[str, str] | None = None,
            errors: dict[str, str] | None = None) -> list[FieldView]:
    api = state(request).api
    _ = catalog(request).gettext
    table = {f.name: f for f in api.settings.section(sp.section).fields}
    loaded = _device_texts(request, sp.section)
    views = []
    for name in sp.fields:
        secret = table[name].secret
        value = "" if secret else (typed or {}).get(name, loaded[name])
        view = FieldView(name, _(field_label(api.contexts, sp.section, name)),
                         "password" if secret else "text", value, "" if secret else loaded[name],
                         hint=HINTS.get(name, ""), error=(errors or {}).get(name, ""),
                         is_set=secret and bool(loaded[name]))
        if name == "provider":
            view.kind = "select"
            view.options = [(p.name, p.display_name) for p in api.providers()]
        else:
            choices = choices_of(api.contexts, sp.section, name)
            if choices is not None:
                view.kind = "select"
                view.options = [(v, _(label)) for v, label in choices]
        if view.kind == "select" and value not in {v for v, _label in view.options}:
            view.options.append((value, value or "—"))  # a value the list no longer offers
        views.append(view)
    return views


def _presets(request: web.Request, sp: SettingsPage) -> dict[str, dict[str, str]]:
    """Each provider's server presets for this page's service, for the script's preview."""
    api = state(request).api
    if sp.section not in api.contexts or "provider" not in sp.fields or "server" not in sp.fields:
        return {}
    service = api.contexts.get(sp.section).service
    out = {}
    for provider in api.providers():
        preset = provider.presets.get(service)
        if preset is not None:
            out[provider.name] = {"server": preset.server, "port": str(preset.port),
                                  "security": preset.security.value}
    return out


def _draw(request: web.Request, sp: SettingsPage, *, status: int = 200, **ctx: Any) -> web.Response:
    _ = catalog(request).gettext
    fields = ctx.pop("fields", None) or _fields(request, sp)
    return page(request, "settings.html", status=status, sp=sp, title=_(sp.title),
                trail=[_(t) for t in sp.trail], fields=fields,
                presets=_presets(request, sp),
                shared_by=", ".join(_(t) for t in sp.shared_by),
                token=token_area(request, sp) if sp.token else None,
                testable=sp.section in state(request).api.contexts, **{"test": None, **ctx})


@routes.get("/settings/{page}")
async def show(request: web.Request) -> web.Response:
    return _draw(request, _page_of(request))


@routes.post("/settings/{page}")
async def save(request: web.Request) -> web.Response:
    sp = _page_of(request)
    st = state(request)
    _ = catalog(request).gettext
    form = await request.post()
    typed = {n: v for n in sp.fields if isinstance(v := form.get(n), str)}
    secret = {f.name for f in st.api.settings.section(sp.section).fields if f.secret}
    current = _device_texts(request, sp.section)
    changes = {n: t for n, t in typed.items() if (t if n in secret else t != current[n])}
    if not changes:
        flash(request, _("No changes to save."))
        raise web.HTTPSeeOther(request.path)
    try:
        changed = await st.api.update(sp.section, changes)
    except SettingsErrors as exc:
        return _refused(request, sp, typed, exc.errors)
    except SettingsError as exc:
        return _refused(request, sp, typed, [exc])
    except FirmwareError as exc:
        return _draw(request, sp, status=400, fields=_fields(request, sp, typed),
                     problem=str(exc))
    st.log.note(f"settings saved on the web page: {', '.join(changed) or sp.section}")
    flash(request, _("Saved."))
    raise web.HTTPSeeOther(request.path)


def _refused(request: web.Request, sp: SettingsPage, typed: dict[str, str],
             errors: list[SettingsError]) -> web.Response:
    _ = catalog(request).gettext
    by_field: dict[str, str] = {}
    elsewhere: list[str] = []
    for error in errors:
        name = error.key.rpartition(".")[2]
        if name in sp.fields:
            by_field[name] = error.message
        else:
            elsewhere.append(str(error))
    problem = " ".join([_("Not saved: correct the marked fields."), *elsewhere])
    return _draw(request, sp, status=400, fields=_fields(request, sp, typed, by_field),
                 problem=problem)


@routes.get("/part/settings/{page}/values")
async def values(request: web.Request) -> web.Response:
    """The device's values of a page's fields (passwords left out): the page's script takes
    them into the fields the administrator has not touched when the settings change elsewhere."""
    sp = _page_of(request)
    texts = _device_texts(request, sp.section)
    secret = {f.name for f in state(request).api.settings.section(sp.section).fields if f.secret}
    body = {n: texts[n] for n in sp.fields if n not in secret}
    return web.Response(text=json.dumps(body), content_type="application/json")


@routes.post("/settings/{page}/test")
async def connection_test(request: web.Request) -> web.Response:
    sp = _page_of(request)
    st = state(request)
    _ = catalog(request).gettext
    if sp.section not in st.api.contexts:
        raise web.HTTPNotFound(text="This page has no connection test.", content_type="text/plain")
    try:
        report = await st.api.test_connection(sp.token)
    except FirmwareError as exc:
        return _draw(request, sp, test={"ok": False, "step": "", "message": str(exc),
                                        "detail": "", "passed": ()})
    step = _(STEP_LABELS[report.step]) if report.step in STEP_LABELS else report.step
    st.log.note(f"connection test {sp.token}: {'ok' if report.ok else 'failed at ' + report.step}")
    return _draw(request, sp, test={"ok": report.ok, "step": step,
                                    "message": say(report.message, _),
                                    "detail": report.detail, "passed": report.passed})
