"""The job store on a real database: schema, transitions, ledger, outbox, budgets, usage.

Every test that takes ``store`` (or ``backend``) runs twice: on a SQLite file and on PostgreSQL
(see ``conftest.py``; the PostgreSQL half is skipped without ``WANBOT_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.budget import Limits, ReservationRefused, period_start
from bot.jobs.migrations import latest_version
from bot.jobs.money import from_micros, to_micros
from bot.jobs.records import GuildConfig, InputRef, Job, NewJob, UsageRow
from bot.jobs.states import TRANSITIONS, JobState, sources_of
from bot.jobs.store import BUSY_TIMEOUT_MS, DatabaseInUse, SQLiteStore
from bot.jobs.store import SQLStore as Store
from tests.jobs.conftest import Backend, connector

# Wednesday 2025-06-18 12:00:00 UTC: well inside a day and a month.
NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC).timestamp()
OPEN = Limits(max_concurrent_per_user=None)  # defaults with no limit at all
GUILD = 10
OTHER_GUILD = 20
SHA_A = "a" * 64
SHA_B = "b" * 64


async def set_guild_limits(store: Store, guild_id: int, limits: Limits, now: float) -> None:
    """A server's caps, written the way /wanbot writes them."""
    await store.edit_guild_config(
        guild_id,
        now,
        lambda config: dataclasses.replace(config, limits=limits),
    )


def new_job(
    *,
    user_id: int = 1,
    guild_id: int | None = GUILD,
    cost: str | Decimal = "0.50",
    model_id: str = "wan2.6-i2v",
    provider: str = "mulerouter",
    tier: str = "720P",
    units: str = "5",
    unit: str = "second",
    inputs: tuple[InputRef, ...] = (),
) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=555,
        model_id=model_id,
        provider=provider,
        request={"prompt": "a lighthouse at dusk"},
        price_tier=tier,
        estimated_cost=Decimal(cost),
        units=Decimal(units),
        unit=unit,
        deadline_seconds=600.0,
        inputs=inputs,
    )


