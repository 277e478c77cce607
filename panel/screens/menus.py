"""The administrator's menu tree: `firmware.menus`, shared with the web page (one tree)."""

from __future__ import annotations

from mfp_sim.firmware.menus import ADMIN_MENU, Menu, Page, admin_menu

__all__ = ["Menu", "Page", "ADMIN_MENU", "admin_menu"]
