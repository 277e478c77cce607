"""The pages that show what the device is doing: Status, Job Status, Output Tray, Logs.

Each has a part (`/part/...`) that the page's script fetches again when a device event says
it changed, so the lists move without a reload. Lists are bounded (the newest first).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..sentences import say
from ..tokens.machine import TokenState
from ..words import JOB_KINDS, JOB_STATES, TOKEN_LABELS
from .render import catalog, fragment, page
from .state import state

__all__ = ["routes", "MAX_ROWS"]

routes = web.RouteTableDef()

#: The most rows a list shows (newest first).
MAX_ROWS = 200
#: What an output-tray file is served as; anything else is offered as a download only.
_TYPES = {"png": "image/png", "pdf": "application/pdf", "tiff": "image/tiff",
          "tif": "image/tiff", "txt": "text/plain; charset=utf-8",
          "eml": "message/rfc822"}
_INLINE = {"png", "pdf", "txt"}


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/status")


def _status(request: web.Request) -> dict[str, Any]:
    st = state(request)
    api = st.api
    _ = catalog(request).gettext
    tokens = []
    for context in api.contexts:
        status = api.token_status(context.name)
        tokens.append({"title": _(context.title), "href": f"/settings/{context.name}",
                       "state": status.state.value, "label": _(TOKEN_LABELS[status.state.value]),
                       "account": status.account, "reason": say(status.reason, _),
                       "invalid": status.state is TokenState.INVALID})
    jobs = api.jobs()
    alerts = st.log.entries(("alert", "refused"))[:5]
    cert = st.certificate.info
    return {"tokens": tokens, "alerts": alerts, "certificate": cert,
            "jobs_open": sum(1 for j in jobs if j.state.value in ("queued", "sending")),
            "jobs_failed": sum(1 for j in jobs if j.state.value == "failed"),
            "tray_count": len(api.tray())}


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    _ = catalog(request).gettext
    return page(request, "status.html", title=_("Status"), **_status(request))


@routes.get("/part/status")
async def status_part(request: web.Request) -> web.Response:
    return fragment(request, "_status_body.html", **_status(request))


def _jobs(request: web.Request) -> list[Any]:
    jobs = state(request).api.jobs()
    return sorted(jobs, key=lambda j: j.created, reverse=True)[:MAX_ROWS]


@routes.get("/jobs")
async def jobs(request: web.Request) -> web.Response:
    _ = catalog(request).gettext
    return page(request, "jobs.html", title=_("Job Status"), jobs=_jobs(request),
                job_states=JOB_STATES, job_kinds=JOB_KINDS)


@routes.get("/part/jobs")
async def jobs_part(request: web.Request) -> web.Response:
    return fragment(request, "_jobs_table.html", jobs=_jobs(request), job_states=JOB_STATES,
                    job_kinds=JOB_KINDS)


def _tray(request: web.Request) -> list[dict[str, Any]]:
    items = list(reversed(state(request).api.tray()))[:MAX_ROWS]
    return [{"name": i.name, "size": i.size, "ext": i.name.rpartition(".")[2].lower(),
             "viewable": i.name.rpartition(".")[2].lower() in _INLINE} for i in items]


@routes.get("/tray")
async def tray(request: web.Request) -> web.Response:
    _ = catalog(request).gettext
    return page(request, "tray.html", title=_("Output Tray"), items=_tray(request))


@routes.get("/part/tray")
async def tray_part(request: web.Request) -> web.Response:
    return fragment(request, "_tray_table.html", items=_tray(request))


@routes.get("/tray/file/{name}")
async def tray_file(request: web.Request) -> web.StreamResponse:
    """One printed document, shown in the browser (PNG pages, PDF, text) or downloaded.

    Only a name the tray lists is served: a name from the address is never joined to a path.
    """
    name = request.match_info["name"]
    item = next((i for i in state(request).api.tray() if i.name == name), None)
    if item is None:
        raise web.HTTPNotFound(text="No such document in the output tray.",
                               content_type="text/plain")
    ext = name.rpartition(".")[2].lower()
    download = request.query.get("download") == "1" or ext not in _INLINE
    disposition = "attachment" if download else "inline"
    return web.FileResponse(item.path, headers={
        "Content-Type": _TYPES.get(ext, "application/octet-stream"),
        "Content-Disposition": f'{disposition}; filename="{item.name}"',
    })


def _log(request: web.Request) -> list[Any]:
    return state(request).log.entries()


@routes.get("/logs")
async def logs(request: web.Request) -> web.Response:
    _ = catalog(request).gettext
    return page(request, "logs.html", title=_("Logs"), entries=_log(request))


@routes.get("/part/logs")
async def logs_part(request: web.Request) -> web.Response:
    return fragment(request, "_log_table.html", entries=_log(request))
