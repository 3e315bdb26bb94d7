"""The MuleRouter webhook receiver over a real socket, in front of a real engine and store.

The engine follows real tasks on the provider simulator (running at real speed, so no task
finishes by itself during a test); the test plays MuleRouter's webhook sender, signing events
with the ``standardwebhooks`` library, and checks the answer and what changed in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.http_server import HttpServer
from bot.jobs.budget import Limits
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.simulator import SimulatorServer
from bot.webhooks.mulerouter import PATH, MuleRouterWebhooks
from bot.webhooks.signatures import SignatureVerifier
from tests.jobs.support import EngineParts, build_engine
from tests.waiting import wait_until
from tests.webhooks.support import OTHER_SECRET, SECRET, envelope, event_id, post, signed

pytestmark = pytest.mark.timeout(30)

MULE = ProviderName.MULEROUTER
T2V = spec_for("wan2.2-t2v-plus", MULE)


@dataclass
class Receiver:
    url: str
    parts: EngineParts
    sim: SimulatorServer
    session: aiohttp.ClientSession

    async def running_job(self) -> Job:
        request = T2V.parse({"prompt": "a lighthouse at dusk", "size": "832*480"})
        job = await self.parts.engine.submit(
            user_id=1, guild_id=10, channel_id=555, spec=T2V, request=request
        )
        return await self.wait(job.id, JobState.RUNNING)

    async def job(self, job_id: int) -> Job:
        found = await self.parts.store.get_job(job_id)
        assert found is not None
        return found

    async def wait(self, job_id: int, *states: JobState) -> Job:
        return await wait_until(
            lambda: self.job(job_id),
            done=lambda job: job.state in states,
            timeout=10,
            interval=0.01,
            message=f"job {job_id} to reach {[s.value for s in states]}",
        )

    async def post(self, event: dict[str, Any] | bytes, **kwargs: Any) -> tuple[int, Any]:
        return await post(self.session, self.url, event, **kwargs)

    def _rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        path = self.parts.store.path  # type: ignore[attr-defined]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute(sql, params).fetchall()

    def seen_event_ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT event_id FROM webhook_events")]

    def completion(self, job_id: int) -> tuple[float, int]:
        [row] = self._rows("SELECT completed_at, completion_exact FROM jobs WHERE id = ?", job_id)
        return row[0], row[1]

    def succeeded(self, job: Job, **kwargs: Any) -> dict[str, Any]:
        assert job.task_id is not None
        url = f"{self.sim.base_url}/media/video/{job.task_id}.mp4"
        return envelope("task.succeeded", job.task_id, status="completed", videos=[url], **kwargs)

    def failed(self, job: Job, **kwargs: Any) -> dict[str, Any]:
        assert job.task_id is not None
        error = {"code": 3001, "title": "Content moderation", "detail": "The prompt was refused."}
        return envelope("task.failed", job.task_id, status="failed", error=error, **kwargs)


async def start_receiver(
    tmp_path: Path, session: aiohttp.ClientSession, *, start_engine: bool = True
) -> AsyncIterator[Receiver]:
    # Speed 1: a 90 s task, so nothing finishes during a test unless a webhook says so.
    async with SimulatorServer() as sim:
        parts = await build_engine(
            sim.base_url,
            tmp_path,
            session,
            speed=1.0,
            default_limits=Limits(max_concurrent_per_user=None),
            webhook_providers=frozenset({MULE}),
        )
        receiver = MuleRouterWebhooks(
            SignatureVerifier(SecretStr(SECRET), setting="MULEROUTER_WEBHOOK_SECRET"),
            parts.engine,
            parts.store,
        )
        server = HttpServer("127.0.0.1", 0)
        server.add_routes(receiver.routes())
        await server.start()
        if start_engine:
            await parts.engine.start()
        try:
            yield Receiver(server.url + PATH, parts, sim, session)
        finally:
            await server.stop()
            await parts.engine.stop(0.5)
            await parts.store.close()


@pytest.fixture
async def receiver(tmp_path: Path, sim_session: aiohttp.ClientSession) -> AsyncIterator[Receiver]:
    async for built in start_receiver(tmp_path, sim_session):
        yield built


# ---------------------------------------------------------------------------------------------
# Valid events take the poll's path
# ---------------------------------------------------------------------------------------------


async def test_a_valid_success_settles_the_job_as_a_poll_answer_would(receiver: Receiver) -> None:
    job = await receiver.running_job()
    event = receiver.succeeded(job)

    status, answer = await receiver.post(event)

    assert (status, answer) == (200, {"status": "accepted"})
    done = await receiver.wait(job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)
    assert done.result_urls == tuple(event["data"]["payload"]["videos"])
    # Pushed as it happened: an exact sample for the history, not the midpoint of a gap.
    assert receiver.completion(job.id) == (pytest.approx(done.finished_at, abs=0.5), 1)
    assert receiver.seen_event_ids() == [event["id"]]
    assert receiver.parts.engine.running_job_ids() == []


async def test_a_valid_failure_fails_the_job_with_the_providers_reason(receiver: Receiver) -> None:
    job = await receiver.running_job()

    status, _ = await receiver.post(receiver.failed(job))

    assert status == 200
    failed = await receiver.wait(job.id, JobState.FAILED)
    assert failed.error_code == "3001"
    assert await receiver.parts.store.ledger_entries(job.id) == [
        ("reserve", job.estimated_cost, False),
        ("release", -job.estimated_cost, False),
    ]


async def test_task_created_changes_nothing_but_shows_webhooks_arrive(receiver: Receiver) -> None:
    job = await receiver.running_job()
    assert job.task_id is not None
    assert not receiver.parts.engine.pushed.relied_on(MULE)

    status, answer = await receiver.post(envelope("task.created", job.task_id, status="pending"))

    assert (status, answer) == (200, {"status": "ignored"})
    assert (await receiver.job(job.id)).state is JobState.RUNNING
    assert receiver.parts.engine.pushed.relied_on(MULE)
    assert receiver.seen_event_ids() == []


async def test_a_success_without_its_result_list_is_left_to_polling(receiver: Receiver) -> None:
    job = await receiver.running_job()
    assert job.task_id is not None

    status, answer = await receiver.post(
        envelope("task.succeeded", job.task_id, status="completed")
    )

    assert (status, answer) == (200, {"status": "ignored"})
    assert (await receiver.job(job.id)).state is JobState.RUNNING


# ---------------------------------------------------------------------------------------------
# Forged, stale, replayed, unknown, oversize, out of order
# ---------------------------------------------------------------------------------------------


async def test_forged_signatures_get_401_and_change_nothing(receiver: Receiver) -> None:
    job = await receiver.running_job()
    event = receiver.succeeded(job)
    body = json.dumps(event).encode()
    genuine = signed(body, ident=event["id"])
    tampered = body.replace(b"completed", b"succeeded")
    attempts = [
        await receiver.post(event, secret=OTHER_SECRET),  # signed with another key
        await receiver.post(tampered, headers=genuine),  # body changed after signing
        await receiver.post(body, headers={**genuine, "webhook-id": event_id()}),  # id changed
        await receiver.post(body, headers={"content-type": "application/json"}),  # unsigned
        await receiver.post(body, headers={**genuine, "webhook-signature": "v1,bm9wZQ=="}),
        await receiver.post(body, headers={**genuine, "webhook-signature": "garbage"}),
        await receiver.post(body, headers={**genuine, "webhook-timestamp": "soon"}),
    ]

    assert [status for status, _ in attempts] == [401] * len(attempts)
    assert (await receiver.job(job.id)).state is JobState.RUNNING
    assert receiver.seen_event_ids() == []
    assert not receiver.parts.engine.pushed.relied_on(MULE)


@pytest.mark.parametrize("offset", [-330.0, -3600.0, 330.0], ids=["stale", "old", "future"])
async def test_a_signature_outside_five_minutes_gets_401(receiver: Receiver, offset: float) -> None:
    job = await receiver.running_job()

    status, _ = await receiver.post(receiver.succeeded(job), timestamp=time.time() + offset)

    assert status == 401
    assert (await receiver.job(job.id)).state is JobState.RUNNING


async def test_a_signature_within_the_tolerance_is_accepted(receiver: Receiver) -> None:
    job = await receiver.running_job()

    status, _ = await receiver.post(receiver.succeeded(job), timestamp=time.time() - 240)

    assert status == 200
    await receiver.wait(job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)


async def test_a_replayed_event_is_acknowledged_and_changes_nothing(receiver: Receiver) -> None:
    first_job = await receiver.running_job()
    second_job = await receiver.running_job()
    event = receiver.succeeded(first_job)
    assert (await receiver.post(event))[0] == 200
    await receiver.wait(first_job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)

    # The same event again: redelivered (signed afresh), and the same request replayed.
    again = await receiver.post(event)
    # The same id about another task: still the same event, already taken.
    assert second_job.task_id is not None
    reused = envelope("task.failed", second_job.task_id, status="failed", ident=event["id"])
    other = await receiver.post(reused)

    assert again == (200, {"status": "ignored"})  # its task is settled: nothing to look up
    assert other == (200, {"status": "duplicate"})
    assert (await receiver.job(second_job.id)).state is JobState.RUNNING
    assert receiver.seen_event_ids() == [event["id"]]
    entries = await receiver.parts.store.ledger_entries(first_job.id)
    assert [entry for entry, _, _ in entries] == ["reserve", "settle"]


async def test_duplicates_racing_each_other_are_taken_once(receiver: Receiver) -> None:
    job = await receiver.running_job()
    event = receiver.succeeded(job)

    answers = await asyncio.gather(*(receiver.post(event) for _ in range(5)))

    assert sorted(answer["status"] for _, answer in answers) == ["accepted"] + ["duplicate"] * 4
    await receiver.wait(job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)
    entries = await receiver.parts.store.ledger_entries(job.id)
    assert [entry for entry, _, _ in entries] == ["reserve", "settle"]


async def test_an_event_about_an_unknown_task_is_acknowledged(receiver: Receiver) -> None:
    job = await receiver.running_job()
    event = envelope("task.succeeded", "not-a-task-of-ours", status="completed", videos=["x"])

    status, answer = await receiver.post(event)

    assert (status, answer) == (200, {"status": "ignored"})
    assert (await receiver.job(job.id)).state is JobState.RUNNING
    assert receiver.seen_event_ids() == []


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024])
async def test_a_body_over_one_mebibyte_is_refused(receiver: Receiver, size: int) -> None:
    job = await receiver.running_job()
    event = receiver.succeeded(job)
    event["padding"] = "x" * size

    status, _ = await receiver.post(event)

    assert status == 413
    assert (await receiver.job(job.id)).state is JobState.RUNNING
    assert receiver.seen_event_ids() == []


async def test_failed_after_succeeded_changes_nothing(receiver: Receiver) -> None:
    job = await receiver.running_job()
    assert (await receiver.post(receiver.succeeded(job)))[0] == 200
    succeeded = await receiver.wait(
        job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED
    )

    status, answer = await receiver.post(receiver.failed(job))

    assert (status, answer) == (200, {"status": "ignored"})
    after = await receiver.job(job.id)
    assert after.state is not JobState.FAILED
    assert after.result_urls == succeeded.result_urls
    entries = await receiver.parts.store.ledger_entries(job.id)
    assert [entry for entry, _, _ in entries] == ["reserve", "settle"]


async def test_succeeded_and_failed_arriving_together_settle_once(receiver: Receiver) -> None:
    job = await receiver.running_job()

    answers = await asyncio.gather(
        receiver.post(receiver.succeeded(job)), receiver.post(receiver.failed(job))
    )

    assert [status for status, _ in answers] == [200, 200]
    final = await receiver.wait(
        job.id, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED, JobState.FAILED
    )
    await receiver.parts.engine.stop(0.5)  # any second settlement would have run by now
    entries = [entry for entry, _, _ in await receiver.parts.store.ledger_entries(job.id)]
    assert entries == (
        ["reserve", "release"] if final.state is JobState.FAILED else ["reserve", "settle"]
    )
    after = await receiver.job(job.id)
    assert (after.state is JobState.FAILED) == (final.state is JobState.FAILED)


async def test_a_signed_body_that_is_not_an_event_gets_400(receiver: Receiver) -> None:
    for body in (b"[1, 2]", b"{not json", json.dumps({"type": "task.succeeded"}).encode()):
        status, _ = await receiver.post(body, ident=event_id())
        assert status == 400


async def test_events_wait_while_the_engine_is_not_taking_them(
    tmp_path: Path, sim_session: aiohttp.ClientSession
) -> None:
    async for receiver in start_receiver(tmp_path, sim_session, start_engine=False):
        event = envelope("task.succeeded", "some-task", status="completed", videos=["x"])
        status, _ = await receiver.post(event)
        assert status == 503  # the provider delivers it again later
        assert receiver.seen_event_ids() == []


@pytest.mark.parametrize(
    ("created_at", "seen"),
    [
        ("2026-09-21T08:23:12Z", 1789978992.0),
        ("2026-09-21T10:23:12+02:00", 1789978992.0),
        (1789978992, 1789978992.0),  # UNIX seconds
        (1789978992.5, 1789978992.5),
        ("yesterday", None),
        (float("nan"), None),
        (10**30, None),  # not a time this task ran at
        (True, None),
    ],
)
def test_an_events_time_is_read_as_the_poll_answers_are(created_at: object, seen: object) -> None:
    from bot.webhooks.mulerouter import read_event

    body = {"id": "evt_1", "type": "task.succeeded", "created_at": created_at, "data": {}}
    assert read_event(json.dumps(body).encode()).created_at == seen
