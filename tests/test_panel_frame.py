"""What every page's frame gives a newcomer: the keys of the page, a focus that can be seen,
and the start-up notes until they are read.

Pilot against a real device (no bench needed: nothing here obtains a token).
"""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Button, Input

from mfp_sim.firmware.i18n import N_
from mfp_sim.panel.app import PanelApp
from mfp_sim.panel.notices import Note
from mfp_sim.panel.screens.dialogs import ConfirmDialog
from mfp_sim.panel.widgets.key_bar import KeyBar
from mfp_sim.panel.widgets.note_bar import NoteBar

from .panel_fixtures import CONSOLE, SIZE, open_page, until, walk

QUIT = ("Ctrl+Q", "Quit")
PAGE_KEYS = [("Esc", "Back"), ("F2", "Home"), QUIT]
FORM_KEYS = [("Ctrl+S", "Save"), *PAGE_KEYS]
TOKEN_KEYS = [("F5", "Get Token"), ("F6", "Clear"), *FORM_KEYS]


def keys(app: PanelApp) -> list[tuple[str, str]]:
    return app.screen.query_one(KeyBar).keys()


async def keys_shown(pilot, app: PanelApp, expected: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: keys(app) == expected, what=f"the keys {expected} (shown: {keys(app)})")


# ------------------------------------------------------------------ the key bar
async def test_home_shows_its_number_keys(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        await keys_shown(pilot, app, [("1", "Scan to E-mail"), ("2", "Internet Fax"), ("3", "Job Status"),
                                      ("4", "Settings (administrator)"), QUIT])


async def test_a_settings_page_with_a_token_shows_every_page_key(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "pop.ifax")
        await keys_shown(pilot, app, TOKEN_KEYS)


async def test_pages_show_only_the_keys_they_answer(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "device")  # a form, no token
        await keys_shown(pilot, app, FORM_KEYS)
        await pilot.press("f5")  # not on this page: nothing opens
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and app.screen.id == "screen-device"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "screen-system-settings", what="the menu")
        await keys_shown(pilot, app, PAGE_KEYS)  # a menu: no form, no token
        await pilot.press("f2")
        await until(pilot, lambda: bool(app.screen.query("#home-scan")), what="home")
        await walk(pilot, "home-scan")  # shows the SMTP token, without its buttons
        await until(pilot, lambda: bool(app.screen.query("#send-to")), what="Scan to E-mail")
        await keys_shown(pilot, app, PAGE_KEYS)


async def test_a_key_in_the_bar_can_be_clicked(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        await keys_shown(pilot, app, TOKEN_KEYS)
        [home] = [k for k in app.screen.query_one(KeyBar).query("FooterKey")
                  if getattr(k, "key", "") == "f2"]
        await pilot.click(home)
        await until(pilot, lambda: bool(app.screen.query("#home-scan")), what="home")


async def test_the_key_bar_speaks_the_panel_language(device):
    await device.api.set("device.language", "it")
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        await keys_shown(pilot, app, [("F5", "Recupera Token"), ("F6", "Cancellare"), ("Ctrl+S", "Salva"),
                                      ("Esc", "Indietro"), ("F2", "Home"), ("Ctrl+Q", "Esci")])


# ------------------------------------------------------------------ focus
def brightness(widget: Widget) -> float:
    return widget.styles.background.brightness


async def test_the_focused_field_stands_out(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await open_page(pilot, "smtp")
        server = app.screen.query_one("#field-server", Input)
        port = app.screen.query_one("#field-port", Input)
        assert app.focused is server
        # Light on dark: the focused field against the others, not 235 on 234.
        assert brightness(server) - brightness(port) > 0.5
        assert app.screen.query_one("#row-server").styles.background.a > 0  # its row is lit
        assert app.screen.query_one("#row-port").styles.background.a == 0
        await pilot.press("tab")
        await until(pilot, lambda: app.focused is port, what="the port focused")
        await until(pilot, lambda: brightness(port) - brightness(server) > 0.5, what="the port lit")


async def test_the_focused_key_stands_out(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        scan, fax = (app.screen.query_one(f"#home-{k}", Button) for k in ("scan", "ifax"))
        assert app.focused is scan
        assert brightness(scan) - brightness(fax) > 0.5
        await pilot.press("tab")
        await until(pilot, lambda: brightness(fax) - brightness(scan) > 0.5, what="the next key lit")


# ------------------------------------------------------------------ start-up notes
NOTES = (Note(N_("{store}: the token of the previous run was cleared (the bench is new): "
                 "press Get Token again."), title=N_("Internet Fax (POP3)")),)


def note_text(app: PanelApp) -> str:
    return app.screen.query_one(NoteBar).text


async def test_start_up_notes_stay_on_every_page_until_ok(device):
    app = PanelApp(device.api, console_address=CONSOLE, notes=NOTES)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        expected = ("ℹ Internet Fax (POP3): the token of the previous run was cleared (the bench "
                    "is new): press Get Token again.")
        assert note_text(app) == expected
        await open_page(pilot, "pop.ifax")
        assert note_text(app) == expected
        await pilot.click("#dismiss-notes")
        await until(pilot, lambda: note_text(app) == "", what="the notes dismissed")
        assert app.notes == ()
        await pilot.press("f2")
        await until(pilot, lambda: bool(app.screen.query("#home-scan")), what="home")
        assert note_text(app) == "" and not app.screen.query_one(NoteBar).display


async def test_start_up_notes_in_italian(device):
    await device.api.set("device.language", "it")
    app = PanelApp(device.api, console_address=CONSOLE, notes=NOTES)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        assert note_text(app).startswith("ℹ Internet Fax (POP3): il token dell'esecuzione precedente")


async def test_no_notes_take_no_room(device):
    app = PanelApp(device.api, console_address=CONSOLE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, app.ready.is_set, what="ready")
        assert not app.screen.query_one(NoteBar).display
