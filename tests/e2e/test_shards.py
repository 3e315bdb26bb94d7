"""Gateway shards end to end: two real bot processes of one deployment (``WANBOT_SHARD_COUNT=2``,
``WANBOT_SHARD_IDS=0`` and ``=1``) against one emulator, then one process running both shards.

Each process gets its own SQLite file here (the SQLite store allows one process per file; a
shared PostgreSQL database is what a real sharded deployment uses), so this tests the gateway
side: each process receives only its shard's servers and their interactions, answers a slash
command in its own server, and only the process running shard 0 syncs the slash commands.
A process running several shards is ready (``/readyz``) only while every one of them is up.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.discord_ui.client import shard_label
from bot.jobs.states import JobState
from bot.simulator import SimulatorConfig, SimulatorServer
from tests.e2e.conftest import EXPECTED_LOG_LINES, SIM_SPEED, World, bot_env, reply_of
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig
from tests.emulator.gateway import Connection
from tests.emulator.models import Guild
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

COUNT = 2
SYNC = "PUT /applications/{application_id}/commands"


@dataclass
class Deployment:
    discord: DiscordEmulator
    sim: SimulatorServer
    worlds: list[World]  # one per shard process, its own SQLite file
    servers: list[Guild]  # servers[k] is on shard k
    folder: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def unexpected(bot: BotProcess) -> list[str]:
    return [
        line
        for line in bot.lines
        if ("Traceback" in line or " ERROR " in line)
        and not any(ok in line for ok in EXPECTED_LOG_LINES)
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    folder = tmp_path_factory.mktemp("shards")
    async with (
        DiscordEmulator(
            EmulatorConfig(heartbeat_interval_ms=1000, gateway_shards=COUNT)
        ) as discord,
        SimulatorServer(SimulatorConfig(speed=SIM_SPEED, seed=5)) as sim,
    ):
        servers = [
            discord.add_guild(f"Shard {k} server", shard=(k, COUNT), layout=True)
            for k in range(COUNT)
        ]
        worlds = []
        for k in range(COUNT):
            own = folder / f"shard-{k}"
            own.mkdir()
            env = bot_env(own, sim, WANBOT_SHARD_COUNT=str(COUNT), WANBOT_SHARD_IDS=str(k))
            worlds.append(World(discord, sim, BotProcess(discord, env=env), own, env))
        try:
            await asyncio.gather(*(world.bot.start() for world in worlds))
            await discord.wait_shards(COUNT, 30)
            yield Deployment(discord, sim, worlds, servers, folder)
        finally:
            await asyncio.gather(*(world.bot.stop() for world in worlds))
        for world in worlds:
            assert unexpected(world.bot) == [], world.bot.tail(120)
        assert discord.internal_errors == []


async def test_the_log_names_shards_as_ranges() -> None:
    assert shard_label([0]) == "0"
    assert shard_label([0, 1, 2, 3]) == "0-3"
    assert shard_label([4, 5]) == "4-5"
    assert shard_label([6, 4]) == "4,6"
    assert shard_label([0, 1, 5, 7, 8, 9]) == "0-1,5,7-9"


async def test_each_process_runs_its_own_shard_and_only_shard_0_syncs(
    deployment: Deployment,
) -> None:
    discord = deployment.discord
    zero, one = (world.bot for world in deployment.worlds)
    await zero.wait_for_output("gateway shards 0 of 2 (this process syncs the slash commands)")
    await one.wait_for_output("gateway shards 1 of 2 (the process running shard 0 syncs")
    await discord.wait_commands(30, names=["wan-t2v", "usage"])
    assert len(discord.requests.matching(SYNC)) == 1
    assert "synced 8 slash commands globally" in zero.output
    assert "slash commands" not in one.output.replace("shard 0 syncs the slash commands", "")
    sessions = await discord.wait_shards(COUNT, 5)
    owned = {k: {g for g in discord.guilds if (g >> 22) % COUNT == k} for k in range(COUNT)}
    for k, server in enumerate(deployment.servers):
        assert server.id in owned[k]
        identify = sessions[k].identify
        assert identify["shard"] == [k, COUNT]
        assert sessions[k].guild_ids == owned[k]  # never the other shard's servers
    assert not owned[0] & owned[1]
    for k, bot in enumerate((zero, one)):
        await bot.wait_for_output(f"to {len(owned[k])} servers", timeout=15)


async def test_a_slash_command_is_answered_by_the_process_of_its_server(
    deployment: Deployment,
) -> None:
    discord = deployment.discord
    await discord.wait_commands(30, names=["wan-t2v", "usage"])
    for k, (world, server) in enumerate(zip(deployment.worlds, deployment.servers, strict=True)):
        general = server.channels["general"]
        itx = await discord.slash("alice", general, "wan-t2v", {"prompt": f"shard {k} lights"})
        original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
        job_id = int(re.search(r"job #(\d+)", original.content).group(1))  # type: ignore[union-attr]
        job = await world.wait_job(job_id, JobState.DELIVERED)
        [posted] = job.delivered_message_ids
        assert discord.message(posted).channel_id == general.id
        usage = await reply_of(await discord.slash("alice", general, "usage me"))
        assert usage.ephemeral
        assert usage.content
        # Only shard k's session was given these interactions.
        for shard, session in (await discord.wait_shards(COUNT, 5)).items():
            got = ("INTERACTION_CREATE", server.id) in session.events
            assert got == (shard == k), (shard, k)
    # Each process stored only the job of its own server.
    for world in deployment.worlds:
        with world._read_only() as db:
            assert db.execute("SELECT COUNT(*) FROM jobs").fetchone() == (1,)


async def test_one_process_with_both_shards_is_ready_only_while_both_are_up(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset ``WANBOT_SHARD_IDS``: one process runs every shard. With shard 1's RESUME held
    back, shard 0's reconnecting does not make the process ready."""
    discord = deployment.discord
    await asyncio.gather(*(world.bot.stop() for world in deployment.worlds))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    own = deployment.folder / "both"
    own.mkdir()
    env = bot_env(own, deployment.sim, WANBOT_SHARD_COUNT=str(COUNT), WANBOT_HTTP_PORT=str(port))
    bot = BotProcess(discord, env=env)
    identifies = discord.gateway.identifies

    async def readyz() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(base + "/readyz") as answer,
        ):
            return answer.status, await answer.json()

    async def readyz_until(status: int) -> Any:
        answer: tuple[int, Any] = await wait_until(
            readyz,
            done=lambda answer: answer[0] == status,
            timeout=20,
            interval=0.05,
            message=f"/readyz to answer {status}",
        )
        return answer[1]

    await bot.start()
    try:
        await bot.wait_for_output(f"HTTP server listening on {base}", timeout=20)
        await readyz_until(200)
        # Ready means both shards: shard 1 identifies some 5 s after shard 0 (discord.py's
        # pacing of one process's shards), and readiness waited for it.
        sessions = await discord.wait_shards(COUNT, 1, identifies=identifies + COUNT)
        assert sessions[1].number == identifies + 2
        await bot.wait_for_output("gateway shards 0-1 of 2 (this process syncs")

        gateway = discord.gateway
        release = asyncio.Event()
        resume = gateway._resume

        async def held(conn: Connection, data: dict[str, Any]) -> bool:
            session = gateway.sessions.get(str(data.get("session_id")))
            if session is not None and session.shard_id == 1:
                await release.wait()  # shard 1 stays off until the test lets it back
            return await resume(conn, data)

        monkeypatch.setattr(gateway, "_resume", held)
        resumes = gateway.resumes
        try:
            await gateway.drop(shard=1)
            body = await readyz_until(503)
            assert body["not_ready"] == ["gateway"]
            await gateway.drop(shard=0)
            await wait_until(
                lambda: gateway.resumes == resumes + 1, timeout=10, message="shard 0's RESUME"
            )
            assert gateway.connection_of(0) is not None
            assert gateway.connection_of(1) is None
            await asyncio.sleep(0.5)  # anything that would turn it ready has had its chance
            assert (await readyz())[0] == 503  # shard 0 is back, shard 1 is not
        finally:
            release.set()
        assert (await readyz_until(200))["status"] == "ready"
        assert gateway.resumes == resumes + 2  # both resumed their sessions
    finally:
        await bot.stop()
    assert unexpected(bot) == [], bot.tail(120)
