"""One dispatcher for every job in flight: wake for the next due action, run it, bounded.

Why this module exists: a sleep loop per job would hold thousands of timers and hammer the
provider after a restart. Like RoboDanny's timer dispatcher, one task sleeps until the earliest
due entry (or until something earlier is pushed), then hands due work to a bounded number of
concurrent runners. Entries are cheap tuples; a job that no longer needs its entry (cancelled,
finished) is skipped by the runner.

Work is kept in *lanes*, one per action and provider (``submit`` on MuleRouter, ``poll`` on
Vtrix…), each with its own heap and its own slots:

* a create never waits behind polls: submit lanes are served first, and thousands of overdue
  polls after a restart fill only the poll lanes' slots;
* one provider's trouble (slow answers, rate limits) holds only that provider's slots.

What it must never do: run an entry before it is due, or let one lane's full slots stop the
dispatch of another.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.jobs.wakeup import sleep_until_woken

log = logging.getLogger(__name__)


class Action(StrEnum):
    SUBMIT = "submit"
    POLL = "poll"


Runner = Callable[[int, Action], Awaitable[None]]


@dataclass
class _Lane:
    action: Action
    free: int
    heap: list[tuple[float, int, int]] = field(default_factory=list)  # (due, order, job id)


class Scheduler:
    """Heaps of (due time, job id) per lane, and one dispatcher task."""

    def __init__(
        self, runner: Runner, slots_per_lane: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._runner = runner
        self._clock = clock
        self._slots_per_lane = slots_per_lane
        self._lanes: dict[tuple[Action, str], _Lane] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(len(lane.heap) for lane in self._lanes.values())

    def push(self, due: float, job_id: int, action: Action, lane: str) -> None:
        """Run ``action`` for ``job_id`` at ``due`` in ``lane`` (the job's provider)."""
        key = (action, lane)
        found = self._lanes.get(key)
        if found is None:
            found = self._lanes[key] = _Lane(action, self._slots_per_lane)
        earliest = found.heap[0][0] if found.heap else None
        heapq.heappush(found.heap, (due, next(self._order), job_id))
        if earliest is None or due < earliest:
            self._wake.set()

    def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-scheduler")

    @property
    def alive(self) -> bool:
        """Started and its dispatcher still running (for the readiness check)."""
        return self._dispatcher is not None and not self._dispatcher.done()

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

    def _ordered(self) -> list[_Lane]:
        """Submit lanes first: a member's new job goes before any re-poll."""
        return sorted(self._lanes.values(), key=lambda lane: lane.action is not Action.SUBMIT)

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock()
            next_due: float | None = None
            for lane in self._ordered():
                while lane.heap and lane.free > 0 and lane.heap[0][0] <= now:
                    _, _, job_id = heapq.heappop(lane.heap)
                    lane.free -= 1
                    task = asyncio.create_task(self._run(lane, job_id))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if lane.heap and lane.free > 0:
                    due = lane.heap[0][0]
                    next_due = due if next_due is None else min(next_due, due)
            timeout = None if next_due is None else max(next_due - self._clock(), 0.0)
            await sleep_until_woken(self._wake, timeout)

    async def _run(self, lane: _Lane, job_id: int) -> None:
        try:
            await self._runner(job_id, lane.action)
        finally:
            lane.free += 1
            self._wake.set()
