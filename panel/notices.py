"""What the status line tells the user besides the clock: alerts, as small frozen values.

The app keeps them (`PanelApp.alerts`); every status line shows them. They sit below the app
and the widgets so both can name them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    """Something the status line warns about until it is resolved.

    `message` is a message id translated when shown, or the device's own words when
    `verbatim` (the firmware's reasons are shown as they are, after the store's name).
    """

    key: str
    message: str
    title: str = ""  # message id of what the alert is about (a mail context's title)
    verbatim: bool = False
    params: tuple[tuple[str, str], ...] = ()

    def text(self, gettext: Callable[[str], str]) -> str:
        store = gettext(self.title) if self.title else ""
        if self.verbatim:
            return f"{store}: {self.message}" if store else self.message
        return gettext(self.message).format(store=store, **dict(self.params))
