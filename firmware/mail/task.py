"""Stopping a background task for good.

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives in the same loop
iteration as the result it waits for (gh-86296); aiosmtplib connects through `wait_for`, so a
device switched off just as a TCP connection completes would otherwise keep sending until the
SMTP timeout. `stop_task` cancels again until the task has really ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["stop_task"]


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    if task is None or task is asyncio.current_task():
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s had failed: %r", task.get_name(), task.exception())
