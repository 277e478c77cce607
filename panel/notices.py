"""What the panel tells the user besides the page: alerts and start-up notes, as frozen values.

The app keeps them (`PanelApp.alerts`, `PanelApp.notes`); every page's status line shows the
alerts and its note bar the notes. They sit below the app and the widgets so both can name
them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mfp_sim.firmware.sentences import say

__all__ = ["Alert", "Note"]


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
        if self.verbatim:  # the firmware's words: a `Reason` is said in the panel's language
            message = say(self.message, gettext)
            return f"{store}: {message}" if store else message
        fields = {name: say(value, gettext) for name, value in self.params}
        return gettext(self.message).format(store=store, **fields)


@dataclass(frozen=True)
class Note:
    """Something the user should know from the start, shown until dismissed.

    The demo leaves these (a token of a previous run it had to clear, the settings it made on
    the first start): they belong on the panel the user is looking at, not in the terminal
    after the panel has closed. `message` is a message id with `{store}` (the translated
    `title`) and `params` as fields.
    """

    message: str
    params: tuple[tuple[str, str], ...] = ()
    title: str = ""

    def text(self, gettext: Callable[[str], str]) -> str:
        store = gettext(self.title) if self.title else ""
        return gettext(self.message).format(store=store, **dict(self.params))
