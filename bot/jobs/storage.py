"""The store protocol: what the engine and the front ends may ask of durable storage.

Why this module exists: callers (the engine, the outbox, cogs, the terminal front end) speak
to "the store" through :class:`JobStore` and receive records (:mod:`bot.jobs.records`), never
rows or SQL, so either backend, SQLite (one file, one process) or PostgreSQL (several bot
processes), serves them and no caller changes. :func:`open_store` is the one place that picks
a backend: a URL means PostgreSQL.

Every method that moves a job is a compare-and-set against :data:`bot.jobs.states.TRANSITIONS`
and commits the move with its ledger entry and outbox row in one transaction.

Several processes on one database share the work through leases: each process registers an
instance (:meth:`JobStore.register_instance`) and renews it (:meth:`JobStore.heartbeat`); each
job names the instance working on it and each outbox claim the instance that made it; when an
instance's lease runs out (or it retires), the live ones take its jobs over
(:meth:`JobStore.claim_jobs`). On SQLite there is only ever one live instance.

What it must never do: grow a method that only one backend can honour, or expose a backend's
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from bot.jobs.budget import Limits, Totals
from bot.jobs.connectors import CHANNEL_JOBS_FREE, StoreUnavailable
from bot.jobs.durations import CompletionWindow
from bot.jobs.records import (
    GuildConfig,
    InputRef,
    Job,
    LedgerRow,
    NewJob,
    OutboxItem,
    StoreGauges,
    UsageRow,
)
from bot.jobs.states import JobState
from bot.jobs.store import DatabaseInUse, PostgresStore, ProcessLock, SQLiteStore

__all__ = [
    "CHANNEL_JOBS_FREE",
    "DatabaseInUse",
    "JobStore",
    "PollUpdate",
    "ProcessLock",
    "StoreUnavailable",
    "open_store",
]

# (job id, next poll time, progress or None, whether the look failed)
PollUpdate = tuple[int, float, float | None, bool]


class JobStore(Protocol):
    """Durable jobs, inputs, outbox, settings and the append-only ledger."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # --- a job's life ---------------------------------------------------------------------

    async def create_job(
        self,
        new: NewJob,
        limits: Limits,
        now: float,
        *,
        owner: str | None = None,
        approval_until: float | None = None,
    ) -> Job:
        """Check every limit and reserve the estimate atomically (concurrent submissions of
        the same server and member, from any process, are serialised); raises
        :class:`~bot.jobs.budget.ReservationRefused` (nothing written) when one says no.
        ``owner``: the instance that will work on the job (its ``lease_owner``)."""
        ...

    async def limits_for(self, guild_id: int | None, user_id: int, defaults: Limits) -> Limits:
        """The limits a member's next submission would be checked against."""
        ...

    async def member_totals(self, guild_id: int | None, user_id: int, now: float) -> Totals:
        """What a member and their server have used, as :meth:`create_job` reads it (a plain
        read: for the limit pre-check before a member's attachments are fetched)."""
        ...

    async def claim_submission(self, job_id: int, now: float) -> bool:
        """created -> submitting, persisted before the create request leaves."""
        ...

    async def mark_running(
        self, job_id: int, task_id: str, now: float, next_poll_at: float
    ) -> list[str] | None:
        """submitting -> running; returns input hashes no job needs any more, or ``None``
        when the job was no longer ``submitting`` (the caller lost; it must stop)."""
        ...

    async def requeue_submission(
        self, job_id: int, retry_at: float, reason: str, *, code: str | None = None
    ) -> bool:
        """submitting -> created: the provider said "not now" (nothing was accepted).
        ``reason`` (the operator's detail) and ``code`` (why, as a front end words it: see
        :func:`bot.wording.retry_words`) stay on the job until its next attempt is accepted."""
        ...

    async def mark_submission_unknown(
        self, job_id: int, reason: str, now: float, *, detail: str | None = None
    ) -> bool:
        """submitting -> submission_unknown (estimate stays reserved); member told."""
        ...

    async def mark_failed(
        self,
        job_id: int,
        code: str,
        message: str,
        now: float,
        *,
        detail: str | None = None,
        billed: Decimal | None = None,
    ) -> bool:
        """-> failed; releases the reservation unless the provider billed; member told."""
        ...

    async def mark_timed_out(self, job_id: int, now: float, message: str) -> bool:
        """created -> timed_out (never sent; released) or running -> timed_out (accepted,
        never answered; estimate held); member told with ``message``."""
        ...

    async def release_hold(self, job_id: int, by_user_id: int, now: float) -> Job | None:
        """Release a held estimate (staff); the job after, or ``None`` if it held nothing."""
        ...

    async def held_jobs(self, *, guild_id: int | None, user_id: int | None = None) -> list[Job]:
        """Jobs whose estimate is held because their outcome is unknown."""
        ...

    async def mark_succeeded(
        self,
        job_id: int,
        urls: Sequence[str],
        billed: Decimal | None,
        now: float,
        *,
        completed_at: float | None = None,
        completion_exact: bool = False,
        completion_after: float | None = None,
        started_at: float | None = None,
    ) -> bool:
        """running -> succeeded; settles the cost and queues the result for delivery."""
        ...

    async def cancel(
        self,
        job_id: int,
        now: float,
        by_user_id: int,
        *,
        only_from: JobState | None = None,
        code: str = "cancelled",
        message: str | None = None,
        decided_by: int | None = None,
    ) -> JobState | None:
        """Cancel a job; the state it was cancelled from, or ``None`` if too late."""
        ...

    async def queued_members(self) -> list[tuple[int, int | None]]:
        """The members (user, server) with jobs in their queue."""
        ...

    async def start_turns(
        self, user_id: int, guild_id: int | None, now: float, owner: str | None, defaults: Limits
    ) -> list[Job]:
        """Start as many of a member's queued jobs as they have free slots (oldest first)."""
        ...

    async def start_queued(self, now: float, owner: str | None, defaults: Limits) -> list[Job]:
        """Start the queued jobs whose members have a free slot (oldest first)."""
        ...

    async def queued_jobs(self, user_id: int, guild_id: int | None) -> list[Job]:
        """A member's queued jobs, in the order they will start."""
        ...

    async def approve(self, job_id: int, by_user_id: int, now: float) -> Job | None:
        """awaiting_approval -> queued; ``None`` when no longer awaiting a decision."""
        ...

    async def lapsed_approvals(self, now: float) -> list[int]:
        """Jobs awaiting a decision past their expiry."""
        ...

    async def next_approval_expiry(self) -> float | None: ...

    async def posted_message_ids(self, job_id: int, kind: str) -> list[int]:
        """The message ids the outbox recorded for a job's post of ``kind``."""
        ...

    async def record_polls(self, updates: Iterable[PollUpdate]) -> None:
        """Looks at running jobs that did not finish them, in one transaction."""
        ...

    async def set_status_message(self, job_id: int, message_id: int) -> None: ...

    async def forget_status_message(self, job_id: int) -> None:
        """The status message was deleted: stop editing it."""
        ...

    # --- outbox ---------------------------------------------------------------------------

    async def due_outbox(self, now: float, limit: int = 50) -> list[OutboxItem]: ...

    async def next_outbox_time(self) -> float | None: ...

    async def claim_outbox(
        self,
        item_id: int,
        now: float,
        lease_seconds: float,
        *,
        attempts: int,
        owner: str | None = None,
    ) -> OutboxItem | None:
        """Record that an attempt starts, before posting; compare-and-set on ``attempts`` (the
        count the caller read). ``None``: the caller lost (or it was delivered, or another
        process holds the row right now) and stops. ``owner``: the claiming instance
        (``claimed_by``)."""
        ...

    async def complete_outbox(
        self, item_id: int, message_ids: Sequence[int], now: float
    ) -> None: ...

    async def retry_outbox(self, item_id: int, retry_at: float, error: str) -> None: ...

    async def reset_outbox_claims(self, now: float) -> int:
        """Claims made by instances that are not live any more (or by nobody) become due
        now: they were cut off mid-post, and their next attempt reconciles before posting.
        On SQLite, after :meth:`register_instance`, that is every claim but the live
        instance's. Returns how many."""
        ...

    async def abandon_outbox(self, item_id: int, error: str, now: float) -> None: ...

    # --- leases: several processes on one database ----------------------------------------

    async def register_instance(
        self, instance_id: str, now: float, lease_seconds: float, *, shards: str = ""
    ) -> None:
        """Record this process (``instance_id``, unique per process start) as live until
        ``now + lease_seconds``; ``shards`` says which gateway shards it runs (for operators).
        On SQLite (one process per file) every other instance is removed: they are dead."""
        ...

    async def heartbeat(self, instance_id: str, now: float, lease_seconds: float) -> int | None:
        """Renew the lease (``expires_at = now + lease_seconds``) only while it holds.

        Returns the number of live instances (this one included), or ``None`` when this
        instance had lost its lease (its row gone or expired at ``now``): others may own its
        jobs now, so it must stop working on them (and register anew to go on).
        """
        ...

    async def claim_jobs(self, instance_id: str, now: float, *, limit: int = 500) -> list[Job]:
        """Take over jobs in ``created``, ``submitting`` or ``running`` that nobody owns, or
        whose owner's row is missing or expired: they are ``instance_id``'s now. Returns them
        ordered by id (at most ``limit``). Two instances claiming at once never get the same
        job and never wait for each other. An instance that is not live claims nothing."""
        ...

    async def retire_instance(self, instance_id: str) -> int:
        """A graceful stop: release this instance's waiting jobs (``lease_owner`` NULL) and its
        undelivered outbox claims, delete its row, and notify :data:`CHANNEL_JOBS_FREE` so the
        others claim at once. Returns the number of jobs released."""
        ...

    async def live_instances(self, now: float) -> int:
        """How many instances hold a lease at ``now``."""
        ...

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for each notification on ``channel`` (a constant such as
        :data:`CHANNEL_JOBS_FREE`, ``[a-z_]+``; anything else raises ``ValueError``).

        PostgreSQL: LISTEN on one dedicated connection, from any process; a dropped connection
        is logged and re-established, never raised, and once it is back every callback is
        called with ``""`` (what was sent meanwhile is lost). SQLite: notifications sent by
        stores of the same file in this process (there is no other process).
        """
        ...

    async def notify(self, channel: str, payload: str = "") -> None:
        """Notify every listener of ``channel``; logged, never raised, when it cannot be sent
        (a notification is a hint: whoever misses one finds the work at its next look)."""
        ...

    # --- reading jobs and inputs ----------------------------------------------------------

    async def get_job(self, job_id: int) -> Job | None: ...

    async def active_jobs(self) -> list[Job]:
        """Every job that still has work (created to delivering), whoever owns it: what one
        process resumes at start-up on SQLite, and what tools list."""
        ...

    async def jobs_for_user(
        self, user_id: int, guild_id: int | None, *, limit: int = 25
    ) -> list[Job]: ...

    async def inputs_of(self, job_id: int) -> list[InputRef]: ...

    async def release_inputs(self, job_id: int) -> list[str]:
        """Forget a job's inputs; returns the hashes no other waiting job refers to."""
        ...

    async def jobs_holding_inputs(self) -> list[int]:
        """Jobs past submission that still list inputs (a crash came between two steps)."""
        ...

    async def sweep_inputs(self, hashes: Sequence[str], delete: Callable[[str], None]) -> list[str]:
        """Call ``delete`` for each of ``hashes`` no job waiting for submission refers to (and
        return those) under the deployment's inputs lock."""
        ...

    async def duration_history(
        self, model_id: str, price_tier: str, units: Decimal, *, limit: int = 200
    ) -> list[tuple[float, bool]]:
        """(seconds to completion, whether seen between close looks) of similar jobs."""
        ...

    async def completion_windows(
        self, model_id: str, price_tier: str, units: Decimal, *, limit: int = 200
    ) -> list[CompletionWindow]:
        """When recent similar jobs finished, as polling saw it (most recent first)."""
        ...

    # --- ledger ---------------------------------------------------------------------------

    async def ledger_total(
        self, *, user_id: int | None = None, guild_id: int | None = None, since: float = 0.0
    ) -> Decimal: ...

    async def ledger_entries(self, job_id: int) -> list[tuple[str, Decimal, bool]]: ...

    async def usage(
        self,
        *,
        group_by: str,
        since: float,
        guild_id: int | None = None,
        user_id: int | None = None,
    ) -> list[UsageRow]:
        """Spend and counts grouped by ``user``, ``model`` or ``guild`` since a time."""
        ...

    def ledger_rows(self, *, since: float, guild_id: int | None = None) -> AsyncIterator[LedgerRow]:
        """Ledger entries with their job's state, oldest first (for CSV export)."""
        ...

    # --- pushed events (webhooks) ---------------------------------------------------------

    async def record_webhook_event(self, source: str, event_id: str, now: float) -> bool:
        """Remember an event as taken, atomically; ``False`` when it already was."""
        ...

    async def forget_webhook_events(self, before: float) -> int:
        """Drop event ids seen before ``before``; returns how many."""
        ...

    # --- health and metrics ---------------------------------------------------------------

    async def check_writable(self, now: float) -> None:
        """Commit one small write; raises when the database cannot be written."""
        ...

    async def gauges(self) -> StoreGauges:
        """Jobs by (state, model) and undelivered outbox rows by kind, as they are now."""
        ...

    # --- settings -------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def guild_config(self, guild_id: int) -> GuildConfig:
        """The server's limits and policy (nothing set: all defaults)."""
        ...

    async def edit_guild_config(
        self, guild_id: int, now: float, edit: Callable[[GuildConfig], GuildConfig]
    ) -> GuildConfig:
        """Read, change and write a server's settings in one transaction."""
        ...

    async def set_user_daily_budget(
        self, guild_id: int, user_id: int, budget: Decimal | None, now: float
    ) -> None: ...


async def open_store(path: Path, url: str | None = None) -> JobStore:
    """Open (creating and migrating as needed) the store: PostgreSQL at ``url`` when one is
    given, else the SQLite file at ``path``.

    Raises :class:`DatabaseInUse` while another process has the SQLite file open, and
    :class:`StoreUnavailable` when PostgreSQL cannot be reached or refuses the login (naming
    host, port and database: the URL's password is never repeated).
    """
    if url:
        return await PostgresStore.open(url)
    return await SQLiteStore.open(path)
