"""Animate modals opened by two members on the same result image (issue #10).

Each click opens a modal of its own: whichever member submits first, and however the two
submits interleave, each makes exactly one job, charged to that member, with that member's
prompt. Both orders that broke when every click's modal shared one ``custom_id``: the second
opener submitting first (the first opener's submit was then dropped), and a submit whose answer
is slow while the other one arrives (it was charged with the other member's prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

from bot.jobs.states import JobState
from tests.e2e.conftest import World, png_bytes
from tests.e2e.test_buttons import (
    MODAL,
    create_body,
    generate,
    queued_job,
    result_of,
    text_input_id,
)
from tests.emulator.messages import StoredMessage


async def image_result(world: World, prompt: str) -> tuple[int, StoredMessage]:
    """A delivered one-image result of alice's, with its Animate button."""
    job_id, _ = await generate(
        world,
        "alice",
        "wan-i2i",
        {"prompt": prompt},
        {"image": ("pond.png", png_bytes(512, 512, colour=(20, 140, 90)), "image/png")},
    )
    result = await result_of(world, job_id)
    assert f"wan:animate:{job_id}:0" in result.custom_ids
    return job_id, result


async def open_modal(world: World, user: str, result: StoredMessage, job_id: int) -> Any:
    """``user`` clicks Animate on the first image; the click, once answered with a modal."""
    click = await world.discord.click(user, result, f"wan:animate:{job_id}:0")
    response = await click.response()
    assert response.type == MODAL
    return click


async def submit(world: World, user: str, click: Any, motion: str) -> Any:
    modal = (await click.response()).data
    return await world.discord.submit_modal(user, click, {text_input_id(modal): motion})


def children(world: World, parent_id: int) -> list[tuple[int, int]]:
    """(job id, user id) of every job made from ``parent_id``, read-only."""
    with contextlib.closing(
        sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True, timeout=10)
    ) as db:
        rows = db.execute(
            "SELECT id, user_id FROM jobs WHERE parent_job_id = ? ORDER BY id", (parent_id,)
        ).fetchall()
    return [(int(job_id), int(user_id)) for job_id, user_id in rows]


async def check_own_jobs(world: World, image_id: int, made: dict[str, tuple[int, str]]) -> None:
    """``made``: member → (job id from their answer, the prompt they typed)."""
    users = world.discord.guild.users
    assert children(world, image_id) == sorted(
        (job_id, users[user].id) for user, (job_id, _) in made.items()
    )
    for user, (job_id, motion) in made.items():
        job = await world.job(job_id)
        assert (job.user_id, job.model_id, job.request["prompt"]) == (
            users[user].id,
            "wan2.2-i2v-flash",
            motion,
        ), user
        assert (await create_body(world, job_id))["prompt"] == motion, user
    for job_id, _ in made.values():
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_the_second_opener_submitting_first_drops_nobody(world: World) -> None:
    image_id, result = await image_result(world, "lily pads")
    alice = await open_modal(world, "alice", result, image_id)
    bob = await open_modal(world, "bob", result, image_id)

    bob_job = await queued_job(await submit(world, "bob", bob, "a frog jumps in"))
    await world.wait_job(bob_job, JobState.DELIVERED)  # Alice takes her time to type
    alice_job = await queued_job(await submit(world, "alice", alice, "ripples spread slowly"))

    await check_own_jobs(
        world,
        image_id,
        {"alice": (alice_job, "ripples spread slowly"), "bob": (bob_job, "a frog jumps in")},
    )


async def test_interleaved_submits_keep_each_members_prompt(world: World) -> None:
    image_id, result = await image_result(world, "a stone bridge")
    alice = await open_modal(world, "alice", result, image_id)
    bob = await open_modal(world, "bob", result, image_id)
    # Alice's acknowledgement is held up (Discord says "slow down" once), so Bob's submit
    # arrives while hers is still being handled.
    world.discord.rules.inject_429("POST /interactions/*/callback", n=1, retry_after=0.5)

    alice_submit = await submit(world, "alice", alice, "mist rolls under the bridge")
    bob_submit = await submit(world, "bob", bob, "a boat drifts through")
    alice_job, bob_job = await asyncio.gather(queued_job(alice_submit), queued_job(bob_submit))

    await check_own_jobs(
        world,
        image_id,
        {
            "alice": (alice_job, "mist rolls under the bridge"),
            "bob": (bob_job, "a boat drifts through"),
        },
    )
