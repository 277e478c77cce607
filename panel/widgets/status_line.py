"""The status line at the foot of every page: device clock, network, alerts.

The clock is the *device's* (`DeviceApi.now()`), so a virtual clock that jumps a day shows the
jump. Alerts (a token that became Invalid, a failure the firmware reported) are the app's;
every status line watches them, so they show on whatever page the user is on.
"""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ..base import PanelNode

__all__ = ["StatusLine", "device_time"]


def device_time(seconds: float) -> str:
    """The device clock as the panel shows it (UTC: the simulated device has no time zone)."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


class StatusLine(PanelNode, Horizontal):
    def compose(self) -> ComposeResult:
        yield Label("", id="status-clock")
        yield Label("", id="status-network")
        yield Label("", id="status-alerts")

    def on_mount(self) -> None:
        self._tick()
        network = self._("{network}: connected").format(network=self.panel.network)
        if self.panel.console_address:
            network += " · " + self._("console {address}").format(address=self.panel.console_address)
        if self.panel.web_address:
            network += " · " + self._("web page {address}").format(address=self.panel.web_address)
        self.query_one("#status-network", Label).update(network)
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "alerts", self._show_alerts)

    def on_click(self, event: events.Click) -> None:
        """A tap on the alerts acknowledges the firmware's; token alerts stay until resolved."""
        if event.widget is not None and event.widget.id == "status-alerts":
            self.panel.dismiss_alerts()

    def _tick(self) -> None:
        self.query_one("#status-clock", Label).update(device_time(self.api.now()))

    def _show_alerts(self) -> None:
        alerts = self.panel.alerts
        label = self.query_one("#status-alerts", Label)
        if not alerts:
            label.update("")
            label.set_class(False, "-alert")
            return
        text = "⚠ " + alerts[-1].text(self._)
        if len(alerts) > 1:
            text += f" (+{len(alerts) - 1})"
        label.update(text)
        label.set_class(True, "-alert")
