"""Entry point of a benchmark client process: `python -m mfp_sim.tools.benchmark.worker NAME`.

Reads the JSON spec from stdin's first line, runs the work named in `workers.WORK`, prints
`RESULT {...}`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys

from .workers import RESULT, WORK


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in WORK:
        print(f"usage: worker NAME (one of {', '.join(WORK)})", file=sys.stderr)
        return 2
    module_name, _, function = WORK[argv[0]].partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    work = getattr(module, function)
    # The spec is the first line (json.dumps writes none inside): a work that takes commands
    # as it goes (`backlog:steps`) reads them from the lines after it.
    spec = json.loads(sys.stdin.readline())
    result = work(spec)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    print(RESULT + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
