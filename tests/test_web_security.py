"""The web page's security, over real HTTPS: login and its limit, cookies, headers, the
anti-forgery token of every form, escaping, TLS and the plain-HTTP redirect."""

from __future__ import annotations

import asyncio
import re
import ssl

import pytest
import requests
from cryptography import x509

from mfp_sim.firmware.events import Refused
from mfp_sim.firmware.web import WebConfig, web_server
from mfp_sim.firmware.web.guard import LOCKOUT, MAX_FAILURES

from .conftest import obtain_token, sh
from .web_helpers import Client, csrf_of, forms, start_web


@pytest.fixture
async def web(device, bench):
    server = await start_web(device, bench)
    yield server
    await server.stop()


@pytest.fixture
def client(web, bench) -> Client:
    return Client(web.url, str(bench.ca_file))


#: Every page a person opens, and the parts and streams the page's script fetches.
PAGES = ["/status", "/jobs", "/tray", "/logs", "/security", "/settings/device",
         "/settings/smtp", "/settings/pop.ifax", "/settings/pop.emailprint",
         "/settings/scan_to_email", "/settings/ifax_send", "/settings/email_alert",
         "/settings/status_notice"]
PARTS = ["/part/status", "/part/jobs", "/part/tray", "/part/logs", "/part/token/smtp",
         "/part/settings/smtp/values", "/events"]


async def test_every_page_needs_the_administrator(client):
    raw = Client(client.base, client.http.verify, allow_redirects=False)
    for path in PAGES:
        answer = await raw.get(path)
        assert answer.status_code == 303 and answer.headers["Location"] == f"/login?next={path}", path
    for path in PARTS:
        assert (await raw.get(path)).status_code == 401, path
    assert (await raw.post("/settings/smtp", {"smtp.port": "25"})).headers["Location"] == "/login"
    login = await raw.get("/login")
    assert login.status_code == 200 and 'type="password"' in login.text
    assert (await raw.get("/static/style.css")).status_code == 200  # the login page's looks


async def test_login_opens_a_session_with_strict_cookie(client, web):
    refused = await client.login("wrong")
    assert refused.status_code == 401 and "The password is not correct" in refused.text
    answer = await client.login()
    assert answer.status_code == 200 and answer.url.endswith("/status")
    cookie = next(c for c in answer.history[0].raw.headers.getlist("Set-Cookie")
                  if c.startswith("__Host-mfp-session"))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "path"} <= flags
    assert "samesite=strict" in cookie.lower() and "domain" not in flags
    assert cookie.startswith(f"__Host-mfp-session-{web.port}=")
    for path in PAGES:
        assert (await client.get(path)).status_code == 200, path
    logout = await client.form_post("/status", "/logout")
    assert logout.url.endswith("/login")
    assert (await client.get("/status")).url.endswith("/login?next=/status")


async def test_login_form_has_its_own_anti_forgery_token(client):
    await client.get("/login")
    forged = await client.post("/login", {"csrf": "guess", "password": "admin"})
    assert forged.status_code == 403 and "expired" in forged.text
    stranger = Client(client.base, client.http.verify)  # no login cookie at all
    assert (await stranger.post("/login", {"csrf": "x", "password": "admin"})).status_code == 403


async def test_wrong_passwords_slow_down_then_lock_on_the_device_clock(client, clock):
    first = await client.login("guess-1")
    assert first.status_code == 401 and f"{MAX_FAILURES - 1} more wrong password(s)" in first.text
    second = await client.login("guess-2")  # no wait after the first
    assert second.status_code == 401 and "Wait 2 seconds" in second.text
    early = await client.login("admin")  # even the right password waits its turn
    assert early.status_code == 429 and "wait 2 second(s)" in early.text
    assert early.headers["Retry-After"] == "2"
    for seconds in (2, 4, 8):
        await clock.advance(seconds)
        assert (await client.login("guess")).status_code == 401
    locked = await client.login("admin")
    assert locked.status_code == 429
    assert "locked for 5 more minute(s), until 08:05:14 UTC (device clock)" in locked.text
    await clock.advance(LOCKOUT - 1)
    assert (await client.login("admin")).status_code == 429
    await clock.advance(1)
    assert (await client.login("admin")).url.endswith("/status")
    logs = await client.get("/logs")
    assert "login refused: wrong password (5 in a row)" in logs.text
    assert "guess" not in logs.text


