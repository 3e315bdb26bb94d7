"""Webhooks end to end: the real bot process with its HTTP server on, the simulator sending it
signed MuleRouter events, and Discord (the emulator) seeing the result posted.

The bot listens on a free loopback port chosen here; the simulator sends to it. Once the
events arrive the bot polls a task only as a safety net, so a result comes with no poll.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import aiohttp

from bot.jobs.states import JobState
from tests.e2e.conftest import World, bot_env
from tests.emulator import BotProcess
from tests.waiting import wait_until
from tests.webhooks.support import OTHER_SECRET, SECRET, envelope, signed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


PORT = _free_port()
URL = f"http://127.0.0.1:{PORT}/webhooks/mulerouter"
BOT_ENV = {"WANBOT_HTTP_PORT": str(PORT), "MULEROUTER_WEBHOOK_SECRET": SECRET}
SIM_CONFIG = {"webhook_url": URL, "webhook_secret": SECRET}


async def generate(world: World, prompt: str) -> int:
    itx = await world.discord.slash("alice", "general", "wan-t2v", {"prompt": prompt})
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    return int(re.search(r"job #(\d+)", original.content).group(1))  # type: ignore[union-attr]


async def test_results_arrive_by_webhook_with_no_poll(world: World) -> None:
    await world.bot.wait_for_output(f"HTTP server listening on http://127.0.0.1:{PORT}")
    general = world.discord.guild.channels["general"]
    first = await world.wait_job(await generate(world, "a first wave"), JobState.DELIVERED)

    job_id = await generate(world, "a second wave")
    job = await world.wait_job(job_id, JobState.DELIVERED)

    await world.discord.wait_for_message(
        general,
        lambda m: any(
            e.get("footer", {}).get("text") == f"wanbot job #{job_id} · result" for e in m.embeds
        ),
        timeout=15,
    )
    tasks = world.sim.state.tasks
    assert job.task_id is not None
    assert first.task_id is not None
    assert tasks[first.task_id].polls <= 1  # planned perhaps before its first event came
    assert tasks[job.task_id].polls == 0
    assert tasks[job.task_id].pushed_at is not None
    statuses = {d.status for d in world.sim.state.webhooks.deliveries}
    assert statuses == {200}


async def test_forged_and_replayed_events_change_nothing(world: World) -> None:
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 2000.0}})  # ~10 s
    try:
        job_id = await generate(world, "slow fog")
        running = await world.wait_job(job_id, JobState.RUNNING)
        assert running.task_id is not None
        event = envelope("task.failed", running.task_id, status="failed")
        body = json.dumps(event).encode()
        async with aiohttp.ClientSession() as session:
            forged = signed(body, ident=event["id"], secret=OTHER_SECRET)
            async with session.post(URL, data=body, headers=forged) as answer:
                assert answer.status == 401
            async with session.post(URL, data=b"x" * (1024 * 1024 + 1)) as answer:
                assert answer.status == 413
        assert (await world.job(job_id)).state is JobState.RUNNING
        done = await world.wait_job(job_id, JobState.DELIVERED, within=40)
        assert done.error_code is None
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
    await wait_until(
        lambda: world.bot.lines,
        done=lambda lines: any("webhook refused (401)" in line for line in lines),
        timeout=5,
        message="the refusal to be logged",
    )


async def test_a_second_bot_on_the_taken_port_exits_with_one_line(
    world: World, tmp_path: Path
) -> None:
    env = bot_env(tmp_path, world.sim, **BOT_ENV)  # its own database, the first bot's port
    second = BotProcess(world.discord, env=env)
    await second.start()
    assert await second.wait_exit(timeout=30) == 1
    errors = [line for line in second.lines if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, second.tail(40)
    assert f"WANBOT_HTTP_PORT {PORT} is already in use on 127.0.0.1" in errors[0]
    assert world.bot.running
