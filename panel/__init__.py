"""The front panel: Textual screens that mirror the real device's menu paths.

Map (imports point down the list)::

    app.py             PanelApp: one device's panel; listens to its event stream; measurements
    screens/           pages: home, login, menu + menus (the menu tree as data), settings,
                       send (Scan to E-mail, Internet Fax), jobs (Job Status, output tray),
                       dialogs (confirmation, the token code dialog)
    widgets/           token_area, settings_form, status_line, title_bar, qr
    base.py            PanelNode (API + language for every widget), PanelScreen (the frame)
    words.py           the device's words as message ids (fields, choices, token states)
    i18n.py            gettext catalogs, compiled from panel/locale/*/LC_MESSAGES/mfp-sim.po
    panel.tcss         the look

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
