"""The paired mail figures: Scan to E-mail throughput and POP drain, device against stdlib
against the floor, each side in its own client process against the bench's servers in theirs.

A round runs the three sides one after the other (device, smtplib, floor; the order rotates
each round so that none is always first after the servers' idle time) and the figures are
medians over rounds of per-round ratios: a slow moment of the machine hits a round's members
alike and cancels out of the ratio. Each side gets a fresh process per round: set-up (imports,
device power-on, Get Token, TLS contexts) is done before its clock starts and is not counted.

What each side does, per job or message:
- Scan to E-mail. The device keeps its durable queue: the real `JobQueue` (job record and
  sealed message in NVRAM), `SmtpSender` (aiosmtplib, STARTTLS, XOAUTH2 with the token
  store's token), job marked `sent` in NVRAM. smtplib and the floor send the same bytes in the
  same kind of session (EHLO, STARTTLS, EHLO, AUTH XOAUTH2, MAIL, RCPT, DATA, QUIT).
- POP drain. The device keeps its durable spool: the real `PopPoller` (UIDL, LIST, RETR, spool
  file per batch fsynced and its pages given back, ledger in NVRAM, DELE, QUIT) over POP3S
  with XOAUTH2. poplib and the floor do STAT, RETR and DELE of every message, and QUIT.
"""

from __future__ import annotations

import poplib
import smtplib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import workers
from .drive import ALICE, BOB, FAX_STORE, SMTP_STORE, BenchDevice, fax_message, scan_message
from .figures import Figure
from .floor import dot_stuff, pop_drain, smtp_send, xoauth2
from .measure import median, paired_ratios, process_cpu, stopwatch, until
from .servers import BenchError, Control

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["measure_send", "measure_drain"]

SIDES = ("device", "stdlib", "floor")
_WORK = {"send": {"device": "send.device", "stdlib": "send.smtplib", "floor": "send.floor"},
         "drain": {"device": "drain.device", "stdlib": "drain.poplib", "floor": "drain.floor"}}


# ------------------------------------------------------------------ client processes
def _info(spec: dict[str, Any]) -> dict[str, Any]:
    import json

    info: dict[str, Any] = json.loads(Path(spec["testbed"]).read_text(encoding="utf-8"))
    return info


def _context(info: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(info["ca_file"]))


def _result(span: Any, server_cpu: float, n: int, **extra: Any) -> dict[str, Any]:
    return {"wall": span.wall, "cpu": span.cpu, "server_cpu": server_cpu, "n": n, **extra}


async def send_device(spec: dict[str, Any]) -> dict[str, Any]:
    info, jobs = _info(spec), int(spec["jobs"])
    message = Path(spec["message_file"]).read_bytes()
    bench = BenchDevice(Path(spec["dir"]), info)
    await bench.start()
    try:
        await bench.use_bench(SMTP_STORE, sender_address=ALICE)
        await bench.get_token(SMTP_STORE, Control(info).approve)
        ids: list[str] = []
        settled = 0

        def all_sent() -> bool:  # jobs go oldest first: look only past the last one seen sent
            nonlocal settled
            while settled < len(ids) and bench.job_state(ids[settled]) in ("sent", "failed"):
                settled += 1
            return settled == len(ids)

        server0 = process_cpu(spec["server_pid"])
        with stopwatch() as span:
            for i in range(jobs):
                ids.append(bench.submit(message, to=BOB, subject=spec["subject"],
                                        message_id=f"<bench.{i}@example.test>", pages=3))
            await until(all_sent, 60 + jobs, "every job sent", pause=0.005)
        server = process_cpu(spec["server_pid"]) - server0
        failed = [j for j in ids if bench.job_state(j) != "sent"]
        if failed:
            raise BenchError(f"{len(failed)} job(s) not sent, e.g. {failed[0]}: "
                             f"{bench.device.api.job(failed[0]).reason}")
    finally:
        await bench.stop()
    return _result(span, server, jobs)


def send_smtplib(spec: dict[str, Any]) -> dict[str, Any]:
    info, jobs = _info(spec), int(spec["jobs"])
    message = Path(spec["message_file"]).read_bytes()
    ctx, port, auth = _context(info), int(info["ports"]["smtp"]), xoauth2(ALICE, spec["token"])
    server0 = process_cpu(spec["server_pid"])
    with stopwatch() as span:
        for _ in range(jobs):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.starttls(context=ctx)
                s.ehlo()
                code, reply = s.docmd("AUTH", "XOAUTH2 " + auth)
                if code != 235:
                    raise BenchError(f"smtplib: AUTH refused: {code} {reply!r}")
                s.sendmail(ALICE, [BOB], message)
    return _result(span, process_cpu(spec["server_pid"]) - server0, jobs)


