"""A device's console on a real TCP port, and clients for it.

The console runs in the test's event loop; pyserial (`socket://`, through the HIL client) is
blocking, so its conversations run in a thread (`talk`), bounded like every wait here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from mfp_sim.firmware.device import Device
from mfp_sim.hwsim.uart import TcpConsole
from mfp_sim.tools.hil import MfpConsole

T = TypeVar("T")


@asynccontextmanager
async def tcp_console(device: Device, bound_as: str = "127.0.0.1") -> AsyncIterator[TcpConsole]:
    """The device's console on 127.0.0.1, its sessions made as for a console bound to
    `bound_as` (`0.0.0.0`: every connection must log in), without opening a port beyond
    this machine."""
    console = TcpConsole(device.shell.sessions_for(bound_as), "127.0.0.1", 0)
    await console.start()
    try:
        yield console
    finally:
        await console.stop()


async def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data`, close the sending side, and read everything the console writes until it
    closes the connection (bounded)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def in_thread(fn: Callable[[], T], timeout: float = 20.0) -> T:
    return await asyncio.wait_for(asyncio.to_thread(fn), timeout)


async def talk(console: TcpConsole | str, *lines: str, password: str | None = None,
               timeout: float = 10.0) -> list[dict[str, str]]:
    """Run lines over pyserial on one connection; each reply's values plus `_ok`/`_err`."""
    url = console if isinstance(console, str) else console.address

    def conversation() -> list[dict[str, str]]:
        with MfpConsole(url, timeout=timeout, password=password) as client:
            out = []
            for line in lines:
                reply = client.run(line)
                out.append({**reply.values, "_ok": "yes" if reply.ok else "",
                            "_err": reply.error})
            return out

    return await in_thread(conversation)
