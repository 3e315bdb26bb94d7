"""The smoke test: the real bot process registers its commands, runs one generation end to
end through the emulator and the simulator, and posts the result file in the channel."""

from __future__ import annotations

import re
from importlib import resources

from bot.jobs.states import JobState
from tests.e2e.conftest import World
from tests.waiting import wait_until

SAMPLE_MP4 = resources.files("bot.simulator").joinpath("assets/sample.mp4").read_bytes()
# Status messages refreshed every second here (30 s in production).
BOT_ENV = {"WANBOT_STATUS_REFRESH_SECONDS": "1"}


async def test_commands_are_registered_with_their_options(world: World) -> None:
    names = {command["name"] for command in world.discord.commands()}
    assert names == {
        "wan-t2v", "wan-i2v", "wan-i2v-flash", "wan-i2i", "usage", "jobs", "wanbot", "help"
    }  # fmt: skip
    t2v = world.discord.command("wan-t2v")
    options = {option["name"]: option for option in t2v["options"]}
    assert list(options) == ["prompt", "negative_prompt", "size", "prompt_extend", "seed"]
    assert options["prompt"]["required"] is True
    assert options["prompt"]["max_length"] == 800
    assert options["negative_prompt"]["max_length"] == 500
    assert options["seed"]["min_value"] == 0
    assert options["seed"]["max_value"] == 2147483647
    assert [choice["value"] for choice in options["size"]["choices"]] == [
        "832*480",
        "480*832",
        "624*624",
        "1920*1080",
        "1080*1920",
        "1440*1440",
        "1632*1248",
        "1248*1632",
    ]
    assert options["size"]["choices"][3]["name"] == "1920×1080 · 16:9 · 1080P"
    assert world.discord.command("wanbot")["default_member_permissions"] == str(1 << 5)


async def test_one_generation_end_to_end(world: World) -> None:
    general = world.discord.guild.channels["general"]
    itx = await world.discord.slash(
        "alice", "general", "wan-t2v", {"prompt": "a cat surfing at dawn", "seed": 42}
    )
    response = await itx.response(timeout=3)
    assert response.type == 5  # deferred, "thinking"
    assert response.data["flags"] & 64  # ephemeral
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    job_id = int(re.search(r"job #(\d+)", original.content).group(1))

    status = await world.discord.wait_for_message(
        general,
        lambda m: any(
            e.get("footer", {}).get("text") == f"wanbot job #{job_id} · status" for e in m.embeds
        ),
        timeout=15,
    )
    # The member's private reply says where to follow the job: a link to this status message.
    link = f"https://discord.com/channels/{world.discord.guild.id}/{general.id}/{status.id}"
    assert f"Follow it here: {link}" in original.content, original.content
    result = await world.discord.wait_for_message(
        general,
        lambda m: any(
            e.get("footer", {}).get("text") == f"wanbot job #{job_id} · result" for e in m.embeds
        ),
        timeout=30,
    )
    assert result.reply_to == status.id
    assert f"<@{world.discord.guild.users['alice'].id}>" in result.content
    [attachment] = result.attachments
    assert attachment["filename"].endswith(".mp4")
    assert world.discord.attachment_bytes(attachment) == SAMPLE_MP4

    job = await world.wait_job(job_id, JobState.DELIVERED)
    assert job.delivered_message_ids == (result.id,)
    assert [c.body for c in world.creates()][-1] == {
        "prompt": "a cat surfing at dawn",
        "size": "832*480",  # the bot's default: 480P
        "duration": 5,
        "prompt_extend": True,
        "seed": 42,
    }


def _footer(message: object, text: str) -> bool:
    return any(e.get("footer", {}).get("text") == text for e in message.embeds)  # type: ignore[attr-defined]


async def test_sigkill_mid_generation_then_restart_delivers_once(world: World) -> None:
    general = world.discord.guild.channels["general"]
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 1200.0}})  # ~6 s at speed 200
    syncs_before = len(world.discord.requests.matching("PUT /applications/*/commands"))
    itx = await world.discord.slash("bob", "general", "wan-t2v", {"prompt": "rain on a tin roof"})
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    job_id = int(re.search(r"job #(\d+)", original.content).group(1))
    running = await world.wait_job(job_id, JobState.RUNNING)
    creates_before = len(world.creates())

    await world.restart(kill=True)  # SIGKILL: no shutdown code runs

    result = await world.discord.wait_for_message(
        general, lambda m: _footer(m, f"wanbot job #{job_id} · result"), timeout=40
    )
    job = await world.wait_job(job_id, JobState.DELIVERED)
    assert job.task_id == running.task_id
    assert job.delivered_message_ids == (result.id,)
    posts = [
        m for m in world.discord.messages(general) if _footer(m, f"wanbot job #{job_id} · result")
    ]
    assert len(posts) == 1
    assert len(world.creates()) == creates_before  # nothing submitted again
    # The command set did not change, so the restarted bot did not sync it again.
    assert len(world.discord.requests.matching("PUT /applications/*/commands")) == syncs_before
    # The status message is brought up to date by the new process (queued with the writer).
    await wait_until(
        lambda: world.discord.message(job.status_message_id),
        done=lambda status: any(
            "Done" in field["value"] for e in status.embeds for field in e.get("fields", [])
        ),
        timeout=10,
        message="the status message to show Done",
    )


def _field(embed: dict[str, object], name: str) -> str | None:
    for field in embed.get("fields", []):  # type: ignore[attr-defined]
        if field["name"] == name:
            return str(field["value"])
    return None


async def test_status_message_moves_while_the_provider_says_nothing_new(world: World) -> None:
    """MuleRouter reports no progress: the elapsed time and ETA still move, at the configured
    period, through the channel route (paced by the channel's writer: four edits per 5 s)."""
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 2000.0}})  # ~10 s
    try:
        itx = await world.discord.slash("alice", "general", "wan-t2v", {"prompt": "fog lifts"})
        original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
        job_id = int(re.search(r"job #(\d+)", original.content).group(1))
        job = await world.wait_job(job_id, JobState.DELIVERED)
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
    status = await wait_until(  # the last edit is queued with the channel's writer
        lambda: world.discord.message(job.status_message_id),
        done=lambda message: _field(message.embeds[0], "State") == "✅ Done",
        timeout=10,
        message="the status message to show Done",
    )
    versions = [*status.history, status.data]
    running = [
        v["embeds"][0] for v in versions if _field(v["embeds"][0], "State") == "🎨 Generating"
    ]
    elapsed = [_field(embed, "Elapsed") for embed in running]
    assert len(set(elapsed)) >= 3, elapsed  # refreshed while nothing but the clock changed
    assert all(_field(embed, "ETA") for embed in running)
    edits = world.discord.requests.matching("PATCH /channels/*/messages/*")
    assert len(edits) >= len(running) - 1
    assert _field(status.embeds[0], "State") == "✅ Done"