@pytest.fixture
async def store(backend: Backend) -> Store:
    """A store on each backend in turn (closed by ``backend``)."""
    return await backend.open()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """SQLite only: for what only a file has (pragmas, the process lock)."""
    opened = await SQLiteStore.open(tmp_path / "wanbot.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


async def scalar(store: Store, sql: str, *params: Any) -> Any:
    return await connector(store).fetchval(sql, *params)


async def count_rows(store: Store) -> dict[str, int]:
    return {
        table: await scalar(store, f"SELECT COUNT(*) FROM {table}")
        for table in ("jobs", "ledger", "job_inputs", "outbox")
    }


async def outbox_rows(store: Store, job_id: int) -> list[tuple[str, int]]:
    rows = await connector(store).fetch(
        "SELECT kind, attempts FROM outbox WHERE job_id = ? ORDER BY id", job_id
    )
    return [(row[0], row[1]) for row in rows]


async def state_of(store: Store, job_id: int) -> JobState:
    job = await store.get_job(job_id)
    assert job is not None
    return job.state


# ---------------------------------------------------------------------------------------------
# Schema, pragmas, migrations
# ---------------------------------------------------------------------------------------------


async def test_pragmas_wal_foreign_keys_busy_timeout(sqlite_store: SQLiteStore) -> None:
    assert await scalar(sqlite_store, "PRAGMA journal_mode") == "wal"
    assert await scalar(sqlite_store, "PRAGMA foreign_keys") == 1
    assert await scalar(sqlite_store, "PRAGMA busy_timeout") == BUSY_TIMEOUT_MS
    assert BUSY_TIMEOUT_MS > 0


async def test_schema_version_is_in_user_version(sqlite_store: SQLiteStore) -> None:
    assert await scalar(sqlite_store, "PRAGMA user_version") == latest_version() == 6
    assert await sqlite_store.schema_version() == 6
    tables = {
        row[0]
        for row in await connector(sqlite_store).fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {
        "jobs",
        "job_inputs",
        "outbox",
        "guild_settings",
        "user_settings",
        "ledger",
        "instances",
    } <= tables


async def test_reopening_does_not_reapply_migrations(backend: Backend) -> None:
    first = await backend.open()
    job = await first.create_job(new_job(), OPEN, NOW)
    await backend.close(first)
    for _ in range(2):  # a re-applied CREATE TABLE would raise "table jobs already exists"
        again = await backend.open()
        try:
            assert await again.schema_version() == latest_version()
            kept = await again.get_job(job.id)
            assert kept is not None
            assert kept.state is JobState.CREATED
            assert await again.ledger_entries(job.id) == [("reserve", Decimal("0.50"), False)]
            assert await scalar(again, "SELECT COUNT(*) FROM jobs") == 1
        finally:
            await backend.close(again)


async def test_ledger_is_append_only(backend: Backend) -> None:
    store = await backend.open()
    job = await store.create_job(new_job(), OPEN, NOW)
    with pytest.raises(backend.refused, match="append-only"):
        await connector(store).execute("UPDATE ledger SET amount_micros = 0")
    with pytest.raises(backend.refused, match="append-only"):
        await connector(store).execute("DELETE FROM ledger")
    # The triggers live in the database: another connection is refused too.
    other = connector(await backend.open())
    with pytest.raises(backend.refused, match="append-only"):
        await other.execute("UPDATE ledger SET note = 'edited' WHERE job_id = ?", job.id)
    with pytest.raises(backend.refused, match="append-only"):
        async with other.transaction() as tx:
            await tx.execute("DELETE FROM ledger WHERE job_id = ?", job.id)
    assert await store.ledger_entries(job.id) == [("reserve", Decimal("0.50"), False)]


async def test_foreign_keys_are_enforced(backend: Backend) -> None:
    store = await backend.open()
    with pytest.raises(backend.refused, match=r"(?i)foreign key"):
        await connector(store).execute(
            "INSERT INTO ledger (job_id, user_id, model_id, entry, amount_micros, charged_at,"
            " created_at) VALUES (999, 1, 'm', 'reserve', 1, 0, 0)"
        )
    assert await scalar(store, "SELECT COUNT(*) FROM ledger") == 0


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------


async def test_money_is_exact_decimal_in_micro_dollars(store: Store, backend: Backend) -> None:
    estimate = Decimal("0.014") * 5  # wan2.2-i2v-flash 480P, 5 s
    assert sum([0.014 * 5] * 10) != 0.7  # what floats would have summed to
    jobs = [
        await store.create_job(
            new_job(cost=estimate, model_id="wan2.2-i2v-flash", tier="480P"), OPEN, NOW
        )
        for _ in range(10)
    ]
    assert jobs[0].estimated_cost == Decimal("0.07")
    assert isinstance(jobs[0].estimated_cost, Decimal)
    assert (
        await scalar(store, "SELECT estimated_micros FROM jobs WHERE id = ?", jobs[0].id) == 70_000
    )
    typeof, integer = ("typeof", "integer") if backend.name == "sqlite" else ("pg_typeof", "bigint")
    assert await scalar(store, f"SELECT CAST({typeof}(amount_micros) AS TEXT) FROM ledger") == (
        integer
    )
    total = await store.ledger_total(user_id=1)
    assert total == Decimal("0.7")
    assert isinstance(total, Decimal)


def test_micro_conversion_rounds_half_up_and_round_trips() -> None:
    assert to_micros(Decimal("0.070")) == 70_000
    assert to_micros(Decimal("0.0000005")) == 1
    assert to_micros(Decimal("0.0000004")) == 0
    assert to_micros(Decimal("-0.5")) == -500_000
    assert from_micros(70_000) == Decimal("0.07")
    assert from_micros(to_micros(Decimal("123.456789"))) == Decimal("123.456789")


# ---------------------------------------------------------------------------------------------
# Transitions: compare-and-set against TRANSITIONS
# ---------------------------------------------------------------------------------------------


async def drive_to(store: Store, state: JobState, user_id: int) -> int:
    """A new job brought to ``state`` through the store's own transitions."""
    waits = state in (JobState.AWAITING_APPROVAL, JobState.QUEUED)
    job = await store.create_job(
        new_job(user_id=user_id), OPEN, NOW, approval_until=NOW + 3600 if waits else None
    )
    steps: dict[JobState, list[Callable[[int], Awaitable[object]]]] = {
        JobState.AWAITING_APPROVAL: [],
        JobState.QUEUED: [lambda j: store.approve(j, 9, NOW)],
        JobState.CREATED: [],
        JobState.SUBMITTING: [lambda j: store.claim_submission(j, NOW)],
        JobState.RUNNING: [
            lambda j: store.claim_submission(j, NOW),
            lambda j: store.mark_running(j, f"task-{j}", NOW + 1, NOW + 2),
        ],
        JobState.SUCCEEDED: [
            lambda j: store.claim_submission(j, NOW),
            lambda j: store.mark_running(j, f"task-{j}", NOW + 1, NOW + 2),
            lambda j: store.mark_succeeded(j, ["http://r/1.mp4"], None, NOW + 3),
        ],
        JobState.FAILED: [
            lambda j: store.claim_submission(j, NOW),
            lambda j: store.mark_failed(j, "InvalidRequest", "no", NOW + 1),
        ],
        JobState.CANCELLED: [lambda j: store.cancel(j, NOW + 1, 1)],
        JobState.TIMED_OUT: [
            lambda j: store.claim_submission(j, NOW),
            lambda j: store.mark_running(j, f"task-{j}", NOW + 1, NOW + 2),
            lambda j: store.mark_timed_out(j, NOW + 3, "late"),
        ],
        JobState.SUBMISSION_UNKNOWN: [
            lambda j: store.claim_submission(j, NOW),
            lambda j: store.mark_submission_unknown(j, "no answer", NOW + 1),
        ],
    }
    if state in (JobState.DELIVERING, JobState.DELIVERED):
        await drive_to_outbox(store, job.id, delivered=state is JobState.DELIVERED)
    else:
        for step in steps[state]:
            await step(job.id)
    assert await state_of(store, job.id) is state
    return job.id


async def drive_to_outbox(store: Store, job_id: int, *, delivered: bool) -> None:
    await store.claim_submission(job_id, NOW)
    await store.mark_running(job_id, f"task-{job_id}", NOW + 1, NOW + 2)
    await store.mark_succeeded(job_id, ["http://r/1.mp4"], None, NOW + 3)
    (item,) = [i for i in await store.due_outbox(NOW + 10) if i.job_id == job_id]
    await store.claim_outbox(item.id, NOW + 4, 300.0, attempts=item.attempts)
    if delivered:
        await store.complete_outbox(item.id, [77], NOW + 5)


TargetCall = Callable[[Store, int], Awaitable[object]]
# Each store move into a state, and the sources it is for (None: every source the table
# allows). Together the moves into a state must cover exactly the table's sources.
MOVES: dict[str, tuple[JobState, TargetCall, frozenset[JobState] | None]] = {
    "claim_submission": (JobState.SUBMITTING, lambda s, j: s.claim_submission(j, NOW + 50), None),
    "mark_running": (
        JobState.RUNNING,
        lambda s, j: s.mark_running(j, "task-new", NOW + 50, NOW + 51),
        None,
    ),
    "requeue_submission": (
        JobState.CREATED,
        lambda s, j: s.requeue_submission(j, NOW + 60, "busy"),
        frozenset({JobState.SUBMITTING}),
    ),
    "start_queued": (
        JobState.CREATED,
        lambda s, j: s.start_queued(NOW + 50, None, OPEN),
        frozenset({JobState.QUEUED}),
    ),
    "approve": (JobState.QUEUED, lambda s, j: s.approve(j, 9, NOW + 50), None),
    "mark_submission_unknown": (
        JobState.SUBMISSION_UNKNOWN,
        lambda s, j: s.mark_submission_unknown(j, "lost", NOW + 50),
        None,
    ),
    "mark_failed": (JobState.FAILED, lambda s, j: s.mark_failed(j, "x", "failed", NOW + 50), None),
    "mark_timed_out": (
        JobState.TIMED_OUT,
        lambda s, j: s.mark_timed_out(j, NOW + 50, "late"),
        None,
    ),
    "mark_succeeded": (
        JobState.SUCCEEDED,
        lambda s, j: s.mark_succeeded(j, ["http://r/2.mp4"], None, NOW + 50),
        None,
    ),
    "cancel": (JobState.CANCELLED, lambda s, j: s.cancel(j, NOW + 50, 1), None),
}


def test_the_moves_cover_the_table() -> None:
    """Every transition of the table has a store move (delivering and delivered are the
    outbox's claim and completion, tested with it)."""
    covered: dict[JobState, set[JobState]] = {}
    for target, _, sources in MOVES.values():
        covered.setdefault(target, set()).update(sources or sources_of(target))
    outbox_moves = {JobState.DELIVERING, JobState.DELIVERED}
    assert covered == {
        target: set(sources_of(target))
        for target in JobState
        if sources_of(target) and target not in outbox_moves
    }


@pytest.mark.parametrize("move", list(MOVES))
async def test_each_transition_is_allowed_exactly_per_the_table(store: Store, move: str) -> None:
    target, call, only = MOVES[move]
    mismatches = []
    for user_id, source in enumerate(JobState, start=1):
        job_id = await drive_to(store, source, user_id)
        ledger_before = await store.ledger_entries(job_id)
        outbox_before = await outbox_rows(store, job_id)
        answer = await call(store, job_id)
        after = await state_of(store, job_id)
        allowed = target in TRANSITIONS[source] and (only is None or source in only)
        if allowed:
            if after is not target:
                mismatches.append(f"{source}->{target}: refused, state {after}")
        else:
            if after is not source:
                mismatches.append(f"{source}->{target}: moved to {after}")
            if answer not in (False, None, []):
                mismatches.append(f"{source}->{target}: answered {answer!r}")
            if await store.ledger_entries(job_id) != ledger_before:
                mismatches.append(f"{source}->{target}: refused move wrote the ledger")
            if await outbox_rows(store, job_id) != outbox_before:
                mismatches.append(f"{source}->{target}: refused move wrote the outbox")
    assert mismatches == []


async def test_second_claim_of_the_same_job_loses(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    assert await store.claim_submission(job.id, NOW) is True
    assert await store.claim_submission(job.id, NOW) is False
    claimed = await store.get_job(job.id)
    assert claimed is not None
    assert claimed.state is JobState.SUBMITTING
    assert claimed.submit_attempts == 1
    assert claimed.next_attempt_at is None


async def test_concurrent_claims_have_exactly_one_winner(backend: Backend) -> None:
    # Four stores (as several processes on PostgreSQL would be; on SQLite four connections, the
    # one-process lock held by the first only).
    stores = [await backend.open() for _ in range(4)]
    job = await stores[0].create_job(new_job(), OPEN, NOW)
    wins = await asyncio.gather(*(stores[i % 4].claim_submission(job.id, NOW) for i in range(20)))
    assert wins.count(True) == 1
    assert wins.count(False) == 19
    claimed = await stores[0].get_job(job.id)
    assert claimed is not None
    assert claimed.submit_attempts == 1


async def test_a_second_opener_is_refused_naming_the_file_and_the_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wanbot.sqlite3"
    first = await SQLiteStore.open(path)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            await SQLiteStore.open(path)
        message = str(refused.value)
        assert str(path) in message
        assert f"pid {os.getpid()}" in message
    finally:
        await first.close()
    again = await SQLiteStore.open(path)  # closed: free again
    await again.close()


async def test_mark_running_on_a_created_job_changes_nothing(store: Store) -> None:
    job = await store.create_job(
        new_job(inputs=(InputRef("image", 0, SHA_A, "image/png"),)), OPEN, NOW
    )
    assert (
        await store.mark_running(job.id, "task-1", NOW, NOW + 5) is None
    )  # lost: the caller must stop
    kept = await store.get_job(job.id)
    assert kept is not None
    assert kept.state is JobState.CREATED
    assert kept.task_id is None
    assert kept.submitted_at is None
    assert await store.inputs_of(job.id) == [InputRef("image", 0, SHA_A, "image/png")]


async def test_cancel_of_a_submitting_job_is_refused(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    assert await store.cancel(job.id, NOW + 1, by_user_id=1) is None
    assert await state_of(store, job.id) is JobState.SUBMITTING
    assert await store.ledger_entries(job.id) == [("reserve", Decimal("0.50"), False)]
    assert await outbox_rows(store, job.id) == []


async def test_requeue_returns_the_job_to_created_with_a_retry_time(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    assert await store.requeue_submission(job.id, NOW + 30, "rate limited") is True
    requeued = await store.get_job(job.id)
    assert requeued is not None
    assert requeued.state is JobState.CREATED
    assert requeued.next_attempt_at == NOW + 30
    assert requeued.error_message == "rate limited"
    assert requeued.submit_attempts == 1
    assert await store.claim_submission(job.id, NOW + 30) is True
    again = await store.get_job(job.id)
    assert again is not None
    assert again.submit_attempts == 2


async def test_mark_running_releases_inputs_no_other_waiting_job_needs(store: Store) -> None:
    shared = InputRef("image", 0, SHA_A, "image/png")
    own = InputRef("last_frame", 0, SHA_B, "image/png")
    first = await store.create_job(new_job(inputs=(shared, own)), OPEN, NOW)
    second = await store.create_job(new_job(user_id=2, inputs=(shared,)), OPEN, NOW)
    deleted: list[str] = []
    assert await store.sweep_inputs([SHA_A, SHA_B], deleted.append) == []
    await store.claim_submission(first.id, NOW)
    assert await store.mark_running(first.id, "task-1", NOW + 1, NOW + 2) == [SHA_B]
    assert await store.inputs_of(first.id) == []
    assert await store.sweep_inputs([SHA_A, SHA_B], deleted.append) == [SHA_B]
    await store.claim_submission(second.id, NOW)
    assert await store.mark_running(second.id, "task-2", NOW + 1, NOW + 2) == [SHA_A]
    assert await store.sweep_inputs([SHA_A, SHA_B, SHA_A], deleted.append) == [SHA_A, SHA_B]
    assert deleted == [SHA_B, SHA_A, SHA_B]  # each unreferenced hash handed over once a sweep


async def test_running_job_records_task_and_times(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    await store.mark_running(job.id, "task-xyz", NOW + 1, NOW + 11)
    running = await store.get_job(job.id)
    assert running is not None
    assert (running.state, running.task_id, running.submitted_at, running.next_attempt_at) == (
        JobState.RUNNING,
        "task-xyz",
        NOW + 1,
        NOW + 11,
    )
    await store.record_polls([(job.id, NOW + 20, 0.4, False), (job.id, NOW + 30, None, True)])
    polled = await store.get_job(job.id)
    assert polled is not None
    assert (polled.poll_count, polled.poll_errors, polled.progress, polled.next_attempt_at) == (
        2,
        1,
        0.4,
        NOW + 30,
    )
    assert [j.id for j in await store.active_jobs()] == [job.id]


# ---------------------------------------------------------------------------------------------
# The ledger for every ending
# ---------------------------------------------------------------------------------------------


async def running_job(store: Store, cost: str = "0.50", user_id: int = 1) -> Job:
    job = await store.create_job(new_job(cost=cost, user_id=user_id), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    await store.mark_running(job.id, f"task-{job.id}", NOW + 1, NOW + 2)
    return job


async def test_success_without_billed_cost_charges_the_estimate(store: Store) -> None:
    job = await running_job(store)
    assert await store.mark_succeeded(job.id, ["http://r/a.mp4"], None, NOW + 60) is True
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("settle", Decimal(0), False),
    ]
    assert await store.ledger_total(user_id=1) == Decimal("0.50")
    done = await store.get_job(job.id)
    assert done is not None
    assert done.billed_cost is None
    assert done.cost == Decimal("0.50")
    assert done.result_urls == ("http://r/a.mp4",)
    assert done.progress == 1.0
    assert await outbox_rows(store, job.id) == [("result", 0)]


async def test_success_with_billed_cost_charges_the_bill_exactly(store: Store) -> None:
    job = await running_job(store, cost="0.50")
    assert (
        await store.mark_succeeded(job.id, ["http://r/a.mp4"], Decimal("0.4237"), NOW + 60) is True
    )
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("settle", Decimal("-0.0763"), True),
    ]
    assert await store.ledger_total(user_id=1) == Decimal("0.4237")
    done = await store.get_job(job.id)
    assert done is not None
    assert done.billed_cost == Decimal("0.4237")
    assert done.cost == Decimal("0.4237")


async def test_billed_cost_above_the_estimate_is_charged_in_full(store: Store) -> None:
    job = await running_job(store, cost="0.07")
    await store.mark_succeeded(job.id, ["http://r/a.mp4"], Decimal("0.0712"), NOW + 60)
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.07"), False),
        ("settle", Decimal("0.0012"), True),
    ]
    assert await store.ledger_total() == Decimal("0.0712")


@pytest.mark.parametrize("from_state", [JobState.SUBMITTING, JobState.RUNNING], ids=str)
async def test_failure_releases_the_reservation(store: Store, from_state: JobState) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    if from_state is JobState.RUNNING:
        await store.mark_running(job.id, "task-1", NOW + 1, NOW + 2)
    assert await store.mark_failed(job.id, "3001", "Model inference failed", NOW + 5) is True
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("release", Decimal("-0.50"), False),
    ]
    assert await store.ledger_total(user_id=1) == Decimal(0)
    failed = await store.get_job(job.id)
    assert failed is not None
    assert (failed.state, failed.error_code, failed.error_message) == (
        JobState.FAILED,
        "3001",
        "Model inference failed",
    )
    assert await outbox_rows(store, job.id) == [("notice", 0)]


async def test_failure_the_provider_billed_anyway_charges_the_bill(store: Store) -> None:
    job = await running_job(store)
    assert (
        await store.mark_failed(job.id, "3004", "Output Error", NOW + 5, billed=Decimal("0.25"))
        is True
    )
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("settle", Decimal("-0.25"), True),
    ]
    assert await store.ledger_total() == Decimal("0.25")


async def test_timeout_after_acceptance_holds_the_estimate_until_staff_release_it(
    store: Store,
) -> None:
    job = await running_job(store)
    assert await store.mark_timed_out(job.id, NOW + 700, "no answer for a day") is True
    assert await store.ledger_entries(job.id) == [("reserve", Decimal("0.50"), False)]
    assert await store.ledger_total() == Decimal("0.50")
    timed_out = await store.get_job(job.id)
    assert timed_out is not None
    assert (timed_out.state, timed_out.error_code) == (JobState.TIMED_OUT, "timed_out")
    assert timed_out.error_message == "no answer for a day"
    assert timed_out.holds_estimate
    assert [j.id for j in await store.held_jobs(guild_id=None)] == [job.id]
    assert await outbox_rows(store, job.id) == [("notice", 0)]

    released = await store.release_hold(job.id, by_user_id=7, now=NOW + 800)
    assert released is not None
    assert not released.holds_estimate
    assert released.hold_released_at == NOW + 800
    assert await store.ledger_total() == Decimal(0)
    assert await store.held_jobs(guild_id=None) == []
    assert await store.release_hold(job.id, by_user_id=7, now=NOW + 900) is None  # once only
    assert await store.ledger_total() == Decimal(0)


async def test_a_job_never_sent_before_its_deadline_times_out_released(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    assert await store.mark_timed_out(job.id, NOW + 700, "not sent") is True
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("release", Decimal("-0.50"), False),
    ]
    expired = await store.get_job(job.id)
    assert expired is not None
    assert not expired.holds_estimate
    assert await store.release_hold(job.id, by_user_id=7, now=NOW + 800) is None


async def test_an_unknown_submission_holds_its_estimate_until_released(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    await store.mark_submission_unknown(job.id, "no answer", NOW + 1)
    assert [j.id for j in await store.held_jobs(guild_id=new_job().guild_id)] == [job.id]
    assert await store.release_hold(job.id, by_user_id=7, now=NOW + 2) is not None
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("release", Decimal("-0.50"), False),
    ]


async def test_cancel_before_submission_releases(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    assert await store.cancel(job.id, NOW + 5, by_user_id=42) is JobState.CREATED
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("release", Decimal("-0.50"), False),
    ]
    assert await store.ledger_total() == Decimal(0)
    cancelled = await store.get_job(job.id)
    assert cancelled is not None
    assert (cancelled.state, cancelled.error_code, cancelled.error_message) == (
        JobState.CANCELLED,
        "cancelled",
        "cancelled by 42",
    )
    assert await outbox_rows(store, job.id) == [("notice", 0)]
    assert await store.cancel(job.id, NOW + 6, by_user_id=42) is None
    assert len(await store.ledger_entries(job.id)) == 2


async def test_cancel_after_submission_keeps_the_estimate(store: Store) -> None:
    job = await running_job(store)
    assert await store.cancel(job.id, NOW + 5, by_user_id=1) is JobState.RUNNING
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("settle", Decimal(0), False),
    ]
    assert await store.ledger_total() == Decimal("0.50")
    assert await outbox_rows(store, job.id) == [("notice", 0)]
    # The upstream task finishing later changes nothing.
    assert await store.mark_succeeded(job.id, ["http://r/a.mp4"], Decimal("0.1"), NOW + 60) is False
    assert await store.ledger_total() == Decimal("0.50")
    assert await outbox_rows(store, job.id) == [("notice", 0)]


async def test_submission_unknown_keeps_the_estimate(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.claim_submission(job.id, NOW)
    assert await store.mark_submission_unknown(job.id, "no answer", NOW + 5) is True
    assert await store.ledger_entries(job.id) == [("reserve", Decimal("0.50"), False)]
    assert await store.ledger_total() == Decimal("0.50")
    unknown = await store.get_job(job.id)
    assert unknown is not None
    assert (unknown.state, unknown.error_code, unknown.error_message) == (
        JobState.SUBMISSION_UNKNOWN,
        "submission_unknown",
        "no answer",
    )
    assert await outbox_rows(store, job.id) == [("notice", 0)]
    assert await store.active_jobs() == []


async def test_delivery_failure_after_success_keeps_the_charge(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await drive_to_outbox(store, job.id, delivered=False)
    assert await state_of(store, job.id) is JobState.DELIVERING
    assert await store.mark_failed(job.id, "delivery_failed", "not posted", NOW + 9) is True
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("settle", Decimal(0), False),
    ]
    assert await store.ledger_total() == Decimal("0.50")
    assert await outbox_rows(store, job.id) == [("result", 1), ("notice", 0)]


# ---------------------------------------------------------------------------------------------
# The outbox
# ---------------------------------------------------------------------------------------------


async def test_outbox_row_is_enqueued_once_per_job_and_kind(store: Store) -> None:
    job = await running_job(store)
    results = await asyncio.gather(
        *(store.mark_failed(job.id, "x", "y", NOW + 5) for _ in range(10))
    )
    assert results.count(True) == 1
    assert await outbox_rows(store, job.id) == [("notice", 0)]
    assert await store.ledger_entries(job.id) == [
        ("reserve", Decimal("0.50"), False),
        ("release", Decimal("-0.50"), False),
    ]

    other = await running_job(store, user_id=2)
    assert await store.mark_succeeded(other.id, ["u"], None, NOW + 6) is True
    assert await store.mark_succeeded(other.id, ["u"], None, NOW + 7) is False
    assert await outbox_rows(store, other.id) == [("result", 0)]
    assert [(i.job_id, i.kind) for i in await store.due_outbox(NOW + 10)] == [
        (job.id, "notice"),
        (other.id, "result"),
    ]


async def test_claim_outbox_counts_attempts_and_starts_delivering(store: Store) -> None:
    job = await running_job(store)
    await store.mark_succeeded(job.id, ["http://r/a.mp4"], None, NOW + 10)
    assert await store.next_outbox_time() == NOW + 10
    assert await store.due_outbox(NOW + 9) == []
    (item,) = await store.due_outbox(NOW + 10)
    assert (item.kind, item.attempts, item.claimed_at) == ("result", 0, None)

    claimed = await store.claim_outbox(item.id, NOW + 11, lease_seconds=300.0, attempts=0)
    assert claimed is not None
    # A second claimer that read the same row loses: only one attempt may post.
    assert await store.claim_outbox(item.id, NOW + 11, lease_seconds=300.0, attempts=0) is None
    assert (claimed.id, claimed.attempts, claimed.claimed_at) == (item.id, 1, NOW + 11)
    delivering = await store.get_job(job.id)
    assert delivering is not None
    assert (delivering.state, delivering.delivery_attempts) == (JobState.DELIVERING, 1)
    # Claimed: not due again until the lease runs out.
    assert await store.due_outbox(NOW + 310) == []
    assert [i.id for i in await store.due_outbox(NOW + 311)] == [item.id]

    again = await store.claim_outbox(item.id, NOW + 311, lease_seconds=300.0, attempts=1)
    assert again is not None
    assert again.attempts == 2
    redelivering = await store.get_job(job.id)
    assert redelivering is not None
    assert (redelivering.state, redelivering.delivery_attempts) == (JobState.DELIVERING, 2)

    await store.complete_outbox(item.id, [901, 902], NOW + 312)
    delivered = await store.get_job(job.id)
    assert delivered is not None
    assert (delivered.state, delivered.delivered_message_ids, delivered.delivered_at) == (
        JobState.DELIVERED,
        (901, 902),
        NOW + 312,
    )
    assert await store.due_outbox(NOW + 10_000) == []
    assert await store.next_outbox_time() is None


async def test_claiming_a_notice_leaves_the_job_state_alone(store: Store) -> None:
    job = await running_job(store)
    await store.mark_timed_out(job.id, NOW + 5, "late")
    (item,) = await store.due_outbox(NOW + 5)
    claimed = await store.claim_outbox(item.id, NOW + 6, 300.0, attempts=0)
    assert claimed is not None
    assert (claimed.kind, claimed.attempts) == ("notice", 1)
    assert await state_of(store, job.id) is JobState.TIMED_OUT
    await store.complete_outbox(item.id, [5], NOW + 7)
    assert await state_of(store, job.id) is JobState.TIMED_OUT
    assert await store.due_outbox(NOW + 10_000) == []


async def test_retry_outbox_unclaims_and_waits(store: Store) -> None:
    job = await running_job(store)
    await store.mark_succeeded(job.id, ["u"], None, NOW + 1)
    (item,) = await store.due_outbox(NOW + 1)
    await store.claim_outbox(item.id, NOW + 2, 300.0, attempts=0)
    await store.retry_outbox(item.id, NOW + 7, "discord said 503")
    assert await store.due_outbox(NOW + 6) == []
    (due,) = await store.due_outbox(NOW + 7)
    assert (due.id, due.attempts, due.claimed_at) == (item.id, 1, None)
    assert (
        await scalar(store, "SELECT last_error FROM outbox WHERE id = ?", item.id)
        == "discord said 503"
    )


async def test_reset_outbox_claims_makes_claimed_rows_due_now(store: Store) -> None:
    jobs = [await running_job(store, user_id=u) for u in (1, 2, 3)]
    for job in jobs:
        await store.mark_succeeded(job.id, ["u"], None, NOW)
    first, second, third = await store.due_outbox(NOW)
    await store.claim_outbox(first.id, NOW + 1, 300.0, attempts=0)
    await store.claim_outbox(second.id, NOW + 1, 300.0, attempts=0)
    await store.complete_outbox(second.id, [1], NOW + 2)
    # third: never claimed, due already
    assert [i.id for i in await store.due_outbox(NOW + 3)] == [third.id]
    assert await store.reset_outbox_claims(NOW + 3) == 1
    due = await store.due_outbox(NOW + 3)
    assert sorted(i.id for i in due) == sorted([first.id, third.id])
    reset = next(i for i in due if i.id == first.id)
    assert (reset.attempts, reset.claimed_at) == (1, NOW + 1)  # the next try reconciles first


async def test_abandoned_outbox_row_is_never_due_again(store: Store) -> None:
    job = await running_job(store)
    await store.mark_failed(job.id, "x", "y", NOW)
    (item,) = await store.due_outbox(NOW)
    await store.abandon_outbox(item.id, "channel deleted", NOW + 1)
    assert await store.due_outbox(NOW + 10_000) == []
    assert (
        await scalar(store, "SELECT last_error FROM outbox WHERE id = ?", item.id)
        == "abandoned: channel deleted"
    )


# ---------------------------------------------------------------------------------------------
# Budgets and limits: one atomic reservation
# ---------------------------------------------------------------------------------------------


ROOM_FOR_FIVE: dict[str, tuple[Limits, Callable[[int], NewJob], str]] = {
    # per-user daily budget $2.50, jobs of $0.50, one user
    "user_daily_budget": (
        Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("2.50")),
        lambda i: new_job(user_id=7, cost="0.50"),
        "user_budget",
    ),
    # server monthly budget $2.50, jobs of $0.50 by fifty different users
    "guild_monthly_budget": (
        Limits(max_concurrent_per_user=None, guild_monthly_budget=Decimal("2.50")),
        lambda i: new_job(user_id=100 + i, cost="0.50"),
        "guild_budget",
    ),
    # five generations at once for one user, no money limit
    "concurrent_per_user": (
        Limits(max_concurrent_per_user=5),
        lambda i: new_job(user_id=7, cost="0.50"),
        "concurrency",
    ),
}


async def assert_exactly_five(stores: list[Store], variant: str) -> None:
    limits, make, reason = ROOM_FOR_FIVE[variant]
    await set_guild_limits(stores[0], GUILD, limits, NOW)
    outcomes = await asyncio.gather(
        *(stores[i % len(stores)].create_job(make(i), OPEN, NOW) for i in range(50)),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if isinstance(o, Job)]
    refused = [o for o in outcomes if isinstance(o, ReservationRefused)]
    assert len(accepted) == 5, [o for o in outcomes if not isinstance(o, Job)][:3]
    assert len(refused) == 45
    assert {r.reason for r in refused} == {reason}
    check = stores[0]
    assert await scalar(check, "SELECT COUNT(*) FROM jobs") == 5
    assert await scalar(check, "SELECT COUNT(*) FROM ledger") == 5
    assert await check.ledger_total(guild_id=GUILD) == Decimal("2.50")
    assert sorted(j.id for j in accepted) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("variant", list(ROOM_FOR_FIVE))
async def test_fifty_concurrent_submissions_on_one_store_take_exactly_five(
    store: Store, variant: str
) -> None:
    await assert_exactly_five([store], variant)


@pytest.mark.parametrize("variant", list(ROOM_FOR_FIVE))
async def test_fifty_concurrent_submissions_over_five_connections_take_exactly_five(
    backend: Backend, variant: str
) -> None:
    # Five stores: five processes on PostgreSQL (five pools), five connections on SQLite.
    stores = [await backend.open() for _ in range(5)]
    await assert_exactly_five(stores, variant)


async def test_user_budget_refusal_names_the_limit_and_numbers(store: Store) -> None:
    limits = Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("2.50"))
    for _ in range(4):
        await store.create_job(new_job(cost="0.50"), limits, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(cost="0.75"), limits, NOW)
    message = str(refused.value)
    assert refused.value.reason == "user_budget"
    assert "$0.75" in message
    assert "$0.50 left" in message
    assert "$2.50 daily budget" in message
    assert "daily budget" in message
    # what still fits is accepted
    job = await store.create_job(new_job(cost="0.50"), limits, NOW)
    assert job.estimated_cost == Decimal("0.50")
    assert await store.ledger_total(user_id=1) == Decimal("2.50")


