"""A device process for the power-cut test: `python -m tests.mail_child NVRAM PORT COUNT`.

First run (empty NVRAM): configure plain SMTP to the bench on PORT, queue COUNT Scan to E-mail
jobs for bob, start, send. Later runs (same NVRAM, after a SIGKILL): just power on and finish.
Prints `ready`, one `job <id> <state>` line per job event, and `done` when no job is left
to send.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.events import JobChanged
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import RealClock
from mfp_sim.hwsim.scanner import Scanner


async def main(nvram: Path, port: int, count: int) -> None:
    device = Device(nvram, clock=RealClock(), providers=ProviderRegistry(),
                    scanner=Scanner(dpi=50))
    if not device.jobs.list():
        await device.settings.update("smtp", {
            "server": "127.0.0.1", "port": str(port), "security": "off", "auth": "none",
            "sender_address": "alice@example.test"})
        for _ in range(count):
            await device.api.scan_to_email("bob@example.test")
    finished = asyncio.Event()

    def check() -> None:
        if all(j.state.value in ("sent", "failed") for j in device.jobs.list()):
            finished.set()

    def on_event(event: JobChanged) -> None:
        print(f"job {event.id} {event.state}", flush=True)
        check()

    device.api.listen(on_event, JobChanged)
    print("ready", flush=True)
    await device.start()
    check()
    await finished.wait()
    print("done", flush=True)
    await device.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
