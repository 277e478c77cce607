"""Helpers for panel tests: start a panel on a device, walk the menus, wait with a bound.

The device and bench come from conftest (`device`, `bench`, `clock`: one VirtualClock).
Nothing here sleeps for an interval: `until` lets the app process messages, a bounded number
of times, until what the test expects is on screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from mfp_sim.firmware.device import Device
from mfp_sim.panel.app import PanelApp
from mfp_sim.panel.widgets.token_area import TokenArea

__all__ = [
    "SIZE", "CONSOLE", "PATHS", "until", "login", "walk", "open_page", "token_label", "make_panel",
]

SIZE = (100, 30)
#: A fixed console address, so nothing random reaches the screen.
CONSOLE = "tcp:127.0.0.1:2323"

#: Menu keys from System Settings to each settings page, and the page's screen id.
PATHS: dict[str, tuple[tuple[str, ...], str]] = {
    "smtp": (("menu-network-settings", "menu-services-setup"), "screen-services-setup"),
    "pop.ifax": (("menu-image-send-settings", "menu-internet-fax-settings", "menu-server-settings"),
                 "screen-pop-ifax"),
    "pop.emailprint": (("menu-printer-settings", "menu-e-mail-print-settings"), "screen-pop-emailprint"),
    "scan_to_email": (("menu-image-send-settings", "menu-scan-settings", "menu-smtp-authentication"),
                      "screen-smtp-scan-to-email"),
    "ifax_send": (("menu-image-send-settings", "menu-internet-fax-settings", "menu-send-settings"),
                  "screen-smtp-ifax-send"),
    "email_alert": (("menu-e-mail-alert-and-status-settings", "menu-e-mail-alert"),
                    "screen-smtp-email-alert"),
    "status_notice": (("menu-e-mail-alert-and-status-settings", "menu-status-notice"),
                      "screen-smtp-status-notice"),
    "device": (("menu-device-settings",), "screen-device"),
}


def make_panel(device: Device) -> PanelApp:
    return PanelApp(device.api, console_address=CONSOLE)


async def until(pilot: Pilot[None], condition: Callable[[], bool], *, what: str = "condition",
                tries: int = 300) -> None:
    """Let the app run until `condition()` holds; fail after `tries` rounds (about 3 s)."""
    for _ in range(tries):
        await pilot.pause()
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the panel never showed {what}")


async def walk(pilot: Pilot[None], *ids: str) -> None:
    """Click menu keys in order, each on the page the previous one opened."""
    app = pilot.app
    for wid in ids:
        selector = f"#{wid}"
        await until(pilot, lambda s=selector: bool(app.screen.query(s)), what=selector)
        await pilot.click(f"#{wid}")
        await pilot.pause()


async def login(pilot: Pilot[None], password: str = "admin") -> None:
    """Home → Settings (administrator) → password → [OK]."""
    await walk(pilot, "home-settings")
    await until(pilot, lambda: bool(pilot.app.screen.query("#admin-password")), what="the login")
    pilot.app.screen.query_one("#admin-password").value = password  # type: ignore[attr-defined]
    await pilot.click("#ok")
    await pilot.pause()


async def open_page(pilot: Pilot[None], page: str) -> None:
    """Log in and walk to a settings page (a key of PATHS)."""
    keys, screen_id = PATHS[page]
    await login(pilot)
    await walk(pilot, "menu-system-settings", *keys)
    await until(pilot, lambda: pilot.app.screen.id == screen_id, what=screen_id)


def token_label(screen: object) -> str:
    """What the token area of `screen` shows after `Token:`."""
    return screen.query_one(TokenArea).label_text  # type: ignore[attr-defined]