async def test_guild_budget_refusal_names_the_limit_and_numbers(store: Store) -> None:
    await set_guild_limits(
        store, GUILD, Limits(max_concurrent_per_user=None, guild_monthly_budget=Decimal("10")), NOW
    )
    await store.create_job(new_job(user_id=1, cost="6"), OPEN, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(user_id=2, cost="4.5"), OPEN, NOW)
    message = str(refused.value)
    assert refused.value.reason == "guild_budget"
    assert "$4.50" in message
    assert "$4.00 left" in message
    assert "$10.00 monthly budget" in message
    assert "monthly budget" in message


async def test_concurrency_refusal_names_the_limit_and_numbers(store: Store) -> None:
    limits = Limits(max_concurrent_per_user=2)
    first = await store.create_job(new_job(), limits, NOW)
    await store.create_job(new_job(), limits, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(), limits, NOW)
    assert refused.value.reason == "concurrency"
    assert "You already have 2 generation(s) running; the limit is 2" in str(refused.value)
    # A job that ended no longer counts; a running one does.
    await store.claim_submission(first.id, NOW)
    await store.mark_failed(first.id, "x", "y", NOW)
    third = await store.create_job(new_job(), limits, NOW)
    await store.claim_submission(third.id, NOW)
    await store.mark_running(third.id, "t", NOW, NOW)
    with pytest.raises(ReservationRefused):
        await store.create_job(new_job(), limits, NOW)


