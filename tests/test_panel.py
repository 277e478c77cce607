"""The front panel, driven with Textual's Pilot against a real device and the real bench.

Device, identity provider and mail server share one VirtualClock; the panel runs in the same
event loop, so `await clock.advance(5)` is the five seconds between two polls of the device
flow, and the assertions read what the panel has put on screen.
"""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static

from mfp_sim.firmware.events import Alert, JobChanged
from mfp_sim.firmware.vocabulary import JobState, Step
from mfp_sim.panel.app import PanelApp
from mfp_sim.panel.screens.dialogs import ConfirmDialog, TokenFlowDialog
from mfp_sim.panel.screens.settings import (
    SMTP_AUTH_FIELDS,
    SettingsScreen,
    SmtpAuthenticationScreen,
)
from mfp_sim.panel.widgets.settings_form import SettingsForm
from mfp_sim.panel.widgets.token_area import TokenArea

from .conftest import ALICE, obtain_token, wait_for
from .panel_fixtures import PATHS, SIZE, login, make_panel, open_page, token_label, until, walk

SMTP_PAGES = ("smtp", "scan_to_email", "ifax_send", "email_alert", "status_notice")


def text_of(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)  # type: ignore[attr-defined]


async def press_get_token(pilot, app: PanelApp) -> TokenFlowDialog:
    """[Get Token] → [OK]; returns the code dialog."""
    await pilot.click("#get-token")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
    await pilot.click("#ok")
    await until(pilot, lambda: isinstance(app.screen, TokenFlowDialog), what="the code dialog")
    assert isinstance(app.screen, TokenFlowDialog)
    return app.screen


