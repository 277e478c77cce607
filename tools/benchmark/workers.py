"""One client process per measurement, and the table of what such a process can run.

The orchestrator (`mfp-sim bench`) never measures a client in its own interpreter: it starts
`python -m mfp_sim.tools.benchmark.worker NAME`, hands it a JSON spec on stdin (stdin, not the
command line: a spec may carry an access token, and a command line is visible to every user
of the machine), and reads one `RESULT {...}` line from its stdout. The worker does its
set-up (imports, device, token), measures, prints the result and exits; a new process per
run means no run inherits another's caches, threads or garbage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from .servers import BenchError

__all__ = ["RESULT", "WORK", "command", "json_line", "parse_result", "run"]

#: What a worker process may run: name -> "module:function" in this package.
WORK: dict[str, str] = {
    "send.device": "mail:send_device",
    "send.smtplib": "mail:send_smtplib",
    "send.floor": "mail:send_floor",
    "drain.device": "mail:drain_device",
    "drain.poplib": "mail:drain_poplib",
    "drain.floor": "mail:drain_floor",
    "token.first": "tokens:first_token",
    "memory.idle": "memory:idle_devices",
    "backlog.steps": "backlog:steps",
    "history.device": "history:device_polls",
    "history.floor": "history:floor_polls",
}

RESULT = "RESULT "


def command(name: str) -> list[str]:
    """The command line of a worker process running `name`."""
    return [sys.executable, "-m", "mfp_sim.tools.benchmark.worker", name]


def json_line(spec: dict[str, Any]) -> str:
    """The spec as a worker reads it: one line of JSON."""
    return json.dumps(spec) + "\n"


def parse_result(line: str) -> dict[str, Any]:
    """The result in a worker's `RESULT {...}` line."""
    result: dict[str, Any] = json.loads(line[len(RESULT):])
    return result


def run(name: str, spec: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
    """Run `name` in a fresh interpreter with `spec`; its result, or BenchError saying why not."""
    if name not in WORK:
        raise BenchError(f"no benchmark work {name!r}: one of {', '.join(WORK)}")
    try:
        proc = subprocess.run(command(name),
                              input=json_line(spec), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{name}: no result within {timeout:g} s") from exc
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT) and proc.returncode == 0:
            return parse_result(line)
    tail = (proc.stderr or proc.stdout)[-1500:]
    raise BenchError(f"{name} failed (exit {proc.returncode}):\n{tail}")
