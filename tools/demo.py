"""`mfp-sim demo`: the bench, one device and its front panel, in one process, offline.

    mfp-sim demo [--state DIR] [--headless] [--no-web]

What runs (all on 127.0.0.1, ports chosen by the system, one real clock):
  - the bench: local identity provider and mail server (`tools.testbed.Testbed`);
  - one device, its NVRAM in `DIR/device`, trusting the bench's CA, with provider `local`;
  - the device's serial console over TCP (its address is on the panel's status line);
  - the device's web page over HTTPS (address on the status line too; `--no-web`: none), its
    certificate issued by this run's bench CA for the device's own key, so a browser that
    imported `DIR/bench/ca.pem` shows no warning;
  - the bench's mail viewer, a page listing the mailboxes and what the device sent
    (`mail_viewer` in demo.json, printed headless), to watch a scan arrive;
  - the front panel (Textual), or with `--headless` nothing but the console.

On the first start (no `DIR/demo.json` yet) SMTP is set to OAuth 2.0 with provider `local`
and account alice@example.test, so a newcomer can press Get Token at once. Later starts keep
what the user changed. Because the bench is new at every start (new ports, a new identity
provider that remembers no grant), each start points every `local` setting at the new
servers, and forgets tokens issued by an earlier run's bench: they could never be renewed.

`DIR/demo.json` tells scripts where things are: console, web page, verification page, mail
viewer, control API.

What the demo did for the user on start (the first start's settings, tokens of a previous run
it cleared) are start-up notes: on the panel, in a bar above the status line until [OK];
headless, as `note=` lines. `DIR/demo.log` receives the log from INFO up (DEBUG with `-v`)
for the whole run, with or without the panel; the terminal keeps only warnings unless `-v`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.i18n import N_
from mfp_sim.firmware.web import DeviceWebServer, WebConfig
from mfp_sim.hwsim.clock import Clock, RealClock
from mfp_sim.hwsim.uart import TcpConsole
from mfp_sim.panel.notices import Note

from .device_web import start_device_web
from .testbed import Testbed

__all__ = ["Demo", "run_demo", "DEMO_ACCOUNT"]

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "alice@example.test"
DEMO_SENDER = "mfp@example.test"
_FIRST_START = {"auth": "oauth2", "provider": "local", "account": DEMO_ACCOUNT,
                "sender_address": DEMO_SENDER}


class Demo:
    """Bench + device + console, started and stopped together (the panel is added on top)."""

    def __init__(self, state_dir: Path, *, clock: Clock | None = None, web: bool = True) -> None:
        self.state_dir = Path(state_dir)
        self.with_web = web
        self.web: DeviceWebServer | None = None
        self.clock = clock or RealClock()
        self.bench = Testbed(self.state_dir / "bench", self.clock)
        self.device: Device | None = None
        self.console: TcpConsole | None = None
        self.first_start = not self.info_path.exists()
        self.notes: list[Note] = []

    @property
    def info_path(self) -> Path:
        return self.state_dir / "demo.json"

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        await self.bench.start()
        self.device = self.bench.make_device(self.state_dir / "device")
        await self.device.start()
        await self._configure()
        self.console = TcpConsole(self.device.shell.sessions_for("127.0.0.1"))
        await self.console.start()
        if self.with_web:
            self.web = await start_device_web(self.device, WebConfig(), issue_from=self.bench.ca)
        tmp = self.info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.info(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.info_path)

    async def _configure(self) -> None:
        assert self.device is not None
        api = self.device.api
        if self.first_start:
            await api.update("smtp", dict(_FIRST_START))
            self.notes.append(Note(N_("First start: SMTP set to OAuth 2.0, provider local, account "
                                      "{account}. Press Get Token on the SMTP page."),
                                   params=(("account", DEMO_ACCOUNT),)))
            return
        for section in api.store_names():
            if api.get(f"{section}.provider") != "local":
                continue
            # The bench listens on new ports at every start: follow it (presets of `local`).
            await api.update(section, {"provider": "local"})
            state = api.token_status(section).state.value
            if state != "not_retrieved":
                await api.clear_token(section)
                self.notes.append(Note(N_("{store}: the token of the previous run was cleared "
                                          "(the bench is new): press Get Token again."),
                                       title=api.contexts.get(section).title))

    def info(self) -> dict[str, Any]:
        assert self.console is not None
        return {
            "console": self.console.address,
            "web": self.web.url if self.web is not None else "",
            "verification_uri": self.bench.idp.verification_uri,
            "mail_viewer": self.bench.viewer.url if self.bench.viewer is not None else "",
            "control_url": self.bench.idp.control_url,
            "testbed": str(self.bench.json_path.resolve()),
            "nvram": str((self.state_dir / "device").resolve()),
            "account": DEMO_ACCOUNT,
        }

    def panel(self) -> Any:
        """The front panel app for this device (not yet running)."""
        from mfp_sim.panel.app import PanelApp

        assert self.device is not None and self.console is not None
        return PanelApp(self.device.api, console_address=self.console.address, notes=self.notes,
                        web_address=self.web.url if self.web is not None else "")

    async def stop(self) -> None:
        if self.web is not None:
            await self.web.stop()
            self.web = None
        if self.console is not None:
            await self.console.stop()
            self.console = None
        if self.device is not None:
            await self.device.stop()
            self.device = None
        await self.bench.stop()

    async def __aenter__(self) -> Demo:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


async def _until_interrupted() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _on_terminal(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
        sys.stderr, sys.stdout)


@contextlib.contextmanager
def _demo_log(path: Path) -> Any:
    """`path` receives the log from INFO up (DEBUG if the command asked for it) while the demo
    runs; the terminal's handlers keep the level they had, so `-v` still decides what the
    terminal shows."""
    root = logging.getLogger()
    saved_level = root.level
    was = root.getEffectiveLevel()
    terminal = [(h, h.level) for h in root.handlers if _on_terminal(h)]
    for h, level in terminal:
        h.setLevel(max(level, was))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(min(was, logging.INFO))
    root.addHandler(handler)
    root.setLevel(min(was, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_level)
        for h, level in terminal:
            h.setLevel(level)


@contextlib.contextmanager
def _terminal_quiet() -> Any:
    """While the panel owns the terminal, log lines go only to the demo's log file."""
    root = logging.getLogger()
    terminal = [h for h in root.handlers if _on_terminal(h)]
    for h in terminal:
        root.removeHandler(h)
    try:
        yield
    finally:
        for h in terminal:
            root.addHandler(h)