# ------------------------------------------------------------------ home and login
async def test_home_is_interactive_and_says_so(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        assert app.ready_at is not None and app.ready_at >= app.created_at
        labels = [str(b.label) for b in app.screen.query(".home-key").results(Button)]
        assert labels == ["Scan to E-mail", "Internet Fax", "Job Status", "Settings (administrator)"]
        assert "2027-01-15 08:00" in text_of(app.screen, "#status-clock")
        assert "tcp:127.0.0.1:2323" in text_of(app.screen, "#status-network")


async def test_wrong_admin_password_is_refused(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "wrong")
        assert app.screen.query_one("#admin-password", Input).value == ""
        assert text_of(app.screen, "#login-message") == "The password is not correct."
        assert not app.screen.query(".menu-key")
        await pilot.press("escape")
        await until(pilot, lambda: bool(app.screen.query("#home-settings")), what="home")
        await login(pilot, "admin")
        await until(pilot, lambda: app.screen.id == "screen-settings-administrator", what="the admin menu")


async def test_keyboard_alone_reaches_the_smtp_tab(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        await pilot.press("4")  # Settings (administrator)
        await until(pilot, lambda: bool(app.screen.query("#admin-password")), what="the login")
        await pilot.press(*"admin", "enter")
        await until(pilot, lambda: app.screen.id == "screen-settings-administrator", what="admin menu")
        await pilot.press("enter")  # System Settings (focused)
        await until(pilot, lambda: app.screen.id == "screen-system-settings", what="system settings")
        await pilot.press("down", "enter")  # Network Settings
        await until(pilot, lambda: app.screen.id == "screen-network-settings", what="network settings")
        await pilot.press("enter")  # Services Setup
        await until(pilot, lambda: app.screen.id == "screen-services-setup", what="services setup")
        assert app.screen.query_one(SettingsForm).section == "smtp"
        assert app.focused is app.screen.query_one("#field-server")
        await pilot.press(*"mail.example.test", "ctrl+s")
        await until(pilot, lambda: device.api.get("smtp.server") == "mail.example.test", what="the save")
        await pilot.press("f5")  # [Get Token]: refused at once, the account is missing
        await until(pilot, lambda: "Account Name" in text_of(app.screen, "#token-reason"),
                    what="the refusal")
        assert app.screen.id == "screen-services-setup"  # no confirmation for what cannot start
        await pilot.press("escape", "escape")
        await until(pilot, lambda: app.screen.id == "screen-system-settings", what="back twice")


@pytest.mark.parametrize("page", list(PATHS))
async def test_every_menu_path_reaches_its_page(device, page):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, page)
        screen = app.screen
        form = screen.query_one(SettingsForm)
        section = "smtp" if page in SMTP_PAGES else page
        table = device.api.settings.section(section).fields
        expected = SMTP_AUTH_FIELDS if page in SMTP_PAGES[1:] else tuple(f.name for f in table)
        assert form.section == section and form.fields == expected
        for name in expected:
            assert screen.query(f"#field-{name}"), name
        areas = list(screen.query(TokenArea))
        if page == "device":
            assert areas == []
        else:
            assert [a.store for a in areas] == ["smtp" if page in SMTP_PAGES else page]
            assert token_label(screen) == "Not retrieved"
        trail = text_of(screen, "#trail")
        assert trail.startswith("Settings (administrator) › System Settings")
        await pilot.click("#home")
        await until(pilot, lambda: bool(app.screen.query("#home-settings")), what="home")


async def test_smtp_tab_path_reads_like_the_manual(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        assert text_of(app.screen, "#trail") == (
            "Settings (administrator) › System Settings › Network Settings › Services Setup")
        tabs = [str(t.label) for t in app.screen.query("Tab").results()]
        assert tabs == ["SMTP"]
        await open_page_back_to_ifax(pilot, app)


async def open_page_back_to_ifax(pilot, app: PanelApp) -> None:
    await pilot.click("#home")
    await open_page(pilot, "pop.ifax")
    assert text_of(app.screen, "#trail") == ("Settings (administrator) › System Settings › Image Send "
                                            "Settings › Internet Fax Settings › Server Settings")
    assert str(app.screen.query_one("#row-server .field-label", Static).content) == "POP3 Server"


# ------------------------------------------------------------------ forms
async def test_a_new_admin_password_needs_the_current_one(device):
    device.api.guard.delay = 0
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "device")
        screen = app.screen
        form = screen.query_one(SettingsForm)
        new = screen.query_one("#field-admin_password", Input)
        new.value = "N3w-secret"
        new.focus()
        await pilot.press("enter")
        await until(pilot, lambda: form.error_text("admin_password") != "", what="the refusal")
        assert "needs the current one" in form.error_text("admin_password")
        assert device.api.check_admin_password("admin")
        current = screen.query_one("#field-current_password", Input)
        current.value = "wrong"
        current.focus()
        await pilot.press("enter")
        await until(pilot, lambda: form.error_text("current_password") != "", what="the refusal")
        assert form.error_text("current_password").startswith(
            "the current administrator password is not correct")
        assert app.focused is current  # the refusal put the cursor there
        current.value = "admin"
        await pilot.press("enter")
        await until(pilot, lambda: device.api.check_admin_password("N3w-secret"), what="the save")
        assert form.error_text("current_password") == ""
        assert screen.query_one("#field-current_password", Input).value == ""


async def test_bad_port_is_refused_next_to_the_field_and_nothing_is_saved(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        screen = app.screen
        screen.query_one("#field-port", Input).value = "70000"
        screen.query_one("#field-sender_name", Input).value = "Reception MFP"
        await pilot.click("#save")
        form = screen.query_one(SettingsForm)
        await until(pilot, lambda: form.error_text("port") != "", what="the port refusal")
        assert form.error_text("port") == "'70000' is not allowed: a whole number from 1 to 65535"
        assert screen.query_one("#row-port").has_class("-invalid")
        assert form.error_text("sender_name") == ""
        assert app.focused is screen.query_one("#field-port")
        assert device.api.get("smtp.port") == "587"
        assert device.api.get("smtp.sender_name") == "MFP-SIM"
        # Correct it: both fields are saved together, the refusal goes away.
        screen.query_one("#field-port", Input).value = "2525"
        await pilot.click("#save")
        await until(pilot, lambda: device.api.get("smtp.port") == "2525", what="the save")
        assert device.api.get("smtp.sender_name") == "Reception MFP"
        assert form.error_text("port") == ""
        assert text_of(screen, "#form-message") == "Saved."


async def test_choosing_a_provider_fills_its_presets_after_save(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "pop.emailprint")
        screen = app.screen
        screen.query_one("#field-provider", Select).value = "microsoft"
        assert device.api.get("pop.emailprint.provider") == "local"  # nothing saved yet
        await pilot.click("#save")
        await until(pilot, lambda: screen.query_one("#field-server", Input).value == "outlook.office365.com",
                    what="the preset server")
        assert screen.query_one("#field-port", Input).value == "995"
        assert screen.query_one("#field-security", Select).value == "ssl"
        assert device.api.get("pop.ifax.server") == ""  # the other POP setting is untouched


async def test_a_change_from_the_console_shows_in_the_open_form(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        field = app.screen.query_one("#field-timeout", Input)
        await device.shell.execute("set smtp.timeout 45")
        await until(pilot, lambda: field.value == "45", what="the console's timeout")


# ------------------------------------------------------------------ tokens
async def test_get_token_flow_shows_code_and_turns_retrieved_on_every_smtp_screen(device, bench, clock):
    await device.api.update("smtp", {"provider": "local", "account": ALICE, "auth": "oauth2"})
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        services = app.screen
        # Every other page showing a token, stacked above the first: each must follow its own
        # store at once, including the pages that are not on top.
        others = {name: stacked_page(name) for name in ("pop.ifax", "pop.emailprint", *SMTP_PAGES[1:])}
        for screen in others.values():
            await app.push_screen(screen)
        await pilot.pause()
        top = app.screen
        dialog = await press_get_token(pilot, app)
        [code] = bench.idp.pending_codes()
        assert text_of(dialog, "#flow-code") == code
        assert text_of(dialog, "#flow-uri") == bench.idp.verification_uri
        assert text_of(dialog, "#flow-time") == "Time left: 15:00"
        assert "█" in str(dialog.query_one("#flow-qr", Static).content)
        assert token_label(services) == "Waiting for authorization"
        bench.idp.approve(code, ALICE)
        await clock.advance(5)
        await until(pilot, lambda: text_of(dialog, "#flow-state") == "Token: Retrieved", what="Retrieved")
        assert text_of(dialog, "#flow-time") == ""
        assert app.token_shown["smtp"].state == "retrieved"
        await pilot.click("#close")
        await until(pilot, lambda: app.screen is top, what="the page again")
        assert token_label(services) == "Retrieved"
        for name, screen in others.items():
            expected = "Not retrieved" if name.startswith("pop.") else "Retrieved"
            assert token_label(screen) == expected, name


def stacked_page(name: str):  # type: ignore[no-untyped-def]
    """The page for a token store or SMTP function, built directly (menus are tested above)."""
    if name.startswith("pop."):
        return SettingsScreen((name,), name, token=name)
    return SmtpAuthenticationScreen((name,), name)


async def test_pop_tokens_are_independent(device, bench, clock):
    await device.api.update("pop.ifax", {"provider": "local", "account": ALICE, "auth": "oauth2"})
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "pop.ifax")
        ifax = app.screen
        await app.push_screen(emailprint := stacked_page("pop.emailprint"))
        await app.push_screen(smtp := stacked_page("scan_to_email"))
        ifax.query_one(TokenArea).action_get_token()  # [Get Token] on the page below
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.click("#ok")
        await until(pilot, lambda: isinstance(app.screen, TokenFlowDialog), what="the code dialog")
        dialog = app.screen
        bench.idp.approve(text_of(dialog, "#flow-code"), ALICE)
        await clock.advance(5)
        await until(pilot, lambda: dialog.state == "retrieved", what="Retrieved")
        await pilot.press("escape")
        await until(pilot, lambda: token_label(ifax) == "Retrieved", what="Retrieved on the page")
        assert token_label(emailprint) == "Not retrieved"
        assert token_label(smtp) == "Not retrieved"
        assert device.api.token_status("pop.emailprint").state.value == "not_retrieved"


async def test_clear_asks_first_and_ok_clears(device, bench, clock):
    await obtain_token(device, bench, clock)
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "email_alert")
        assert token_label(app.screen) == "Retrieved"
        await pilot.click("#clear-token")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.click("#cancel")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="no dialog")
        assert device.api.token_status("smtp").state.value == "retrieved"
        await pilot.click("#clear-token")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.click("#ok")
        await until(pilot, lambda: token_label(app.screen) == "Not retrieved", what="Not retrieved")
        assert device.api.token_status("smtp").state.value == "not_retrieved"


