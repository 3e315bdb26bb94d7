"""The waiting room: queued jobs start when their member's slot frees; approvals lapse.

Why this module exists: a member at their concurrent-job limit may queue a few more jobs
(``/wanbot limits queue:``), and a job above a server's approval threshold waits for staff.
Both wait in the database, reserved and never sent (:mod:`bot.jobs.states`: ``queued``,
``awaiting_approval``), so a restart or another process changes nothing about their turn. One
task per process does the waiting room's work, woken when a slot may have freed (a job of this
process ended, a job was approved or cancelled) and at least every :data:`SWEEP_SECONDS` (a
slot freed in another process, a restart):

* :meth:`SQLStore.start_turns <bot.jobs.store.SQLStore.start_turns>` moves each member's
  oldest queued jobs into their free slots, under the locks a reservation takes, and the engine
  sends them;
* approvals past their expiry are released and the member told (``approval_expired``).

What it must never do: start a job itself (the store's compare-and-set and the engine's
scheduler do), or sleep past the next approval expiry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.jobs.budget import Limits
from bot.jobs.records import Job
from bot.jobs.storage import JobStore
from bot.jobs.wakeup import sleep_until_woken

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
"""The longest the waiting room sleeps without being woken: a slot freed by another process
(PostgreSQL) is taken within this."""


class WaitingRoom:
    """Starts queued jobs in their turn and lets lapsed approvals go; :meth:`start` it once."""

    def __init__(
        self,
        store: JobStore,
        defaults: Limits,
        *,
        owner: Callable[[], str | None],
        on_started: Callable[[list[Job]], Awaitable[None]],
        on_lapsed: Callable[[int], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._owner = owner
        self._on_started = on_started
        self._on_lapsed = on_lapsed
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"WaitingRoom(running={self._task is not None and not self._task.done()})"

    def start(self) -> None:
        self._wake.set()  # a restart with a queue: look at once
        self._task = asyncio.create_task(self._run(), name="waiting-room")

    def wake(self) -> None:
        """A slot may have freed, or a job was approved: look again soon (coalesced)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run_once(self) -> float:
        """Start what may start, release what lapsed; return the seconds to sleep."""
        now = self._clock()
        for user_id, guild_id in await self._store.queued_members():
            # Handed over member by member, each as soon as its turn is committed: a failure
            # later in the sweep never strands jobs already moved to ``created``.
            started = await self._store.start_turns(
                user_id, guild_id, now, self._owner(), self._defaults
            )
            if started:
                await self._on_started(started)
        for job_id in await self._store.lapsed_approvals(now):
            await self._on_lapsed(job_id)
        upcoming = await self._store.next_approval_expiry()
        if upcoming is None:
            return SWEEP_SECONDS
        return min(max(upcoming - self._clock(), 0.05), SWEEP_SECONDS)

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                timeout = await self.run_once()
                failures = 0
            except Exception as exc:  # the store is unreadable: back off, one line a try
                failures += 1
                timeout = min(2.0**failures, SWEEP_SECONDS)
                log.warning("waiting room: %s; again in %.0fs", exc, timeout)
            await sleep_until_woken(self._wake, timeout)
