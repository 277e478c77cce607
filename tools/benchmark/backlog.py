"""Job submit → NVRAM durable while a backlog of jobs builds up.

The device's SMTP server is a port where nothing listens (connection refused at once), so
every job is tried once, fails for now and waits for its retry (60 s of device time, which
never passes: the clock is virtual), and the queue grows to the full backlog. For each job
the time of the submit itself is measured (job id allocated, job record and sealed message
written in NVRAM: the call returns once the job is durable); then the loop runs until the
queue has tried that job (not timed: the queue's turn, reported apart). Flat means the last
tenth of the submits costs what the first tenth did.

Paired in time, like the mail figures: two device processes (`steps`) take commands in
lockstep. The *grown* one submits its first nine tenths alone; then its last tenth goes one
job at a time, alternating with a *fresh* device's first tenth. The figure is the median of
the grown device's last tenth ÷ the median of the fresh device's first tenth, both measured
in the same stretch of time and in the same way (one job per command, the other process
running in between): a busy moment of the shared machine (another process's fsyncs, which
every submit waits for) falls on both. Measured by one device alone, its first and last
tenths were a minute apart, and that figure moved between 0.99 and 1.34 from run to run of
the same code (docs/bench.md). The CPU time of the submits (the device's own work, whatever
the disk does) is compared the same way, in the note.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import workers
from .drive import ALICE, BOB, SMTP_STORE, BenchDevice, scan_message
from .figures import Figure
from .measure import median, until
from .servers import BenchError

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["steps", "measure"]

READY, DONE, END = "READY", "DONE", "end"


def _tried(bench: BenchDevice, job: str) -> bool:
    return bench.job_attempts(job) >= 1 and bench.job_state(job) == "queued"


async def steps(spec: dict[str, Any]) -> dict[str, Any]:
    """A device that submits jobs when told: each stdin line is a count (or `end`)."""
    message = Path(spec["message_file"]).read_bytes()
    closed = socket.socket()  # bound, never listening: connections to it are refused
    closed.bind(("127.0.0.1", 0))
    bench = BenchDevice(Path(spec["dir"]), None)
    await bench.start()
    durable: list[float] = []
    turn: list[float] = []
    cpu: list[float] = []
    try:
        await bench.configure(SMTP_STORE, server="127.0.0.1", port=str(closed.getsockname()[1]),
                              security="off", auth="none", sender_address=ALICE)
        print(READY, flush=True)
        while (command := sys.stdin.readline().strip()) not in ("", END):
            for _ in range(int(command)):  # the loop waits for the command: the device is idle
                t0, c0 = time.perf_counter(), time.thread_time()
                job = bench.submit(message, to=BOB, subject=spec["subject"],
                                   message_id=f"<backlog.{len(durable)}@example.test>")
                t1, c1 = time.perf_counter(), time.thread_time()
                await until(partial(_tried, bench, job), 30, f"job {job} tried once")
                durable.append(t1 - t0)
                cpu.append(c1 - c0)
                turn.append(time.perf_counter() - t1)
            print(DONE, flush=True)
        size = bench.nvram_bytes()
    finally:
        await bench.stop()
        closed.close()
    return {"durable": durable, "turn": turn, "cpu": cpu, "nvram_bytes": size}


class _Device:
    """One `steps` worker process, driven line by line."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self._log: IO[str] = tempfile.TemporaryFile("w+")  # a pipe could fill and block it
        self._proc = subprocess.Popen(workers.command("backlog.steps"), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, text=True)
        self._send(workers.json_line(spec))
        self._expect(READY)

    def step(self, count: int) -> None:
        self._send(f"{count}\n")
        self._expect(DONE)

    def finish(self) -> dict[str, Any]:
        self._send(f"{END}\n")
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        line = self._expect(workers.RESULT)
        self._proc.wait(timeout=60)
        return workers.parse_result(line)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=30)
        self._log.close()

    def _send(self, text: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(text)
            self._proc.stdin.flush()
        except BrokenPipeError:
            self._failed()

    def _expect(self, word: str) -> str:
        assert self._proc.stdout is not None
        while line := self._proc.stdout.readline():
            if line.startswith(word):
                return line
        self._failed()

    def _failed(self) -> Any:
        self._proc.wait(timeout=60)
        self._log.seek(0)
        tail = self._log.read()[-1500:]
        raise BenchError(f"backlog device {self.name} failed (exit {self._proc.returncode}):"
                         f"\n{tail}")


def _ratio(last: list[float], first: list[float]) -> tuple[float, float, float]:
    a, b = median(last), median(first)
    return a / b, b, a


def measure(run: BenchRun) -> list[Figure]:
    count = run.sizes.backlog
    tenth = max(1, count // 10)
    message, subject = asyncio.run(scan_message(sender=ALICE, to=BOB, pages=1))
    message_file = run.root / "scan1.eml"
    message_file.write_bytes(message)

    def spec(name: str) -> dict[str, Any]:
        return run.spec(dir=str(run.workdir(f"backlog-{name}")), subject=subject,
                        message_file=str(message_file))

    grown = fresh = None
    try:
        grown = _Device("grown", spec("grown"))
        fresh = _Device("fresh", spec("fresh"))
        grown.step(count - tenth)
        for k in range(tenth):  # one job each in turn; which goes first alternates
            for device in ((grown, fresh) if k % 2 == 0 else (fresh, grown)):
                device.step(1)
        big, new = grown.finish(), fresh.finish()
    finally:
        for device in (grown, fresh):
            if device is not None:
                device.stop()
    ratio, first, last = _ratio(big["durable"][-tenth:], new["durable"])
    cpu, _, _ = _ratio(big["cpu"][-tenth:], new["cpu"])
    turn_ratio, turn_first, turn_last = _ratio(big["turn"][-tenth:], new["turn"])
    return [
        Figure("backlog.flatness", f"job submit → NVRAM durable, backlog of {count:,} "
               "(last tenth ÷ first)", ratio, "×",
               f"paired: {first * 1000:.2f} → {last * 1000:.2f} ms per submit, the grown "
               f"device's last tenth interleaved with a fresh device's first; CPU per submit "
               f"{cpu:.2f} ×; 1-page PDF ({len(message) / 1024:.0f} KiB)"),
        Figure("backlog.submit", "job submit → NVRAM durable, median",
               median(big["durable"]) * 1000, "ms",
               f"NVRAM {big['nvram_bytes'] / 2**20:.0f} MiB at the end"),
        Figure("backlog.queue_turn", "the queue's turn per job (try, refused, back-off), last "
               "tenth ÷ first", turn_ratio, "×",
               f"paired as above: {turn_first * 1000:.2f} → {turn_last * 1000:.2f} ms"),
    ]
