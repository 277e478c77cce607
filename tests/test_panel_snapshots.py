"""One SVG snapshot per panel page, in English and in Italian.

The snapshots live in `tests/__snapshots__/test_panel_snapshots/` (syrupy, through
pytest-textual-snapshot's SVG extension). After a deliberate change of the panel's look,
regenerate them and look at the difference before committing:

    .venv/bin/pytest tests/test_panel_snapshots.py --snapshot-update

Deterministic by construction: the device runs on a VirtualClock at its fixed epoch, with no
bench (so no random port appears), the console address is a constant, and the one page that
shows a device code gets a fixed code and address injected in place of the store's status.

Every page shows its key bar and the focused control lit (light on dark); `home-notes` shows
the start-up notes bar, `get-token-refused` the refusal of Get Token without an account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from textual.widgets import Input, TabbedContent

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.i18n import N_
from mfp_sim.firmware.mail.jobs import JobInfo, JobState
from mfp_sim.firmware.menus import ADMIN_MENU, Menu, Page
from mfp_sim.firmware.providers import Provider, ProviderRegistry
from mfp_sim.firmware.tokens.machine import LABELS, TokenState
from mfp_sim.firmware.tokens.store import FlowPrompt
from mfp_sim.hwsim.clock import VIRTUAL_EPOCH, VirtualClock
from mfp_sim.hwsim.printer import TrayItem
from mfp_sim.panel.app import PanelApp
from mfp_sim.panel.navigation import page_screen
from mfp_sim.panel.notices import Note
from mfp_sim.panel.screens.dialogs import ConfirmDialog, TokenFlowDialog
from mfp_sim.panel.screens.home import HOME_KEYS
from mfp_sim.panel.screens.jobs import JobStatusScreen
from mfp_sim.panel.screens.login import AdminLoginScreen
from mfp_sim.panel.screens.menu import MenuScreen
from mfp_sim.panel.screens.send import InternetFaxScreen, ScanToEmailScreen
from mfp_sim.panel.widgets.settings_form import SettingsForm
from mfp_sim.panel.widgets.token_area import TokenArea

from .panel_fixtures import CONSOLE, SIZE, until

#: A `local` provider with a fixed address: never contacted by these tests.
LOCAL = Provider(name="local", display_name="Bench identity provider",
                 authority="https://127.0.0.1:8443/bench", authority_kind="oidc",
                 client_id="mfp-sim-device", scopes={"smtp": ("SMTP.Send",), "pop": ("POP",)})
PROMPT = FlowPrompt(verification_uri="https://127.0.0.1:8443/bench/device", user_code="BDFH-KMNP",
                    expires_at=VIRTUAL_EPOCH + 900,
                    verification_uri_complete="https://127.0.0.1:8443/bench/device?user_code=BDFH-KMNP")
INVALID_REASON = ("AADSTS50173: The provided grant has expired due to it being revoked (invalid_grant). "
                  "Token update failed: please delete the token and obtain it again")

Step = Callable[[PanelApp, Device], Awaitable[None]]


def _entry(*labels: str) -> Menu | Page:
    node: Menu | Page = ADMIN_MENU
    for label in labels:
        assert isinstance(node, Menu)
        node = next(e for e in node.entries if e.label == label)
    return node


def _trail(*labels: str) -> tuple[str, ...]:
    return (ADMIN_MENU.label, *labels)


def menu(*labels: str) -> Step:
    async def step(app: PanelApp, device: Device) -> None:
        node = _entry(*labels)
        assert isinstance(node, Menu)
        await app.push_screen(MenuScreen(node, _trail(*labels)))
    return step


def page(*labels: str) -> Step:
    async def step(app: PanelApp, device: Device) -> None:
        node = _entry(*labels)
        assert isinstance(node, Page)
        await app.push_screen(page_screen(node, _trail(*labels), device.api.contexts))
    return step


async def _home(app: PanelApp, device: Device) -> None:
    return None


def home_page(index: int) -> Step:
    screens = {0: ScanToEmailScreen, 1: InternetFaxScreen, 2: JobStatusScreen}

    async def step(app: PanelApp, device: Device) -> None:
        await app.push_screen(screens[index]((HOME_KEYS[index][1],)))
    return step


def _job(id: str, kind: str, to: str, state: JobState, attempts: int, reason: str = "") -> JobInfo:
    return JobInfo(id=id, kind=kind, to=to, state=state, reason=reason, attempts=attempts,
                   created=VIRTUAL_EPOCH + 60 * int(id))


JOBS = [
    _job("1", "scan", "bob@example.test", JobState.SENT, 1),
    _job("2", "ifax", "fax@example.test", JobState.FAILED, 1,
         "535 5.7.3 Authentication unsuccessful: token update failed"),
    _job("3", "scan", "carol@example.test", JobState.QUEUED, 2, "connection refused; retry in 120 s"),
    _job("4", "alert", "admin@example.test", JobState.SENDING, 1),
]
TRAY = [TrayItem("1-fax_from_bob.pdf", 48_213, 1, Path("tray/1-fax_from_bob.pdf")),
        TrayItem("2-print.pdf", 912, 2, Path("tray/2-print.pdf"))]


def _job_status(tab: str) -> Step:
    async def step(app: PanelApp, device: Device) -> None:
        device.api.jobs = lambda: list(JOBS)  # type: ignore[method-assign]
        device.api.tray = lambda: list(TRAY)  # type: ignore[method-assign]
        await home_page(2)(app, device)
        app.screen.query_one(TabbedContent).active = tab
    return step


async def _login(app: PanelApp, device: Device) -> None:
    await app.push_screen(AdminLoginScreen())


SMTP_TAB = ("System Settings", "Network Settings", "Services Setup")


async def _refused_port(app: PanelApp, device: Device) -> None:
    await page(*SMTP_TAB)(app, device)
    app.screen.query_one("#field-port", Input).value = "70000"
    await app.screen.query_one(SettingsForm).save()


async def _get_token_refused(app: PanelApp, device: Device) -> None:
    """F5 on the SMTP tab with no account: refused under the status, no confirmation."""
    await page(*SMTP_TAB)(app, device)
    app.screen.query_one(TokenArea).action_get_token()


async def _confirm_get(app: PanelApp, device: Device) -> None:
    await device.api.update("smtp", {"account": "alice@example.test", "auth": "oauth2"})
    await page(*SMTP_TAB)(app, device)
    await app.push_screen(ConfirmDialog(app.catalog.gettext("Get Token"), app.catalog.gettext(
        "Get a token for {account} from {provider}?").format(account="alice@example.test",
                                                            provider="Bench identity provider")))


async def _code_dialog(app: PanelApp, device: Device) -> None:
    _fix_status(device, "smtp", TokenState.WAITING, prompt=PROMPT)
    await page(*SMTP_TAB)(app, device)
    await app.push_screen(TokenFlowDialog("smtp", PROMPT))


async def _invalid(app: PanelApp, device: Device) -> None:
    await page("System Settings", "Image Send Settings", "Internet Fax Settings", "Send Settings")(app, device)


def _fix_status(device: Device, store: str, state: TokenState, *, reason: str = "",
                prompt: FlowPrompt | None = None) -> None:
    """Make a store report a fixed status: what the snapshot shows instead of a live flow."""
    token_store = device.stores[store]
    real = token_store.status

    def status():  # type: ignore[no-untyped-def]
        return replace(real(), state=state, label=LABELS[state], reason=reason, prompt=prompt,
                       account="alice@example.test")
    token_store.status = status  # type: ignore[method-assign]


PAGES: dict[str, Step] = {
    "home": _home,
    "home-notes": _home,
    "scan-to-email": home_page(0),
    "internet-fax": home_page(1),
    "job-status": _job_status("tab-jobs"),
    "output-tray": _job_status("tab-tray"),
    "login": _login,
    "admin-menu": menu(),
    "system-settings": menu("System Settings"),
    "device-settings": page("System Settings", "Device Settings"),
    "network-settings": menu("System Settings", "Network Settings"),
    "services-setup-smtp": page(*SMTP_TAB),
    "smtp-port-refused": _refused_port,
    "get-token-refused": _get_token_refused,
    "get-token-confirm": _confirm_get,
    "get-token-code": _code_dialog,
    "image-send-settings": menu("System Settings", "Image Send Settings"),
    "scan-settings": menu("System Settings", "Image Send Settings", "Scan Settings"),
    "scan-smtp-auth": page("System Settings", "Image Send Settings", "Scan Settings", "SMTP Authentication"),
    "ifax-settings": menu("System Settings", "Image Send Settings", "Internet Fax Settings"),
    "ifax-server-pop3": page("System Settings", "Image Send Settings", "Internet Fax Settings",
                             "Server Settings"),
    "ifax-send-invalid": _invalid,
    "printer-settings": menu("System Settings", "Printer Settings"),
    "emailprint-pop3": page("System Settings", "Printer Settings", "E-mail Print Settings"),
    "alert-status-settings": menu("System Settings", "E-mail Alert and Status Settings"),
    "email-alert": page("System Settings", "E-mail Alert and Status Settings", "E-mail Alert"),
    "status-notice": page("System Settings", "E-mail Alert and Status Settings", "Status Notice"),
}


#: Start-up notes of the pages that show them (as the demo gives them on a second start).
NOTES: dict[str, tuple[Note, ...]] = {
    "home-notes": (
        Note(N_("{store}: the token of the previous run was cleared (the bench is new): "
                "press Get Token again."), title=N_("SMTP")),
        Note(N_("{store}: the token of the previous run was cleared (the bench is new): "
                "press Get Token again."), title=N_("E-mail Print (POP3)")),
    ),
}


@pytest.fixture
async def snapshot_device(tmp_path: Path, request: pytest.FixtureRequest) -> Device:
    registry = ProviderRegistry()
    registry.add(LOCAL)
    device = Device(tmp_path / "dev", clock=VirtualClock(), providers=registry)
    await device.start()
    yield device  # type: ignore[misc]
    await device.stop()


@pytest.mark.parametrize("language", ["en", "it"])
@pytest.mark.parametrize("name", list(PAGES))
async def test_page(snapshot_device: Device, snapshot, name: str, language: str) -> None:  # type: ignore[no-untyped-def]
    device = snapshot_device
    await device.api.set("device.language", language)
    if name == "ifax-send-invalid":
        _fix_status(device, "smtp", TokenState.INVALID, reason=INVALID_REASON)
    app = PanelApp(device.api, console_address=CONSOLE, notes=NOTES.get(name, ()))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        await PAGES[name](app, device)
        await pilot.pause()
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        svg = app.export_screenshot(title=f"mfp-sim panel: {name} ({language})", simplify=True)
    assert snapshot.use_extension(SVGImageExtension) == svg