async def send_floor(spec: dict[str, Any]) -> dict[str, Any]:
    info, jobs = _info(spec), int(spec["jobs"])
    message = Path(spec["message_file"]).read_bytes()
    ctx, port, payload = _context(info), int(info["ports"]["smtp"]), dot_stuff(message)
    server0 = process_cpu(spec["server_pid"])
    with stopwatch() as span:
        for _ in range(jobs):
            await smtp_send("127.0.0.1", port, ctx, user=ALICE, token=spec["token"],
                            sender=ALICE, to=BOB, payload=payload, size=len(message))
    return _result(span, process_cpu(spec["server_pid"]) - server0, jobs)


async def drain_device(spec: dict[str, Any]) -> dict[str, Any]:
    info, count = _info(spec), int(spec["faxes"])
    bench = BenchDevice(Path(spec["dir"]), info)
    await bench.start()
    try:
        await bench.use_bench(FAX_STORE)
        await bench.get_token(FAX_STORE, Control(info).approve)
        server0 = process_cpu(spec["server_pid"])
        with stopwatch() as span:
            result = await bench.check_mail(FAX_STORE)
        server = process_cpu(spec["server_pid"]) - server0
        if not (result["ok"] and result["spooled"] == count and result["deleted"] == count):
            raise BenchError(f"device drain incomplete: {result}")
        printed = None
        if spec.get("print"):  # printing follows from the spool, as a print engine follows
            with stopwatch() as printing:
                if not await bench.wait_printed(FAX_STORE, 60 + count):
                    raise BenchError("printing did not catch up")
            printed = printing.wall
    finally:
        await bench.stop()
    return _result(span, server, count, print_wall=printed)


def drain_poplib(spec: dict[str, Any]) -> dict[str, Any]:
    info, count = _info(spec), int(spec["faxes"])
    ctx, port, auth = _context(info), int(info["ports"]["pop3s"]), xoauth2(BOB, spec["token"])
    server0 = process_cpu(spec["server_pid"])
    with stopwatch() as span:
        pop = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=30)
        reply = pop._shortcmd("AUTH XOAUTH2 " + auth)  # type: ignore[attr-defined]
        if not reply.startswith(b"+OK"):
            raise BenchError(f"poplib: AUTH refused: {reply!r}")
        n, _ = pop.stat()
        for k in range(1, n + 1):
            pop.retr(k)
            pop.dele(k)
        pop.quit()
    if n != count:
        raise BenchError(f"poplib found {n} messages, expected {count}")
    return _result(span, process_cpu(spec["server_pid"]) - server0, n)


async def drain_floor(spec: dict[str, Any]) -> dict[str, Any]:
    info, count = _info(spec), int(spec["faxes"])
    ctx, port = _context(info), int(info["ports"]["pop3s"])
    server0 = process_cpu(spec["server_pid"])
    with stopwatch() as span:
        n = await pop_drain("127.0.0.1", port, ctx, user=BOB, token=spec["token"])
    if n != count:
        raise BenchError(f"the floor client found {n} messages, expected {count}")
    return _result(span, process_cpu(spec["server_pid"]) - server0, n)


# ------------------------------------------------------------------ orchestration
def _rounds(rounds: int, kind: str, spec: Callable[[str, int], dict[str, Any]],
            before: Callable[[], None], after: Callable[[], None]) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for r in range(rounds):
        order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]
        for side in order:
            before()
            results[side].append(workers.run(_WORK[kind][side], spec(side, r)))
            after()
    return results


def _per_job(results: list[dict[str, Any]], field: str) -> float:
    """Median over rounds of `field` per job, in milliseconds."""
    return median([r[field] / r["n"] * 1000 for r in results])


def _ratio(num: list[dict[str, Any]], den: list[dict[str, Any]], field: str) -> list[float]:
    return paired_ratios([r[field] for r in num], [r[field] for r in den])


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else "one round"


