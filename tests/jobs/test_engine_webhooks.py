"""The engine with the simulator pushing signed webhooks to the real receiver over loopback.

What it shows: once webhooks arrive a result is taken from its event with no poll at all;
polling stays the safety net (an event that never comes is found by a look), and with every
event dropped the engine polls as it does without webhooks. Faults (duplicates, delays, events
out of order, forged signatures) never settle a job twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
from tests.webhooks.support import SECRET

pytestmark = pytest.mark.timeout(60)

SPEED = 200.0
MULE = ProviderName.MULEROUTER
T2V = spec_for("wan2.2-t2v-plus", MULE)
MakeSimulator = Callable[..., Awaitable[SimulatorServer]]
FINAL = (JobState.DELIVERED, JobState.FAILED)


@dataclass
class Pushed:
    sim: SimulatorServer
    parts: EngineParts

    async def submit(self, prompt: str = "a lighthouse at dusk") -> Job:
        request = T2V.parse({"prompt": prompt, "size": "832*480"})
        return await self.parts.engine.submit(
            user_id=1, guild_id=10, channel_id=555, spec=T2V, request=request
        )

    async def finish(self, job_id: int) -> Job:
        async def read() -> Job:
            job = await self.parts.store.get_job(job_id)
            assert job is not None
            return job

        job = await wait_until(
            read,
            done=lambda found: (
                found.state in FINAL
                and not [i for i in self.parts.engine.running_job_ids() if i == job_id]
            ),
            timeout=20,
            interval=0.01,
            message=f"job {job_id} to end",
        )
        await wait_until(  # its post or notice is out
            lambda: self.parts.store.due_outbox(10**12),
            done=lambda due: all(item.job_id != job_id for item in due),
            timeout=20,
            interval=0.01,
            message=f"job {job_id}'s post",
        )
        return job

    def task(self, job: Job) -> dict[str, Any]:
        assert job.task_id is not None
        return self.sim.state.describe_task(self.sim.state.tasks[job.task_id])

    async def entries(self, job: Job) -> list[str]:
        return [entry for entry, _, _ in await self.parts.store.ledger_entries(job.id)]

    @property
    def relied_on(self) -> bool:
        return self.parts.engine.pushed.relied_on(MULE)


Start = Callable[..., Awaitable[Pushed]]


@pytest.fixture
async def start(
    tmp_path: Path, make_simulator: MakeSimulator, sim_session: aiohttp.ClientSession
) -> AsyncIterator[Start]:
    """``await start(engine={...}, **simulator_settings)``: an engine with webhooks on behind
    the real receiver, and a simulator sending to it."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def make(engine: dict[str, Any] | None = None, **sim_settings: Any) -> Pushed:
        sim = await make_simulator(speed=SPEED)
        parts = await build_engine(
            sim.base_url,
            tmp_path,
            sim_session,
            speed=SPEED,
            default_limits=Limits(max_concurrent_per_user=None),
            webhook_providers=frozenset({MULE}),
            **(engine or {}),
        )
        verifier = SignatureVerifier(SecretStr(SECRET), setting="MULEROUTER_WEBHOOK_SECRET")
        server = HttpServer("127.0.0.1", 0)
        server.add_routes(MuleRouterWebhooks(verifier, parts.engine, parts.store).routes())
        await server.start()
        await parts.engine.start()

        async def stop() -> None:
            await server.stop()
            await parts.engine.stop(0.5)
            await parts.store.close()

        stops.append(stop)
        sim.state.patch_config(
            {"webhook_url": server.url + PATH, "webhook_secret": SECRET, **sim_settings}
        )
        return Pushed(sim, parts)

    yield make
    for stop in stops:
        await stop()


async def test_once_webhooks_arrive_results_come_with_no_poll_at_all(start: Start) -> None:
    pushed = await start()
    first = await pushed.finish((await pushed.submit()).id)
    assert pushed.relied_on
    # The first job's first look may have been planned before its task.created arrived.
    assert pushed.task(first)["polls"] <= 1

    jobs = [await pushed.submit(f"wave {i}") for i in range(3)]
    done = [await pushed.finish(job.id) for job in jobs]

    for job in done:
        task = pushed.task(job)
        assert job.state is JobState.DELIVERED
        assert task["polls"] == 0  # no look at all: the event came first
        assert task["pushed_at_monotonic"] is not None
        assert await pushed.entries(job) == ["reserve", "settle"]


async def test_with_every_webhook_dropped_jobs_complete_by_polling(start: Start) -> None:
    pushed = await start(webhook_drop_rate=1.0)
    jobs = [await pushed.submit(f"wave {i}") for i in range(3)]
    done = [await pushed.finish(job.id) for job in jobs]

    assert not pushed.relied_on  # nothing heard: the usual poll plan throughout
    for job in done:
        assert job.state is JobState.DELIVERED
        assert pushed.task(job)["polls"] >= 1
        assert pushed.task(job)["pushed_at_monotonic"] is None


async def test_events_that_stop_coming_are_caught_by_the_safety_net_then_polled_as_usual(
    start: Start,
) -> None:
    pushed = await start(engine={"webhook_miss_limit": 2})
    await pushed.finish((await pushed.submit()).id)
    assert pushed.relied_on
    pushed.sim.state.patch_config({"webhook_drop_rate": 1.0})

    missed = await pushed.finish((await pushed.submit("silence")).id)
    assert missed.state is JobState.DELIVERED  # found by the safety-net look
    assert pushed.task(missed)["polls"] >= 1
    assert pushed.relied_on  # one miss is not a pattern

    await pushed.finish((await pushed.submit("silence again")).id)
    assert not pushed.relied_on  # two in a row: polled as usual from now on

    pushed.sim.state.patch_config({"webhook_drop_rate": 0.0})
    back = await pushed.finish((await pushed.submit("they are back")).id)
    assert back.state is JobState.DELIVERED
    assert pushed.relied_on  # a pushed completion restores the trust


async def test_faulty_webhooks_never_settle_a_job_twice(start: Start) -> None:
    pushed = await start(
        failure_rate=0.3,
        webhook_duplicate_rate=0.5,
        webhook_delay_rate=0.3,
        webhook_delay_seconds=0.3,
        webhook_out_of_order_rate=0.5,
        webhook_bad_signature_rate=0.2,
    )
    jobs = [await pushed.submit(f"storm {i}") for i in range(10)]
    done = [await pushed.finish(job.id) for job in jobs]

    deliveries = pushed.sim.state.webhooks.deliveries
    assert {d.status for d in deliveries if d.bad_signature} <= {401}
    for job in done:
        task = pushed.task(job)
        expected = JobState.FAILED if task["outcome"] == "failed" else JobState.DELIVERED
        assert job.state is expected
        assert await pushed.entries(job) == (
            ["reserve", "release"] if expected is JobState.FAILED else ["reserve", "settle"]
        )
    posts = [post["job_id"] for post in pushed.parts.deliverer.posts()]
    assert sorted(posts) == sorted(job.id for job in done)  # one post or notice each
