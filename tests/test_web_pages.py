"""The web page's pages over real HTTPS: settings with the device's validation, Get Token and
Clear with confirmations, the connection test, jobs and the output tray, CA import, the
administrator password, the live event stream, a new context, the Italian page."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import trustme

from mfp_sim.firmware.contexts import CONTEXTS
from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.tokens.machine import TokenState

from .conftest import ALICE, obtain_token, sh, wait_for
from .test_contexts import SCAN_BOX
from .web_helpers import Client, csrf_of, forms, start_web


@pytest.fixture
async def web(device, bench):
    server = await start_web(device, bench)
    yield server
    await server.stop()


@pytest.fixture
async def admin(web, bench) -> Client:
    client = Client(web.url, str(bench.ca_file))
    assert (await client.login()).url.endswith("/status")
    return client


def _form_of(page: str, action: str) -> dict[str, str]:
    return next(f["fields"] for f in forms(page) if f["action"] == action)


async def test_menu_is_the_device_menu_in_its_words(admin):
    page = (await admin.get("/status")).text
    links = re.findall(r'<a href="(/[^"]*)"[^>]*>([^<]+)</a>', page.split("</nav>")[0])
    assert [text for _, text in links] == [
        "Status", "Job Status", "Output Tray", "Device Settings", "Services Setup",
        "SMTP Authentication", "Server Settings", "Send Settings", "E-mail Print Settings",
        "E-mail Alert", "Status Notice", "Security", "Logs"]
    assert {text: href for href, text in links}["Server Settings"] == "/settings/pop.ifax"
    smtp = (await admin.get("/settings/smtp")).text
    assert "System Settings › Network Settings › Services Setup" in smtp
    for label in ("Primary Server", "Port Number", "Enable SSL/TLS", "Authentication Method",
                  "Account Name"):
        assert f">{label}</label>" in smtp
    pop = (await admin.get("/settings/pop.ifax")).text
    assert ">POP3 Server</label>" in pop and "Check Interval" in pop
    assert "smtp.port" not in smtp and "pop.ifax" not in pop.split("<main>")[1].split("<form")[0]


async def test_a_new_context_has_its_page_without_template_changes(tmp_path, clock, bench):
    registry = ProviderRegistry()
    registry.add(bench.provider())
    wide = Device(tmp_path / "wide", clock=clock, providers=registry,
                  contexts=(*CONTEXTS, SCAN_BOX))
    await wide.start()
    server = await start_web(wide, bench)
    try:
        client = Client(server.url, str(bench.ca_file))
        await client.login()
        status = (await client.get("/status")).text
        assert '<a href="/settings/pop.scanbox">Scan Box Settings</a>' in status
        assert "Scan Box (POP3)" in status
        page = await client.get("/settings/pop.scanbox")
        assert page.status_code == 200 and 'id="token"' in page.text
        saved = await client.post("/settings/pop.scanbox", {
            **_form_of(page.text, "/settings/pop.scanbox"), "check_interval": "17"})
        assert "Saved." in saved.text and wide.api.get("pop.scanbox.check_interval") == "17"
    finally:
        await server.stop()
        await wide.stop()


async def test_a_form_is_saved_whole_or_not_at_all_with_the_devices_messages(admin, device):
    page = (await admin.get("/settings/smtp")).text
    fields = _form_of(page, "/settings/smtp")
    refused = await admin.post("/settings/smtp", {
        **fields, "sender_name": "Front desk", "port": "70000", "timeout": "abc"})
    assert refused.status_code == 400
    console = await sh(device, "set smtp.port 70000")
    port_error = re.search(r'id="error-port">([^<]+)<', refused.text).group(1)
    assert port_error.replace("&#39;", "'") in console["_err"]  # the console's own words
    assert 'id="error-timeout"' in refused.text and 'id="error-sender_name"' not in refused.text
    assert "Not saved: correct the marked fields." in refused.text
    assert 'value="Front desk"' in refused.text and 'value="70000"' in refused.text  # kept
    assert device.api.get("smtp.sender_name") == "MFP-SIM"  # nothing half-saved
    saved = await admin.post("/settings/smtp", {**fields, "sender_name": "Front desk",
                                                "port": "2525"})
    assert saved.url.endswith("/settings/smtp") and "Saved." in saved.text
    assert (device.api.get("smtp.sender_name"), device.api.get("smtp.port")) == ("Front desk", "2525")
    nothing = await admin.post("/settings/smtp", _form_of(saved.text, "/settings/smtp"))
    assert "No changes to save." in nothing.text


async def test_choosing_a_provider_fills_its_presets_and_passwords_stay_hidden(admin, device):
    await device.api.update("smtp", {"password": "s3cret-app-pass"})
    page = (await admin.get("/settings/smtp")).text
    assert "s3cret" not in page and 'placeholder="(unchanged)"' in page
    presets = json.loads(re.search(r"data-presets='([^']+)'", page).group(1).replace("&#34;", '"'))
    assert presets["microsoft"] == {"server": "smtp.office365.com", "port": "587",
                                    "security": "starttls"}
    fields = _form_of(page, "/settings/smtp")
    assert fields["password"] == ""
    await admin.post("/settings/smtp", {**fields, "provider": "microsoft"})
    assert (device.api.get("smtp.server"), device.api.get("smtp.port")) == ("smtp.office365.com", "587")
    assert device.settings.smtp().password == "s3cret-app-pass"  # empty means unchanged


async def test_get_token_and_clear_after_confirmations(admin, device, bench, clock):
    refused = await admin.form_post("/settings/smtp", "/token/smtp/get-confirm")
    assert "set “Account Name” first" in refused.text  # before any confirmation
    await sh(device, "set smtp.provider local")
    await sh(device, f"set smtp.account {ALICE}")
    confirm = await admin.form_post("/settings/smtp", "/token/smtp/get-confirm")
    assert f"Get a token for {ALICE} from " in confirm.text
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED  # nothing before OK
    shown = await admin.post("/token/smtp/get", {"csrf": csrf_of(confirm.text)})
    prompt = device.stores["smtp"].status().prompt
    assert "Waiting for authorization" in shown.text
    assert f'id="user-code">{prompt.user_code}<' in shown.text
    assert f'id="verification-uri">{prompt.verification_uri}<' in shown.text
    assert '<svg' in shown.text and 'id="time-left" data-seconds="900"' in shown.text
    bench.idp.approve(prompt.user_code, ALICE)
    await clock.advance(5)
    await wait_for(lambda: device.stores["smtp"].state is TokenState.RETRIEVED)
    area = (await admin.get("/part/token/scan_to_email")).text  # the shared token
    assert "Retrieved" in area and ALICE in area and 'id="user-code"' not in area
    token = device.stores["smtp"]._access_token
    assert token[:12] not in (await admin.get("/settings/smtp")).text
    sure = await admin.form_post("/settings/ifax_send", "/token/ifax_send/clear-confirm")
    assert "Delete the token?" in sure.text
    done = await admin.post("/token/ifax_send/clear", {"csrf": csrf_of(sure.text)})
    assert done.url.endswith("/settings/ifax_send#token") and "Not retrieved" in done.text
    assert device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_connection_test_names_the_failing_step_in_the_servers_words(admin, device):
    await sh(device, "set smtp.provider local")
    for line in ("set smtp.auth plain", f"set smtp.user {ALICE}", "set smtp.password wrong",
                 f"set smtp.sender_address {ALICE}"):
        assert (await sh(device, line))["_ok"]
    console = await sh(device, "test smtp")
    answer = await admin.form_post("/settings/smtp", "/settings/smtp/test")
    assert 'id="test-step">Signing in<' in answer.text
    assert console["step"] == "auth" and "535" in answer.text
    assert "Authentication unsuccessful" in answer.text  # the server's own words


async def test_job_status_and_the_output_tray(admin, device):
    device.tray.print_document("R0001", "fax", b"\x89PNG\r\n\x1a\nfake", "png")
    device.tray.print_document("R0002", "letter", b"%PDF-1.4 fake", "pdf")
    device.tray.print_document("R0003", "raw", b"II*\x00", "tiff")
    tray = (await admin.get("/tray")).text
    assert tray.index("R0003-raw.tiff") < tray.index("R0001-fax.png")  # newest first
    png = await admin.get("/tray/file/R0001-fax.png")
    assert png.headers["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert png.headers["Content-Disposition"].startswith("inline")
    pdf = await admin.get("/tray/file/R0002-letter.pdf?download=1")
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="R0002-letter.pdf"'
    tiff = await admin.get("/tray/file/R0003-raw.tiff")
    assert tiff.headers["Content-Disposition"].startswith("attachment")  # not shown inline
    for odd in ("../nvram.sqlite", "..%2Fnvram.sqlite", "R0009-none.png"):
        assert (await admin.get(f"/tray/file/{odd}")).status_code == 404
    jobs = (await admin.get("/jobs")).text
    assert "No send jobs." in jobs
    await sh(device, "set smtp.server 127.0.0.1")
    await sh(device, f"set smtp.sender_address {ALICE}")
    job = await device.api.scan_to_email("bob@example.test", pages=1)
    await wait_for(lambda: device.api.job(job).state.value in ("failed", "queued"))
    jobs = (await admin.get("/jobs")).text
    assert job in jobs and "bob@example.test" in jobs and "Scan to E-mail" in jobs


async def test_ca_import_is_checked_and_kept(admin, device, tmp_path):
    company = trustme.CA(organization_name="Company CA")
    page = (await admin.get("/security")).text
    before = len(device.trust.imported)

    async def upload(name: str, data: bytes):
        return await admin.post("/security/ca", {"csrf": csrf_of(page)},
                                files={"ca": (name, data, "application/x-pem-file")})

    garbage = await upload("notes.txt", b"hello")
    assert garbage.status_code == 400 and "is not a PEM certificate" in garbage.text
    leaf = company.issue_cert("printer.example.test").cert_chain_pems[0].bytes()
    not_ca = await upload("leaf.pem", leaf)
    assert not_ca.status_code == 400 and "is not a CA certificate" in not_ca.text
    huge = await upload("big.pem", b"x" * 70000)
    assert huge.status_code in (400, 413)
    assert len(device.trust.imported) == before
    done = await upload("company.pem", company.cert_pem.bytes())
    assert done.url.endswith("/security") and "CA certificate imported" in done.text
    assert len(device.trust.imported) == before + 1
    assert done.text.count("<code class=\"fingerprint\">") >= 2
    assert device.nvram.read("trust.imported").count(b"BEGIN CERTIFICATE") == before + 1


async def test_the_administrator_password_is_changed_with_the_old_one(admin, device):
    page = (await admin.get("/security")).text
    wrong = await admin.post("/security/password", {"csrf": csrf_of(page), "old": "nope",
                                                    "new": "n3w-pass", "again": "n3w-pass"})
    assert wrong.status_code == 400
    differ = await admin.post("/security/password", {"csrf": csrf_of(page), "old": "admin",
                                                     "new": "n3w-pass", "again": "other"})
    assert "differ" in differ.text
    done = await admin.post("/security/password", {"csrf": csrf_of(page), "old": "admin",
                                                   "new": "n3w-pass", "again": "n3w-pass"})
    assert done.url.endswith("/login")  # every session ended
    assert device.api.check_admin_password("n3w-pass")
    assert (await admin.login("n3w-pass")).url.endswith("/status")


async def test_the_live_stream_tells_the_page_what_changed(admin, device, bench, clock):
    await obtain_token(device, bench, clock)

    def read_stream() -> list[str]:
        lines: list[str] = []
        with admin.http.get(admin.base + "/events", stream=True, timeout=15) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            for line in response.iter_lines(decode_unicode=True):
                lines.append(line)
                if line.startswith("data:") and '"store": "smtp"' in line:
                    return lines
        return lines

    reader = asyncio.ensure_future(asyncio.to_thread(read_stream))
    await asyncio.sleep(0.3)  # let the stream open before the change (bounded by the reader)
    await sh(device, "token smtp clear")  # a change made on the console
    lines = await asyncio.wait_for(reader, 15)
    assert "event: token" in lines
    data = json.loads(next(x for x in lines if '"store"' in x).removeprefix("data:"))
    assert data["store"] == "smtp" and data["state"] == "not_retrieved" and data["seq"] > 0


async def test_the_page_speaks_the_devices_language(admin, device):
    await sh(device, "set device.language it")
    page = (await admin.get("/settings/smtp")).text
    assert '<html lang="it">' in page
    for words in ("Impostazioni di sistema", "Setup Servizi", "Server primario", "Numero Porta",
                  "Recupera Token", "Cancellare", "Non recuperato", "Salva", "Stato lavori"):
        assert words in page, words
    assert "Get Token" not in page and "Save<" not in page
    login = await Client(admin.base, admin.http.verify).get("/login")
    assert "Inserire la password dell&#39;amministratore." in login.text


async def test_logs_show_events_and_actions_without_secrets(admin, device, bench, clock):
    await obtain_token(device, bench, clock)
    token = device.stores["smtp"]._access_token
    await device.api.update("smtp", {"password": "s3cret-app-pass"})
    logs = (await admin.get("/logs")).text
    assert "store=smtp state=retrieved" in logs and "administrator logged in" in logs
    assert "section=smtp keys=smtp.password" in logs
    assert "s3cret" not in logs and token[:16] not in logs


async def test_a_token_cleared_on_the_web_page_leaves_the_panel_at_once(admin, device, bench, clock):
    from .panel_fixtures import SIZE, make_panel, open_page, token_label, until

    await obtain_token(device, bench, clock)
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "scan_to_email")
        assert token_label(app.screen) == "Retrieved"
        sure = await admin.form_post("/settings/smtp", "/token/smtp/clear-confirm")
        await admin.post("/token/smtp/clear", {"csrf": csrf_of(sure.text)})
        await until(pilot, lambda: token_label(app.screen) == "Not retrieved",
                    what="the web page's Clear on the panel")
