"""The waiting room on a real database: the member's queue and approvals (SQLite, PostgreSQL).

A member at their concurrent-job limit queues (reserved at once, so a queue never overspends),
queued jobs start oldest first as slots free, a cancelled queued job gives its reservation
back, and an approval lapses at its expiry. Every test runs on both backends (``conftest.py``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.jobs.budget import Admission, Limits, ReservationRefused, Totals, check_limits
from bot.jobs.queue import WaitingRoom
from bot.jobs.records import InputRef, Job
from bot.jobs.states import JobState
from tests.jobs.conftest import Backend
from tests.jobs.test_store import (
    GUILD,
    NOW,
    Store,
    new_job,
    outbox_rows,
    set_guild_limits,
    state_of,
)

TWO_AND_QUEUE_OF_TWO = Limits(max_concurrent_per_user=2, queue_per_user=2)


@pytest.fixture
async def store(backend: Backend) -> Store:
    """A store on each backend in turn (closed by ``backend``)."""
    return await backend.open()


def test_a_member_at_the_limit_queues_while_the_queue_has_room() -> None:
    limits = Limits(max_concurrent_per_user=1, queue_per_user=2)
    assert check_limits(limits, Totals(generating=0), 1, NOW) is Admission.START
    assert check_limits(limits, Totals(generating=1, queued=1), 1, NOW) is Admission.QUEUE
    with pytest.raises(ReservationRefused, match="2 queued; the limits are 1 running and 2 queued"):
        check_limits(limits, Totals(generating=1, queued=2), 1, NOW)


def test_without_a_queue_the_limit_refuses_as_before() -> None:
    with pytest.raises(ReservationRefused, match=r"the limit is 1\. Wait for one"):
        check_limits(
            Limits(max_concurrent_per_user=1, queue_per_user=0), Totals(generating=1), 1, NOW
        )


def test_a_job_awaiting_approval_needs_no_slot_yet() -> None:
    limits = Limits(max_concurrent_per_user=1, queue_per_user=0)
    assert check_limits(limits, Totals(generating=1), 1, NOW, needs_slot=False) is Admission.START


def test_the_queue_still_obeys_the_budget() -> None:
    limits = Limits(max_concurrent_per_user=1, queue_per_user=3, user_daily_budget=Decimal(1))
    with pytest.raises(ReservationRefused, match="daily budget"):
        check_limits(limits, Totals(user_day_micros=900_000, generating=1), 200_000, NOW)


async def fill(store: Store, count: int, *, user_id: int = 1) -> list[Job]:
    return [
        await store.create_job(new_job(user_id=user_id), TWO_AND_QUEUE_OF_TWO, NOW + i)
        for i in range(count)
    ]


async def test_jobs_past_the_limit_are_queued_and_reserved_at_once(store: Store) -> None:
    jobs = await fill(store, 4)
    assert [job.state for job in jobs] == [JobState.CREATED] * 2 + [JobState.QUEUED] * 2
    assert [job.queue_ahead for job in jobs[2:]] == [0, 1]
    assert all(job.next_attempt_at is None and job.lease_owner is None for job in jobs[2:])
    # Reserved now: four estimates count against the day, so a queue can never overspend.
    assert await store.ledger_total(user_id=1) == Decimal("2.00")
    with pytest.raises(ReservationRefused, match="2 queued"):
        await store.create_job(new_job(), TWO_AND_QUEUE_OF_TWO, NOW + 5)


async def test_a_freed_slot_starts_the_oldest_queued_job(store: Store) -> None:
    first, _, third, fourth = await fill(store, 4)
    assert await store.start_queued(NOW + 10, "me", TWO_AND_QUEUE_OF_TWO) == []  # slots full
    await store.cancel(first.id, NOW + 20, 1)
    started = await store.start_queued(NOW + 30, "me", TWO_AND_QUEUE_OF_TWO)
    assert [job.id for job in started] == [third.id]
    (job,) = started
    assert (job.state, job.lease_owner, job.next_attempt_at) == (JobState.CREATED, "me", NOW + 30)
    # Its deadline counts from its start, not from when it was queued.
    assert job.deadline_at == pytest.approx(NOW + 30 + 600.0)
    still = await store.get_job(fourth.id)
    assert still is not None
    assert (still.state, still.queue_ahead) == (JobState.QUEUED, 0)


async def test_a_server_sets_its_own_queue_length(store: Store) -> None:
    await set_guild_limits(store, GUILD, Limits(queue_per_user=0), NOW)
    await fill(store, 2)
    with pytest.raises(ReservationRefused, match="the limit is 2"):
        await store.create_job(new_job(), TWO_AND_QUEUE_OF_TWO, NOW + 3)
    config = await store.guild_config(GUILD)
    assert config.limits.queue_per_user == 0


async def test_cancelling_a_queued_job_is_free_and_moves_the_queue_up(store: Store) -> None:
    *_, third, fourth = await fill(store, 4)
    assert await store.cancel(third.id, NOW + 10, 1) is JobState.QUEUED
    assert [entry for entry, _, _ in await store.ledger_entries(third.id)] == ["reserve", "release"]
    moved = await store.get_job(fourth.id)
    assert moved is not None
    assert moved.queue_ahead == 0
    assert [job.id for job in await store.queued_jobs(1, GUILD)] == [fourth.id]


async def test_queues_are_per_member(store: Store) -> None:
    await fill(store, 3, user_id=1)
    other = await fill(store, 1, user_id=2)
    assert other[0].state is JobState.CREATED


async def test_an_approved_job_joins_the_queue_and_a_lapsed_one_is_found(store: Store) -> None:
    waiting = await store.create_job(
        new_job(), TWO_AND_QUEUE_OF_TWO, NOW, approval_until=NOW + 3600
    )
    lapsing = await store.create_job(new_job(), TWO_AND_QUEUE_OF_TWO, NOW, approval_until=NOW + 60)
    assert waiting.state is JobState.AWAITING_APPROVAL
    assert [kind for kind, _ in await outbox_rows(store, waiting.id)] == ["approval"]
    assert await store.next_approval_expiry() == NOW + 60
    assert await store.lapsed_approvals(NOW + 59) == []
    assert await store.lapsed_approvals(NOW + 61) == [lapsing.id]
    assert await store.approve(lapsing.id, 9, NOW + 61) is None  # too late: it lapses
    approved = await store.approve(waiting.id, 9, NOW + 61)
    assert approved is not None
    assert (approved.state, approved.decided_by) == (JobState.QUEUED, 9)
    assert await store.approve(waiting.id, 9, NOW + 62) is None  # decided once
    started = await store.start_queued(NOW + 63, "me", TWO_AND_QUEUE_OF_TWO)
    assert [job.id for job in started] == [waiting.id]


async def test_a_denial_releases_and_is_recorded(store: Store) -> None:
    job = await store.create_job(new_job(), TWO_AND_QUEUE_OF_TWO, NOW, approval_until=NOW + 60)
    denied = await store.cancel(
        job.id,
        NOW + 1,
        9,
        only_from=JobState.AWAITING_APPROVAL,
        code="approval_denied",
        message="no",
        decided_by=9,
    )
    assert denied is JobState.AWAITING_APPROVAL
    after = await store.get_job(job.id)
    assert after is not None
    assert (after.state, after.error_code, after.decided_by) == (
        JobState.CANCELLED,
        "approval_denied",
        9,
    )
    assert await store.ledger_total(user_id=1) == Decimal(0)
    # A denial cannot cancel a job that is no longer awaiting a decision.
    running = (await fill(store, 1, user_id=3))[0]
    assert await store.cancel(running.id, NOW, 9, only_from=JobState.AWAITING_APPROVAL) is None
    assert await state_of(store, running.id) is JobState.CREATED


async def test_the_waiting_room_starts_jobs_and_lets_approvals_lapse(store: Store) -> None:
    first, _, queued = await fill(store, 3)
    lapsing = await store.create_job(new_job(), TWO_AND_QUEUE_OF_TWO, NOW, approval_until=NOW + 5)
    started: list[int] = []
    lapsed: list[int] = []

    async def on_started(jobs: list[Job]) -> None:
        started.extend(job.id for job in jobs)

    async def on_lapsed(job_id: int) -> None:
        lapsed.append(job_id)

    clock = [NOW + 1]
    room = WaitingRoom(
        store,
        TWO_AND_QUEUE_OF_TWO,
        owner=lambda: "me",
        on_started=on_started,
        on_lapsed=on_lapsed,
        clock=lambda: clock[0],
    )
    assert await room.run_once() == pytest.approx(4.0)  # until the approval lapses
    assert (started, lapsed) == ([], [])
    await store.cancel(first.id, NOW + 2, 1)  # a slot frees
    clock[0] = NOW + 6
    await room.run_once()
    assert (started, lapsed) == ([queued.id], [lapsing.id])


async def test_two_processes_never_give_one_slot_twice(store: Store) -> None:
    first, _, third, fourth = await fill(store, 4)
    await store.cancel(first.id, NOW + 1, 1)
    results = await asyncio.gather(
        *(store.start_queued(NOW + 2, f"p{i}", TWO_AND_QUEUE_OF_TWO) for i in range(4))
    )
    assert sorted(job.id for batch in results for job in batch) == [third.id]
    assert await state_of(store, fourth.id) is JobState.QUEUED


async def test_waiting_jobs_keep_their_inputs_across_a_restart(store: Store) -> None:
    """Start-up drops the inputs of jobs past submission; a waiting job has not been sent."""
    image = (InputRef("image", 0, "c" * 64, "image/png"),)
    await fill(store, 2)
    queued = await store.create_job(new_job(inputs=image), TWO_AND_QUEUE_OF_TWO, NOW + 3)
    waiting = await store.create_job(
        new_job(user_id=4, inputs=image), TWO_AND_QUEUE_OF_TWO, NOW, approval_until=NOW + 60
    )
    assert (queued.state, waiting.state) == (JobState.QUEUED, JobState.AWAITING_APPROVAL)
    assert await store.jobs_holding_inputs() == []
    await store.cancel(queued.id, NOW + 4, 1)
    assert await store.jobs_holding_inputs() == [queued.id]
