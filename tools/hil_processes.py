"""`mfp-sim testbed` and `mfp-sim device` as child processes, for the pytest plugin and scripts.

Each command prints `key=value` lines (`console=…`, `testbed=…`) and then `ready=1`; a child's
output goes to files in its state folder (`stdout.txt`, `stderr.txt`), never to a pipe that could
fill and stall it, and is read until `ready=1` appears, the child exits, or the deadline passes.
Stopping sends SIGTERM (the commands shut down cleanly on it) and waits, bounded; a child that
does not stop is killed and said so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["MfpProcess", "ProcessError", "mfp_sim_command", "start_device", "start_testbed"]


class ProcessError(Exception):
    """A child did not become ready, or did not stop cleanly."""


def mfp_sim_command() -> list[str]:
    """How to run `mfp-sim` with this interpreter (works in a venv without activating it)."""
    return [sys.executable, "-m", "mfp_sim.tools.cli"]


class MfpProcess:
    """One `mfp-sim` child: started at once, `values` filled by `wait_ready()`."""

    def __init__(self, args: list[str], state_dir: Path) -> None:
        self.args = list(args)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.state_dir / "stdout.txt"
        self.stderr_path = self.state_dir / "stderr.txt"
        self.values: dict[str, str] = {}
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen([*mfp_sim_command(), *self.args], stdout=out,
                                          stderr=err, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            self.values = _key_values(self.stdout_path.read_text(encoding="utf-8", errors="replace"))
            if self.values.get("ready") == "1":
                return self.values
            if self.popen.poll() is not None:
                raise ProcessError(f"mfp-sim {self.args[0]} exited with {self.popen.returncode} "
                                   f"before it was ready: {self.stderr()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessError(f"mfp-sim {self.args[0]} was not ready within {timeout:g} s: "
                                   f"{self.stderr()[-2000:]}")
            time.sleep(0.05)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; the exit status (killed after `timeout`: ProcessError)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
                raise ProcessError(f"mfp-sim {self.args[0]} did not stop within {timeout:g} s "
                                   "of SIGTERM and was killed") from None
        return self.popen.returncode


def _key_values(text: str) -> dict[str, str]:
    """The `key=value` lines a command printed (its JSON block and other lines skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith((" ", "{", "}", '"')) and " " not in key:
            values[key] = value
    return values


def start_testbed(state_dir: Path, *, profile: str | None = None,
                  knobs: dict[str, str] | None = None, timeout: float = 30.0) -> MfpProcess:
    """`mfp-sim testbed --state state_dir`, ready; `values["testbed"]` is its testbed.json."""
    args = ["testbed", "--state", str(state_dir)]
    if profile:
        args += ["--idp-profile", profile]
    for name, value in (knobs or {}).items():
        args += ["--idp-knob", f"{name}={value}"]
    proc = MfpProcess(args, Path(state_dir) / "process")
    proc.wait_ready(timeout)
    return proc


def start_device(nvram: Path, *, testbed: Path | None = None, clock: str = "virtual",
                 providers: Path | None = None, cas: tuple[Path, ...] = (),
                 console: str = "tcp:127.0.0.1:0", timeout: float = 30.0) -> MfpProcess:
    """`mfp-sim device`, ready; `values["console"]` is the console address it printed."""
    args = ["device", "--nvram", str(nvram), "--clock", clock, "--console", console]
    if testbed is not None:
        args += ["--testbed", str(testbed)]
    if providers is not None:
        args += ["--providers", str(providers)]
    for ca in cas:
        args += ["--ca", str(ca)]
    proc = MfpProcess(args, Path(os.fspath(nvram) + ".process"))
    proc.wait_ready(timeout)
    return proc