def _figures(kind: str, label: str, per: str, res: dict[str, list[dict[str, Any]]],
             rounds: int) -> list[Figure]:
    dev, std, floor = res["device"], res["stdlib"], res["floor"]
    lib = "smtplib" if kind == "send" else "poplib"
    ratio = _ratio(std, dev, "wall")  # throughput device ÷ stdlib = stdlib time ÷ device time
    to_floor = _ratio(floor, dev, "wall")
    cpu_floor = _ratio(dev, floor, "cpu")
    lib_floor = median(_ratio(floor, std, "wall"))
    server = ", ".join(f"{side} {_per_job(res[side], 'server_cpu'):.2f}" for side in SIDES)
    return [
        Figure(f"{kind}.ratio", f"{label} ÷ {lib} (throughput, fair method)", median(ratio), "×",
               f"median of {rounds} paired rounds ({_spread(ratio)})"),
        Figure(f"{kind}.wall", f"{label}: wall time per {per}, device", _per_job(dev, "wall"),
               "ms", f"{lib} {_per_job(std, 'wall'):.2f} ms, floor {_per_job(floor, 'wall'):.2f} "
               f"ms; server CPU per {per}: {server} ms"),
        Figure(f"{kind}.to_floor", f"{label} ÷ floor (throughput)", median(to_floor), "×",
               f"{lib} ÷ floor: {lib_floor:.2f} ×"),
        Figure(f"{kind}.cpu", f"{label}: client CPU per {per}, device", _per_job(dev, "cpu"), "ms",
               f"{lib} {_per_job(std, 'cpu'):.2f} ms, floor {_per_job(floor, 'cpu'):.2f} ms"),
        Figure(f"{kind}.cpu_vs_floor", f"{label}: device client CPU per {per} ÷ floor",
               median(cpu_floor), "×", f"paired, {_spread(cpu_floor)}; {lib} ÷ floor: "
               f"{median(_ratio(std, floor, 'cpu')):.2f} ×"),
    ]


def measure_send(run: BenchRun) -> list[Figure]:
    import asyncio

    servers = run.servers()
    jobs, pages = run.sizes.jobs, 3
    message, subject = asyncio.run(scan_message(sender=ALICE, to=BOB, pages=pages))
    message_file = run.root / "scan.eml"
    message_file.write_bytes(message)
    token = run.token(ALICE, "smtp")

    def spec(side: str, r: int) -> dict[str, Any]:
        return run.spec(dir=str(run.workdir(f"send-{side}-{r}")), jobs=jobs, subject=subject,
                        message_file=str(message_file),
                        **({} if side == "device" else {"token": token}))

    def delivered() -> None:
        got = servers.count(BOB)
        servers.empty(BOB)
        if got != jobs:
            raise BenchError(f"the server holds {got} messages after a send round of {jobs}")

    rounds = run.sizes.send_rounds
    res = _rounds(rounds, "send", spec, lambda: servers.empty(BOB), delivered)
    label = f"Scan to E-mail ({jobs} jobs × {pages}-page PDF, {len(message) / 1024:.0f} KiB)"
    return _figures("send", label, "job", res, rounds)


def measure_drain(run: BenchRun) -> list[Figure]:
    servers = run.servers()
    count = run.sizes.faxes
    messages = [fax_message(sender=ALICE, to=BOB, message_id=f"<fax.{i:06d}@example.test>")
                for i in range(count)]
    token = run.token(BOB, "pop")

    def spec(side: str, r: int) -> dict[str, Any]:
        extra = {"print": r == 0} if side == "device" else {"token": token}
        return run.spec(dir=str(run.workdir(f"drain-{side}-{r}")), faxes=count, **extra)

    def fill() -> None:
        servers.empty(BOB)
        servers.fill(BOB, messages)

    def drained() -> None:
        left = servers.count(BOB)
        if left:
            raise BenchError(f"{left} messages left on the server after a drain")

    rounds = run.sizes.drain_rounds
    res = _rounds(rounds, "drain", spec, fill, drained)
    label = f"POP drain ({count} Internet Faxes, {len(messages[0]) / 1024:.0f} KiB)"
    figures = _figures("drain", label, "message", res, rounds)
    printed = res["device"][0]["print_wall"]
    figures.append(Figure("drain.print", "printing caught up after the drain (TIFF-F decode, "
                          "PNG, fsync)", printed, "s", f"{count / printed:.1f} faxes/s; round 1"))
    return figures