async def test_revoked_grant_shows_invalid_with_its_reason_and_an_alert(device, bench, clock):
    await obtain_token(device, bench, clock)
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "ifax_send")
        assert token_label(app.screen) == "Retrieved"
        bench.idp.revoke(ALICE)
        await clock.advance(3400)  # past the refresh point (expiry 3600 s, margin 300 s)
        await until(pilot, lambda: token_label(app.screen) == "Invalid", what="Invalid")
        reason = text_of(app.screen, "#token-reason")
        assert "invalid_grant" in reason and "delete the token" in reason
        assert text_of(app.screen, "#status-alerts") == "⚠ SMTP token is Invalid"
        shown = app.token_shown["smtp"]
        assert shown.state == "invalid" and shown.seq > 0


async def test_token_cleared_from_the_console_shows_at_once(device, bench, clock):
    await obtain_token(device, bench, clock)
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "scan_to_email")
        assert token_label(app.screen) == "Retrieved"
        await device.shell.execute("token smtp clear")
        await until(pilot, lambda: token_label(app.screen) == "Not retrieved", what="Not retrieved")


async def test_get_token_without_an_account_says_why(device):
    """Refused before the confirmation, naming the field as the page labels it."""
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        await pilot.click("#get-token")
        await until(pilot, lambda: text_of(app.screen, "#token-reason") != "", what="the refusal")
        assert not isinstance(app.screen, ConfirmDialog)
        assert text_of(app.screen, "#token-reason") == (
            "Set “Account Name” first: the e-mail address to sign in with.")
        assert "smtp.account" not in text_of(app.screen, "#token-reason")
        assert token_label(app.screen) == "Not retrieved"
        assert device.api.token_status("smtp").state.value == "not_retrieved"
        # Once the account is saved the refusal goes, and [Get Token] asks for confirmation.
        app.screen.query_one("#field-account", Input).value = ALICE
        await pilot.click("#save")
        await until(pilot, lambda: text_of(app.screen, "#token-reason") == "", what="no refusal")
        await pilot.click("#get-token")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert ALICE in text_of(app.screen, "#question")


