"""The device's web page: the third face on the command API, laid out like an MFP's web UI.

    server.py            DeviceWebServer, WebConfig, web_server(device): HTTPS (plain HTTP only
                         to redirect), the application, start and stop
    certificate.py       the server's key and certificate: self-made at first start, or issued
                         by a CA for the device key; sealed in NVRAM
    guard.py             the administrator login: attempt limit (delay, lockout) and sessions
    middleware.py        security headers, login required, anti-forgery check of every form
    menu.py              the left-hand menu, from the administrator's menu tree and the context
                         table
    settings_pages.py    which settings page an address means, and its fields
    views_login.py       login, logout
    views_pages.py       Status, Job Status, Output Tray (view/download), Logs
    views_settings.py    every settings form, saved all or nothing; the connection test
    views_token.py       the token area: Get Token and Clear after a confirmation, the code
    views_security.py    the device certificate, CA import, the administrator password
    live.py              server-sent events from the device's event bus
    event_log.py         the Logs page's bounded ring of events, secrets masked
    render.py, state.py  drawing a page (Jinja2, the device's language); what handlers share
    templates/, static/  the pages (Jinja2, autoescaped), the stylesheet and the one script

It holds no device state: every page reads the device through `DeviceApi`, every change goes
through it, and the device's events keep open pages current. See docs/web.md.
"""

from __future__ import annotations

from .certificate import DEFAULT_NAMES, DeviceCertificate
from .errors import CertificateError, LoginRefused, WebError
from .server import DeviceWebServer, WebConfig, web_server

__all__ = ["DeviceWebServer", "WebConfig", "web_server", "DeviceCertificate", "DEFAULT_NAMES",
           "WebError", "CertificateError", "LoginRefused"]