async def _announce_ready(app: Any, path: Path) -> None:
    await app.ready.wait()
    path.write_text("ready\n", encoding="utf-8")


async def run_demo(state: Path, headless: bool, *, stop: asyncio.Event | None = None,
                   out: TextIO | None = None, web: bool = True) -> None:
    """Run the demo until Ctrl-C (headless), the panel quits (Ctrl+Q), or `stop` is set."""
    out = out or sys.stdout
    state = Path(state)
    state.mkdir(parents=True, exist_ok=True)
    with _demo_log(state / "demo.log"):
        await _run(state, headless, stop, out, web)


async def _run(state: Path, headless: bool, stop: asyncio.Event | None, out: TextIO,
               web: bool = True) -> None:
    async with Demo(state, web=web) as demo:
        info = demo.info()
        log.info("demo started: console %s, verification page %s", info["console"],
                 info["verification_uri"])
        for note in demo.notes:
            log.info("note: %s", note.text(str))
        if headless:  # no panel to show the notes on: they go with the addresses
            for note in demo.notes:
                print(f"note={note.text(str)}", file=out, flush=True)
        for key in ("console", "web", "verification_uri", "mail_viewer", "control_url", "account"):
            print(f"{key}={info[key]}", file=out, flush=True)
        if headless:
            print("ready=1", file=out, flush=True)
            await (stop.wait() if stop is not None else _until_interrupted())
            return
        app = demo.panel()
        ready_file = os.environ.get("MFP_SIM_READY_FILE")
        announcer = None
        if ready_file:  # a seam for `make bench`: say when the panel first takes input
            announcer = asyncio.ensure_future(_announce_ready(app, Path(ready_file)))
        with _terminal_quiet():
            if stop is None:
                await app.run_async()
            else:
                runner = asyncio.ensure_future(app.run_async())
                waiter = asyncio.ensure_future(stop.wait())
                await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not runner.done():
                    app.exit()
                await runner
                waiter.cancel()
        if announcer is not None:
            announcer.cancel()  # the panel quit before it was ever ready