async def test_budget_zero_turns_generation_off(store: Store) -> None:
    await set_guild_limits(store, GUILD, Limits(user_daily_budget=Decimal(0)), NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(cost="0.01"), OPEN, NOW)
    assert refused.value.reason == "generation_off"
    assert "turned off for you" in str(refused.value)

    await set_guild_limits(store, OTHER_GUILD, Limits(guild_monthly_budget=Decimal(0)), NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(guild_id=OTHER_GUILD, cost="0.01"), OPEN, NOW)
    assert refused.value.reason == "generation_off"
    assert "turned off on this server" in str(refused.value)
    assert await count_rows(store) == {"jobs": 0, "ledger": 0, "job_inputs": 0, "outbox": 0}


async def test_user_override_beats_the_server_daily_budget(store: Store) -> None:
    await set_guild_limits(
        store, GUILD, Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("1")), NOW
    )
    await store.set_user_daily_budget(GUILD, 1, Decimal("5"), NOW)
    job = await store.create_job(new_job(user_id=1, cost="3"), OPEN, NOW)
    assert job.estimated_cost == Decimal(3)
    with pytest.raises(ReservationRefused) as refused:  # user 2 has the server's $1
        await store.create_job(new_job(user_id=2, cost="3"), OPEN, NOW)
    assert refused.value.reason == "user_budget"
    # A lower override wins too, down to "off" for one member.
    await store.set_user_daily_budget(GUILD, 2, Decimal(0), NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(user_id=2, cost="0.01"), OPEN, NOW)
    assert refused.value.reason == "generation_off"
    # Removing the override falls back to the server's cap.
    await store.set_user_daily_budget(GUILD, 2, None, NOW)
    accepted = await store.create_job(new_job(user_id=2, cost="1"), OPEN, NOW)
    assert accepted.user_id == 2


