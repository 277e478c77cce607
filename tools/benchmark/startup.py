"""Process start → console answers: `mfp-sim device --testbed testbed.json` as a person
starts it, timed from just before the spawn to the first reply on its TCP console.

The device reads the running bench's testbed.json (so the provider `local` and the bench CA
are set up, as in the demo and the HIL tests), runs on the virtual clock, and gets the command
`clock`; the time ends when its `OK` arrives. Interpreter start, imports, NVRAM, trust store,
token stores and the console are all in it. The modules are byte-compiled first, as an install
leaves them (`byte_compile`); compiling them is not part of a start.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .figures import Figure
from .measure import median
from .servers import BenchError, mfp_sim_command

if TYPE_CHECKING:
    from .runner import BenchRun

__all__ = ["measure", "start_once"]


def start_once(testbed_json: Path) -> float:
    """Milliseconds from spawn to the console's first `OK`. The device's NVRAM and key folder
    are both inside one temporary folder, so nothing is left behind (the key folder's default
    is beside the NVRAM folder, which would outlive the run)."""
    with tempfile.TemporaryDirectory(prefix="mfp-bench-start-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*mfp_sim_command(), "device", "--nvram", f"{tmp}/nvram", "--keystore",
             f"{tmp}/keystore", "--testbed", str(testbed_json),
             "--clock", "virtual", "--console", "tcp:127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("console=tcp:"):
                raise BenchError(f"mfp-sim device printed {line!r} first, not console=tcp:…; "
                                 f"stderr: {proc.stderr.read()[-500:] if proc.stderr else ''}")
            port = int(line.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.settimeout(10)
                s.sendall(b"clock\n")
                data = b""
                while b"OK" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise BenchError("the console closed before answering")
                    data += chunk
            return (time.perf_counter() - t0) * 1000
        finally:
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)


def byte_compile() -> None:
    """Compile the device's modules that are not compiled or out of date, as an install does
    (pip byte-compiles a wheel; `make install` runs compileall): the figure is the start of
    an installed device, whether or not this tree was changed since `make` last ran, and
    whatever PYTHONDONTWRITEBYTECODE says (it stops a process writing what it compiled, so
    each start would compile about 100 modules again, 130 ms)."""
    import compileall

    import mfp_sim

    package = Path(mfp_sim.__file__).parent
    for part in ("firmware", "hwsim", "panel", "tools"):  # symlinks: compileall skips those
        compileall.compile_dir(str((package / part).resolve()), quiet=1)


def measure(run: BenchRun) -> list[Figure]:
    testbed_json = run.servers().json_path
    byte_compile()
    times = [start_once(testbed_json) for _ in range(run.sizes.starts)]
    return [Figure("startup.console", "process start → console answers (mfp-sim device "
                   "--testbed)", median(times), "ms",
                   f"median of {len(times)} ({min(times):.0f}–{max(times):.0f} ms)")]
