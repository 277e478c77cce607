"""Panel figures for `make bench`.

- Start to interactive: `mfp-sim demo` runs in a real pseudo-terminal (100×30), as a person
  starts it; the clock runs from just before the process is spawned until the panel says it
  takes input (the demo writes `MFP_SIM_READY_FILE` when its home screen is mounted). This
  includes the interpreter, imports, the bench (identity provider, mail server), the device
  and the panel.
- Token change to screen (in-process: the bench's servers in the same loop; what is timed is
  the panel's reaction inside the device's process, which no server work enters): a panel shows the SMTP page of a device on the virtual clock; each
  token state change (Get Token, approval, Clear) is timed from the device's event to the
  moment the panel widget showing that store applied it (`PanelApp.token_shown`).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import tempfile
import termios
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mfp_sim.firmware.events import TokenChanged
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.testbed import Testbed

from .figures import Figure
from .servers import mfp_sim_command

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["measure"]


def _start_once() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", MFP_SIM_READY_FILE=str(ready), COLUMNS="100",
                   LINES="30")
        t0 = time.perf_counter()
        proc = subprocess.Popen([*mfp_sim_command(), "demo", "--state", str(Path(tmp) / "demo")], stdin=slave,
                                stdout=slave, stderr=slave, env=env, close_fds=True, start_new_session=True)
        os.close(slave)
        elapsed = None
        try:
            deadline = t0 + 30
            while time.perf_counter() < deadline:
                r, _, _ = select.select([master], [], [], 0.002)
                if r:
                    try:
                        os.read(master, 65536)  # keep the terminal drained, as a terminal would
                    except OSError:
                        break
                if ready.exists():
                    elapsed = time.perf_counter() - t0
                    break
            if elapsed is None:
                raise RuntimeError("the demo panel did not become interactive within 30 s")
            os.write(master, b"\x11")  # Ctrl+Q
            end = time.perf_counter() + 10
            while proc.poll() is None and time.perf_counter() < end:
                r, _, _ = select.select([master], [], [], 0.05)
                if r:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            os.close(master)
        return elapsed * 1000


async def _event_to_screen(rounds: int) -> list[float]:
    from mfp_sim.panel.app import PanelApp
    from mfp_sim.panel.screens.settings import SmtpAuthenticationScreen

    clock = VirtualClock()
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Testbed(Path(tmp) / "bench", clock) as bench:
            device = bench.make_device(Path(tmp) / "dev")
            await device.start()
            await device.api.update("smtp", {"provider": "local", "auth": "oauth2",
                                             "account": "alice@example.test"})
            app = PanelApp(device.api, console_address="tcp:127.0.0.1:2323")
            heard: dict[int, float] = {}

            def note(event: TokenChanged) -> None:
                if event.store == "smtp":
                    heard[event.seq] = time.perf_counter()

            unlisten = device.api.listen(note, TokenChanged)
            async with app.run_test(size=(100, 30)) as pilot:
                await app.ready.wait()
                await app.push_screen(SmtpAuthenticationScreen(("scan_to_email",), "scan_to_email"))
                await pilot.pause()

                async def shown(seq: int) -> None:
                    deadline = time.perf_counter() + 5
                    while True:
                        last = app.token_shown.get("smtp")
                        if last is not None and last.seq >= seq:
                            samples.append((last.at - heard[seq]) * 1000)
                            return
                        if time.perf_counter() > deadline:
                            raise TimeoutError("the panel did not show the token change")
                        await asyncio.sleep(0)

                for _ in range(rounds):
                    prompt = await device.api.get_token("smtp")  # → waiting
                    await shown(max(heard))
                    bench.idp.approve(prompt.user_code, "alice@example.test")
                    await clock.advance(5)  # → retrieved
                    deadline = time.perf_counter() + 5
                    while device.api.token_status("smtp").state.value != "retrieved":
                        if time.perf_counter() > deadline:
                            raise TimeoutError("no token")
                        await asyncio.sleep(0.001)
                    await shown(max(heard))
                    await device.api.clear_token("smtp")  # → not retrieved
                    await shown(max(heard))
            unlisten()
            await device.stop()
    return samples


def measure(run: BenchRun) -> list[Figure]:
    import asyncio

    starts = [_start_once() for _ in range(run.sizes.panel_starts)]
    start = statistics.median(starts)
    changes = asyncio.run(_event_to_screen(run.sizes.panel_changes))
    change = statistics.median(changes)
    return [
        Figure("panel.start", "panel: process start → interactive (mfp-sim demo in a 100×30 pty)",
               start, "ms", f"median of {len(starts)}; bench + device + panel in that process"),
        Figure("panel.token_shown", "panel: token state change → shown on the SMTP page "
               "(in-process: server in the same loop)", change, "ms",
               f"median of {len(changes)}, worst {max(changes):.1f} ms"),
    ]
