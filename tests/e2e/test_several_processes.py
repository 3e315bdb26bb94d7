"""Three real bot processes on one PostgreSQL database, each running its own gateway shard.

The deployment: ``WANBOT_SHARD_COUNT=3``, process k runs shard k (``WANBOT_SHARD_IDS=k``), all
three share ``WANBOT_DATABASE_URL`` (a fresh database on the local PostgreSQL server) and the
media folder, with a 5 s lease. The emulator sends each server's interactions to the process
of its shard only, so every job is created by the process of its server. Then one process is
SIGKILLed while its jobs are running: once its lease runs out the other two take its jobs
over, and every job is still delivered exactly once, with an exact ledger.

Needs ``WANBOT_TEST_POSTGRES_URL`` (``.ci/run`` sets it); skipped, saying so, without it.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import pytest
import pytest_asyncio

from bot.discord_ui.embeds import marker
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.store import PostgresStore
from bot.simulator import SimulatorConfig, SimulatorServer
from tests.e2e.conftest import EXPECTED_LOG_LINES, bot_env
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig
from tests.emulator.models import Guild
from tests.postgres import NO_POSTGRES, POSTGRES_URL, fresh_database
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)]

COUNT = 3
LEASE = 5.0
# Slow enough that jobs are still running when a process is killed (a t2v task of 5 s takes
# about 7 s here), fast enough for a test.
SIM_SPEED = 20.0


@dataclass
class Deployment:
    discord: DiscordEmulator
    sim: SimulatorServer
    bots: list[BotProcess]  # bots[k] runs shard k
    servers: list[Guild]  # servers[k] is on shard k
    store: PostgresStore  # the test's own reader of the shared database
    raw: asyncpg.Connection  # for what the store protocol does not say (lease owners)

    async def owners(self, ids: list[int]) -> dict[int, str | None]:
        rows = await self.raw.fetch(
            "SELECT id, lease_owner FROM jobs WHERE id = ANY($1::bigint[])", ids
        )
        return {row["id"]: row["lease_owner"] for row in rows}

    async def job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        assert job is not None, f"no job #{job_id}"
        return job

    async def wait_jobs(self, ids: list[int], *states: JobState, within: float) -> list[Job]:
        async def read() -> list[Job]:
            return [await self.job(job_id) for job_id in ids]

        jobs: list[Job] = await wait_until(
            read,
            done=lambda jobs: all(job.state in states for job in jobs),
            timeout=within,
            interval=0.2,
            message=lambda: (
                f"jobs {ids} to be one of {[s.value for s in states]}\n"
                + "\n".join(f"--- bot {k} ---\n{bot.tail(30)}" for k, bot in enumerate(self.bots))
            ),
        )
        return jobs

    async def submit(self, k: int, prompt: str) -> int:
        """``/wan-t2v`` by alice in server k; the job id its status message names."""
        general = self.servers[k].channels["general"]
        itx = await self.discord.slash("alice", general, "wan-t2v", {"prompt": prompt})
        original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=20)
        found = re.search(r"job #(\d+)", original.content)
        assert found is not None, original.content
        return int(found.group(1))

    def result_posts(self, job_id: int) -> list[int]:
        """Every message in any server carrying this job's result marker."""
        wanted = marker(job_id, "result")
        return [
            message.id
            for server in self.servers
            for channel in server.channels.values()
            for message in self.discord.messages(channel, include_deleted=True)
            if any(embed.get("footer", {}).get("text") == wanted for embed in message.embeds)
        ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    folder = tmp_path_factory.mktemp("processes")
    media = folder / "media"  # shared: unsent inputs must be readable by whoever takes over
    async with (
        fresh_database("wanbot_e2e") as url,
        DiscordEmulator(
            EmulatorConfig(heartbeat_interval_ms=1000, gateway_shards=COUNT)
        ) as discord,
        SimulatorServer(SimulatorConfig(speed=SIM_SPEED, seed=11)) as sim,
    ):
        servers = [
            discord.add_guild(f"Shard {k} server", shard=(k, COUNT), layout=True)
            for k in range(COUNT)
        ]
        bots = []
        for k in range(COUNT):
            own = folder / f"process-{k}"
            own.mkdir()
            env = bot_env(
                own,
                sim,
                WANBOT_DATABASE_URL=url,
                WANBOT_MEDIA_DIR=str(media),
                WANBOT_SHARD_COUNT=str(COUNT),
                WANBOT_SHARD_IDS=str(k),
                WANBOT_LEASE_SECONDS=str(LEASE),
            )
            bots.append(BotProcess(discord, env=env))
        # One after the other: the first creates the schema (the others would wait on its
        # migration lock anyway), and the logs read in order.
        for bot in bots:
            await bot.start()
        await discord.wait_shards(COUNT, 40)
        await discord.wait_commands(30, names=["wan-t2v"])
        store = await PostgresStore.open(url)
        raw = await asyncpg.connect(url)
        try:
            yield Deployment(discord, sim, bots, servers, store, raw)
        finally:
            await raw.close()
            await store.close()
            await asyncio.gather(*(bot.stop() for bot in bots if bot.running))
        for k, bot in enumerate(bots):
            unexpected = [
                line
                for line in bot.lines
                if ("Traceback" in line or " ERROR " in line)
                and not any(ok in line for ok in EXPECTED_LOG_LINES)
            ]
            assert unexpected == [], f"bot {k}:\n{bot.tail(120)}"
        assert discord.internal_errors == []


async def assert_settled_once(deployment: Deployment, jobs: list[Job]) -> None:
    """Each job: posted once, one reserve and one settlement, netting to its estimate."""
    for job in jobs:
        assert job.state is JobState.DELIVERED, job
        assert deployment.result_posts(job.id) == list(job.delivered_message_ids), job.id
        entries = await deployment.store.ledger_entries(job.id)
        kinds = Counter(entry for entry, _amount, _billed in entries)
        assert kinds["reserve"] == 1, entries
        assert kinds["release"] + kinds["settle"] <= 1, entries
        assert sum((amount for _e, amount, _b in entries), Decimal(0)) == job.estimated_cost


async def test_jobs_from_every_server_are_made_by_its_own_process_and_posted_once(
    deployment: Deployment,
) -> None:
    ids = [
        await deployment.submit(k, f"server {k} lighthouse {n}") for k in range(3) for n in (1, 2)
    ]
    # Each job is owned by the process of its server (the one that created it).
    owners = await deployment.owners(ids)
    by_server = [{owners[job_id] for job_id in ids[2 * k : 2 * k + 2]} for k in range(3)]
    assert all(len(found) == 1 and None not in found for found in by_server), by_server
    assert len(set().union(*by_server)) == COUNT
    jobs = await deployment.wait_jobs(ids, JobState.DELIVERED, within=60)
    await assert_settled_once(deployment, jobs)
    # Discord's global rate is shared too: each of the three takes a third.
    for bot in deployment.bots:
        await bot.wait_for_output("this process takes 33% of 50 a second", timeout=20)


async def test_a_killed_process_s_jobs_are_taken_over_and_delivered_once(
    deployment: Deployment,
) -> None:
    ids = {k: [await deployment.submit(k, f"takeover {k} {n}") for n in range(3)] for k in range(3)}
    every = [job_id for group in ids.values() for job_id in group]
    victim = deployment.bots[1]
    await deployment.wait_jobs(ids[1], JobState.RUNNING, within=30)
    before = await deployment.owners(ids[1])
    await victim.kill()
    jobs = await deployment.wait_jobs(every, JobState.DELIVERED, within=90)
    await assert_settled_once(deployment, jobs)
    # The killed process's jobs were finished by the others, after its lease ran out.
    after = await deployment.owners(ids[1])
    survivors = set((await deployment.owners(ids[0] + ids[2])).values())
    assert all(after[job_id] != before[job_id] for job_id in ids[1]), (before, after)
    assert set(after.values()) <= survivors, (after, survivors)
    assert any("took over" in bot.output for k, bot in enumerate(deployment.bots) if k != 1)
