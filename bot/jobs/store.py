"""All SQL of the app: jobs, inputs, outbox, settings, leases and the append-only ledger.

Why this module exists: every durable fact lives in one database, SQLite (one file, one bot
process) or PostgreSQL (several bot processes), and every statement that reads or writes it is
here, plain and parameterised, written once for both: :class:`SQLStore` is the one manager
(procrastinate's style) and runs its statements through a connector
(:mod:`bot.jobs.connectors`), which owns what differs between the drivers. The engine above
speaks in jobs and money (:mod:`bot.jobs.records`) through the
:class:`~bot.jobs.storage.JobStore` protocol. It is one class on purpose, not one per table: a
state change, its ledger entry and its outbox row commit in one transaction.

Rules kept here:

* Portable SQL: ``?`` placeholders (numbered for PostgreSQL by its connector),
  ``IS NOT DISTINCT FROM``, ``RETURNING id``, ``ON CONFLICT``, ``CAST(? AS BIGINT) IS NULL``
  where a parameter may be NULL on its own. The few statements only one dialect can say (row
  locks: ``FOR UPDATE``, ``SKIP LOCKED``) are constants chosen by dialect (:data:`_ROW_LOCK`).
* One process per SQLite file: :meth:`SQLiteStore.open` takes an exclusive lock on
  ``<database>.lock`` for the life of the store, and a second opener gets
  :class:`DatabaseInUse`. On PostgreSQL several processes share the database: each job names the
  instance working on it (``lease_owner``) and each outbox claim the instance that made it
  (``claimed_by``); instances renew a lease (:meth:`SQLStore.heartbeat`) and take over the jobs
  of an instance whose lease ran out (:meth:`SQLStore.claim_jobs`, ``SKIP LOCKED``).
* Numbered migrations (:mod:`bot.jobs.migrations`, one folder per dialect, same numbers)
  applied in order inside one transaction when the store opens.
* State changes are compare-and-set (``UPDATE … WHERE id = ? AND state IN (…)``) against
  :data:`bot.jobs.states.TRANSITIONS`: the caller learns whether it won. A job read to decide
  what a move implies is read ``FOR UPDATE`` on PostgreSQL (SQLite's ``BEGIN IMMEDIATE``
  already holds the whole file).
* A state change and what it implies (a ledger entry, an outbox row) commit together.
* Budget and limit checks (:mod:`bot.jobs.budget`) and the reservation are one transaction
  that serialises submissions of the same server and member: ``BEGIN IMMEDIATE`` on SQLite,
  advisory locks on the server's key, then the member's, on PostgreSQL. Locks rather than
  SERIALIZABLE: a refused reservation is then a plain answer, never a retry loop, and other
  servers never wait.

What it must never do: build SQL from values (only from constants in this file), store money
as a float, or hand a row object or a connection to a caller (records only).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.jobs.budget import (
    Admission,
    Limits,
    Totals,
    check_limits,
    day_start,
    effective_limits,
    month_start,
)
from bot.jobs.connectors import CHANNEL_JOBS_FREE, Connector, Dialect, Row, Tx
from bot.jobs.connectors.postgres import PostgresConnector
from bot.jobs.connectors.sqlite import (
    BUSY_TIMEOUT_MS,
    DatabaseInUse,
    ProcessLock,
    SQLiteConnector,
)
from bot.jobs.durations import CompletionWindow, completion_window
from bot.jobs.money import from_micros, to_micros
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
from bot.jobs.states import GENERATING_STATES, WAITING_STATES, JobState, sources_of
from bot.policy import GuildPolicy

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DatabaseInUse",
    "PostgresStore",
    "ProcessLock",
    "SQLStore",
    "SQLiteStore",
    "job_from_row",
]

_ACTIVE = tuple(
    s.value
    for s in (
        JobState.CREATED,
        JobState.SUBMITTING,
        JobState.RUNNING,
        JobState.SUCCEEDED,
        JobState.DELIVERING,
    )
)
_GENERATING = tuple(sorted(s.value for s in GENERATING_STATES))
# What an instance works on, and so what another takes over when its lease runs out (results
# to post are the outbox's: its claims carry their own owner).
_CLAIMABLE = tuple(s.value for s in (JobState.CREATED, JobState.SUBMITTING, JobState.RUNNING))
# An expired instance's row is kept this long (seconds), for operators, then dropped.
_INSTANCE_RETENTION = 86_400.0
# Every change to job_inputs holds this key: "no waiting job refers to this file" stays true
# until the transaction that says it commits (PostgreSQL; SQLite serialises all writers).
_INPUTS_KEY = "inputs"

# A job row with, for a queued job, how many of the member's queued jobs start before it.
_JOB_SELECT = (
    "SELECT jobs.*, CASE WHEN jobs.state = 'queued' THEN (SELECT COUNT(*) FROM jobs AS q"
    " WHERE q.state = 'queued' AND q.user_id = jobs.user_id"
    " AND q.guild_id IS NOT DISTINCT FROM jobs.guild_id AND q.id < jobs.id) END AS queue_ahead"
    " FROM jobs"
)
# Never sent: cancelling or denying one gives its reservation back.
_NEVER_SENT = frozenset({JobState.CREATED} | WAITING_STATES)

# Row locks, which only PostgreSQL can (and must) say.
_ROW_LOCK: dict[Dialect, str] = {"sqlite": "", "postgres": " FOR UPDATE"}
_SKIP_LOCKED: dict[Dialect, str] = {"sqlite": "", "postgres": " FOR UPDATE SKIP LOCKED"}
_SKIP_LOCKED_JOBS: dict[Dialect, str] = {
    "sqlite": "",
    "postgres": " FOR UPDATE OF jobs SKIP LOCKED",
}


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


@dataclass(frozen=True, slots=True)
class _Member:
    """Whose totals to read, when there is no new job yet (:meth:`SQLStore.member_totals`)."""

    user_id: int
    guild_id: int | None


def _budget_keys(guild_id: int | None, user_id: int) -> tuple[str, ...]:
    """The advisory lock keys of a reservation: the server's, then the member's ("guild" sorts
    before "user": every transaction takes them in that order)."""
    if guild_id is None:
        return (f"budget.user.none.{user_id}",)
    return (f"budget.guild.{guild_id}", f"budget.user.{guild_id}.{user_id}")


class SQLStore:
    """The bot's database behind a connector. Open with :meth:`SQLiteStore.open` or
    :meth:`PostgresStore.open`; one instance per process."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        dialect = connector.dialect
        self._job_for_update = "SELECT * FROM jobs WHERE id = ?" + _ROW_LOCK[dialect]
        self._claim_outbox_sql = _CLAIM_OUTBOX_SQL.format(lock=_SKIP_LOCKED[dialect])
        self._claim_jobs_sql = _CLAIM_JOBS_SQL.format(lock=_SKIP_LOCKED_JOBS[dialect])
        # SQLite: one process per file (the process lock), so other instances are dead.
        self._one_process = dialect == "sqlite"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._connector!r})"

    async def close(self) -> None:
        await self._connector.close()

    async def schema_version(self) -> int:
        return await self._connector.schema_version()

    # --- creating a job: the atomic reservation -----------------------------------------------

    async def create_job(
        self,
        new: NewJob,
        limits: Limits,
        now: float,
        *,
        owner: str | None = None,
        approval_until: float | None = None,
    ) -> Job:
        """Check every limit and reserve the estimate in one transaction that holds the
        server's and the member's locks; ``owner`` is the instance that will work on it.

        The job starts ``created`` (to be sent now), ``queued`` when the member's job slots
        are full and their queue has room (:func:`bot.jobs.budget.check_limits`), or
        ``awaiting_approval`` until ``approval_until`` when given (staff decide; the request
        to them is queued in the outbox in the same transaction). Raises
        :class:`ReservationRefused` (nothing written) when a limit would be broken.
        """
        estimate = to_micros(new.estimated_cost)
        keys = _budget_keys(new.guild_id, new.user_id) + ((_INPUTS_KEY,) if new.inputs else ())
        async with self._connector.transaction(keys) as tx:
            effective = await self._effective_limits(tx, new.guild_id, new.user_id, limits)
            totals = await self._totals(tx, new, now)
            admission = check_limits(
                effective, totals, estimate, now, needs_slot=approval_until is None
            )
            if approval_until is not None:
                state = JobState.AWAITING_APPROVAL
            elif admission is Admission.QUEUE:
                state = JobState.QUEUED
            else:
                state = JobState.CREATED
            starts = state is JobState.CREATED
            job_id = int(
                await tx.fetchval(
                    "INSERT INTO jobs (user_id, guild_id, channel_id, parent_job_id, model_id,"
                    " provider, request_json, price_tier, state, created_at, deadline_at,"
                    " next_attempt_at, estimated_micros, units, unit, lease_owner,"
                    " approval_expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    new.user_id,
                    new.guild_id,
                    new.channel_id,
                    new.parent_job_id,
                    new.model_id,
                    new.provider,
                    json.dumps(new.request, separators=(",", ":")),
                    new.price_tier,
                    state.value,
                    now,
                    now + new.deadline_seconds,
                    now if starts else None,
                    estimate,
                    str(new.units),
                    new.unit,
                    owner if starts else None,
                    approval_until,
                )
            )
            await tx.executemany(
                "INSERT INTO job_inputs (job_id, field, position, sha256, mime)"
                " VALUES (?, ?, ?, ?, ?)",
                [(job_id, ref.field, ref.position, ref.sha256, ref.mime) for ref in new.inputs],
            )
            await self._ledger(
                tx,
                job_id,
                new.user_id,
                new.guild_id,
                new.model_id,
                "reserve",
                estimate,
                billed=False,
                charged_at=now,
                now=now,
                note="estimate reserved at submission",
            )
            if state is JobState.AWAITING_APPROVAL:
                await self._enqueue(tx, job_id, "approval", now)
            return await self._job(tx, job_id)

    async def limits_for(self, guild_id: int | None, user_id: int, defaults: Limits) -> Limits:
        """The limits a member's next submission would be checked against."""
        return await self._effective_limits(self._connector, guild_id, user_id, defaults)

    async def member_totals(self, guild_id: int | None, user_id: int, now: float) -> Totals:
        """What a member and their server have used, as :meth:`create_job` will read it (a
        plain read, no transaction: for the pre-check before a member's files are fetched)."""
        return await self._totals(self._connector, _Member(user_id, guild_id), now)

    async def _effective_limits(
        self, db: Tx, guild_id: int | None, user_id: int, defaults: Limits
    ) -> Limits:
        if guild_id is None:
            return defaults
        row = await db.fetchrow(_GUILD_CONFIG_SQL, guild_id)
        user = await db.fetchrow(
            "SELECT daily_budget_micros FROM user_settings WHERE guild_id = ? AND user_id = ?",
            guild_id,
            user_id,
        )
        member_daily = None if user is None else _opt_money(user["daily_budget_micros"])
        guild = None if row is None else _guild_limits(row)
        return effective_limits(defaults, guild, member_daily)

    async def _totals(self, db: Tx, new: NewJob | _Member, now: float) -> Totals:
        # Aggregates without GROUP BY: each query returns exactly one row. PostgreSQL sums
        # BIGINT as NUMERIC: int() brings both back to integer micro-dollars.
        user_day = await db.fetchval(
            "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger"
            " WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ? AND charged_at >= ?",
            new.user_id,
            new.guild_id,
            day_start(now),
        )
        guild_month = 0
        if new.guild_id is not None:
            guild_month = await db.fetchval(
                "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger"
                " WHERE guild_id = ? AND charged_at >= ?",
                new.guild_id,
                month_start(now),
            )
        generating = await db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"
            f" AND state IN ({_placeholders(_GENERATING)})",
            new.user_id,
            new.guild_id,
            *_GENERATING,
        )
        last = await db.fetchval(
            "SELECT MAX(created_at) FROM jobs WHERE user_id = ?"
            " AND guild_id IS NOT DISTINCT FROM ?",
            new.user_id,
            new.guild_id,
        )
        queued = await db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"
            " AND state = ?",
            new.user_id,
            new.guild_id,
            JobState.QUEUED.value,
        )
        return Totals(
            user_day_micros=int(user_day),
            guild_month_micros=int(guild_month),
            generating=int(generating),
            last_created=last,
            queued=int(queued),
        )

    # --- transitions ---------------------------------------------------------------------------

    async def _move(
        self,
        tx: Tx,
        job_id: int,
        to: JobState,
        assignments: str = "",
        params: Sequence[object] = (),
        *,
        only_from: JobState | None = None,
    ) -> bool:
        """Compare-and-set a job's state. ``assignments`` is a constant SQL fragment.
        ``only_from``: the one source this move is for, where the table allows several
        (``created`` is entered from ``submitting`` and from ``queued``, by different moves)."""
        allowed = sources_of(to)
        assert only_from is None or only_from in allowed
        sources = tuple(
            sorted(state.value for state in (allowed if only_from is None else {only_from}))
        )
        extra = f", {assignments}" if assignments else ""
        changed = await tx.execute(
            f"UPDATE jobs SET state = ?{extra} WHERE id = ? AND state IN"
            f" ({_placeholders(sources)})",
            to.value,
            *params,
            job_id,
            *sources,
        )
        return changed == 1

    async def claim_submission(self, job_id: int, now: float) -> bool:
        """created -> submitting, persisted before the create request leaves."""
        async with self._connector.transaction() as tx:
            return await self._move(
                tx,
                job_id,
                JobState.SUBMITTING,
                "submit_attempts = submit_attempts + 1, next_attempt_at = NULL",
            )

    async def mark_running(
        self, job_id: int, task_id: str, now: float, next_poll_at: float
    ) -> list[str] | None:
        """submitting -> running with the task id. Returns input hashes no job needs any more,
        or ``None`` when the job was no longer ``submitting`` (the caller lost the race)."""
        async with self._connector.transaction((_INPUTS_KEY,)) as tx:
            moved = await self._move(
                tx,
                job_id,
                JobState.RUNNING,
                # Accepted: an earlier "not now" (requeue_submission) no longer applies.
                "task_id = ?, submitted_at = ?, next_attempt_at = ?, error_code = NULL,"
                " error_message = NULL",
                (task_id, now, next_poll_at),
            )
            if not moved:
                return None
            return await self._release_inputs(tx, job_id)

    async def requeue_submission(
        self, job_id: int, retry_at: float, reason: str, *, code: str | None = None
    ) -> bool:
        """submitting -> created: the provider said "not now" (nothing was accepted).
        ``reason`` (the operator's detail) and ``code`` (why, as a front end words it: see
        :func:`bot.wording.retry_words`) stay on the job until its next attempt is accepted."""
        async with self._connector.transaction() as tx:
            return await self._move(
                tx,
                job_id,
                JobState.CREATED,
                "next_attempt_at = ?, error_message = ?, error_code = ?",
                (retry_at, reason, code),
                only_from=JobState.SUBMITTING,
            )

    async def mark_submission_unknown(
        self, job_id: int, reason: str, now: float, *, detail: str | None = None
    ) -> bool:
        """submitting -> submission_unknown; the member is told. The estimate stays reserved:
        the provider may have accepted (and billed) the task."""
        async with self._connector.transaction() as tx:
            moved = await self._move(
                tx,
                job_id,
                JobState.SUBMISSION_UNKNOWN,
                "finished_at = ?, next_attempt_at = NULL, error_code = ?, error_message = ?,"
                " error_detail = ?",
                (now, "submission_unknown", reason, detail),
            )
            if moved:
                await self._enqueue(tx, job_id, "notice", now)
            return moved

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
        """-> failed; releases the reservation unless the provider billed; member told.

        ``message`` is for the member; ``detail`` (the provider's own answer) for the operator.
        """
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            moved = await self._move(
                tx,
                job_id,
                JobState.FAILED,
                "finished_at = COALESCE(finished_at, ?), next_attempt_at = NULL,"
                " error_code = ?, error_message = ?, error_detail = ?,"
                " billed_micros = COALESCE(?, billed_micros)",
                (now, code, message, detail, None if billed is None else to_micros(billed)),
            )
            if not moved:
                return False
            if job.state is JobState.DELIVERING:
                # The result was produced (and charged); only posting it failed.
                await self._enqueue(tx, job_id, "notice", now)
                return True
            await self._settle_or_release(tx, job, billed, now, failed=True)
            await self._enqueue(tx, job_id, "notice", now)
            return True

    async def mark_timed_out(self, job_id: int, now: float, message: str) -> bool:
        """created or running -> timed_out; member told.

        Never sent (``created``): nothing was charged, the reservation is released. Accepted
        (``running``) but never answered: the provider may have billed it, so the estimate stays
        held until staff release it (:meth:`release_hold`).
        """
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            moved = await self._move(
                tx,
                job_id,
                JobState.TIMED_OUT,
                "finished_at = ?, next_attempt_at = NULL, error_code = ?, error_message = ?",
                (now, "timed_out", message),
            )
            if not moved:
                return False
            if job.state is JobState.CREATED:
                await self._settle_or_release(tx, job, None, now, failed=True)
            await self._enqueue(tx, job_id, "notice", now)
            return True

    async def release_hold(self, job_id: int, by_user_id: int, now: float) -> Job | None:
        """Release the estimate a job holds (see :attr:`Job.holds_estimate`); ``None`` when it
        holds nothing (never held, billed, or released already)."""
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            if not job.holds_estimate:
                return None
            await tx.execute(
                "UPDATE jobs SET hold_released_at = ?, hold_released_by = ? WHERE id = ?"
                " AND hold_released_at IS NULL",
                now,
                by_user_id,
                job_id,
            )
            await self._release(tx, job, now, f"held estimate released by {by_user_id}")
            return await self._job(tx, job_id)

    async def held_jobs(self, *, guild_id: int | None, user_id: int | None = None) -> list[Job]:
        """Jobs whose estimate is held (outcome unknown), newest first."""
        rows = await self._connector.fetch(
            "SELECT * FROM jobs WHERE hold_released_at IS NULL AND billed_micros IS NULL"
            " AND (state = ? OR (state = ? AND submitted_at IS NOT NULL))"
            " AND (CAST(? AS BIGINT) IS NULL OR guild_id = ?)"
            " AND (CAST(? AS BIGINT) IS NULL OR user_id = ?)"
            " ORDER BY id DESC",
            JobState.SUBMISSION_UNKNOWN.value,
            JobState.TIMED_OUT.value,
            guild_id,
            guild_id,
            user_id,
            user_id,
        )
        return [job_from_row(row) for row in rows]

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
        """running -> succeeded; settles the cost and queues the result for delivery.

        ``completed_at`` is the best guess of when the provider finished (between the last look
        that saw it running and ``now``) and ``completion_exact`` whether those two looks were
        close together; both feed the duration history (see :mod:`bot.jobs.planning`).
        ``completion_after`` (that last look) and ``started_at`` (the run-time origin) feed
        :meth:`completion_windows` (see :mod:`bot.jobs.durations`).
        """
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            moved = await self._move(
                tx,
                job_id,
                JobState.SUCCEEDED,
                "finished_at = ?, completed_at = ?, completion_exact = ?, result_urls = ?,"
                " billed_micros = ?, progress = 1.0, next_attempt_at = NULL,"
                " completion_after = ?, started_at = ?",
                (
                    now,
                    completed_at,
                    int(completion_exact),
                    json.dumps(list(urls)),
                    None if billed is None else to_micros(billed),
                    completion_after,
                    started_at,
                ),
            )
            if moved:
                await self._settle_or_release(tx, job, billed, now, failed=False)
                await self._enqueue(tx, job_id, "result", now)
            return moved

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
        """Cancel a job; returns the state it was cancelled from, or ``None`` if too late.

        Before submission (queued, awaiting approval, created) nothing was sent and the
        reservation is released. After submission the upstream task keeps running and is
        billed, so the estimate stays charged. ``only_from`` cancels only a job in that state
        (a staff denial of a job awaiting approval); ``code`` and ``message`` say why, for the
        member's notice (a member's own cancel: ``cancelled``); ``decided_by``: the staff
        member who denied it.
        """
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            if job.state not in sources_of(JobState.CANCELLED):
                return None
            if only_from is not None and job.state is not only_from:
                return None
            moved = await self._move(
                tx,
                job_id,
                JobState.CANCELLED,
                "finished_at = ?, next_attempt_at = NULL, error_code = ?, error_message = ?,"
                " decided_by = COALESCE(?, decided_by)",
                (
                    now,
                    code,
                    message or f"cancelled by {by_user_id}",
                    decided_by,
                ),
            )
            if not moved:
                return None
            if job.state in _NEVER_SENT:
                await self._release(tx, job, now, f"{code.replace('_', ' ')} before submission")
            else:
                await self._ledger(
                    tx,
                    job.id,
                    job.user_id,
                    job.guild_id,
                    job.model_id,
                    "settle",
                    0,
                    billed=False,
                    charged_at=job.created_at,
                    now=now,
                    note="cancelled after submission: the provider still bills",
                )
            await self._enqueue(tx, job_id, "notice", now)
            return job.state

    # --- waiting: the member's queue and staff approval ---------------------------------------

    async def queued_members(self) -> list[tuple[int, int | None]]:
        """The members (user, server) with jobs in their queue."""
        rows = await self._connector.fetch(
            "SELECT DISTINCT user_id, guild_id FROM jobs WHERE state = ? ORDER BY 1, 2",
            JobState.QUEUED.value,
        )
        return [(row["user_id"], row["guild_id"]) for row in rows]

    async def start_turns(
        self, user_id: int, guild_id: int | None, now: float, owner: str | None, defaults: Limits
    ) -> list[Job]:
        """Start, oldest first, as many of a member's queued jobs as they have free job slots
        now: ``queued -> created`` (to be sent by ``owner``), the deadline counted from now.

        It runs in the transaction and under the locks a reservation takes (:meth:`create_job`),
        so a slot is never given twice, whichever process asks.
        """
        async with self._connector.transaction(_budget_keys(guild_id, user_id)) as tx:
            limits = await self._effective_limits(tx, guild_id, user_id, defaults)
            totals = await self._totals(tx, _Member(user_id, guild_id), now)
            free = (
                totals.queued
                if limits.max_concurrent_per_user is None
                else limits.max_concurrent_per_user - totals.generating
            )
            if free <= 0:
                return []
            rows = await tx.fetch(
                "SELECT id FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"
                " AND state = ? ORDER BY id LIMIT ?",
                user_id,
                guild_id,
                JobState.QUEUED.value,
                free,
            )
            started = []
            for row in rows:
                if await self._move(
                    tx,
                    row["id"],
                    JobState.CREATED,
                    "lease_owner = ?, next_attempt_at = ?,"
                    " deadline_at = ? + (deadline_at - created_at)",
                    (owner, now, now),
                    only_from=JobState.QUEUED,
                ):
                    started.append(await self._job(tx, row["id"]))
            return started

    async def start_queued(self, now: float, owner: str | None, defaults: Limits) -> list[Job]:
        """:meth:`start_turns` for every member with a queue."""
        started: list[Job] = []
        for user_id, guild_id in await self.queued_members():
            started += await self.start_turns(user_id, guild_id, now, owner, defaults)
        return started

    async def queued_jobs(self, user_id: int, guild_id: int | None) -> list[Job]:
        """A member's queued jobs in the order they will start."""
        rows = await self._connector.fetch(
            f"{_JOB_SELECT} WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"
            " AND state = ? ORDER BY id",
            user_id,
            guild_id,
            JobState.QUEUED.value,
        )
        return [job_from_row(row) for row in rows]

    async def approve(self, job_id: int, by_user_id: int, now: float) -> Job | None:
        """``awaiting_approval -> queued`` (it starts in the member's turn; see
        :meth:`start_queued`); ``None`` when it is no longer awaiting a decision."""
        async with self._connector.transaction() as tx:
            job = await self._locked_job(tx, job_id)
            if job.state is not JobState.AWAITING_APPROVAL:
                return None
            if job.approval_expires_at is not None and job.approval_expires_at <= now:
                return None  # lapsed: the next expiry sweep releases it
            if not await self._move(tx, job_id, JobState.QUEUED, "decided_by = ?", (by_user_id,)):
                return None
            return await self._job(tx, job_id)

    async def lapsed_approvals(self, now: float) -> list[int]:
        """Jobs still awaiting a decision past their expiry."""
        rows = await self._connector.fetch(
            "SELECT id FROM jobs WHERE state = ? AND approval_expires_at <= ? ORDER BY id",
            JobState.AWAITING_APPROVAL.value,
            now,
        )
        return [row["id"] for row in rows]

    async def next_approval_expiry(self) -> float | None:
        value: float | None = await self._connector.fetchval(
            "SELECT MIN(approval_expires_at) FROM jobs WHERE state = ?",
            JobState.AWAITING_APPROVAL.value,
        )
        return value

    async def posted_message_ids(self, job_id: int, kind: str) -> list[int]:
        """What the outbox posted of a job's ``kind`` (e.g. the approval request)."""
        raw = await self._connector.fetchval(
            "SELECT message_ids FROM outbox WHERE job_id = ? AND kind = ?"
            " AND delivered_at IS NOT NULL",
            job_id,
            kind,
        )
        return [int(value) for value in json.loads(raw or "[]")]

    async def record_polls(self, updates: Iterable[tuple[int, float, float | None, bool]]) -> None:
        """Looks at running jobs that did not finish them, in one transaction.

        Each update is (job id, next poll time, progress or None, whether the look failed).
        """
        rows = [
            (error, next_at, progress, job_id, JobState.RUNNING.value)
            for job_id, next_at, progress, error in updates
        ]
        if not rows:
            return
        async with self._connector.transaction() as tx:
            await tx.executemany(
                "UPDATE jobs SET poll_count = poll_count + 1,"
                " poll_errors = CASE WHEN ? THEN poll_errors + 1 ELSE 0 END,"
                " next_attempt_at = ?, progress = COALESCE(?, progress)"
                " WHERE id = ? AND state = ?",
                rows,
            )

    async def _enqueue(self, tx: Tx, job_id: int, kind: str, now: float) -> None:
        """Queue a post for the outbox in the caller's transaction (at most one per kind)."""
        await tx.execute(
            "INSERT INTO outbox (job_id, kind, created_at, next_attempt_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (job_id, kind) DO NOTHING",
            job_id,
            kind,
            now,
            now,
        )

    async def forget_status_message(self, job_id: int) -> None:
        """The status message was deleted: stop editing it (and replying to it)."""
        async with self._connector.transaction() as tx:
            await tx.execute("UPDATE jobs SET status_message_id = NULL WHERE id = ?", job_id)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        async with self._connector.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET status_message_id = ? WHERE id = ?", message_id, job_id
            )

    # --- outbox -------------------------------------------------------------------------------

    async def due_outbox(self, now: float, limit: int = 50) -> list[OutboxItem]:
        rows = await self._connector.fetch(
            "SELECT id, job_id, kind, attempts, claimed_at, message_ids FROM outbox"
            " WHERE delivered_at IS NULL AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at, id LIMIT ?",
            now,
            limit,
        )
        return [_outbox(row) for row in rows]

    async def next_outbox_time(self) -> float | None:
        value: float | None = await self._connector.fetchval(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL"
        )
        return value

    async def claim_outbox(
        self,
        item_id: int,
        now: float,
        lease_seconds: float,
        *,
        attempts: int,
        owner: str | None = None,
    ) -> OutboxItem | None:
        """Mark an attempt as started, before posting: compare-and-set on the attempt count
        the caller saw, so of two claimers only one wins (``None``: lost, or delivered; on
        PostgreSQL also when another transaction holds the row right now: ``SKIP LOCKED``,
        never a wait). ``owner`` (the claiming instance) is kept in ``claimed_by``. A claim
        older than the lease is considered crashed mid-post: the next attempt reconciles
        before posting again."""
        async with self._connector.transaction() as tx:
            row = await tx.fetchrow(
                self._claim_outbox_sql, now, now + lease_seconds, owner, item_id, attempts
            )
            if row is None:
                return None
            item = _outbox(row)
            if item.kind == "result":
                await self._move(tx, item.job_id, JobState.DELIVERING)
                await tx.execute(
                    "UPDATE jobs SET delivery_attempts = ? WHERE id = ?",
                    item.attempts,
                    item.job_id,
                )
            return item

    async def complete_outbox(self, item_id: int, message_ids: Sequence[int], now: float) -> None:
        async with self._connector.transaction() as tx:
            row = await tx.fetchrow("SELECT job_id, kind FROM outbox WHERE id = ?", item_id)
            assert row is not None  # item_id was claimed; outbox rows are never deleted
            await tx.execute(
                "UPDATE outbox SET delivered_at = ?, message_ids = ?, last_error = NULL"
                " WHERE id = ? AND delivered_at IS NULL",
                now,
                json.dumps(list(message_ids)),
                item_id,
            )
            if row["kind"] == "result":
                await self._move(
                    tx,
                    row["job_id"],
                    JobState.DELIVERED,
                    "delivered_at = ?, delivered_message_ids = ?",
                    (now, json.dumps(list(message_ids))),
                )

    async def retry_outbox(self, item_id: int, retry_at: float, error: str) -> None:
        async with self._connector.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET next_attempt_at = ?, claimed_at = NULL, last_error = ?"
                " WHERE id = ? AND delivered_at IS NULL",
                retry_at,
                error[:500],
                item_id,
            )

    async def reset_outbox_claims(self, now: float) -> int:
        """Claims made by instances that are not live any more (or by nobody) become due now:
        they were cut off mid-post. Their next attempt asks the deliverer whether the post
        happened before posting again. On SQLite, after :meth:`register_instance` removed the
        other instances, that is every claim not made by the live one."""
        async with self._connector.transaction() as tx:
            return await tx.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE delivered_at IS NULL"
                " AND claimed_at IS NOT NULL AND (claimed_by IS NULL OR NOT EXISTS"
                " (SELECT 1 FROM instances WHERE instances.id = outbox.claimed_by"
                " AND instances.expires_at > ?))",
                now,
                now,
            )

    async def abandon_outbox(self, item_id: int, error: str, now: float) -> None:
        """Stop trying to deliver (after many attempts); the row keeps the last error."""
        async with self._connector.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET delivered_at = ?, last_error = ? WHERE id = ?",
                now,
                f"abandoned: {error}"[:500],
                item_id,
            )

    # --- leases: several processes on one database ------------------------------------------

    async def register_instance(
        self, instance_id: str, now: float, lease_seconds: float, *, shards: str = ""
    ) -> None:
        """Record this process as live until ``now + lease_seconds``. On SQLite (one process
        per file, the process lock) every other instance row is removed: they are dead."""
        async with self._connector.transaction() as tx:
            if self._one_process:
                await tx.execute("DELETE FROM instances WHERE id <> ?", instance_id)
            await tx.execute(
                "INSERT INTO instances (id, started_at, heartbeat_at, expires_at, shards)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
                " expires_at = excluded.expires_at, shards = excluded.shards",
                instance_id,
                now,
                now,
                now + lease_seconds,
                shards,
            )

    async def heartbeat(self, instance_id: str, now: float, lease_seconds: float) -> int | None:
        """Renew the lease, only while it holds; the number of live instances (this one
        included), or ``None`` when the lease was lost (row gone or expired: others may own
        this instance's jobs now, it must stop working on them)."""
        async with self._connector.transaction() as tx:
            renewed = await tx.execute(
                "UPDATE instances SET heartbeat_at = ?, expires_at = ?"
                " WHERE id = ? AND expires_at > ?",
                now,
                now + lease_seconds,
                instance_id,
                now,
            )
            if renewed != 1:
                return None
            await tx.execute(
                "DELETE FROM instances WHERE expires_at < ?", now - _INSTANCE_RETENTION
            )
            return int(
                await tx.fetchval("SELECT COUNT(*) FROM instances WHERE expires_at > ?", now)
            )

    async def claim_jobs(self, instance_id: str, now: float, *, limit: int = 500) -> list[Job]:
        """Take over jobs waiting for work (created, submitting, running) that nobody owns or
        whose owner's lease is gone or expired; they are ``instance_id``'s now. Ordered by id.

        On PostgreSQL the rows are picked ``FOR UPDATE OF jobs SKIP LOCKED``: two instances
        claiming at once never get the same job, and neither waits for the other. An instance
        that is not live itself (never registered, or its lease expired) claims nothing.
        """
        async with self._connector.transaction() as tx:
            live = await tx.fetchval(
                "SELECT 1 FROM instances WHERE id = ? AND expires_at > ?", instance_id, now
            )
            if live is None:
                return []
            rows = await tx.fetch(self._claim_jobs_sql, instance_id, *_CLAIMABLE, now, limit)
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.id)

    async def retire_instance(self, instance_id: str) -> int:
        """A graceful stop: give back this instance's waiting jobs (``lease_owner`` NULL) and
        its outbox claims (``claimed_by`` NULL), remove its row, and notify
        ``wanbot_jobs_free`` so the others claim them at once. Returns the jobs released.
        Finished jobs keep their ``lease_owner``: who worked on them last."""
        async with self._connector.transaction() as tx:
            released = await tx.execute(
                "UPDATE jobs SET lease_owner = NULL WHERE lease_owner = ?"
                f" AND state IN ({_placeholders(_CLAIMABLE)})",
                instance_id,
                *_CLAIMABLE,
            )
            await tx.execute(
                "UPDATE outbox SET claimed_by = NULL WHERE claimed_by = ? AND delivered_at IS NULL",
                instance_id,
            )
            await tx.execute("DELETE FROM instances WHERE id = ?", instance_id)
        await self._connector.notify(CHANNEL_JOBS_FREE, instance_id)
        return released

    async def live_instances(self, now: float) -> int:
        """Instances whose lease holds at ``now``."""
        return int(
            await self._connector.fetchval(
                "SELECT COUNT(*) FROM instances WHERE expires_at > ?", now
            )
        )

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` on each notification of ``channel`` (a constant,
        ``[a-z_]+``): from any process on PostgreSQL (after a lost connection is back, once
        with ``""``: what was sent meanwhile is lost), from this process on SQLite. A lost
        connection is logged and re-established, never raised."""
        await self._connector.listen(channel, callback)

    async def notify(self, channel: str, payload: str = "") -> None:
        """Notify every listener of ``channel``; logged, never raised, when it cannot."""
        await self._connector.notify(channel, payload)

    # --- reading jobs -------------------------------------------------------------------------

    async def _job(self, tx: Tx, job_id: int) -> Job:
        row = await tx.fetchrow(f"{_JOB_SELECT} WHERE id = ?", job_id)
        if row is None:
            raise KeyError(job_id)
        return job_from_row(row)

    async def _locked_job(self, tx: Tx, job_id: int) -> Job:
        """The job, locked until the transaction ends (PostgreSQL): what a move implies is
        decided from the state it really moves from."""
        row = await tx.fetchrow(self._job_for_update, job_id)
        if row is None:
            raise KeyError(job_id)
        return job_from_row(row)

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._connector.fetchrow(f"{_JOB_SELECT} WHERE id = ?", job_id)
        return None if row is None else job_from_row(row)

    async def active_jobs(self) -> list[Job]:
        """Every job the engine still has work for (resumed at start-up)."""
        rows = await self._connector.fetch(
            f"SELECT * FROM jobs WHERE state IN ({_placeholders(_ACTIVE)}) ORDER BY id",
            *_ACTIVE,
        )
        return [job_from_row(row) for row in rows]

    async def jobs_for_user(
        self, user_id: int, guild_id: int | None, *, limit: int = 25
    ) -> list[Job]:
        rows = await self._connector.fetch(
            f"{_JOB_SELECT} WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"
            " ORDER BY id DESC LIMIT ?",
            user_id,
            guild_id,
            limit,
        )
        return [job_from_row(row) for row in rows]

    async def inputs_of(self, job_id: int) -> list[InputRef]:
        rows = await self._connector.fetch(
            "SELECT field, position, sha256, mime FROM job_inputs WHERE job_id = ?"
            " ORDER BY field, position",
            job_id,
        )
        return [InputRef(row["field"], row["position"], row["sha256"], row["mime"]) for row in rows]

    async def _release_inputs(self, tx: Tx, job_id: int) -> list[str]:
        """Forget a job's inputs; the caller's transaction holds :data:`_INPUTS_KEY`."""
        hashes = [
            row[0]
            for row in await tx.fetch(
                "SELECT DISTINCT sha256 FROM job_inputs WHERE job_id = ? ORDER BY sha256", job_id
            )
        ]
        await tx.execute("DELETE FROM job_inputs WHERE job_id = ?", job_id)
        unused = []
        for sha in hashes:
            still = await tx.fetchval("SELECT 1 FROM job_inputs WHERE sha256 = ? LIMIT 1", sha)
            if still is None:
                unused.append(sha)
        return unused

    async def release_inputs(self, job_id: int) -> list[str]:
        """Forget a job's inputs; returns the hashes no other waiting job refers to."""
        async with self._connector.transaction((_INPUTS_KEY,)) as tx:
            return await self._release_inputs(tx, job_id)

    async def jobs_holding_inputs(self) -> list[int]:
        """Jobs past submission that still list inputs (a crash came between the two steps);
        waiting jobs (queued, awaiting approval) have not been sent and keep theirs."""
        rows = await self._connector.fetch(
            "SELECT DISTINCT i.job_id FROM job_inputs i JOIN jobs j ON j.id = i.job_id"
            " WHERE j.state NOT IN ('awaiting_approval', 'queued', 'created', 'submitting')"
            " ORDER BY i.job_id"
        )
        return [int(row[0]) for row in rows]

    async def sweep_inputs(self, hashes: Sequence[str], delete: Callable[[str], None]) -> list[str]:
        """Call ``delete`` for each of ``hashes`` no job waiting for submission refers to, and
        return those, while holding :data:`_INPUTS_KEY`: no process stores a reference to one
        of them between the check and the deletion (processes share one media folder)."""
        async with self._connector.transaction((_INPUTS_KEY,)) as tx:
            unused = []
            for sha in dict.fromkeys(hashes):
                if await tx.fetchval("SELECT 1 FROM job_inputs WHERE sha256 = ? LIMIT 1", sha):
                    continue
                delete(sha)
                unused.append(sha)
            return unused

    async def duration_history(
        self, model_id: str, price_tier: str, units: Decimal, *, limit: int = 200
    ) -> list[tuple[float, bool]]:
        """Seconds from submission to (estimated) completion of recent similar jobs, each with
        whether that completion was seen between two close looks."""
        rows = await self._connector.fetch(
            "SELECT completed_at - submitted_at, completion_exact FROM jobs"
            " WHERE model_id = ? AND price_tier = ? AND units = ?"
            " AND state IN ('succeeded', 'delivering', 'delivered')"
            " AND submitted_at IS NOT NULL AND completed_at IS NOT NULL"
            " ORDER BY finished_at DESC, id DESC LIMIT ?",
            model_id,
            price_tier,
            str(units),
            limit,
        )
        return [(row[0], bool(row[1])) for row in rows]

    async def completion_windows(
        self, model_id: str, price_tier: str, units: Decimal, *, limit: int = 200
    ) -> list[CompletionWindow]:
        """When recent similar jobs finished, as polling saw it (most recent first).

        Jobs that succeeded before schema 4 have no ``completion_after``: it is recovered from
        ``completed_at``, the midpoint of that look and ``finished_at``.
        """
        rows = await self._connector.fetch(
            "SELECT submitted_at, completion_after, completed_at, finished_at, started_at"
            " FROM jobs WHERE model_id = ? AND price_tier = ? AND units = ?"
            " AND state IN ('succeeded', 'delivering', 'delivered')"
            " AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
            " ORDER BY finished_at DESC, id DESC LIMIT ?",
            model_id,
            price_tier,
            str(units),
            limit,
        )
        windows = []
        for row in rows:
            submitted, after, completed, finished, started = (row[i] for i in range(5))
            if after is None and completed is not None:
                after = 2 * completed - finished
            windows.append(completion_window(submitted, after, finished, started))
        return windows

    # --- ledger -------------------------------------------------------------------------------

    async def _ledger(
        self,
        tx: Tx,
        job_id: int,
        user_id: int,
        guild_id: int | None,
        model_id: str,
        entry: str,
        amount_micros: int,
        *,
        billed: bool,
        charged_at: float,
        now: float,
        note: str,
    ) -> None:
        await tx.execute(
            "INSERT INTO ledger (job_id, user_id, guild_id, model_id, entry, amount_micros,"
            " billed, charged_at, created_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            job_id,
            user_id,
            guild_id,
            model_id,
            entry,
            amount_micros,
            int(billed),
            charged_at,
            now,
            note,
        )

    async def _release(self, tx: Tx, job: Job, now: float, note: str) -> None:
        """Give the job's reservation back: a 'release' entry of minus its estimate."""
        await self._ledger(
            tx,
            job.id,
            job.user_id,
            job.guild_id,
            job.model_id,
            "release",
            -to_micros(job.estimated_cost),
            billed=False,
            charged_at=job.created_at,
            now=now,
            note=note,
        )

    async def _settle_or_release(
        self,
        tx: Tx,
        job: Job,
        billed: Decimal | None,
        now: float,
        *,
        failed: bool,
    ) -> None:
        reserved = to_micros(job.estimated_cost)
        if billed is not None:
            await self._ledger(
                tx,
                job.id,
                job.user_id,
                job.guild_id,
                job.model_id,
                "settle",
                to_micros(billed) - reserved,
                billed=True,
                charged_at=job.created_at,
                now=now,
                note="settled at the provider's billed cost",
            )
        elif failed:
            await self._release(tx, job, now, "released: nothing delivered, nothing billed")
        else:
            await self._ledger(
                tx,
                job.id,
                job.user_id,
                job.guild_id,
                job.model_id,
                "settle",
                0,
                billed=False,
                charged_at=job.created_at,
                now=now,
                note="settled at the estimate (provider reports no cost)",
            )

    async def ledger_total(
        self, *, user_id: int | None = None, guild_id: int | None = None, since: float = 0.0
    ) -> Decimal:
        total = await self._connector.fetchval(
            "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger WHERE charged_at >= ?"
            " AND (CAST(? AS BIGINT) IS NULL OR user_id = ?)"
            " AND (CAST(? AS BIGINT) IS NULL OR guild_id = ?)",
            since,
            user_id,
            user_id,
            guild_id,
            guild_id,
        )
        return from_micros(int(total))

    async def ledger_entries(self, job_id: int) -> list[tuple[str, Decimal, bool]]:
        rows = await self._connector.fetch(
            "SELECT entry, amount_micros, billed FROM ledger WHERE job_id = ? ORDER BY id",
            job_id,
        )
        return [(row[0], from_micros(row[1]), bool(row[2])) for row in rows]

    async def usage(
        self,
        *,
        group_by: str,
        since: float,
        guild_id: int | None = None,
        user_id: int | None = None,
    ) -> list[UsageRow]:
        """Spend and counts grouped by ``user``, ``model`` or ``guild`` since a time.

        A job's charge is the sum of its ledger entries; it is "billed" when any entry came
        from the provider's own figure, "estimated" otherwise.
        """
        column = _GROUP_COLUMNS[group_by]
        rows = await self._connector.fetch(
            _USAGE_SQL[column], since, guild_id, guild_id, user_id, user_id
        )
        return [
            UsageRow(
                key=str(row["key"]),
                jobs=int(row["jobs"]),
                charged_jobs=int(row["charged_jobs"]),
                video_seconds=Decimal(str(row["video_seconds"] or 0)),
                images=Decimal(str(row["images"] or 0)),
                estimated=from_micros(int(row["estimated"])),
                billed=from_micros(int(row["billed"])),
            )
            for row in rows
        ]

    async def ledger_rows(
        self, *, since: float, guild_id: int | None = None
    ) -> AsyncIterator[LedgerRow]:
        """Ledger entries with their job's model and state, oldest first (for CSV export)."""
        rows = self._connector.iterate(
            "SELECT l.id, l.created_at, l.charged_at, l.job_id, l.user_id, l.guild_id,"
            " l.model_id, l.entry, l.amount_micros, l.billed, l.note, j.state"
            " FROM ledger l JOIN jobs j ON j.id = l.job_id"
            " WHERE l.charged_at >= ? AND (CAST(? AS BIGINT) IS NULL OR l.guild_id = ?)"
            " ORDER BY l.id",
            since,
            guild_id,
            guild_id,
        )
        async for row in rows:
            yield LedgerRow(
                id=row["id"],
                created_at=row["created_at"],
                charged_at=row["charged_at"],
                job_id=row["job_id"],
                user_id=row["user_id"],
                guild_id=row["guild_id"],
                model_id=row["model_id"],
                entry=row["entry"],
                amount=from_micros(row["amount_micros"]),
                billed=bool(row["billed"]),
                note=row["note"] or "",
                job_state=row["state"],
            )

    # --- pushed events (webhooks) ---------------------------------------------------------------

    async def record_webhook_event(self, source: str, event_id: str, now: float) -> bool:
        """Remember that ``source``'s event ``event_id`` was taken; ``False`` when it already
        was (a duplicate delivery: the caller changes nothing)."""
        async with self._connector.transaction() as tx:
            inserted = await tx.execute(
                "INSERT INTO webhook_events (source, event_id, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (source, event_id) DO NOTHING",
                source,
                event_id,
                now,
            )
            return inserted == 1

    async def forget_webhook_events(self, before: float) -> int:
        """Drop event ids seen before ``before`` (no redelivery comes that late); how many."""
        async with self._connector.transaction() as tx:
            return await tx.execute("DELETE FROM webhook_events WHERE seen_at < ?", before)

    # --- health and metrics -------------------------------------------------------------------

    async def check_writable(self, now: float) -> None:
        """Commit one small write (the time of this check, in ``meta``); raises when the
        database cannot be written (read-only, full, locked past the busy timeout)."""
        async with self._connector.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('health_checked_at', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                repr(now),
            )

    async def gauges(self) -> StoreGauges:
        """Jobs by state and model, and the outbox rows not yet delivered, by kind."""
        rows = await self._connector.fetch(
            "SELECT state, model_id, COUNT(*) FROM jobs GROUP BY state, model_id"
        )
        jobs = {(row[0], row[1]): int(row[2]) for row in rows}
        rows = await self._connector.fetch(
            "SELECT kind, COUNT(*) FROM outbox WHERE delivered_at IS NULL GROUP BY kind"
        )
        backlog = {row[0]: int(row[1]) for row in rows}
        return StoreGauges(jobs=jobs, outbox_backlog=backlog)

    # --- settings -----------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        value: str | None = await self._connector.fetchval(
            "SELECT value FROM meta WHERE key = ?", key
        )
        return value

    async def set_meta(self, key: str, value: str) -> None:
        async with self._connector.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )

    async def guild_config(self, guild_id: int) -> GuildConfig:
        """The server's limits and policy (defaults when it never set anything)."""
        row = await self._connector.fetchrow(_GUILD_CONFIG_SQL, guild_id)
        return GuildConfig() if row is None else _guild_config(row)

    async def edit_guild_config(
        self, guild_id: int, now: float, edit: Callable[[GuildConfig], GuildConfig]
    ) -> GuildConfig:
        """Read, change and write a server's settings in one transaction (holding the
        server's settings lock: two staff members editing at once never lose an edit)."""
        async with self._connector.transaction((f"settings.guild.{guild_id}",)) as tx:
            row = await tx.fetchrow(_GUILD_CONFIG_SQL, guild_id)
            config = edit(GuildConfig() if row is None else _guild_config(row))
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, user_daily_budget_micros,"
                " guild_monthly_budget_micros, max_concurrent_per_user, cooldown_seconds,"
                " queue_per_user, extra_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET"
                " user_daily_budget_micros = excluded.user_daily_budget_micros,"
                " guild_monthly_budget_micros = excluded.guild_monthly_budget_micros,"
                " max_concurrent_per_user = excluded.max_concurrent_per_user,"
                " cooldown_seconds = excluded.cooldown_seconds,"
                " queue_per_user = excluded.queue_per_user,"
                " extra_json = excluded.extra_json, updated_at = excluded.updated_at",
                guild_id,
                _opt_micros(config.limits.user_daily_budget),
                _opt_micros(config.limits.guild_monthly_budget),
                config.limits.max_concurrent_per_user,
                config.limits.cooldown_seconds,
                config.limits.queue_per_user,
                config.policy.model_dump_json(),
                now,
            )
            return config

    async def set_user_daily_budget(
        self, guild_id: int, user_id: int, budget: Decimal | None, now: float
    ) -> None:
        async with self._connector.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_settings (guild_id, user_id, daily_budget_micros, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
                " daily_budget_micros = excluded.daily_budget_micros,"
                " updated_at = excluded.updated_at",
                guild_id,
                user_id,
                _opt_micros(budget),
                now,
            )


class SQLiteStore(SQLStore):
    """The store on one SQLite file, for one bot process. Open with :meth:`open`."""

    def __init__(self, connector: SQLiteConnector) -> None:
        super().__init__(connector)
        self.path = connector.path

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @classmethod
    async def open(cls, path: Path, *, process_lock: bool = True) -> SQLiteStore:
        """Open (creating and migrating) the database. ``process_lock=False`` skips the
        one-process lock: only for tests of the compare-and-set rules across connections."""
        return cls(await SQLiteConnector.open(path, process_lock=process_lock))


class PostgresStore(SQLStore):
    """The store on a PostgreSQL database, shared by several bot processes. Open with
    :meth:`open`."""

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
    ) -> PostgresStore:
        """Connect to ``url`` (``postgresql://…``) and migrate; raises
        :class:`~bot.jobs.connectors.StoreUnavailable` (naming host, port and database, never
        the password) when it cannot. ``schema`` puts every table in that (existing) schema:
        for tests, each in a fresh one."""
        return cls(
            await PostgresConnector.open(url, schema=schema, min_size=min_size, max_size=max_size)
        )


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

_GUILD_CONFIG_SQL = (
    "SELECT user_daily_budget_micros, guild_monthly_budget_micros, max_concurrent_per_user,"
    " cooldown_seconds, queue_per_user, extra_json FROM guild_settings WHERE guild_id = ?"
)
# {lock}: "" on SQLite, a row lock that skips rows others hold on PostgreSQL (_SKIP_LOCKED).
_CLAIM_OUTBOX_SQL = (
    "UPDATE outbox SET attempts = attempts + 1, claimed_at = ?, next_attempt_at = ?,"
    " claimed_by = ? WHERE id = (SELECT id FROM outbox WHERE id = ? AND attempts = ?"
    " AND delivered_at IS NULL{lock})"
    " RETURNING id, job_id, kind, attempts, claimed_at, message_ids"
)
# NOT EXISTS, not a LEFT JOIN: when a row another claimer just took is locked, PostgreSQL
# re-checks the WHERE on its new version (READ COMMITTED), and a subquery is evaluated anew
# with the new owner, where a join would keep the old, ownerless match and take it twice.
_CLAIM_JOBS_SQL = (
    "UPDATE jobs SET lease_owner = ? WHERE id IN (SELECT jobs.id FROM jobs"
    f" WHERE jobs.state IN ({_placeholders(_CLAIMABLE)})"
    " AND (jobs.lease_owner IS NULL OR NOT EXISTS (SELECT 1 FROM instances"
    " WHERE instances.id = jobs.lease_owner AND instances.expires_at > ?))"
    " ORDER BY jobs.id LIMIT ?{lock}) RETURNING *"
)
_GROUP_COLUMNS = {"user": "j.user_id", "model": "j.model_id", "guild": "j.guild_id"}


def _usage_sql(column: str) -> str:
    # ``column`` comes from _GROUP_COLUMNS only: a constant of this module, never user input.
    return (
        f"SELECT {column} AS key, COUNT(*) AS jobs,"
        " SUM(CASE WHEN charge <> 0 THEN 1 ELSE 0 END) AS charged_jobs,"
        " SUM(CASE WHEN j.unit = 'second' AND charge <> 0"
        " THEN CAST(j.units AS DOUBLE PRECISION) ELSE 0 END) AS video_seconds,"
        " SUM(CASE WHEN j.unit = 'image' AND charge <> 0"
        " THEN CAST(j.units AS DOUBLE PRECISION) ELSE 0 END) AS images,"
        " SUM(CASE WHEN billed = 0 THEN charge ELSE 0 END) AS estimated,"
        " SUM(CASE WHEN billed = 1 THEN charge ELSE 0 END) AS billed"
        " FROM (SELECT job_id, SUM(amount_micros) AS charge, MAX(billed) AS billed"
        "       FROM ledger WHERE charged_at >= ? GROUP BY job_id) AS per_job"
        " JOIN jobs j ON j.id = per_job.job_id"
        " WHERE (CAST(? AS BIGINT) IS NULL OR j.guild_id = ?)"
        " AND (CAST(? AS BIGINT) IS NULL OR j.user_id = ?)"
        # NULLS FIRST: SQLite's own order, said so that PostgreSQL sorts the same.
        f" GROUP BY {column} ORDER BY SUM(charge) DESC, {column} NULLS FIRST"
    )


_USAGE_SQL = {column: _usage_sql(column) for column in _GROUP_COLUMNS.values()}


def _guild_config(row: Row) -> GuildConfig:
    return GuildConfig(
        limits=_guild_limits(row),
        policy=GuildPolicy.model_validate_json(row["extra_json"] or "{}"),
    )


def _guild_limits(row: Row) -> Limits:
    """A server's own limits (``None`` where it set none); the policy JSON is not parsed."""
    return Limits(
        user_daily_budget=_opt_money(row["user_daily_budget_micros"]),
        guild_monthly_budget=_opt_money(row["guild_monthly_budget_micros"]),
        max_concurrent_per_user=row["max_concurrent_per_user"],
        cooldown_seconds=row["cooldown_seconds"],
        queue_per_user=row["queue_per_user"],
    )


def _outbox(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        job_id=row["job_id"],
        kind=row["kind"],
        attempts=row["attempts"],
        claimed_at=row["claimed_at"],
        message_ids=tuple(json.loads(row["message_ids"] or "[]")),
    )


def _opt_money(micros: int | None) -> Decimal | None:
    return None if micros is None else from_micros(micros)


def _opt_micros(amount: Decimal | None) -> int | None:
    return None if amount is None else to_micros(amount)


def _column(row: Row, name: str) -> Any:
    """A column that older schemas lack (rows read straight from an old file), or None."""
    try:
        return row[name]
    except (IndexError, KeyError):
        return None


def job_from_row(row: Row) -> Job:
    """A ``jobs`` row as a record (tests that read the file directly use it too)."""
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        status_message_id=row["status_message_id"],
        parent_job_id=row["parent_job_id"],
        model_id=row["model_id"],
        provider=row["provider"],
        request=json.loads(row["request_json"]),
        price_tier=row["price_tier"],
        task_id=row["task_id"],
        state=JobState(row["state"]),
        submit_attempts=row["submit_attempts"],
        poll_count=row["poll_count"],
        poll_errors=row["poll_errors"],
        delivery_attempts=row["delivery_attempts"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        deadline_at=row["deadline_at"],
        next_attempt_at=row["next_attempt_at"],
        progress=row["progress"],
        result_urls=tuple(json.loads(row["result_urls"] or "[]")),
        delivered_message_ids=tuple(json.loads(row["delivered_message_ids"] or "[]")),
        error_code=row["error_code"],
        error_message=row["error_message"],
        error_detail=row["error_detail"],
        estimated_cost=from_micros(row["estimated_micros"]),
        billed_cost=_opt_money(row["billed_micros"]),
        units=Decimal(row["units"]),
        unit=row["unit"],
        hold_released_at=row["hold_released_at"],
        lease_owner=_column(row, "lease_owner"),
        approval_expires_at=_column(row, "approval_expires_at"),
        decided_by=_column(row, "decided_by"),
        queue_ahead=_column(row, "queue_ahead"),
    )
