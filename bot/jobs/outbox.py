"""The outbox: post each result and each notice exactly once, retrying until it lands.

Why this module exists: a result must reach the member even if the bot crashes, Discord is down
or the upload fails, and it must never be posted twice. The store queues an outbox row in the
same transaction as the state change that calls for it (a transactional outbox); this loop
delivers the rows.

Exactly once, across a crash between "posted" and "recorded":

1. the row is *claimed* (attempt counter raised, persisted) before anything is posted;
2. the deliverer posts and returns the message ids, which are recorded with the row;
3. if the process dies between 1 and 2, the row is found claimed but undelivered at the next
   start. Because its attempt counter shows an earlier try, the outbox first asks the deliverer
   (:meth:`~bot.jobs.delivery.Deliverer.find_delivered`) whether that try posted, and records
   the found message instead of posting again.

Never stuck, never given up early: every attempt counts (whatever went wrong, the deliverer's
own failures, a dropped connection, a full disk) and backs off exponentially, up to
``outbox_retry_max_seconds``; transient failures are retried until the result links expire
(``result_ttl_seconds`` after the result was seen), permanent ones (the deliverer found no way
to post at all, not even a direct message) end the attempt at once. A result that can never be
posted leaves the job ``failed`` with its links kept for ``/jobs show``, and its files removed.
When the store itself cannot be written, the outbox backs off in memory instead of retrying
every few milliseconds.

Results are downloaded before posting (streamed to disk, capped). A brief download failure is
retried for ``download_patience_seconds``; after that, or for a file above the cap, the post
carries the provider's links instead.

What it must never do: post without a claim that won, or treat an unknown outcome as "not
posted" without asking the deliverer first.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bot.catalog import ResultKind, spec_for
from bot.config import ProviderName
from bot.i18n import N_
from bot.jobs.delivery import Deliverer, DeliveryFailed, DeliveryKind
from bot.jobs.records import Job, OutboxItem
from bot.jobs.states import JobState
from bot.jobs.storage import JobStore
from bot.jobs.wakeup import sleep_until_woken
from bot.log_context import add_log_context, log_context
from bot.results import ResultDownloadFailed, ResultTooLarge, download_result
from bot.telemetry import NO_TELEMETRY, Telemetry

if TYPE_CHECKING:
    from bot.jobs.engine_config import EngineConfig

log = logging.getLogger(__name__)


class Outbox:
    """Delivers due outbox rows with bounded concurrency; woken on new rows."""

    def __init__(
        self,
        store: JobStore,
        deliverer: Deliverer,
        session: aiohttp.ClientSession,
        config: EngineConfig,
        *,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry = NO_TELEMETRY,
        owner: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.store = store
        # The instance claims are made for (bot.jobs.leases): when it is gone, they are due.
        self._owner = owner
        self.deliverer = deliverer
        self.telemetry = telemetry
        self.session = session
        self.config = config
        self.clock = clock
        self.results_dir = config.media_dir / "results"
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(config.outbox_concurrency)
        self._in_flight: set[int] = set()
        # Consecutive failed store writes per row: the in-memory backoff after each.
        self._store_failures: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="outbox")

    @property
    def alive(self) -> bool:
        """Started and its loop still running (for the readiness check)."""
        return self._loop is not None and not self._loop.done()

    async def stop(self, grace: float) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                timeout = await self._dispatch_due()
                failures = 0
            except Exception as exc:  # the store is unreadable: back off, one line a try
                failures += 1
                timeout = min(2.0**failures, self.config.store_retry_max_seconds)
                log.warning("outbox: reading due posts failed (%s); again in %.0fs", exc, timeout)
            await sleep_until_woken(self._wake, timeout)

    async def _dispatch_due(self) -> float:
        """Start every due post; return how long to sleep until the next one."""
        now = self.clock()
        for item in await self.store.due_outbox(now, limit=100):
            if item.id in self._in_flight:
                continue
            await self._slots.acquire()
            self._in_flight.add(item.id)
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        upcoming = await self.store.next_outbox_time()
        return 30.0 if upcoming is None else min(max(upcoming - self.clock(), 0.05), 30.0)

    async def _deliver(self, item: OutboxItem) -> None:
        with log_context(job_id=item.job_id):  # guild and model once the job is read
            try:
                await self._deliver_once(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A store write failed (the deliverer's own failures are handled inside). Back
                # off in memory, this row's failures counted across tries, then make it due.
                await self._after_store_failure(item, exc)
            else:
                self._store_failures.pop(item.id, None)
            finally:
                self._in_flight.discard(item.id)
                self._slots.release()

    async def _after_store_failure(self, item: OutboxItem, exc: Exception) -> None:
        while True:
            tries = self._store_failures[item.id] = self._store_failures.get(item.id, 0) + 1
            delay = min(
                self.config.outbox_retry_seconds * 2**tries, self.config.store_retry_max_seconds
            )
            log.warning(
                "outbox item %d (job %d): saving its progress failed (%s); again in %.1fs",
                item.id,
                item.job_id,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            try:
                await self.store.retry_outbox(item.id, self.clock(), f"store write failed: {exc}")
                self.wake()
                return
            except Exception as again:
                exc = again

    async def _deliver_once(self, item: OutboxItem) -> None:
        claimed = await self.store.claim_outbox(
            item.id,
            self.clock(),
            self.config.outbox_lease_seconds,
            attempts=item.attempts,
            owner=self._owner(),
        )
        if claimed is None:
            return  # delivered meanwhile, or another claim won: it is not ours to post
        job = await self.store.get_job(claimed.job_id)
        if job is None:
            return
        add_log_context(guild_id=job.guild_id, model=job.model_id)
        kind = DeliveryKind(claimed.kind)
        try:
            message_ids = await self._post(item, claimed, job, kind)
        except asyncio.CancelledError:
            raise
        except DeliveryFailed as exc:
            await self._failed_attempt(claimed, job, str(exc), permanent=exc.permanent)
            return
        except Exception as exc:  # a dropped connection, a timeout, a full disk: transient
            await self._failed_attempt(
                claimed, job, f"{type(exc).__name__}: {exc}", permanent=False
            )
            return
        await self._complete(claimed, job, message_ids)

    async def _post(
        self, item: OutboxItem, claimed: OutboxItem, job: Job, kind: DeliveryKind
    ) -> list[int]:
        if claimed.attempts > 1:
            # An earlier try may have posted before it could record it: ask first.
            since = item.claimed_at or job.finished_at or job.created_at
            existing = await self.deliverer.find_delivered(job, kind, since=since)
            if existing is not None:
                log.info(
                    "job %d: %s was already posted (%s); recorded, not posted again",
                    job.id,
                    kind.value,
                    existing,
                )
                return existing
        if kind is DeliveryKind.RESULT:
            files = await self._download(job)
            return await self.deliverer.deliver_result(job, files)
        if kind is DeliveryKind.APPROVAL:
            return await self.deliverer.deliver_approval(job)
        return await self.deliverer.deliver_notice(job)

    async def _complete(self, item: OutboxItem, job: Job, message_ids: list[int]) -> None:
        now = self.clock()
        await self.store.complete_outbox(item.id, message_ids, now)
        self.telemetry.delivery_posted(item.kind, now - (job.finished_at or job.created_at))
        if item.kind == DeliveryKind.RESULT:
            await self._remove_files(job)
        updated = await self.store.get_job(job.id)
        if updated is not None:
            try:
                await self.deliverer.job_changed(updated)
            except Exception:
                log.exception("job %d: status update failed (ignored)", job.id)

    async def _remove_files(self, job: Job) -> None:
        await asyncio.to_thread(shutil.rmtree, self.results_dir / str(job.id), True)

    async def _failed_attempt(
        self, item: OutboxItem, job: Job, error: str, *, permanent: bool
    ) -> None:
        now = self.clock()
        expired = now >= (job.finished_at or job.created_at) + self.config.result_ttl_seconds
        if permanent or expired:
            log.error(
                "job %d: giving up on posting the %s after %d attempts: %s",
                job.id,
                item.kind,
                item.attempts,
                error,
            )
            await self.store.abandon_outbox(item.id, error, now)
            if item.kind == DeliveryKind.APPROVAL:
                # Nobody can be asked: the job would wait for a decision nobody can make.
                await self.store.cancel(
                    job.id,
                    now,
                    0,
                    only_from=JobState.AWAITING_APPROVAL,
                    code="approval_unavailable",
                    message=N_(
                        "The bot could not ask the server staff for approval (it cannot post "
                        "where requests go), so it was not started. Ask the staff."
                    ),
                )
                self.wake()
            if item.kind == DeliveryKind.RESULT:
                await self._remove_files(job)
                await self.store.mark_failed(
                    job.id,
                    "delivery_failed",
                    N_(
                        "The result was made but could not be posted here. `/jobs show` has "
                        "its download links while they last (about a day)."
                    ),
                    now,
                    detail=error,
                )
                self.wake()
            return
        delay = min(
            self.config.outbox_retry_seconds * 2 ** (item.attempts - 1),
            self.config.outbox_retry_max_seconds,
        )
        log.warning(
            "job %d: posting the %s failed (%s); retrying in %.0fs", job.id, item.kind, error, delay
        )
        await self.store.retry_outbox(item.id, now + delay, error)
        self.wake()

    async def _download(self, job: Job) -> list[Path]:
        """The job's results on disk (kept from an earlier attempt when present).

        Raises a transient :class:`DeliveryFailed` while a failing download is still worth
        waiting for; returns ``[]`` (post the links) once it is not, or for a file too large.
        """
        spec = spec_for(job.model_id, ProviderName(job.provider))
        folder = self.results_dir / str(job.id)
        default_ext = ".mp4" if spec.result_kind is ResultKind.VIDEO else ".png"
        files: list[Path] = []
        for index, url in enumerate(job.result_urls):
            existing = sorted(folder.glob(f"wan-{job.id}-{index + 1}.*")) if folder.exists() else []
            if existing:
                files.append(existing[0])
                continue
            try:
                files.append(
                    await download_result(
                        self.session,
                        url,
                        folder,
                        stem=f"wan-{job.id}",
                        index=index,
                        default_ext=default_ext,
                        max_bytes=self.config.max_result_bytes,
                        retry_delay=self.config.download_retry_seconds,
                    )
                )
            except ResultTooLarge as exc:
                log.warning(
                    "job %d: result %d not downloaded (%s); posting links", job.id, index + 1, exc
                )
                return []
            except ResultDownloadFailed as exc:
                seen = job.finished_at or job.created_at
                if self.clock() < seen + self.config.download_patience_seconds:
                    raise DeliveryFailed(f"{exc}; trying the download again") from None
                log.warning(
                    "job %d: result %d not downloaded (%s); posting links", job.id, index + 1, exc
                )
                return []
        return files
