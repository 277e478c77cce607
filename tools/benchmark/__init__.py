"""`make bench` (`mfp-sim bench`): speed and memory figures, measured fairly, with issue 9's
goals beside them. Nothing here is asserted in the test suite (docs/bench.md).

Map:
    runner    main(): sizes, sections, the printed table and the JSON file
    figures   Figure, the goals as one table (GOALS), Markdown and JSON output, the machine
    measure   wall + CPU stopwatch, medians, paired ratios, the one bounded wait
    servers   the bench's servers in their own process (`mfp-sim testbed`), the IdP's control
              API, mailboxes filled and emptied for set-up
    workers   one client process per measurement; `worker` is that process's entry point
    drive     every call into the firmware (the one place to adapt when its API changes)
    floor     minimal asyncio SMTP and POP3 clients: TLS and protocol bytes only
    mail      paired figures: Scan to E-mail throughput and POP drain (device, stdlib, floor)
    tokens    first Get Token of a freshly started device; warm flow; silent refresh
    startup   process start → console answers (`mfp-sim device --testbed`)
    memory    memory per idle device holding 3 tokens, many devices in one process
    backlog   job submit → NVRAM durable while a backlog builds up
    history   POP poll that finds nothing new, with a long leave_copy history
    panel     panel start in a pty; token change → shown (in-process)

Imports point one way: sections import the helpers, the helpers import nothing of the
sections, and `runner` loads a section only when it runs.
"""

from .runner import SECTIONS, SIZES, main

__all__ = ["SECTIONS", "SIZES", "main"]
