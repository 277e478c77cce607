"""The bench's mail viewer: the mailboxes and what was delivered to them, on a web page.

For a person watching a demo: the scan the device just sent, arriving in alice's mailbox
(a little like Mailpit's list, much smaller). It reads the bench's Maildirs (`maildir.py`),
the same ones the SMTP server delivers to and the POP3 server serves, and changes nothing.

    GET /mail                               every mailbox, newest messages first (the page
                                            reloads itself every 5 s)
    GET /mail/<address>/<n>                 one message: headers, text, attachments
    GET /mail/<address>/<n>/part/<i>        an attachment, as a download

Read-only and careful with what it shows: every value is escaped (Jinja2 autoescape); a
mailbox is named by an address that `normalise_address` accepts and a message by its place
in the listing, never by a path taken from the address bar; attachments go out as
`application/octet-stream` downloads; `Content-Security-Policy: default-src 'none'` with the
one stylesheet allowed by its hash; `Cache-Control: no-store`. At most `MAX_LISTED` messages
per mailbox are listed, and a message is parsed only up to `MAX_PARSED` bytes. HTTPS with a
certificate of the bench CA, on loopback.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from .maildir import InvalidAddress, MailStore, normalise_address

__all__ = ["MailViewer", "MAX_LISTED"]

log = logging.getLogger("mfp_sim.tools.mailserver")

#: Messages listed per mailbox (the newest ones).
MAX_LISTED = 200
#: Bytes of a message read for the viewer (headers, text and attachment list).
MAX_PARSED = 8 * 1024 * 1024
#: Characters of a text part shown.
MAX_TEXT = 20_000
#: Mailboxes listed.
MAX_BOXES = 100

_STYLE = ("body{font-family:sans-serif;margin:1.5em;color:#1b1b1b}"
          "table{border-collapse:collapse;width:100%;margin-bottom:1.5em}"
          "td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}"
          "th{background:#f3f3f3}h2{font-size:1.1em;margin-top:1.5em}"
          "pre{white-space:pre-wrap;background:#f7f7f7;padding:.8em}.none{color:#666}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{% if refresh %}<meta http-equiv="refresh" content="5">{% endif %}
<title>{{ title }} - bench mail</title><style>{{ style }}</style></head>
<body>{% block body %}{% endblock %}</body></html>"""

_LIST = """{% extends "page" %}{% block body %}
<h1>Bench mailboxes</h1>
<p>What the bench's SMTP server delivered, per mailbox (the POP3 server serves the same
mailboxes: a message fetched and deleted by a device is gone from here too). Newest first;
this page reloads every 5 seconds.</p>
{% if not boxes %}<p class="none" id="no-mail">No mailbox has received mail yet.</p>{% endif %}
{% for box in boxes %}
<h2 id="box-{{ loop.index }}">{{ box.address }} ({{ box.count }} message{{ "" if box.count == 1 else "s" }})</h2>
{% if box.messages %}
<table><tr><th>Received</th><th>From</th><th>Subject</th><th>Attachments</th><th>Size</th></tr>
{% for m in box.messages %}
<tr class="message"><td>{{ m.received }}</td><td>{{ m.sender }}</td>
<td><a href="/mail/{{ box.address | urlencode }}/{{ m.number }}">{{ m.subject or "(no subject)" }}</a></td>
<td>{{ m.attachments | join(", ") }}</td><td>{{ m.size }}</td></tr>
{% endfor %}</table>
{% if box.count > box.messages | length %}<p class="none">Only the newest {{ box.messages | length }} are listed.</p>{% endif %}
{% else %}<p class="none">Empty.</p>{% endif %}
{% endfor %}
{% endblock %}"""

_MESSAGE = """{% extends "page" %}{% block body %}
<p><a href="/mail">All mailboxes</a></p>
<h1>{{ m.subject or "(no subject)" }}</h1>
<table>{% for name, value in headers %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% for text in texts %}<pre>{{ text }}</pre>{% endfor %}
{% if parts %}<h2>Attachments</h2><table><tr><th>Name</th><th>Type</th><th>Size</th></tr>
{% for p in parts %}<tr><td><a href="/mail/{{ address | urlencode }}/{{ m.number }}/part/{{ p.index }}">{{ p.name }}</a></td><td>{{ p.type }}</td><td>{{ p.size }}</td></tr>{% endfor %}
</table>{% endif %}
{% endblock %}"""

_SHOWN_HEADERS = ("From", "To", "Cc", "Date", "Subject", "Message-ID", "X-Mailer")


@dataclass(frozen=True)
class _Summary:
    number: int  # 1 = the oldest in the mailbox, as listed now
    received: str
    sender: str
    subject: str
    attachments: tuple[str, ...]
    size: str


@dataclass(frozen=True)
class _Part:
    index: int
    name: str
    type: str
    size: str
    data: bytes


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 * 1024 else \
        f"{n / 1024 / 1024:.1f} MB"


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data[:MAX_PARSED], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")[:500]
    except Exception:  # a header the parser cannot decode: shown raw, still escaped
        return str(message.get_all(name, [""])[0])[:500]


