"""Leases on both backends: instances, heartbeats, claiming orphaned jobs, retiring, NOTIFY.

Each test runs on SQLite and on PostgreSQL (``conftest.py``). Where the two differ, it is by
design: on SQLite one process owns the file, so registering an instance removes every other
one (they are dead); on PostgreSQL several live side by side until their leases run out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.jobs.budget import Limits
from bot.jobs.leases import Membership
from bot.jobs.records import Job, NewJob
from bot.jobs.states import JobState
from bot.jobs.storage import CHANNEL_JOBS_FREE
from bot.jobs.store import SQLStore as Store
from tests.jobs.conftest import Backend, connector
from tests.waiting import wait_until

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC).timestamp()
OPEN = Limits(max_concurrent_per_user=None)
LEASE = 30.0


def new_job(user_id: int = 1) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=10,
        channel_id=555,
        model_id="wan2.6-i2v",
        provider="mulerouter",
        request={"prompt": "a lighthouse at dusk"},
        price_tier="720P",
        estimated_cost=Decimal("0.50"),
        units=Decimal(5),
        unit="second",
        deadline_seconds=600.0,
    )


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()


async def owner_of(store: Store, job_id: int) -> str | None:
    job = await store.get_job(job_id)
    assert job is not None
    return job.lease_owner


async def instance_row(store: Store, instance_id: str) -> tuple[float, float, float, str] | None:
    row = await connector(store).fetchrow(
        "SELECT started_at, heartbeat_at, expires_at, shards FROM instances WHERE id = ?",
        instance_id,
    )
    return None if row is None else (row[0], row[1], row[2], row[3])


async def results_due(store: Store, count: int) -> list[int]:
    """``count`` succeeded jobs whose results wait in the outbox; their outbox ids."""
    for user in range(count):
        job = await store.create_job(new_job(user_id=100 + user), OPEN, NOW)
        await store.claim_submission(job.id, NOW)
        await store.mark_running(job.id, f"task-{job.id}", NOW, NOW)
        await store.mark_succeeded(job.id, ["http://r/1.mp4"], None, NOW)
    return [item.id for item in await store.due_outbox(NOW)]


async def eventually(check: Callable[[], bool], what: str) -> None:
    await wait_until(check, timeout=5.0, interval=0.01, message=what)


# ---------------------------------------------------------------------------------------------
# Instances and heartbeats
# ---------------------------------------------------------------------------------------------


async def test_register_then_heartbeats_renew_the_lease(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE, shards="0-3")
    assert await instance_row(store, "a") == (NOW, NOW, NOW + LEASE, "0-3")
    assert await store.live_instances(NOW) == 1
    assert await store.heartbeat("a", NOW + 20, LEASE) == 1
    assert await instance_row(store, "a") == (NOW, NOW + 20, NOW + 20 + LEASE, "0-3")
    assert await store.live_instances(NOW + LEASE + 5) == 1  # renewed past the first expiry
    assert await store.live_instances(NOW + 20 + LEASE) == 0  # live while expires_at > now


async def test_a_lost_lease_is_not_renewed(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE)
    assert await store.heartbeat("a", NOW + LEASE, LEASE) is None  # expired at that instant
    assert await instance_row(store, "a") == (NOW, NOW, NOW + LEASE, "")  # not renewed
    assert await store.heartbeat("never-registered", NOW, LEASE) is None
    # Registering again (as a process that lost its lease must) makes it live again.
    await store.register_instance("a", NOW + 40, LEASE)
    assert await store.heartbeat("a", NOW + 50, LEASE) == 1


async def test_registering_on_sqlite_removes_every_other_instance(
    backend: Backend, store: Store
) -> None:
    await store.register_instance("a", NOW, LEASE)
    await store.register_instance("b", NOW + 1, LEASE)
    if backend.name == "sqlite":  # one process per file: "a" is dead
        assert await store.live_instances(NOW + 2) == 1
        assert await store.heartbeat("a", NOW + 2, LEASE) is None
        assert await store.heartbeat("b", NOW + 2, LEASE) == 1
    else:  # several processes share the database
        assert await store.live_instances(NOW + 2) == 2
        assert await store.heartbeat("a", NOW + 2, LEASE) == 2
        assert await store.heartbeat("b", NOW + 2, LEASE) == 2


# ---------------------------------------------------------------------------------------------
# Owning and claiming jobs
# ---------------------------------------------------------------------------------------------


async def test_a_new_job_is_owned_by_the_instance_that_created_it(store: Store) -> None:
    owned = await store.create_job(new_job(), OPEN, NOW, owner="a")
    unowned = await store.create_job(new_job(user_id=2), OPEN, NOW)
    assert owned.lease_owner == "a"
    assert unowned.lease_owner is None
    assert await owner_of(store, owned.id) == "a"


async def test_claim_takes_unowned_and_orphaned_jobs_waiting_for_work(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE)
    unowned = await store.create_job(new_job(1), OPEN, NOW)
    mine = await store.create_job(new_job(2), OPEN, NOW, owner="a")
    orphan = await store.create_job(new_job(3), OPEN, NOW, owner="gone")  # no such instance
    running = await store.create_job(new_job(4), OPEN, NOW, owner="gone")
    await store.claim_submission(running.id, NOW)
    await store.mark_running(running.id, "task", NOW, NOW)
    finished = await store.create_job(new_job(5), OPEN, NOW, owner="gone")
    await store.cancel(finished.id, NOW, 5)

    claimed = await store.claim_jobs("a", NOW + 1)
    assert [job.id for job in claimed] == [unowned.id, orphan.id, running.id]
    assert {job.lease_owner for job in claimed} == {"a"}
    assert claimed[2].state is JobState.RUNNING
    assert await owner_of(store, mine.id) == "a"
    assert await owner_of(store, finished.id) == "gone"  # final: nothing to take over
    assert await store.claim_jobs("a", NOW + 2) == []  # all its own now
    # An instance without a live lease claims nothing.
    assert await store.claim_jobs("never-registered", NOW + 2) == []
    assert await store.claim_jobs("a", NOW + LEASE + 1) == []  # its own lease ran out


async def test_claims_are_limited_and_ordered_by_id(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE)
    jobs = [await store.create_job(new_job(user), OPEN, NOW) for user in range(7)]
    first = await store.claim_jobs("a", NOW, limit=3)
    rest = await store.claim_jobs("a", NOW, limit=100)
    assert [job.id for job in first] == [job.id for job in jobs[:3]]
    assert [job.id for job in rest] == [job.id for job in jobs[3:]]


async def test_the_jobs_of_an_instance_whose_lease_expired_are_taken_over(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE)
    jobs = [await store.create_job(new_job(user), OPEN, NOW, owner="a") for user in (1, 2)]
    # "b" starts after "a" stopped renewing: on SQLite a new process (a is dead), on
    # PostgreSQL another process that outlives a's lease.
    await store.register_instance("b", NOW + LEASE + 1, LEASE)
    taken = await store.claim_jobs("b", NOW + LEASE + 1)
    assert [job.id for job in taken] == [job.id for job in jobs]
    assert await store.heartbeat("a", NOW + LEASE + 2, LEASE) is None  # a must stop


# ---------------------------------------------------------------------------------------------
# Retiring
# ---------------------------------------------------------------------------------------------


async def test_retiring_releases_jobs_and_claims_and_says_so(store: Store) -> None:
    heard: list[str] = []
    await store.listen(CHANNEL_JOBS_FREE, heard.append)
    await store.register_instance("a", NOW, LEASE)
    (item,) = await results_due(store, 1)  # its job was created unowned
    waiting = [await store.create_job(new_job(user), OPEN, NOW, owner="a") for user in (1, 2)]
    done = await store.create_job(new_job(3), OPEN, NOW, owner="a")
    await store.cancel(done.id, NOW, 3)
    assert await store.claim_outbox(item, NOW, 300.0, attempts=0, owner="a") is not None

    assert await store.retire_instance("a") == 2
    assert [await owner_of(store, job.id) for job in waiting] == [None, None]
    assert await owner_of(store, done.id) == "a"  # who worked on it last
    assert (
        await connector(store).fetchval("SELECT claimed_by FROM outbox WHERE id = ?", item) is None
    )
    assert await instance_row(store, "a") is None
    assert await store.live_instances(NOW) == 0
    assert await store.heartbeat("a", NOW + 1, LEASE) is None
    await eventually(lambda: heard == ["a"], "the jobs-free notification")
    # Another instance takes them at once, long before a's lease would have run out.
    await store.register_instance("b", NOW + 1, LEASE)
    assert [job.id for job in await store.claim_jobs("b", NOW + 1)] == [j.id for j in waiting]


# ---------------------------------------------------------------------------------------------
# Outbox claims
# ---------------------------------------------------------------------------------------------


async def test_outbox_claims_by_an_instance_that_is_gone_are_reset(
    backend: Backend, store: Store
) -> None:
    first, second, third = await results_due(store, 3)
    await store.register_instance("a", NOW, LEASE)
    assert await store.claim_outbox(first, NOW, 300.0, attempts=0, owner="a") is not None
    await store.register_instance("b", NOW + 1, 1000.0)  # SQLite: "a" is dead now
    assert await store.claim_outbox(second, NOW + 1, 300.0, attempts=0, owner="b") is not None
    assert await store.claim_outbox(third, NOW + 1, 300.0, attempts=0) is not None  # nobody
    assert (
        await connector(store).fetchval("SELECT claimed_by FROM outbox WHERE id = ?", first) == "a"
    )
    if backend.name == "postgres":  # "a" is live until NOW + 30: only nobody's claim resets
        assert await store.reset_outbox_claims(NOW + 2) == 1
    assert await store.reset_outbox_claims(NOW + LEASE + 1) == 2  # a's and nobody's
    due = {item.id: item for item in await store.due_outbox(NOW + LEASE + 1)}
    assert set(due) == {first, third}  # b's claim still holds (its post is under way)
    assert due[first].attempts == 1  # the next try reconciles first


async def test_a_claim_records_its_instance_and_the_next_claimer_replaces_it(
    store: Store,
) -> None:
    (item,) = await results_due(store, 1)
    claimed = await store.claim_outbox(item, NOW, 300.0, attempts=0, owner="a")
    assert claimed is not None
    await store.retry_outbox(item, NOW + 1, "discord said 503")
    again = await store.claim_outbox(item, NOW + 1, 300.0, attempts=1, owner="b")
    assert again is not None
    assert again.attempts == 2
    assert (
        await connector(store).fetchval("SELECT claimed_by FROM outbox WHERE id = ?", item) == "b"
    )


# ---------------------------------------------------------------------------------------------
# LISTEN / NOTIFY
# ---------------------------------------------------------------------------------------------


async def test_a_notification_reaches_another_stores_listener(backend: Backend) -> None:
    listening = await backend.open()
    other = await backend.open()
    heard: list[str] = []
    also: list[str] = []

    def broken(payload: str) -> None:
        raise RuntimeError("a listener that fails must not stop the others")

    await listening.listen("wanbot_test", heard.append)
    await listening.listen("wanbot_test", broken)
    await listening.listen("wanbot_test", also.append)
    await listening.listen("wanbot_other", lambda payload: heard.append(f"other:{payload}"))
    await other.notify("wanbot_test", "hello")
    await other.notify("wanbot_test")
    await eventually(lambda: heard == ["hello", ""] and also == ["hello", ""], "both notifications")
    await asyncio.sleep(0.05)
    assert heard == ["hello", ""]  # nothing from the other channel


@pytest.mark.parametrize("channel", ["Wanbot", "jobs-free", "x; DROP TABLE jobs", "", "a1"])
async def test_channel_names_are_constants(store: Store, channel: str) -> None:
    with pytest.raises(ValueError, match="channel"):
        await store.listen(channel, lambda payload: None)
    with pytest.raises(ValueError, match="channel"):
        await store.notify(channel, "x")


async def test_jobs_returned_by_a_claim_are_records(store: Store) -> None:
    await store.register_instance("a", NOW, LEASE)
    created = await store.create_job(new_job(), OPEN, NOW)
    (claimed,) = await store.claim_jobs("a", NOW)
    assert isinstance(claimed, Job)
    assert claimed == created.__class__(**{**_fields(created), "lease_owner": "a"})


def _fields(job: Job) -> dict[str, object]:
    return {name: getattr(job, name) for name in job.__dataclass_fields__}


# ---------------------------------------------------------------------------------------------
# Membership (bot.jobs.leases): a joining process makes the others recount at once
# ---------------------------------------------------------------------------------------------


async def test_a_joining_process_makes_the_others_take_their_new_share_at_once(
    postgres_backend: Backend,
) -> None:
    """With a 300 s lease the next heartbeat is 100 s away: only the joiner's notice can make
    the first process see two live processes within seconds (before it, a deployment that
    grew kept sending its old share: 145 requests a second against a 100 for four)."""

    async def nothing(*_args: object) -> None:
        return None

    seen: dict[str, list[int]] = {"first": [], "second": []}
    members = []
    for name in ("first", "second"):
        store = await postgres_backend.open()
        member = Membership(
            store, 300.0, on_claimed=nothing, on_lost=nothing, on_share=seen[name].append
        )
        await member.join()
        member.start()
        members.append(member)
    try:
        for _ in range(100):
            if seen["first"][-1:] == [2]:
                break
            await asyncio.sleep(0.05)
        assert seen["first"][-1:] == [2], seen
        assert seen["second"] == [2], seen
    finally:
        for member in members:
            await member.leave()
