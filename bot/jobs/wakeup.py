"""Sleeping until woken or due: the one wait the job engine's loops use.

Why this module exists: the scheduler and the outbox each sleep until their next due item or
until something new wakes them. Python 3.11's ``asyncio.wait_for`` swallows a cancellation that
arrives in the same loop step as the event it waits on (the wait returns normally, the task
keeps running), so a stop that raced a wake left the loop waiting forever and the bot never
exited on SIGTERM. ``asyncio.timeout`` counts cancellations and has no such gap.

What it must never do: swallow a cancellation, or raise when the timeout simply ran out.
"""

from __future__ import annotations

import asyncio
import contextlib


async def sleep_until_woken(wake: asyncio.Event, at_most: float | None) -> None:
    """Return when ``wake`` is set or after ``at_most`` seconds (``None``: only when woken)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(at_most):
            await wake.wait()