def _parts(message: EmailMessage) -> tuple[list[str], list[_Part]]:
    """The text parts (shown) and the attachments (listed) of a message."""
    texts: list[str] = []
    parts: list[_Part] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename is None and part.get_content_type() == "text/plain":
            try:
                texts.append(str(part.get_content())[:MAX_TEXT])
            except (LookupError, ValueError):
                texts.append("(a text part in an encoding the viewer cannot read)")
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        parts.append(_Part(index, str(filename or f"part {index}")[:200],
                           part.get_content_type()[:100], _size(len(data)), data))
    return texts, parts


class MailViewer:
    """The viewer's HTTPS server over one bench's Maildir root (module docstring)."""

    def __init__(self, root: Path, ssl_context: Any, host: str = "127.0.0.1") -> None:
        self.store = MailStore(root)
        self._ssl = ssl_context
        self._host = host
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._env = jinja2.Environment(
            loader=jinja2.DictLoader({"page": _PAGE, "list": _LIST, "message": _MESSAGE}),
            autoescape=True, undefined=jinja2.StrictUndefined)

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}/mail"

    async def start(self) -> str:
        app = web.Application(middlewares=[_headers])
        app.router.add_get("/", _to_list)
        app.router.add_get("/mail", self._list)
        app.router.add_get("/mail/{address}/{number:[0-9]+}", self._message)
        app.router.add_get("/mail/{address}/{number:[0-9]+}/part/{index:[0-9]+}", self._part)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, 0, ssl_context=self._ssl).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("mail viewer at %s", self.url)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------- pages
    def _render(self, template: str, **ctx: Any) -> web.Response:
        text = self._env.get_template(template).render(style=_STYLE, refresh=False, **ctx)
        return web.Response(text=text, content_type="text/html")

    def _boxes(self) -> list[str]:
        root = self.store.root
        names = []
        for entry in sorted(root.iterdir()) if root.is_dir() else []:
            try:
                if entry.is_dir() and normalise_address(entry.name) == entry.name:
                    names.append(entry.name)
            except InvalidAddress:
                continue
        return names[:MAX_BOXES]

    def _keys(self, address: str) -> list[str]:
        """The mailbox's messages, oldest first (the numbers in addresses index this)."""
        return [m.key for m in self.store.snapshot(address)]

    async def _list(self, request: web.Request) -> web.Response:
        boxes = []
        for address in self._boxes():
            keys = self._keys(address)
            shown = []
            for number in range(len(keys), max(0, len(keys) - MAX_LISTED), -1):
                summary = self._summary(address, keys[number - 1], number)
                if summary is not None:
                    shown.append(summary)
            boxes.append({"address": address, "count": len(keys), "messages": shown})
        text = self._env.get_template("list").render(style=_STYLE, refresh=True,
                                                     title="Mailboxes", boxes=boxes)
        return web.Response(text=text, content_type="text/html")

    def _summary(self, address: str, key: str, number: int) -> _Summary | None:
        try:
            data = self.store.maildir(address).get_bytes(key)
        except (KeyError, FileNotFoundError):  # fetched and deleted over POP3 meanwhile
            return None
        message = _parse(data)
        _texts, parts = _parts(message)
        when = key.split(".", 1)[0]  # a Maildir key starts with its delivery time (seconds)
        received = (datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                    if when.isdigit() else "")
        return _Summary(number, received, _header(message, "From"), _header(message, "Subject"),
                        tuple(p.name for p in parts), _size(len(data)))

    def _find(self, request: web.Request) -> tuple[str, str, int]:
        try:
            address = normalise_address(request.match_info["address"])
        except InvalidAddress:
            raise web.HTTPNotFound(text="No such mailbox.") from None
        if address not in self._boxes():
            raise web.HTTPNotFound(text="No such mailbox.")
        keys = self._keys(address)
        number = int(request.match_info["number"])
        if not 1 <= number <= len(keys):
            raise web.HTTPNotFound(text=f"{address} has no message {number} (it has "
                                   f"{len(keys)}; a message fetched over POP3 may be gone).")
        return address, keys[number - 1], number

    async def _message(self, request: web.Request) -> web.Response:
        address, key, number = self._find(request)
        summary = self._summary(address, key, number)
        if summary is None:
            raise web.HTTPNotFound(text="The message was removed meanwhile.")
        message = _parse(self.store.maildir(address).get_bytes(key))
        texts, parts = _parts(message)
        headers = [(n, _header(message, n)) for n in _SHOWN_HEADERS if message.get(n) is not None]
        return self._render("message", title=summary.subject or "(no subject)", m=summary,
                            address=address, headers=headers, texts=texts, parts=parts)

    async def _part(self, request: web.Request) -> web.Response:
        address, key, _number = self._find(request)
        try:
            message = _parse(self.store.maildir(address).get_bytes(key))
        except KeyError:
            raise web.HTTPNotFound(text="The message was removed meanwhile.") from None
        wanted = int(request.match_info["index"])
        part = next((p for p in _parts(message)[1] if p.index == wanted), None)
        if part is None:
            raise web.HTTPNotFound(text="The message has no such attachment.")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", part.name)[:100] or "attachment"
        return web.Response(body=part.data, content_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{safe}"'})


async def _to_list(request: web.Request) -> web.Response:
    raise web.HTTPFound("/mail")


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_HEADERS)
        raise
    response.headers.update(_HEADERS)
    return response