async def test_every_form_refuses_a_missing_or_wrong_token(client, device, bench, clock):
    await obtain_token(device, bench, clock)
    await client.login()
    seen: dict[str, str] = {}
    pages = [*PAGES]
    for path in pages:
        for form in forms((await client.get(path)).text):
            assert form["method"] == "post" and "csrf" in form["fields"], (path, form)
            seen.setdefault(form["action"], path)
    # The confirmation pages hold forms too.
    for page_id in ("smtp", "pop.ifax"):
        await sh(device, f"set {page_id}.account alice@example.test")
        for step in ("get-confirm", "clear-confirm"):
            shown = await client.form_post(f"/settings/{page_id}", f"/token/{page_id}/{step}")
            for form in forms(shown.text):
                seen.setdefault(form["action"], f"/token/{page_id}/{step}")
    assert {"/logout", "/settings/smtp", "/settings/smtp/test", "/token/smtp/get-confirm",
            "/token/smtp/get", "/token/smtp/clear", "/security/ca", "/security/password",
            "/settings/device"} <= set(seen)
    before = device.api.settings_items("smtp"), device.stores["smtp"].state
    for action in sorted(seen):
        for token in (None, "forged"):
            data = {"smtp.port": "1"} if token is None else {"csrf": token}
            answer = await client.post(action, data)
            assert answer.status_code == 403, (action, token)
            assert "open the page again" in answer.text
    # A right token from another site's page is refused too (the browser tells the origin).
    good = csrf_of((await client.get("/settings/smtp")).text)
    cross = await client.post("/token/smtp/clear", {"csrf": good},
                              headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert (device.api.settings_items("smtp"), device.stores["smtp"].state) == before


async def test_headers_on_pages_parts_and_static_files(client, device, bench, clock):
    await client.login()
    await sh(device, "set smtp.account alice@example.test")
    await sh(device, "set smtp.provider local")
    await client.form_post("/settings/smtp", "/token/smtp/get")
    for path in [*PAGES, "/login", "/part/token/smtp", "/static/page.js", "/static/style.css"]:
        answer = await client.get(path)
        h = answer.headers
        csp = h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY", path
        assert h["Referrer-Policy"] == "same-origin", path
        if not path.startswith("/static/"):
            assert h["Cache-Control"] == "no-store", path
        if "text/html" in h["Content-Type"]:
            # No inline script, no event-handler attributes, no inline styles: the CSP holds.
            assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
            assert not re.search(r"\son[a-z]+=", answer.text), path
            assert " style=" not in answer.text, path
    code_page = await client.get("/settings/smtp")
    assert device.stores["smtp"].status().prompt.user_code in code_page.text
    assert code_page.headers["Cache-Control"] == "no-store"


async def test_what_others_typed_is_shown_as_text(client, device):
    await client.login()
    evil = "<script>alert(1)</script>"
    await device.api.update("smtp", {"sender_name": evil})
    device.events.publish(Refused("pop.ifax", "m1", f"{evil}@x", "<img src=x onerror=alert(2)>",
                                  "not a fax"))
    for path in ("/settings/smtp", "/logs", "/status"):
        text = (await client.get(path)).text
        assert evil not in text and "<img src=x" not in text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await client.get("/settings/smtp")).text
    assert "&lt;img src=x onerror=alert(2)&gt;" in (await client.get("/logs")).text


async def test_the_device_certificate_is_its_own_and_kept(device, bench, tmp_path):
    server = web_server(device, names=("mfp.example.test", "127.0.0.1"))
    await server.start()
    try:
        pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", server.port),
                                      timeout=10)
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert server.certificate.info.subject == "mfp.example.test"
        assert server.certificate.info.issuer == "mfp.example.test"  # self-made at first start
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "mfp.example.test" in sans.get_values_for_type(x509.DNSName)
        # A client that trusts this certificate talks to the device, one that does not, refuses.
        own = tmp_path / "device.pem"
        own.write_bytes(server.certificate.cert_pem)
        assert (await Client(server.url, str(own)).get("/login")).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            await Client(server.url, str(bench.ca_file)).get("/login")
    finally:
        await server.stop()
    again = web_server(device, names=("mfp.example.test", "127.0.0.1"))
    assert again.certificate.info.sha256 == server.certificate.info.sha256  # kept in NVRAM
    renamed = web_server(device, names=("printer.example.test",))
    assert renamed.certificate.info.subject == "printer.example.test"
    assert renamed.certificate.csr() and renamed.certificate.info.sha256 != server.certificate.info.sha256
    record = device.nvram.read("web.certificate")
    assert b"PRIVATE KEY" not in record  # sealed with the device key


async def test_a_certificate_not_for_the_device_key_is_refused(device, bench):
    server = web_server(device)
    from mfp_sim.firmware.web import CertificateError

    other = bench.ca.issue_server_cert("127.0.0.1")
    with pytest.raises(CertificateError, match="not for this key"):
        server.certificate.install(other.cert_chain_pems[0].bytes())
    with pytest.raises(CertificateError, match="not PEM"):
        server.certificate.install(b"hello")
    server.certificate.install(other.cert_chain_pems[0].bytes(), other.private_key_pem.bytes())
    assert server.certificate.installed


async def test_plain_http_only_redirects_and_only_when_asked(device, bench):
    server = await start_web(device, bench, WebConfig(http_port=0))
    try:
        assert server.http_url is not None and server.url.startswith("https://127.0.0.1:")
        answer = await Client(server.http_url, str(bench.ca_file), allow_redirects=False).get(
            "/settings/smtp?x=1")
        assert answer.status_code == 308
        assert answer.headers["Location"] == server.url + "settings/smtp?x=1"
    finally:
        await server.stop()
    plain = await start_web(device, bench)
    try:
        assert plain.http_url is None
        assert plain.config.host == "127.0.0.1"  # loopback unless told otherwise
    finally:
        await plain.stop()


async def test_sessions_end_on_the_device_clock(client, clock):
    await client.login()
    assert (await client.get("/status")).url.endswith("/status")
    await clock.advance(601)
    assert "/login" in (await client.get("/status")).url
