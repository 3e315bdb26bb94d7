"""The member's queue end to end: past the concurrent-job limit, jobs wait in turn.

A member at their limit (``/wanbot limits concurrent:1 queue:2``) is queued, not refused: the
job is stored and its estimate reserved at once, its status says how many are ahead, it starts
by itself when the running one finishes (also after the bot was killed and restarted), and it
can be cancelled for free until it starts. ``/jobs list`` shows the places.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from bot.jobs.states import JobState
from bot.simulator.config import DEFAULT_DURATIONS
from tests.e2e.conftest import World, ephemeral_text, reply_of
from tests.emulator.messages import StoredMessage
from tests.emulator.models import User
from tests.waiting import wait_until

SLOW_T2V = {"durations": {"wan2.2-t2v-plus": 40000.0}}  # ~200 s at the simulator's speed
FAST_T2V = {"durations": {"wan2.2-t2v-plus": DEFAULT_DURATIONS["wan2.2-t2v-plus"]}}
CHEAP = {"size": "832*480"}  # $0.10, the default: no cost question


async def staff(world: World, subcommand: str, options: dict[str, object]) -> str:
    return await ephemeral_text(world, "staff", "general", f"wanbot {subcommand}", options)


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def one_at_a_time(world: World) -> AsyncIterator[None]:
    await staff(world, "limits", {"concurrent": 1, "queue": 2})
    world.sim.state.patch_config(SLOW_T2V)
    yield
    world.sim.state.patch_config(FAST_T2V)
    await staff(world, "limits", {"concurrent": 3, "queue": 3})


async def submit(world: World, user: User, prompt: str) -> tuple[int | None, str]:
    itx = await world.discord.slash(user, "general", "wan-t2v", {"prompt": prompt, **CHEAP})
    reply = await reply_of(itx, within=15)
    assert reply.ephemeral
    match = re.search(r"job #(\d+)", reply.content)
    return (int(match.group(1)) if match else None), reply.content


def status_message(world: World, job_id: int) -> StoredMessage | None:
    for message in world.discord.messages("general", include_ephemeral=False):
        for embed in message.embeds:
            if embed.get("footer", {}).get("text") == f"wanbot job #{job_id} · status":
                return message
    return None


def state_field(message: StoredMessage | None) -> str:
    if message is None:
        return ""
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}["State"]


async def status_reads(world: World, job_id: int, text: str, within: float = 15) -> None:
    await wait_until(
        lambda: state_field(status_message(world, job_id)),
        done=lambda state: state == text,
        timeout=within,
        message=lambda: f"job {job_id}'s status to read {text!r}\n{world.bot.tail(30)}",
    )


async def finish_now(world: World, job_id: int) -> None:
    """The provider finishes the job's task at once (the simulator's task timeline)."""
    job = await world.wait_job(job_id, JobState.RUNNING)
    task = world.sim.state.task(job.task_id or "")
    assert task is not None
    now = time.monotonic()
    task.running_at = min(task.running_at, now)
    task.finishes_at = now


async def test_past_the_limit_jobs_queue_start_in_turn_and_cancel_free(world: World) -> None:
    quinn = world.discord.add_user("quinn", roles=["member"])
    running, _ = await submit(world, quinn, "first")
    assert running is not None
    await world.wait_job(running, JobState.RUNNING)

    second, text = await submit(world, quinn, "second")
    assert second is not None
    assert text.startswith(f"Queued as job #{second} (next in your queue): your generation slots")
    assert "cancel it for free until it starts" in text
    third, text = await submit(world, quinn, "third")
    assert third is not None
    assert text.startswith(f"Queued as job #{third} (1 ahead of you)")
    # Reserved at once: a queue can never spend more than the budget allowed.
    assert [entry for entry, _ in await world.ledger(third)] == ["reserve"]
    assert (await world.job(third)).state is JobState.QUEUED
    await status_reads(world, third, "🕒 Queued — 1 ahead of you")

    # The queue is full: refused, nothing stored.
    refused, text = await submit(world, quinn, "fourth")
    assert refused is None
    assert text == (
        "You already have 1 generation(s) running and 2 queued; the limits are 1 running and 2 "
        "queued. Wait for one to finish or cancel one (`/jobs list`)."
    )
    listing = await ephemeral_text(world, quinn, "general", "jobs list")
    assert "queued, #1 in your queue" in listing
    assert "queued, #2 in your queue" in listing

    # Cancel the second for free: the third moves up.
    answer = await ephemeral_text(world, quinn, "general", "jobs cancel", {"job": second})
    assert answer == f"Cancelled job #{second} before it started. Nothing was charged."
    assert [entry for entry, _ in await world.ledger(second)] == ["reserve", "release"]
    await status_reads(
        world, third, "🕒 Queued — next: it starts when one of your generations finishes"
    )
    creates = len(world.creates())

    # The running one finishes: the third starts by itself and is delivered.
    world.sim.state.patch_config(FAST_T2V)
    await finish_now(world, running)
    await world.wait_job(running, JobState.DELIVERED)
    await world.wait_job(third, JobState.RUNNING, JobState.SUCCEEDED, JobState.DELIVERED)
    assert len(world.creates()) == creates + 1  # only the third was sent; the second never
    await world.wait_job(third, JobState.DELIVERED, within=30)
    await status_reads(world, third, "✅ Done")
    assert [entry for entry, _ in await world.ledger(third)] == ["reserve", "settle"]


async def test_a_queue_survives_a_restart(world: World) -> None:
    rory = world.discord.add_user("rory", roles=["member"])
    running, _ = await submit(world, rory, "first")
    assert running is not None
    await world.wait_job(running, JobState.RUNNING)
    waiting, text = await submit(world, rory, "waits through a restart")
    assert waiting is not None
    assert "next in your queue" in text
    await wait_until(  # the status message is recorded just after the member's answer
        lambda: world.job(waiting),
        done=lambda job: job.status_message_id is not None,
        timeout=10,
        message="the status message to be recorded",
    )

    await world.restart()  # SIGKILL: the queue is in the database, not in the process

    assert (await world.job(waiting)).state is JobState.QUEUED
    world.sim.state.patch_config(FAST_T2V)
    await finish_now(world, running)
    await world.wait_job(running, JobState.DELIVERED, within=30)
    await world.wait_job(waiting, JobState.DELIVERED, within=30)
    await status_reads(world, waiting, "✅ Done")
