"""This process's place among the bot processes sharing one database: its leases and its share.

Why this module exists: several bot processes (each running some gateway shards) may share one
PostgreSQL database. Every job in flight is owned by exactly one of them, through a lease: the
job's ``lease_owner`` names an instance, and the instance's row carries the expiry its
heartbeat keeps moving. A :class:`Membership` registers this process as an instance, renews its
lease every third of ``WANBOT_LEASE_SECONDS``, takes over the jobs of instances whose lease ran
out (a process that was SIGKILLed, lost its machine or its network) and tells the engine its
share of the deployment's request rates (one process of three sends a third of
``WANBOT_REQUESTS_PER_SECOND`` and of Discord's 50 requests a second).

A process whose own lease ran out (its heartbeats failed for longer than the lease: a database
outage, a frozen machine) must assume another process owns its jobs now: :class:`Membership`
says so to the engine (``on_lost``), which forgets them, and joins again under a new instance
id, claiming what is still free. Nothing is done twice meanwhile: every move of a job is a
compare-and-set in the store, so of two processes that both think they own a job only one
moves it.

With SQLite (one process per database file) the same code runs with one instance: joining
claims every job of the process that ran before.

What it must never do: claim a job whose owner's lease is still valid, keep following jobs
after its own lease was lost, or poll the database for wake-ups it can be notified of (it
listens for ``wanbot_jobs_free``, sent by a process that stops cleanly, and
``wanbot_instance_joined``, sent by one that starts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from bot.jobs.records import Job
from bot.jobs.storage import CHANNEL_JOBS_FREE, JobStore
from bot.jobs.wakeup import sleep_until_woken

log = logging.getLogger(__name__)

# Sent by a process that joins: the others beat at once, so every share of the rates is
# recomputed now rather than at their next heartbeat.
INSTANCE_JOINED = "wanbot_instance_joined"
# Jobs taken over in one claim; more are claimed at the next beat (or at once, while full).
CLAIM_BATCH = 500


def new_instance_id() -> str:
    """Unique per process start: host, pid and a random part (pids repeat across machines and
    restarts; the random part makes a re-joined process a new instance)."""
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Membership:
    """Registers this process, renews its lease, and hands over jobs it claims."""

    def __init__(
        self,
        store: JobStore,
        lease_seconds: float,
        *,
        on_claimed: Callable[[list[Job]], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
        on_share: Callable[[int], None],
        shards: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.instance_id = new_instance_id()
        self.live = 1
        self._on_claimed = on_claimed
        self._on_lost = on_lost
        self._on_share = on_share
        self._shards = shards
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    def __repr__(self) -> str:
        return f"Membership({self.instance_id!r}, live={self.live})"

    @property
    def beat_seconds(self) -> float:
        """A heartbeat every third of the lease: two may fail before it runs out."""
        return self.lease_seconds / 3

    async def join(self) -> list[Job]:
        """Register, and claim every job nobody live owns (at start-up: the engine resumes
        them before it starts its loops)."""
        now = self._clock()
        await self.store.register_instance(
            self.instance_id, now, self.lease_seconds, shards=self._shards
        )
        if not self._listening:
            await self.store.listen(CHANNEL_JOBS_FREE, self._heard_jobs_free)
            await self.store.listen(INSTANCE_JOINED, self._heard_jobs_free)
            self._listening = True
        self._set_live(await self.store.live_instances(now))
        await self.store.notify(INSTANCE_JOINED, self.instance_id)
        claimed: list[Job] = []
        while True:
            batch = await self.store.claim_jobs(self.instance_id, now, limit=CLAIM_BATCH)
            claimed.extend(batch)
            if len(batch) < CLAIM_BATCH:
                return claimed

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat_forever(), name="lease-heartbeat")

    async def leave(self) -> None:
        """A clean stop: release this instance's jobs for the others, at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            released = await self.store.retire_instance(self.instance_id)
        except Exception as exc:
            log.warning(
                "could not release this process's jobs (%s); they pass on when its lease runs out",
                exc,
            )
            return
        if released:
            log.info("released %d jobs to the other bot processes", released)

    def _heard_jobs_free(self, payload: str) -> None:
        if payload != self.instance_id:  # not its own joining
            self._wake.set()

    def _set_live(self, live: int) -> None:
        live = max(live, 1)
        if live != self.live:
            log.info("bot processes sharing this database: %d (was %d)", live, self.live)
        self.live = live
        self._on_share(live)

    async def _beat_forever(self) -> None:
        while True:
            await sleep_until_woken(self._wake, self.beat_seconds)
            self._wake.clear()
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "lease heartbeat failed (%s); trying again in %.0fs", exc, self.beat_seconds
                )

    async def beat(self) -> None:
        """Renew the lease, learn how many processes share the work, take over orphans."""
        now = self._clock()
        live = await self.store.heartbeat(self.instance_id, now, self.lease_seconds)
        if live is None:
            lost = self.instance_id
            self.instance_id = new_instance_id()
            log.error(
                "this process's lease (%s) ran out before it was renewed; other processes may "
                "own its jobs now, so it forgets them and joins again as %s",
                lost,
                self.instance_id,
            )
            await self._on_lost()
            claimed = await self.join()
        else:
            self._set_live(live)
            claimed = await self.store.claim_jobs(self.instance_id, now, limit=CLAIM_BATCH)
            if len(claimed) == CLAIM_BATCH:
                self._wake.set()  # more to take: the next batch at once
        if await self.store.reset_outbox_claims(now):
            # Posts a gone process had claimed: due now, reconciled before posting again.
            await self._on_claimed([])
        if claimed:
            log.warning(
                "took over %d jobs from bot processes that stopped renewing their leases",
                len(claimed),
            )
            await self._on_claimed(claimed)
