"""A device process for the receive bounds tests: `python -m tests.receive_child NVRAM PORT SECTION
[--print]`.

Powers on a device (virtual clock), points SECTION at the plain POP3 server on 127.0.0.1:PORT
(USER/PASS, security off), polls once (with `--print`, waits until what it received is
printed or refused), and prints one JSON line: the poll's result, what the tray and the fax
memory hold, and the process's peak resident memory (`ru_maxrss`), the figure the tests bound.

Started from the test process, it first starts itself again and waits: Linux carries the
spawning process's high-water mark into the child's `ru_maxrss` across `execve` (the old
memory's peak is kept in the process's signal struct), so a device started straight from a
pytest process that has grown past the bound would report the test's memory, not its own.
Started from this small process, which imports nothing of the device, it reports its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import resource
import subprocess
import sys
from pathlib import Path


async def main(nvram: Path, port: int, section: str, wait: bool) -> None:
    from mfp_sim.firmware.device import Device
    from mfp_sim.firmware.events import Refused
    from mfp_sim.firmware.providers import ProviderRegistry
    from mfp_sim.hwsim.clock import VirtualClock

    device = Device(nvram, clock=VirtualClock(), providers=ProviderRegistry())
    refusals: list[str] = []
    device.api.listen(lambda e: refusals.append(e.reason), Refused)
    await device.start()
    try:
        await device.api.update(section, {
            "server": "127.0.0.1", "port": str(port), "security": "off", "auth": "plain",
            "user": "bob@example.test", "password": "bob-pass-1", "timeout": "60"})
        result = await device.api.check_mail(section, wait_printed=wait)
        memory = device.api.fax_memory()
        report = {
            **{k: v for k, v in dataclasses.asdict(result).items() if k != "files"},
            "files": len(result.files),
            "refusals": refusals,
            "tray": len(device.api.tray()),
            "memory_messages": memory.messages,
            "memory_full": memory.full,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    finally:
        await device.stop()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if "--measured" not in sys.argv:  # the small launcher (see the module's docstring)
        sys.exit(subprocess.call([sys.executable, "-m", "tests.receive_child", *sys.argv[1:],
                                  "--measured"]))
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], "--print" in sys.argv))