async def test_guild_settings_fill_in_over_defaults(store: Store) -> None:
    # Concurrency unset on the server: the caller's default (1) applies.
    await set_guild_limits(
        store, GUILD, Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("100")), NOW
    )
    defaults = Limits(max_concurrent_per_user=1)
    await store.create_job(new_job(), defaults, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(), defaults, NOW)
    assert refused.value.reason == "concurrency"


async def test_cooldown_refuses_with_seconds_left(store: Store) -> None:
    limits = Limits(max_concurrent_per_user=None, cooldown_seconds=60.0)
    await store.create_job(new_job(), limits, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(), limits, NOW + 20)
    assert refused.value.reason == "cooldown"
    assert str(refused.value) == "Please wait 40 more second(s) before the next generation."
    other_user = await store.create_job(new_job(user_id=2), limits, NOW + 20)
    assert other_user.user_id == 2
    later = await store.create_job(new_job(), limits, NOW + 60)
    assert later.created_at == NOW + 60


async def test_refused_reservation_writes_nothing(store: Store) -> None:
    limits = Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("1"))
    await store.create_job(new_job(cost="0.80"), limits, NOW)
    before = await count_rows(store)
    assert before == {"jobs": 1, "ledger": 1, "job_inputs": 0, "outbox": 0}
    inputs = (InputRef("image", 0, SHA_A, "image/png"),)
    with pytest.raises(ReservationRefused):
        await store.create_job(new_job(cost="0.30", inputs=inputs), limits, NOW)
    assert await count_rows(store) == before
    assert await store.sweep_inputs([SHA_A], lambda sha: None) == [SHA_A]
    assert await store.ledger_total() == Decimal("0.80")


