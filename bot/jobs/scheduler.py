"""One dispatcher for every job in flight: wake for the next due action, run it, bounded.

Why this module exists: a sleep loop per job would hold thousands of timers and hammer the
provider after a restart. Like RoboDanny's timer dispatcher, one task sleeps until the earliest
due entry of a heap (or until something earlier is pushed), then hands due work to a bounded
number of concurrent runners. Entries are cheap tuples; a job that no longer needs its entry
(cancelled, finished) is skipped by the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

log = logging.getLogger(__name__)


class Action(StrEnum):
    SUBMIT = "submit"
    POLL = "poll"


Runner = Callable[[int, Action], Awaitable[None]]


class Scheduler:
    """A heap of (due time, job id, action) and one dispatcher task."""

    def __init__(
        self, runner: Runner, max_concurrent: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._runner = runner
        self._clock = clock
        self._heap: list[tuple[float, int, int, Action]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, job_id: int, action: Action) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (due, next(self._order), job_id, action))
        if earliest is None or due < earliest:
            self._wake.set()

    def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-scheduler")

    async def stop(self, grace: float) -> None:
        """Stop dispatching; give running work ``grace`` seconds, then cancel it."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._heap[0][0] - self._clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue
            await self._slots.acquire()
            _, _, job_id, action = heapq.heappop(self._heap)
            task = asyncio.create_task(self._run(job_id, action))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: int, action: Action) -> None:
        try:
            await self._runner(job_id, action)
        finally:
            self._slots.release()
