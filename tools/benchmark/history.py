"""A POP poll that finds nothing new, with a long history: the cost of a routine check.

E-mail Print (its POP setting) with `leave_copy` on: the mailbox holds `history` small
messages (a one-page PDF attachment each) that the device took, printed and left on the
server, so its ledger knows every UIDL and its Message-ID index holds every message (the 30-day
duplicate window), and its tray holds every print. The set-up poll that builds this history
is not timed (it takes as many polls as the device's receive memory needs: it holds a quota
of messages waiting to be printed). Then each measured poll connects, signs in, lists UIDL,
finds every message already handled (so it asks no LIST: sizes are for messages to read),
and quits. The floor client holds the conversation a poll had before that (AUTH, UIDL,
LIST, QUIT) with the same mailbox, which shows what the server and the protocol take.

The goal is held to the device's client CPU per poll: the bench server's own time to open a
maildrop grows with it (it sizes every message at login), so the wall time of any client's
poll of a long mailbox is mostly the server's; the wall time is reported beside it, with the
floor's.
"""

from __future__ import annotations

import io
import json
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import workers
from .drive import CAROL, PRINT_STORE, BenchDevice
from .figures import Figure
from .floor import pop_list
from .measure import median, process_cpu, stopwatch
from .servers import BenchError, Control

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["device_polls", "floor_polls", "measure", "print_message"]

STORE = PRINT_STORE


def print_message(i: int, pdf: bytes) -> bytes:
    """A small E-mail Print message: a note and a one-page PDF."""
    msg = EmailMessage()
    msg["From"] = "Sender <alice@example.test>"
    msg["To"] = CAROL
    msg["Subject"] = f"Print {i}"
    msg["Message-ID"] = f"<print.{i:06d}@example.test>"
    msg.set_content("Please print the attachment.\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"page{i}.pdf")
    return msg.as_bytes()


def _tiny_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("1", (200, 100), 1).save(out, "PDF")
    return out.getvalue()


def _info(spec: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(Path(spec["testbed"]).read_text(encoding="utf-8"))
    return info


async def device_polls(spec: dict[str, Any]) -> dict[str, Any]:
    info, history = _info(spec), int(spec["history"])
    bench = BenchDevice(Path(spec["dir"]), info)
    await bench.start()
    walls, cpus, server = [], [], []
    try:
        await bench.use_bench(STORE, leave_copy="on")
        await bench.get_token(STORE, Control(info).approve)
        taken = 0
        while taken < history:  # as often as the device's receive memory needs (it has a quota)
            poll = await bench.check_mail(STORE)
            taken += poll["spooled"]
            if not poll["spooled"] or poll["deleted"]:
                raise BenchError(f"a set-up poll did not take the history: {poll}")
            if not await bench.wait_printed(STORE, 120 + history * 0.2):
                raise BenchError("printing the history did not finish")
        for _ in range(int(spec["polls"])):
            s0 = process_cpu(spec["server_pid"])
            with stopwatch() as span:
                result = await bench.check_mail(STORE)
            server.append(process_cpu(spec["server_pid"]) - s0)
            if not (result["ok"] and result["on_server"] == history and result["received"] == 0):
                raise BenchError(f"a quiet poll did something: {result}")
            walls.append(span.wall)
            cpus.append(span.cpu)
        tray = bench.tray_count()
    finally:
        await bench.stop()
    return {"wall": walls, "cpu": cpus, "server_cpu": server, "tray": tray}


async def floor_polls(spec: dict[str, Any]) -> dict[str, Any]:
    import ssl

    info, history = _info(spec), int(spec["history"])
    ctx = ssl.create_default_context(cafile=str(info["ca_file"]))
    walls, cpus = [], []
    for _ in range(int(spec["polls"])):
        with stopwatch() as span:
            n = await pop_list("127.0.0.1", int(info["ports"]["pop3s"]), ctx, user=CAROL,
                               token=spec["token"])
        if n != history:
            raise BenchError(f"the floor client saw {n} messages, expected {history}")
        walls.append(span.wall)
        cpus.append(span.cpu)
    return {"wall": walls, "cpu": cpus}


def measure(run: BenchRun) -> list[Figure]:
    servers, history, polls = run.servers(), run.sizes.history, run.sizes.polls
    pdf = _tiny_pdf()
    servers.empty(CAROL)
    servers.fill(CAROL, [print_message(i, pdf) for i in range(history)])
    try:
        device = workers.run("history.device", run.spec(dir=str(run.workdir("history")),
                                                        history=history, polls=polls),
                             timeout=300 + history * 0.5)
        floor = workers.run("history.floor", run.spec(history=history, polls=polls,
                                                      token=run.token(CAROL, "pop")))
    finally:
        servers.empty(CAROL)
    floor_wall = median(floor["wall"]) * 1000
    return [
        Figure("history.quiet_poll", f"POP poll with nothing new, {history:,} messages of "
               "history (leave_copy): device client CPU", median(device["cpu"]) * 1000, "ms",
               f"median of {polls}; floor client {median(floor['cpu']) * 1000:.1f} ms; the "
               f"device's tray holds {device['tray']:,} prints"),
        Figure("history.quiet_poll_wall", "that poll's wall time, device",
               median(device["wall"]) * 1000, "ms",
               f"floor (AUTH, UIDL, LIST, QUIT) {floor_wall:.1f} ms; bench server CPU per poll "
               f"{median(device['server_cpu']) * 1000:.0f} ms"),
    ]
