"""A QR code drawn with Unicode half blocks, so a phone can scan the address off the terminal.

Each text row carries two module rows (`▀`, `▄`, `█`, space), which keeps modules square in a
terminal cell that is twice as tall as it is wide. Colours are fixed black on white whatever
the theme: scanners want dark modules on a light quiet zone.
"""

from __future__ import annotations

import segno
from rich.text import Text
from textual.widgets import Static

__all__ = ["QrCode", "qr_text"]

_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_text(data: str, border: int = 2) -> Text:
    qr = segno.make(data, error="l", micro=False)
    rows = [[bool(m) for m in row] for row in qr.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = [
        "".join(_CELLS[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
        for i in range(0, len(rows), 2)
    ]
    return Text("\n".join(lines), style="#000000 on #ffffff", no_wrap=True)


class QrCode(Static):
    """The QR code of one address."""

    def __init__(self, data: str, *, id: str | None = None) -> None:
        super().__init__(qr_text(data), id=id)
        self.data = data
