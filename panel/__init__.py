"""The front panel: Textual screens that mirror the real device's menu paths.

Map (imports point down the list, and never back up: no circle, counting imports inside
functions; `tests/test_panel_imports.py` checks it)::

    app.py             PanelApp: one device's panel; listens to its event stream; alerts,
                       start-up notes, measurements; owns the Navigator
    navigation.py      Navigator: which screen answers each request; the one module that
                       knows every screen
    screens/           pages: home, login, menu + menus (the menu tree as data), settings,
                       send (Scan to E-mail, Internet Fax), jobs (Job Status, output tray),
                       dialogs (confirmation, the token code dialog); frame (PanelScreen:
                       title bar, page, notes, status line, key bar; which page keys
                       a page answers); a screen never imports another
    widgets/           token_area, settings_form, status_line, title_bar, key_bar,
                       note_bar, qr; a widget never imports a screen
    base.py            PanelHost (what widgets may ask of the app), PanelNode, DeviceListener,
                       the TokenKeys / SaveKey protocols the page keys press
    requests.py        what a page or widget may ask to open (GoHome, Confirm, ShowTokenCode…)
    notices.py         Alert (the status line's warnings), Note (start-up notes)
    words.py           the device's words as message ids (fields, choices, token states)
    panel.tcss         the look

The texts are translated through `firmware.i18n` (catalogs in `firmware/locale/`).
The panel talks only to `firmware.api.DeviceApi`: it never touches settings or token stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import PanelApp

__all__ = ["PanelApp"]


def __getattr__(name: str) -> Any:
    if name == "PanelApp":
        from .app import PanelApp

        return PanelApp
    raise AttributeError(name)
