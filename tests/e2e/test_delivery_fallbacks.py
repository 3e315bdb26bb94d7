"""Where a result goes when its channel will not take it, through the real bot process.

A refused upload (no Attach Files in the channel) falls back to links in the same channel; a
channel deleted while the job runs sends the result to the member by direct message (and the
log says so); a deleted status message is forgotten instead of edited for ever.
"""

from __future__ import annotations

import re
import time

from bot.jobs.states import JobState
from tests.e2e.conftest import World
from tests.emulator.permissions import ATTACH_FILES
from tests.waiting import wait_until


def _footer(message: object, text: str) -> bool:
    return any(e.get("footer", {}).get("text") == text for e in message.embeds)  # type: ignore[attr-defined]


async def _start(world: World, channel: str, prompt: str) -> int:
    itx = await world.discord.slash("alice", channel, "wan-t2v", {"prompt": prompt})
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    match = re.search(r"job #(\d+)", original.content)
    assert match is not None
    return int(match.group(1))


async def test_attach_files_taken_away_mid_generation_posts_the_result_as_links(
    world: World,
) -> None:
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 1000.0}})  # ~5 s
    try:
        channel = world.discord.guild.add_channel("no-uploads")
        job_id = await _start(world, "no-uploads", "a kite over dunes")
        await world.wait_job(job_id, JobState.RUNNING)
        # Staff take Attach Files away while it runs: the upload gets 403 / 50013.
        world.discord.set_permissions(channel, world.discord.bot_user.username, deny=ATTACH_FILES)
        result = await world.discord.wait_for_message(
            channel, lambda m: _footer(m, f"wanbot job #{job_id} · result"), timeout=40
        )
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
    job = await world.wait_job(job_id, JobState.DELIVERED)
    assert result.attachments == []
    assert any(url in str(result.data) for url in job.result_urls)  # the links instead
    assert job.delivered_message_ids == (result.id,)


async def test_a_channel_deleted_mid_generation_sends_the_result_by_direct_message(
    world: World,
) -> None:
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 1000.0}})  # ~5 s
    try:
        channel = world.discord.guild.add_channel("short-lived")
        job_id = await _start(world, "short-lived", "a lantern on a lake")
        await world.wait_job(job_id, JobState.RUNNING)
        world.discord.delete_channel(channel)
        job = await world.wait_job(job_id, JobState.DELIVERED, within=40)
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
    direct = [
        m
        for m in world.discord.dm_messages("alice")
        if _footer(m, f"wanbot job #{job_id} · result")
    ]
    assert len(direct) == 1
    assert job.delivered_message_ids == (direct[0].id,)
    assert direct[0].attachments  # the file itself: a DM takes uploads
    await world.bot.wait_for_output(f"job {job_id}: the channel was deleted; sent to the member")


async def test_a_deleted_status_message_is_forgotten(world: World) -> None:
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 1400.0}})  # ~7 s
    try:
        job_id = await _start(world, "general", "moss on old stones")
        running = await world.wait_job(job_id, JobState.RUNNING)
        assert running.status_message_id is not None
        status = world.discord.message(running.status_message_id)
        world.discord.state.messages.delete(status, time.time())  # a moderator deletes it
        forgotten = await wait_until(
            lambda: world.job(job_id),
            done=lambda job: job.status_message_id is None,
            timeout=40,
            message="the bot to forget its deleted status message",
        )
        assert forgotten.state in (
            JobState.RUNNING,
            JobState.SUCCEEDED,
            JobState.DELIVERING,
            JobState.DELIVERED,
        )
        await world.wait_job(job_id, JobState.DELIVERED, within=40)
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