async def test_get_token_for_google_sends_the_user_to_the_web_page(device):
    """Google's device flow refuses the mail scope: no confirmation, no flow, the address."""
    from dataclasses import replace

    google = replace(device.providers.get("local"), name="google", display_name="Google (bench)",
                     sign_in="web_page")
    device.providers.add(google)
    await device.api.set("smtp.provider", "google")
    await device.api.set("smtp.account", ALICE)
    device.api.web_address = "https://127.0.0.1:8443/"  # as the web server sets it
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        await pilot.click("#get-token")
        await until(pilot, lambda: text_of(app.screen, "#token-reason") != "", what="the refusal")
        assert not isinstance(app.screen, ConfirmDialog)
        reason = text_of(app.screen, "#token-reason")
        assert "Google (bench) does not give devices a mail token through a code" in reason
        assert "https://127.0.0.1:8443/" in reason and "Sign in with Google (bench)" in reason
        assert device.api.token_status("smtp").state.value == "not_retrieved"


async def test_get_token_refusal_in_italian_on_a_pop_page(device):
    await device.api.set("device.language", "it")
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "pop.emailprint")
        await pilot.press("f5")
        await until(pilot, lambda: text_of(app.screen, "#token-reason") != "", what="the refusal")
        assert text_of(app.screen, "#token-reason") == (
            "Impostare prima “Nome account”: l'indirizzo e-mail con cui accedere.")
        assert not isinstance(app.screen, ConfirmDialog)


async def test_declined_flow_dialog_shows_the_reason(device, bench, clock):
    await device.api.update("smtp", {"provider": "local", "account": ALICE})
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        dialog = await press_get_token(pilot, app)
        bench.idp.deny(text_of(dialog, "#flow-code"))
        await clock.advance(5)
        await until(pilot, lambda: dialog.state == "not_retrieved", what="the end of the flow")
        assert "declined" in text_of(dialog, "#flow-reason")
        assert text_of(dialog, "#flow-state") == "Token: Not retrieved"


