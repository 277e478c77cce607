"""What a POP poll with nothing new costs the device, with a long history (issue 9).

    python tests/poll_cost.py [--history 5000] [--rounds 15]

Not a test (nothing is asserted, no figure is a goal here): a measurement, run before and
after a change (it uses only the device's public API and NVRAM record format, so it runs on
older trees too: `PYTHONPATH=<tree> python tests/poll_cost.py`). The POP3 server runs in a
child process, so the figures are the device's own: wall time of `check_mail` and the device
process's CPU time during it, median of `--rounds` polls after one warm-up poll.

Two cases, each with `--history` messages handled in the last 30 days (Message-IDs in the
ledger, their pages in the tray):
    empty      the mailbox is empty (everything was deleted)
    left       `leave_copy` on: all of them are still on the server, every one known
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:20]


async def _serve(count: int) -> None:
    """A plain POP3 server with `count` messages, known by UIDL `uid-<n>`; prints its port."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK ready\r\n")
        while line := await reader.readline():
            word = line.split(b" ")[0].strip().upper()
            if word == b"CAPA":
                writer.write(b"+OK\r\nUSER\r\nUIDL\r\nSASL PLAIN\r\n.\r\n")
            elif word == b"STAT":
                writer.write(b"+OK %d %d\r\n" % (count, count * 500))
            elif word in (b"UIDL", b"LIST"):
                line_of = ((lambda n: b"%d uid-%d\r\n" % (n, n)) if word == b"UIDL"
                           else (lambda n: b"%d 500\r\n" % n))
                writer.write(b"+OK\r\n" + b"".join(line_of(n) for n in range(1, count + 1))
                             + b".\r\n")
            elif word == b"QUIT":
                writer.write(b"+OK bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"+OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


async def _measure(case: str, history: int, rounds: int) -> dict[str, float]:
    from mfp_sim.firmware.device import Device
    from mfp_sim.firmware.providers import ProviderRegistry
    from mfp_sim.hwsim.clock import VirtualClock

    on_server = history if case == "left" else 0
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(on_server)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    folder = Path(tempfile.mkdtemp(prefix="poll-cost-"))
    clock = VirtualClock()
    section = "pop.emailprint"
    # The history, in the ledger's NVRAM format, and the pages it printed, in the tray.
    device = Device(folder, clock=clock, providers=ProviderRegistry())
    now = clock.now()
    records: dict[str, bytes | None] = {}
    for n in range(1, history + 1):
        at = now - n * (20 * 86400 / history)  # spread over the last 20 days
        mid = f"<m{n}@remote.test>"
        records[f"rx.{section}.m.{_digest(mid)}"] = json.dumps({"at": at}).encode()
        if case == "left":
            records[f"rx.{section}.u.{_digest(f'uid-{n}')}"] = json.dumps(
                {"uid": f"uid-{n}", "mid": mid, "outcome": "printed", "at": at}).encode()
    device.nvram.write_many(records)
    tray = folder / "tray"
    tray.mkdir(exist_ok=True)
    for n in range(history):
        (tray / f"print{n:012x}-photo.png").write_bytes(b"\x89PNG")
    device.nvram.close()
    device = Device(folder, clock=clock, providers=ProviderRegistry())  # power-on
    await device.start()
    try:
        await device.api.update(section, {
            "server": "127.0.0.1", "port": str(port), "security": "off", "auth": "plain",
            "user": "bob@example.test", "password": "x",
            "leave_copy": "on" if case == "left" else "off"})
        walls, cpus = [], []
        for round_ in range(rounds + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            result = await device.api.check_mail(section, wait_printed=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert result.ok and result.received == 0, result
            if round_:  # the first poll also loads what is read once
                walls.append(wall)
                cpus.append(cpu)
            await clock.advance(60)
    finally:
        await device.stop()
        server.kill()
    return {"wall_ms": statistics.median(walls) * 1000, "cpu_ms": statistics.median(cpus) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return
    print(f"POP poll with nothing new, {args.history} messages of history "
          f"(median of {args.rounds}):")
    for case in ("empty", "left"):
        figures = asyncio.run(_measure(case, args.history, args.rounds))
        print(f"  {case:6} wall {figures['wall_ms']:7.1f} ms   device CPU {figures['cpu_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