async def test_limits_of_other_guilds_and_users_do_not_interfere(store: Store) -> None:
    per_user = Limits(
        max_concurrent_per_user=2,
        user_daily_budget=Decimal("1"),
        guild_monthly_budget=Decimal("1.5"),
    )
    await set_guild_limits(store, GUILD, per_user, NOW)
    await set_guild_limits(store, OTHER_GUILD, per_user, NOW)
    await store.create_job(new_job(user_id=1, cost="0.5"), OPEN, NOW)
    await store.create_job(new_job(user_id=1, cost="0.5"), OPEN, NOW)
    with pytest.raises(ReservationRefused):  # budget and concurrency both full here
        await store.create_job(new_job(user_id=1, cost="0.01"), OPEN, NOW)
    # The same user in another server, and another user here, still have room.
    await store.create_job(new_job(user_id=1, guild_id=OTHER_GUILD, cost="1"), OPEN, NOW)
    await store.create_job(new_job(user_id=2, cost="0.5"), OPEN, NOW)
    # Guild 10 is now at its $1.50 monthly cap; guild 20 is not.
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(user_id=3, cost="0.01"), OPEN, NOW)
    assert refused.value.reason == "guild_budget"
    await store.create_job(new_job(user_id=3, guild_id=OTHER_GUILD, cost="0.5"), OPEN, NOW)
    # Outside any server only the caller's limits apply.
    await store.create_job(new_job(user_id=1, guild_id=None, cost="50"), OPEN, NOW)
    assert await store.ledger_total(guild_id=GUILD) == Decimal("1.5")
    assert await store.ledger_total(guild_id=OTHER_GUILD) == Decimal("1.5")
    assert await store.ledger_total(user_id=1) == Decimal("52")


