"""Mail-path figures for `make bench`: Scan to E-mail throughput and POP3 drain, each as a ratio
against the stdlib doing the same protocol work (same TLS, same XOAUTH2 token, same bytes), and
peak memory (tracemalloc) of each side.

The device side is the real pipeline: durable job queue (NVRAM write, seal) → SMTP session
(STARTTLS, XOAUTH2, DATA) → job marked sent; and poll → RETR → decode TIFF-F → print to the
tray → record in NVRAM → DELE. The stdlib side is `smtplib`/`poplib` in a loop, the floor any
firmware pays for the protocol alone.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import poplib
import smtplib
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from email.headerregistry import Address
from pathlib import Path
from typing import Any, TypeVar

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.ifax import compose_ifax_message, encode_tiff_f
from mfp_sim.firmware.mail.outgoing import compose_scan
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.scanner import Scanner
from mfp_sim.tools.testbed import Testbed

from .bench import Figure, _until

__all__ = ["bench_mail"]

ALICE = "alice@example.test"
BOB = "bob@example.test"
T = TypeVar("T")


def _xoauth2(user: str, token: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


async def _token(device: Device, bench: Testbed, clock: VirtualClock, store: str, account: str) -> None:
    for line in (f"set {store}.provider local", f"set {store}.auth oauth2", f"set {store}.account {account}"):
        reply = await device.shell.execute(line)
        assert reply[-1] == "OK", reply
    prompt = await device.api.get_token(store)
    bench.idp.approve(prompt.user_code, account)
    await clock.advance(5)
    await _until(lambda: device.stores[store].state is TokenState.RETRIEVED, 10, 0.001)


async def _measured(work: Callable[[], Awaitable[T]], memory: bool) -> tuple[T, float, float]:
    """(result, seconds, peak MiB when `memory`); memory runs are separate from timed runs."""
    if memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = await work()
    finally:
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if memory else 0.0
        if memory:
            tracemalloc.stop()
    return result, elapsed, peak


async def _send_round(jobs: int, memory: bool) -> tuple[float, float, float, float, int]:
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with Testbed(Path(tmp) / "bench", clock) as bench:
            device = bench.make_device(Path(tmp) / "dev")
            await device.start()
            try:
                await _token(device, bench, clock, "smtp", ALICE)
                await device.api.set("smtp.sender_address", ALICE)
                cfg = device.settings.smtp()
                out = await compose_scan(Scanner(), cfg, job_id="bench", to=BOB, pages=3, fmt="pdf",
                                         now=clock.now())
                size = len(out.message)

                async def device_side() -> None:
                    ids = []
                    for i in range(jobs):
                        job_id = device.jobs.allocate_id()
                        msg = out.message.replace(b"<mfp.bench.", f"<mfp.bench{i}.".encode(), 1)
                        device.jobs.submit(job_id, kind="scan", to=BOB, sender=ALICE, subject=out.subject,
                                           message_id=f"<bench{i}@example.test>", message=msg, pages=3,
                                           fmt="pdf")
                        ids.append(job_id)
                    await _until(lambda: all(device.jobs.get(j).state.value == "sent" for j in ids), 600, 0.001)

                _, t_dev, mem_dev = await _measured(device_side, memory)
                token = (await device.stores["smtp"].access_token()).access_token
                port = bench.mail.smtp_port
                ctx = bench.ca.client_context()

                def stdlib_side() -> None:
                    for _ in range(jobs):
                        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                            s.starttls(context=ctx)
                            s.ehlo()
                            code, _ = s.docmd("AUTH", "XOAUTH2 " + _xoauth2(ALICE, token))
                            assert code == 235, code
                            s.sendmail(ALICE, [BOB], out.message)

                _, t_std, mem_std = await _measured(lambda: asyncio.to_thread(stdlib_side), memory)
                delivered = len(bench.mail.store.snapshot(BOB))
                assert delivered == 2 * jobs, delivered
            finally:
                await device.stop()
    return t_dev, t_std, mem_dev, mem_std, size


def _fax_message(i: int, tiff: bytes) -> bytes:
    msg = compose_ifax_message(sender=Address("Sender", addr_spec=ALICE), to=BOB, subject=f"Fax {i}",
                               date=1_800_000_000.0 + i, message_id=f"<fax{i}@example.test>", tiff=tiff,
                               pages=1, filename=f"fax{i}.tif")
    return msg.as_bytes(policy=email.policy.SMTP)


async def _drain_round(count: int, memory: bool) -> tuple[float, float, float, float, int, float]:
    clock = VirtualClock()
    tiff = encode_tiff_f(Scanner().scan(1, job_id="fax", label="bench fax"))
    messages = [_fax_message(i, tiff) for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        async with Testbed(Path(tmp) / "bench", clock) as bench:
            device = bench.make_device(Path(tmp) / "dev")
            await device.start()
            try:
                await _token(device, bench, clock, "pop.ifax", BOB)
                for m in messages:
                    bench.mail.deliver(BOB, m)

                async def device_side() -> Any:  # the drain: stored durably and deleted
                    return await device.api.check_mail("pop.ifax", wait_printed=False)

                result, t_dev, mem_dev = await _measured(device_side, memory)
                assert result.ok and result.spooled == count and result.deleted == count, result
                # Printing catches up from the spool; done before poplib runs, not beside it.
                printed, t_print, _ = await _measured(
                    lambda: device.api.wait_printed("pop.ifax", 600), False)
                assert printed and len(device.api.tray()) == count
                for m in messages:
                    bench.mail.deliver(BOB, m)
                token = (await device.stores["pop.ifax"].access_token()).access_token
                port = bench.mail.pop3s_port
                ctx = bench.ca.client_context()

                def stdlib_side() -> int:
                    pop = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=30)
                    resp = pop._shortcmd("AUTH XOAUTH2 " + _xoauth2(BOB, token))
                    assert resp.startswith(b"+OK"), resp
                    n, _ = pop.stat()
                    for k in range(1, n + 1):
                        pop.retr(k)
                        pop.dele(k)
                    pop.quit()
                    return n

                drained, t_std, mem_std = await _measured(lambda: asyncio.to_thread(stdlib_side), memory)
                assert drained == count
            finally:
                await device.stop()
    return t_dev, t_std, mem_dev, mem_std, len(messages[0]), t_print


async def bench_mail(quick: bool) -> list[Figure]:
    jobs, faxes = (50, 100) if quick else (200, 500)
    t_dev, t_std, _, _, size = await _send_round(jobs, memory=False)
    _, _, mem_dev, mem_std, _ = await _send_round(jobs, memory=True)
    send_ratio = t_std / t_dev
    d_dev, d_std, _, _, fax_size, d_print = await _drain_round(faxes, memory=False)
    _, _, dmem_dev, dmem_std, _, _ = await _drain_round(faxes, memory=True)
    drain_ratio = d_std / d_dev
    return [
        Figure(f"Scan to E-mail: {jobs} jobs × 3-page PDF ({size / 1024:.0f} KiB), STARTTLS+XOAUTH2",
               jobs / t_dev, "jobs/s", "—", None, f"smtplib: {jobs / t_std:.1f} jobs/s"),
        Figure("  throughput ratio, device ÷ smtplib (same bytes, TLS, auth)", send_ratio, "×",
               "≥ 0.8", send_ratio >= 0.8),
        Figure("  peak memory, device send (tracemalloc)", mem_dev, "MiB", "—", None,
               f"smtplib: {mem_std:.1f} MiB"),
        Figure(f"POP3 drain: {faxes} Internet Faxes ({fax_size / 1024:.0f} KiB), spool + DELE",
               faxes / d_dev, "msg/s", "—", None, f"poplib RETR+DELE: {faxes / d_std:.1f} msg/s"),
        Figure("  drain ratio, device ÷ poplib", drain_ratio, "×", "≥ 0.8", drain_ratio >= 0.8),
        Figure("  printing caught up after the drain (decode, PNG, fsync)", d_print, "s", "—", None,
               f"{faxes / d_print:.1f} faxes/s"),
        Figure("  peak memory, device drain (tracemalloc)", dmem_dev, "MiB", "—", None,
               f"poplib: {dmem_std:.1f} MiB"),
    ]