# ------------------------------------------------------------------ language
async def test_italian_from_the_device_settings_page(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "device")
        app.screen.query_one("#field-language", Select).value = "it"
        await pilot.click("#save")
        await until(pilot, lambda: app.catalog.language == "it", what="Italian")
        await until(pilot, lambda: "Impostazioni dispositivo" in text_of(app.screen, "#page-title"),
                    what="the Italian title")
        assert text_of(app.screen, "#trail").startswith("Impostazioni (amministratore) › Impostazioni di sistema")
        await pilot.click("#home")
        await until(pilot, lambda: bool(app.screen.query("#home-settings")), what="home")
        assert str(app.screen.query_one("#home-settings", Button).label) == "Impostazioni (amministratore)"
        await open_page(pilot, "smtp")
        assert token_label(app.screen) == "Non recuperato"
        labels = [str(w.content) for w in app.screen.query(".field-label").results(Static)]
        for word in ("Server primario", "Numero Porta", "Timeout", "Nome Mittente", "Indirizzo Mittente",
                     "Abilitare SSL/TLS", "Metodo di autenticazione"):
            assert word in labels
        assert str(app.screen.query_one("#get-token", Button).label) == "Recupera Token"
        assert str(app.screen.query_one("#clear-token", Button).label) == "Cancellare"


# ------------------------------------------------------------------ sending
async def test_scan_to_email_goes_to_job_status(device, bench, clock):
    await device.api.update("smtp", {"provider": "local", "account": ALICE, "auth": "oauth2",
                                     "sender_address": "mfp@example.test"})
    await obtain_token(device, bench, clock)
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "home-scan")
        screen = app.screen
        assert token_label(screen) == "Retrieved"
        screen.query_one("#send-to", Input).value = "bob@example.test"
        screen.query_one("#send-pages", Input).value = "2"
        await pilot.click("#start")
        await until(pilot, lambda: "queued" in text_of(screen, "#send-message"), what="the job id")
        [job] = device.api.jobs()
        await wait_for(lambda: device.api.job(job.id).state.value in ("sent", "failed"), what="the job's end")
        assert device.api.job(job.id).state.value == "sent", device.api.job(job.id).reason
        await pilot.click("#home")
        await walk(pilot, "home-jobs")
        table = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.row_count == 1, what="the job row")
        row = table.get_row_at(0)
        assert row[0] == job.id and row[2] == "bob@example.test" and row[3] == "Sent"


async def test_scan_with_a_bad_address_is_refused_on_the_page(device):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "home-scan")
        app.screen.query_one("#send-to", Input).value = "not an address"
        await pilot.click("#start")
        await until(pilot, lambda: text_of(app.screen, "#send-message") != "", what="the refusal")
        assert app.screen.query_one("#send-message").has_class("-error")
        assert device.api.jobs() == []


# ------------------------------------------------------------------ status line
async def test_status_line_follows_the_device_clock_and_shows_alerts(device, clock):
    app = make_panel(device)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        await clock.advance(3600)
        await until(pilot, lambda: text_of(app.screen, "#status-clock") == "2027-01-15 09:00",
                    what="the clock an hour later")
        device.events.publish(Alert("pop.ifax", Step.AUTH,
                                    "-ERR Logon failure: unknown user name or bad password."))
        await until(pilot, lambda: "Internet Fax (POP3): -ERR Logon failure" in
                    text_of(app.screen, "#status-alerts"), what="the POP alert")
        device.events.publish(JobChanged("7", JobState.FAILED, "550 5.7.30 Basic auth refused"))
        await until(pilot, lambda: text_of(app.screen, "#status-alerts") ==
                    "⚠ Job 7 failed: 550 5.7.30 Basic auth refused (+1)", what="the job alert")
        await pilot.click("#status-alerts")
        await until(pilot, lambda: text_of(app.screen, "#status-alerts") == "", what="no alert")
