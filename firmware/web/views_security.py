"""The Security page: the device's own certificate, the CAs it trusts, the admin password.

- The web server's certificate: who issued it, for which names, until when, its SHA-256
  fingerprint (to compare with what the browser shows), and downloads of the certificate and
  of a signing request for the device key (a CA issues the certificate from it).
- Certificate import: upload a CA certificate (PEM), the same as `--ca FILE` at start: checked
  (PEM, a CA, valid now), kept in NVRAM, trusted by every TLS client of the device at once.
- Administrator password: the current one, then the new one twice; through
  `DeviceApi.change_admin_password(old, new)`, which checks the old one and the new one's
  rules. A change ends every web session (everyone logs in again with the new password).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from ..errors import FirmwareError
from .render import catalog, flash, page
from .state import state

__all__ = ["routes", "MAX_UPLOAD"]

routes = web.RouteTableDef()

#: The largest CA file accepted (a CA bundle of a few certificates is a few kilobytes).
MAX_UPLOAD = 64 * 1024


def _draw(request: web.Request, *, status: int = 200, **ctx: Any) -> web.Response:
    st = state(request)
    _ = catalog(request).gettext
    cert = st.certificate
    problems = {"ca_problem": "", "password_problem": "", **ctx}
    return page(request, "security.html", status=status, title=_("Security"),
                certificate=cert.info, installed=cert.installed, cert_problem=cert.problem,
                cas=st.api.imported_cas(), **problems)


@routes.get("/security")
async def show(request: web.Request) -> web.Response:
    return _draw(request)


@routes.post("/security/ca")
async def import_ca(request: web.Request) -> web.Response:
    st = state(request)
    _ = catalog(request).gettext
    form = await request.post()
    upload = form.get("ca")
    if not isinstance(upload, FileField) or not upload.filename:
        return _draw(request, status=400, ca_problem=_("Choose a CA certificate file (PEM) first."))
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _draw(request, status=400, ca_problem=_(
            "The file is too large for a CA certificate (at most 64 KB)."))
    try:
        infos = st.api.import_ca(data, f"“{upload.filename}”")
    except FirmwareError as exc:
        return _draw(request, status=400, ca_problem=str(exc))
    names = ", ".join(i.subject for i in infos)
    st.log.note(f"CA imported on the web page: {names}")
    flash(request, _("CA certificate imported: {names}.").format(names=names))
    raise web.HTTPSeeOther("/security")


@routes.post("/security/password")
async def change_password(request: web.Request) -> web.Response:
    st = state(request)
    _ = catalog(request).gettext
    form = await request.post()
    old, new, again = (str(form.get(k, "")) for k in ("old", "new", "again"))
    if new != again:
        return _draw(request, status=400, password_problem=_(
            "The new password and its repetition differ: type them again."))
    try:
        await st.api.change_admin_password(old, new)
    except FirmwareError as exc:
        return _draw(request, status=400, password_problem=str(exc))
    st.log.note("administrator password changed on the web page; every session ended")
    st.sessions.close_all()
    raise web.HTTPSeeOther("/login")


@routes.get("/security/certificate.pem")
async def certificate(request: web.Request) -> web.Response:
    cert = state(request).certificate
    return web.Response(body=cert.cert_pem, content_type="application/x-pem-file", headers={
        "Content-Disposition": 'attachment; filename="device-certificate.pem"'})


@routes.get("/security/device.csr")
async def csr(request: web.Request) -> web.Response:
    cert = state(request).certificate
    return web.Response(body=cert.csr(), content_type="application/pkcs10", headers={
        "Content-Disposition": 'attachment; filename="device.csr"'})
