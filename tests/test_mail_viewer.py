"""The bench's mail viewer (tools/mailserver/viewer.py): what the device sent, on a page.

A scan sent by the device through the bench's SMTP server shows in the recipient's mailbox,
opens with its headers, and its PDF downloads as the bytes the mailbox holds. A message
whose headers carry markup shows it as text; a mailbox or message that does not exist is a
404 (no path from the address bar is ever opened); the page is read-only.
"""

from __future__ import annotations

import asyncio
import re
from html import unescape

import pytest
import requests

from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, BOB, sh
from .mail_helpers import maildir, setup_smtp, wait_job

pytestmark = pytest.mark.timeout(60)


async def fetch(bench: Testbed, path: str, method: str = "GET") -> requests.Response:
    session = requests.Session()
    session.trust_env = False  # only the bench CA (the environment's CA bundle would override)
    assert bench.viewer is not None
    base = bench.viewer.url.removesuffix("/mail")
    return await asyncio.to_thread(session.request, method, base + path,
                                   verify=str(bench.ca_file), timeout=15, allow_redirects=False)


async def test_a_scan_the_device_sent_shows_in_the_mailbox(device, bench, clock):
    assert bench.info()["mail_viewer"] == bench.viewer.url  # in testbed.json too
    empty = await fetch(bench, "/mail")
    assert empty.status_code == 200 and "No mailbox has received mail yet." in empty.text
    await setup_smtp(device, bench, clock)
    reply = await sh(device, f"scan to={BOB} pages=2")
    job = await wait_job(device, reply["job"])
    assert job.state.value == "sent", job.reason
    listing = await fetch(bench, "/mail")
    assert listing.status_code == 200
    assert f"{BOB} (1 message)" in listing.text
    row = re.search(r'<tr class="message">(.*?)</tr>', listing.text, re.S)
    assert row is not None
    assert "Scanned image from MFP" in row.group(1) and ALICE in row.group(1)
    assert re.search(r"\.pdf<", row.group(1))
    assert '<meta http-equiv="refresh" content="5">' in listing.text  # follows a demo live
    link = re.search(r'href="(/mail/[^"]+/1)"', listing.text)
    assert link is not None
    page = await fetch(bench, unescape(link.group(1)))
    assert page.status_code == 200 and f"<td>{job.message_id}</td>" in unescape(page.text)
    part = re.search(r'href="(/mail/[^"]+/1/part/\d+)"', page.text)
    assert part is not None
    pdf = await fetch(bench, unescape(part.group(1)))
    assert pdf.headers["Content-Type"] == "application/octet-stream"
    assert pdf.headers["Content-Disposition"].startswith('attachment; filename="')
    [message] = maildir(bench, BOB)
    stored = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
    assert pdf.content == stored.get_payload(decode=True)


async def test_markup_in_a_message_shows_as_text_and_nothing_else_opens(bench: Testbed):
    bench.mail.store.deliver(BOB, b"From: \"<script>alert(1)</script>\" <evil@example.test>\n"
                             b"To: bob@example.test\nSubject: <img src=x onerror=alert(2)>\n\n"
                             b"<b>body</b>\n")
    listing = await fetch(bench, "/mail")
    assert "<script>" not in listing.text and "<img" not in listing.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert listing.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert listing.headers["Cache-Control"] == "no-store"
    page = await fetch(bench, "/mail/bob%40example.test/1")
    assert "&lt;b&gt;body&lt;/b&gt;" in page.text and "<b>body" not in page.text
    for path in ("/mail/bob%40example.test/2", "/mail/..%2F..%2Fetc/1",
                 "/mail/nobody%40example.test/1", "/mail/bob%40example.test/1/part/9"):
        missing = await fetch(bench, path)
        assert missing.status_code == 404, path
    changed = await fetch(bench, "/mail", method="POST")
    assert changed.status_code == 405 and bench.mail.store.count(BOB) == 1
