"""The device's network link: the Ethernet port, with a cable that can be pulled.

While the link is down every new connection the device opens fails at once, as with the
cable out: `check()` raises `LinkDown`, an `OSError` with `ENETUNREACH`, the error a socket
gives on a host with no route. Connections already open are left alone (a real cable pull
lets them time out). Every client on the device (SMTP, POP3, the identity provider's HTTPS)
calls `check()` before it connects; a test or the console pulls the cable with `set_up(False)`.

The link is hardware: it keeps its state across a power cycle. Whoever must know (the
firmware publishes an event for the panel's status line) registers with `on_change`.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

__all__ = ["NetworkLink", "LinkDown"]


class LinkDown(OSError):
    """A connection attempted while the network cable is out."""

    def __init__(self, where: str = "") -> None:
        target = f" to {where}" if where else ""
        super().__init__(errno.ENETUNREACH,
                         f"network is unreachable: the network link is down (cable unplugged), "
                         f"no connection{target} is possible")


class NetworkLink:
    def __init__(self, up: bool = True) -> None:
        self._up = up
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def up(self) -> bool:
        return self._up

    def set_up(self, up: bool) -> bool:
        """Plug (True) or pull (False) the cable; True when the state changed."""
        if up == self._up:
            return False
        self._up = up
        for listener in list(self._listeners):
            listener(up)
        return True

    def on_change(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call `listener(up)` at every change; returns a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def check(self, where: str = "") -> None:
        """Raise `LinkDown` when no new connection can be made."""
        if not self._up:
            raise LinkDown(where)