async def test_released_money_is_room_again_and_periods_roll_over(store: Store) -> None:
    limits = Limits(
        max_concurrent_per_user=None,
        user_daily_budget=Decimal("1"),
        guild_monthly_budget=Decimal("3"),
    )
    yesterday = NOW - 86_400
    await store.create_job(new_job(cost="1"), limits, yesterday)  # yesterday's day is spent
    first = await store.create_job(new_job(cost="1"), limits, NOW)
    with pytest.raises(ReservationRefused):
        await store.create_job(new_job(cost="0.01"), limits, NOW)
    await store.claim_submission(first.id, NOW)
    await store.mark_failed(first.id, "x", "y", NOW)  # released
    second = await store.create_job(new_job(cost="1"), limits, NOW)
    assert second.estimated_cost == Decimal(1)
    # The guild month has $2 spent (yesterday + today): $1 left, then none.
    await store.create_job(new_job(user_id=2, cost="1"), limits, NOW)
    with pytest.raises(ReservationRefused) as refused:
        await store.create_job(new_job(user_id=3, cost="0.01"), limits, NOW)
    assert refused.value.reason == "guild_budget"
    next_month = datetime(2025, 7, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    await store.create_job(new_job(user_id=3, cost="1"), limits, next_month)


# ---------------------------------------------------------------------------------------------
# Usage
# ---------------------------------------------------------------------------------------------


async def seed_usage(store: Store) -> dict[str, int]:
    """A small month of jobs covering every kind of ending."""
    ids: dict[str, int] = {}

    async def run(name: str, job: NewJob, at: float) -> int:
        created = await store.create_job(job, OPEN, at)
        await store.claim_submission(created.id, at)
        await store.mark_running(created.id, f"task-{name}", at + 1, at + 2)
        ids[name] = created.id
        return created.id

    # user 1, guild 10: wan2.6-i2v 5 s succeeded at the estimate
    await store.mark_succeeded(
        await run("u1_i2v", new_job(user_id=1, cost="0.50"), NOW), ["u"], None, NOW + 60
    )
    # user 1, guild 10: vtrix flash 5 s succeeded, billed below the estimate
    await store.mark_succeeded(
        await run(
            "u1_flash",
            new_job(
                user_id=1, cost="0.07", model_id="wan2.2-i2v-flash", provider="vtrix", tier="480P"
            ),
            NOW + 1,
        ),
        ["u"],
        Decimal("0.065"),
        NOW + 61,
    )
    # user 1, guild 10: wan2.6-i2v 10 s cancelled while running (the estimate stays)
    await store.cancel(
        await run("u1_cancelled", new_job(user_id=1, cost="1.00", units="10"), NOW + 2), NOW + 5, 1
    )
    # user 2, guild 10: i2i two images succeeded
    await store.mark_succeeded(
        await run(
            "u2_i2i",
            new_job(
                user_id=2,
                cost="0.06",
                model_id="wan2.5-i2i-preview",
                tier="image",
                units="2",
                unit="image",
            ),
            NOW + 3,
        ),
        ["u1", "u2"],
        None,
        NOW + 63,
    )
    # user 2, guild 10: t2v failed (released: no charge, but still a job)
    await store.mark_failed(
        await run(
            "u2_failed",
            new_job(user_id=2, cost="0.10", model_id="wan2.2-t2v-plus", tier="480P"),
            NOW + 4,
        ),
        "3001",
        "failed",
        NOW + 30,
    )
    # user 3, guild 20: t2v 1080P still running (reserved)
    await run(
        "u3_running",
        new_job(
            user_id=3, guild_id=OTHER_GUILD, cost="0.50", model_id="wan2.2-t2v-plus", tier="1080P"
        ),
        NOW + 5,
    )
    # user 1, guild 10, last month: outside "month"
    last_month = datetime(2025, 5, 31, 23, 0, tzinfo=UTC).timestamp()
    await store.mark_succeeded(
        await run("u1_may", new_job(user_id=1, cost="0.50"), last_month),
        ["u"],
        None,
        last_month + 60,
    )
    return ids


def row(
    key: str, jobs: int, charged: int, seconds: str, images: str, estimated: str, billed: str
) -> UsageRow:
    return UsageRow(
        key=key,
        jobs=jobs,
        charged_jobs=charged,
        video_seconds=Decimal(seconds),
        images=Decimal(images),
        estimated=Decimal(estimated),
        billed=Decimal(billed),
    )


async def test_usage_by_user_splits_estimated_and_billed(store: Store) -> None:
    await seed_usage(store)
    month = period_start("month", NOW)
    assert await store.usage(group_by="user", since=month) == [
        row("1", 3, 3, "20", "0", "1.50", "0.065"),
        row("3", 1, 1, "5", "0", "0.50", "0"),
        row("2", 2, 1, "0", "2", "0.06", "0"),
    ]
    everything = await store.usage(group_by="user", since=0.0)
    assert everything[0] == row("1", 4, 4, "25", "0", "2.00", "0.065")
    assert everything[0].total == Decimal("2.065")
    assert [r.key for r in await store.usage(group_by="user", since=month, guild_id=GUILD)] == [
        "1",
        "2",
    ]
    assert await store.usage(group_by="user", since=month, user_id=2) == [
        row("2", 2, 1, "0", "2", "0.06", "0")
    ]


async def test_usage_by_model_and_by_guild(store: Store) -> None:
    await seed_usage(store)
    month = period_start("month", NOW)
    assert await store.usage(group_by="model", since=month) == [
        row("wan2.6-i2v", 2, 2, "15", "0", "1.50", "0"),
        row("wan2.2-t2v-plus", 2, 1, "5", "0", "0.50", "0"),
        row("wan2.2-i2v-flash", 1, 1, "5", "0", "0", "0.065"),
        row("wan2.5-i2i-preview", 1, 1, "0", "2", "0.06", "0"),
    ]
    by_guild = await store.usage(group_by="guild", since=month)
    assert by_guild == [
        row(str(GUILD), 5, 4, "20", "2", "1.56", "0.065"),
        row(str(OTHER_GUILD), 1, 1, "5", "0", "0.50", "0"),
    ]
    assert by_guild[0].total == await store.ledger_total(guild_id=GUILD, since=month)
    assert by_guild[0].total == Decimal("1.625")


def test_period_start_uses_the_utc_calendar() -> None:
    now = datetime(2025, 3, 15, 13, 45, 10, tzinfo=UTC).timestamp()
    assert period_start("today", now) == datetime(2025, 3, 15, tzinfo=UTC).timestamp()
    assert period_start("month", now) == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    assert period_start("all", now) == 0.0
    with pytest.raises(ValueError, match="unknown period"):
        period_start("week", now)


def test_period_start_does_not_depend_on_the_local_time_zone() -> None:
    last_second = datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    original = os.environ.get("TZ")
    try:
        for zone in ("Pacific/Kiritimati", "America/Los_Angeles", "UTC"):
            os.environ["TZ"] = zone
            time.tzset()
            assert (
                period_start("today", last_second) == datetime(2025, 3, 31, tzinfo=UTC).timestamp()
            )
            assert (
                period_start("month", last_second) == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
            )
    finally:
        if original is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = original
        time.tzset()


# ---------------------------------------------------------------------------------------------
# Pushed events (webhooks)
# ---------------------------------------------------------------------------------------------


async def test_a_webhook_event_is_taken_once_per_source(store: Store) -> None:
    assert await store.record_webhook_event("mulerouter", "evt_1", NOW)
    assert not await store.record_webhook_event("mulerouter", "evt_1", NOW + 5)
    assert await store.record_webhook_event("vtrix", "evt_1", NOW)  # another sender's id space
    results = await asyncio.gather(
        *(store.record_webhook_event("mulerouter", "evt_2", NOW) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]


async def test_old_webhook_event_ids_are_forgotten(store: Store) -> None:
    await store.record_webhook_event("mulerouter", "old", NOW - 100)
    await store.record_webhook_event("mulerouter", "new", NOW)
    assert await store.forget_webhook_events(NOW - 10) == 1
    assert await store.record_webhook_event("mulerouter", "old", NOW)
    assert not await store.record_webhook_event("mulerouter", "new", NOW)


# ---------------------------------------------------------------------------------------------
# The rest of the protocol, on both backends
# ---------------------------------------------------------------------------------------------


async def test_ledger_rows_stream_oldest_first_with_their_jobs_state(store: Store) -> None:
    kept = await running_job(store, cost="0.50")
    await store.mark_succeeded(kept.id, ["u"], Decimal("0.40"), NOW + 5)
    elsewhere = await store.create_job(new_job(user_id=2, guild_id=OTHER_GUILD), OPEN, NOW + 1)
    rows = [row async for row in store.ledger_rows(since=0.0)]
    assert [(r.job_id, r.entry, r.amount, r.billed, r.job_state) for r in rows] == [
        (kept.id, "reserve", Decimal("0.50"), False, "succeeded"),
        (kept.id, "settle", Decimal("-0.10"), True, "succeeded"),
        (elsewhere.id, "reserve", Decimal("0.50"), False, "created"),
    ]
    assert rows[0].note == "estimate reserved at submission"
    assert (rows[1].created_at, rows[1].charged_at) == (NOW + 5, NOW)  # counts in its job's day
    only = [row async for row in store.ledger_rows(since=0.0, guild_id=OTHER_GUILD)]
    assert [r.job_id for r in only] == [elsewhere.id]
    assert [row async for row in store.ledger_rows(since=NOW + 2)] == []


async def test_gauges_count_jobs_by_state_and_model_and_the_outbox_backlog(store: Store) -> None:
    await running_job(store)
    failed = await running_job(store, user_id=2)
    await store.mark_failed(failed.id, "x", "y", NOW)
    await store.create_job(new_job(user_id=3, model_id="wan2.2-t2v-plus"), OPEN, NOW)
    gauges = await store.gauges()
    assert gauges.jobs == {
        ("running", "wan2.6-i2v"): 1,
        ("failed", "wan2.6-i2v"): 1,
        ("created", "wan2.2-t2v-plus"): 1,
    }
    assert gauges.outbox_backlog == {"notice": 1}


async def test_meta_and_the_writable_check(store: Store) -> None:
    assert await store.get_meta("commands_hash") is None
    await store.set_meta("commands_hash", "abc")
    await store.set_meta("commands_hash", "def")
    assert await store.get_meta("commands_hash") == "def"
    await store.check_writable(NOW)
    await store.check_writable(NOW + 1)
    assert await store.get_meta("health_checked_at") == repr(NOW + 1)


async def test_duration_history_and_completion_windows_of_similar_jobs(store: Store) -> None:
    job = await running_job(store)  # submitted at NOW + 1
    await store.mark_succeeded(
        job.id,
        ["u"],
        None,
        NOW + 100,
        completed_at=NOW + 91,
        completion_exact=True,
        completion_after=NOW + 81,
        started_at=NOW + 11,
    )
    other_tier = await store.create_job(new_job(user_id=2, tier="1080P"), OPEN, NOW)
    await store.claim_submission(other_tier.id, NOW)
    await store.mark_running(other_tier.id, "t", NOW, NOW)
    await store.mark_succeeded(other_tier.id, ["u"], None, NOW + 50, completed_at=NOW + 40)
    assert await store.duration_history("wan2.6-i2v", "720P", Decimal(5)) == [(90.0, True)]
    assert await store.duration_history("wan2.6-i2v", "720P", Decimal(10)) == []
    (window,) = await store.completion_windows("wan2.6-i2v", "720P", Decimal(5))
    assert (window.after, window.by, window.started) == (80.0, 99.0, 10.0)


async def test_jobs_for_a_user_are_per_server_newest_first(store: Store) -> None:
    here = [await store.create_job(new_job(), OPEN, NOW + i) for i in range(3)]
    direct = await store.create_job(new_job(guild_id=None), OPEN, NOW)
    await store.create_job(new_job(user_id=2), OPEN, NOW)
    assert [j.id for j in await store.jobs_for_user(1, GUILD)] == [j.id for j in here[::-1]]
    assert [j.id for j in await store.jobs_for_user(1, GUILD, limit=2)] == [
        here[2].id,
        here[1].id,
    ]
    assert [j.id for j in await store.jobs_for_user(1, None)] == [direct.id]


async def test_inputs_are_held_until_released(store: Store) -> None:
    refs = (InputRef("image", 0, SHA_A, "image/png"), InputRef("image", 1, SHA_B, "image/png"))
    job = await store.create_job(new_job(inputs=refs), OPEN, NOW)
    other = await store.create_job(new_job(user_id=2, inputs=refs[:1]), OPEN, NOW)
    assert await store.inputs_of(job.id) == list(refs)
    assert await store.jobs_holding_inputs() == []
    await store.cancel(job.id, NOW + 1, 1)  # past submission's wait, inputs still listed
    assert await store.jobs_holding_inputs() == [job.id]
    assert await store.release_inputs(job.id) == [SHA_B]  # SHA_A: the other job waits on it
    assert await store.jobs_holding_inputs() == []
    assert await store.release_inputs(other.id) == [SHA_A]


async def test_status_message_is_set_and_forgotten(store: Store) -> None:
    job = await store.create_job(new_job(), OPEN, NOW)
    await store.set_status_message(job.id, 1_400_000_000_000_000_001)
    shown = await store.get_job(job.id)
    assert shown is not None
    assert shown.status_message_id == 1_400_000_000_000_000_001
    await store.forget_status_message(job.id)
    forgotten = await store.get_job(job.id)
    assert forgotten is not None
    assert forgotten.status_message_id is None


async def test_limits_and_totals_a_precheck_reads(store: Store) -> None:
    await set_guild_limits(
        store, GUILD, Limits(user_daily_budget=Decimal(2), cooldown_seconds=30.0), NOW
    )
    await store.set_user_daily_budget(GUILD, 1, Decimal(3), NOW)
    defaults = Limits(max_concurrent_per_user=4)
    assert await store.limits_for(GUILD, 1, defaults) == Limits(
        max_concurrent_per_user=4, user_daily_budget=Decimal(3), cooldown_seconds=30.0
    )
    assert await store.limits_for(None, 1, defaults) == defaults
    await store.create_job(new_job(cost="0.75"), OPEN, NOW - 10)
    totals = await store.member_totals(GUILD, 1, NOW)
    assert (totals.user_day_micros, totals.guild_month_micros, totals.generating) == (
        750_000,
        750_000,
        1,
    )
    assert totals.last_created == NOW - 10
    assert await store.member_totals(None, 1, NOW) == type(totals)()


async def test_guild_config_round_trips_limits_and_policy(store: Store) -> None:
    assert await store.guild_config(GUILD) == GuildConfig()

    def edit(config: GuildConfig) -> GuildConfig:
        policy = config.policy.model_copy(update={"disabled_models": ["wan2.6-i2v"]})
        limits = Limits(guild_monthly_budget=Decimal("12.5"), max_concurrent_per_user=2)
        return GuildConfig(limits=limits, policy=policy)

    edited = await store.edit_guild_config(GUILD, NOW, edit)
    assert await store.guild_config(GUILD) == edited
    assert edited.policy.disabled_models == ["wan2.6-i2v"]
    # Concurrent edits never lose one: each reads what the last one wrote.

    def one_more(config: GuildConfig) -> GuildConfig:
        slots = (config.limits.max_concurrent_per_user or 0) + 1
        return dataclasses.replace(
            config, limits=dataclasses.replace(config.limits, max_concurrent_per_user=slots)
        )

    await asyncio.gather(*(store.edit_guild_config(GUILD, NOW, one_more) for _ in range(10)))
    final = await store.guild_config(GUILD)
    assert final.limits.max_concurrent_per_user == 12


async def test_usage_of_jobs_outside_a_server(store: Store) -> None:
    await store.create_job(new_job(guild_id=None, cost="0.25"), OPEN, NOW)
    await store.create_job(new_job(cost="0.25"), OPEN, NOW)
    by_guild = await store.usage(group_by="guild", since=0.0)
    assert [(r.key, r.total) for r in by_guild] == [
        ("None", Decimal("0.25")),
        (str(GUILD), Decimal("0.25")),
    ]


async def test_a_transaction_cancelled_while_it_begins_leaves_none_open(tmp_path: Path) -> None:
    """A stop cancels tasks wherever they are, e.g. a heartbeat awaiting its ``BEGIN``. SQLite
    runs the statement to its end in its thread anyway: the cancelled transaction must be
    rolled back, or every later one fails with "cannot start a transaction within a
    transaction" (a terminal ``generate`` died that way on shutdown)."""
    store = await SQLiteStore.open(tmp_path / "cancelled.sqlite3")
    try:
        connector = store._connector

        async def one() -> None:
            async with connector.transaction() as tx:
                await tx.execute("SELECT 1")

        for _ in range(20):
            task = asyncio.create_task(one())
            await asyncio.sleep(0)  # it holds the lock and awaits BEGIN
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await one()  # raised OperationalError before the fix
            assert await store.get_meta("nothing") is None
    finally:
        await store.close()
