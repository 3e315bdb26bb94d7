"""End-to-end tests of the four generation commands (/wan-t2v, /wan-i2v, /wan-i2v-flash,
/wan-i2i): the registered option schema, autocomplete, a real run of each command with real
attachments down to the exact upstream request body, upstream failures and refusals, results
over the upload limit, and jobs that outlive the interaction token.

The real bot process runs between the Discord emulator and the provider simulator (see
``tests/e2e/conftest.py``); nothing inside the bot is mocked.
"""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import wave
from contextlib import closing
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from PIL import Image

from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.store import job_from_row
from bot.simulator.media import render_png
from tests.e2e.conftest import World, accept_cost, png_bytes
from tests.emulator.handles import InteractionHandle
from tests.emulator.messages import StoredMessage

SAMPLE_MP4 = resources.files("bot.simulator").joinpath("assets/sample.mp4").read_bytes()

ATTACHMENT, STRING, INTEGER, BOOLEAN = 11, 3, 4, 5
SEED_OPTION = {
    "type": INTEGER,
    "name": "seed",
    "required": False,
    "min_value": 0,
    "max_value": 2147483647,
}


# --- helpers (also used by test_vtrix_flash.py) -------------------------------------------------


def jpeg_bytes(width: int, height: int, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A baseline RGB JPEG made with Pillow (no EXIF, so the bot sends it byte for byte)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A real mono 16-bit PCM WAV of ``seconds`` (a quiet sawtooth), made with ``wave``."""
    frames = int(seconds * rate)
    samples = b"".join(
        ((i % 200) * 40 - 4000).to_bytes(2, "little", signed=True) for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:<mime>;base64,<payload>`` -> (mime, bytes)."""
    match = re.fullmatch(r"data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)", uri)
    assert match is not None, uri[:80]
    return match.group(1), base64.b64decode(match.group(2), validate=True)


def has_footer(message: StoredMessage, text: str) -> bool:
    return any(e.get("footer", {}).get("text") == text for e in message.embeds)


def fields_of(message: StoredMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def option_schema(world: World, command: str) -> list[dict[str, Any]]:
    """The registered options without their descriptions (which are free text) and their
    translations (tests/e2e/test_languages.py reads those)."""
    options = world.discord.command(command)["options"]
    assert all(o["description"] for o in options)
    return [_untranslated(o, "description") for o in options]


def _untranslated(item: dict[str, Any], *leave_out: str) -> dict[str, Any]:
    kept = {
        k: v for k, v in item.items() if k not in leave_out and not k.endswith("_localizations")
    }
    if "choices" in kept:
        kept["choices"] = [_untranslated(choice) for choice in kept["choices"]]
    return kept


async def queued(itx: InteractionHandle, confirm: tuple[World, str] | None = None) -> int:
    """Check the ephemeral thinking defer and return the job id from "Queued as job #N".

    Options dearer than the server's defaults are asked about first (tests/e2e/test_defaults
    checks the question): with ``confirm`` (the world and the member) the member accepts."""
    response = await itx.response(timeout=3)
    assert response.type == 5  # deferred channel message ("thinking")
    assert response.data["flags"] & 64  # ephemeral
    if confirm is not None:
        await accept_cost(*confirm, itx)
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    assert original.ephemeral
    match = re.search(r"Queued as job #(\d+)", original.content)
    assert match is not None
    return int(match.group(1))


async def status_of(world: World, job_id: int) -> StoredMessage:
    general = world.discord.guild.channels["general"]
    return await world.discord.wait_for_message(
        general, lambda m: has_footer(m, f"wanbot job #{job_id} · status"), timeout=15
    )


async def outcome_of(world: World, job_id: int, kind: str, within: float = 30) -> StoredMessage:
    general = world.discord.guild.channels["general"]
    return await world.discord.wait_for_message(
        general, lambda m: has_footer(m, f"wanbot job #{job_id} · {kind}"), timeout=within
    )


async def final_status(world: World, status: StoredMessage, words: str) -> StoredMessage:
    """The status message once its State field reads ``words`` (e.g. "✅ Done")."""
    general = world.discord.guild.channels["general"]
    return await world.discord.wait_for_message(
        general, lambda m: m.id == status.id and fields_of(m).get("State") == words, timeout=15
    )


def read_job(world: World, job_id: int, *states: JobState) -> Job:
    """The job as the bot stored it, read through a read-only connection, in ``states``.

    Read only once the job's end shows in Discord (the status edit after the final state is
    committed), and never with ``world.job``/``wait_job`` while the bot is working: those open
    a full ``Store``, whose migration check takes SQLite's write lock, and the bot's deferred
    ``BEGIN`` … read … write transactions then fail with "database is locked" (an upgrade
    from a read to a write transaction is not retried by ``busy_timeout``).
    """
    uri = f"file:{world.db_path}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row is not None, f"no job #{job_id}"
    job = job_from_row(row)
    assert job.state in states, f"job #{job_id} is {job.state}, not {states}"
    return job


def create_of(world: World, job: Job) -> Any:
    """The one create request that made ``job``'s provider task."""
    [create] = [r for r in world.creates() if r.task_id == job.task_id]
    return create


async def run(
    world: World,
    user: str,
    command: str,
    options: dict[str, Any],
    attachments: dict[str, Any] | None = None,
) -> tuple[Job, StoredMessage, StoredMessage, Any]:
    """Run ``/command`` to its delivered result: (job, status, result, create request).

    Checks what every successful run must show: the result replies to the status message
    and mentions the requester, and the status message ends "Done"."""
    itx = await world.discord.slash(user, "general", command, options, attachments=attachments)
    job_id = await queued(itx, confirm=(world, user))
    status = await status_of(world, job_id)
    result = await outcome_of(world, job_id, "result")
    done = await final_status(world, status, "✅ Done")
    job = read_job(world, job_id, JobState.DELIVERED)
    assert job.delivered_message_ids == (result.id,)
    uid = world.discord.guild.users[user].id
    assert result.reply_to == status.id
    assert result.content.startswith(f"<@{uid}> your ")
    assert uid in result.mentions
    assert not result.ephemeral
    assert fields_of(done)["Requested by"] == f"<@{uid}>"
    assert done.components == []  # no Cancel button on a finished job
    return job, done, result, create_of(world, job)


# --- 1. the registered commands -------------------------------------------------------------


async def test_generation_commands_are_guild_only(world: World) -> None:
    for name in ("wan-t2v", "wan-i2v", "wan-i2v-flash", "wan-i2i"):
        command = world.discord.command(name)
        assert command["type"] == 1
        assert command["contexts"] == [0], name  # guild channels only
        assert command["dm_permission"] is False, name
        assert command["default_member_permissions"] is None, name  # every member may use it
        assert command["nsfw"] is False, name


async def test_t2v_schema(world: World) -> None:
    sizes = [
        ("832*480", "832×480 · 16:9 · 480P"),
        ("480*832", "480×832 · 9:16 · 480P"),
        ("624*624", "624×624 · 1:1 · 480P"),
        ("1920*1080", "1920×1080 · 16:9 · 1080P"),
        ("1080*1920", "1080×1920 · 9:16 · 1080P"),
        ("1440*1440", "1440×1440 · 1:1 · 1080P"),
        ("1632*1248", "1632×1248 · 4:3 · 1080P"),
        ("1248*1632", "1248×1632 · 3:4 · 1080P"),
    ]
    assert option_schema(world, "wan-t2v") == [
        {"type": STRING, "name": "prompt", "required": True, "min_length": 1, "max_length": 800},
        {
            "type": STRING,
            "name": "negative_prompt",
            "required": False,
            "min_length": 1,
            "max_length": 500,
        },
        {
            "type": STRING,
            "name": "size",
            "required": False,
            "choices": [{"name": label, "value": value} for value, label in sizes],
        },
        {"type": BOOLEAN, "name": "prompt_extend", "required": False},
        SEED_OPTION,
    ]


async def test_i2v_schema(world: World) -> None:
    assert option_schema(world, "wan-i2v") == [
        {"type": ATTACHMENT, "name": "image", "required": True},
        {"type": STRING, "name": "prompt", "required": True, "min_length": 1, "max_length": 2000},
        {"type": ATTACHMENT, "name": "last_frame", "required": False},
        {"type": ATTACHMENT, "name": "audio_file", "required": False},
        {"type": BOOLEAN, "name": "audio", "required": False},
        {
            "type": STRING,
            "name": "negative_prompt",
            "required": False,
            "min_length": 1,
            "max_length": 500,
        },
        {
            "type": STRING,
            "name": "resolution",
            "required": False,
            "choices": [{"name": "720P", "value": "720P"}, {"name": "1080P", "value": "1080P"}],
        },
        {
            "type": INTEGER,
            "name": "duration",
            "required": False,
            "choices": [
                {"name": "5 seconds", "value": 5},
                {"name": "10 seconds", "value": 10},
                {"name": "15 seconds", "value": 15},
            ],
        },
        {
            "type": STRING,
            "name": "shot_type",
            "required": False,
            "choices": [{"name": "single", "value": "single"}, {"name": "multi", "value": "multi"}],
        },
        {"type": BOOLEAN, "name": "prompt_extend", "required": False},
        SEED_OPTION,
        {"type": BOOLEAN, "name": "safety_filter", "required": False},
    ]


async def test_i2v_flash_schema(world: World) -> None:
    assert option_schema(world, "wan-i2v-flash") == [
        {"type": ATTACHMENT, "name": "image", "required": True},
        {"type": STRING, "name": "prompt", "required": True, "min_length": 1, "max_length": 800},
        {
            "type": STRING,
            "name": "negative_prompt",
            "required": False,
            "min_length": 1,
            "max_length": 500,
        },
        {
            "type": STRING,
            "name": "resolution",
            "required": False,
            "choices": [{"name": "480P", "value": "480P"}, {"name": "720P", "value": "720P"}],
        },
        {"type": BOOLEAN, "name": "prompt_extend", "required": False},
        SEED_OPTION,
        {"type": BOOLEAN, "name": "safety_filter", "required": False},
        {"type": STRING, "name": "template", "required": False, "min_length": 1, "max_length": 64},
    ]


async def test_i2i_schema(world: World) -> None:
    assert option_schema(world, "wan-i2i") == [
        {"type": STRING, "name": "prompt", "required": True, "min_length": 1, "max_length": 2000},
        {"type": ATTACHMENT, "name": "image", "required": True},
        {"type": ATTACHMENT, "name": "image2", "required": False},
        {"type": ATTACHMENT, "name": "image3", "required": False},
        {
            "type": STRING,
            "name": "negative_prompt",
            "required": False,
            "min_length": 1,
            "max_length": 500,
        },
        {
            "type": STRING,
            "name": "size",
            "required": False,
            "autocomplete": True,
            "min_length": 3,
            "max_length": 11,
        },
        {"type": INTEGER, "name": "n", "required": False, "min_value": 1, "max_value": 4},
        SEED_OPTION,
        {"type": BOOLEAN, "name": "prompt_extend", "required": False},
        {"type": BOOLEAN, "name": "safety_filter", "required": False},
    ]


@pytest.mark.parametrize(
    ("typed", "offered"),
    [
        ("1280", ["1280*1280", "1280*960", "1280*720"]),
        ("1280x", ["1280*1280", "1280*960", "1280*720"]),  # "x" is read as "*"
        ("1440*1", ["1440*1080", "1440*1440"]),
        ("1000*1000", ["1000*1000"]),  # a valid custom size is offered first
        ("1000x1000", ["1000*1000"]),  # ... normalised
        ("1200 × 900", ["1200*900"]),
        ("1440*1440", ["1440*1440"]),  # valid and common: offered once
        (
            "",
            [
                "1280*1280",
                "1024*1024",
                "1280*960",
                "960*1280",
                "1280*720",
                "720*1280",
                "1440*1080",
                "1080*1440",
                "1536*864",
                "864*1536",
                "1440*1440",
                "768*768",
            ],
        ),
        ("500*500", []),  # too few pixels: nothing valid to offer
        ("3000*600", []),  # 5:1 is narrower than 4:1
        ("big", []),
    ],
)
async def test_i2i_size_autocomplete(world: World, typed: str, offered: list[str]) -> None:
    choices = await world.discord.autocomplete(
        "alice", "general", "wan-i2i", {"prompt": "x", "size": typed}, "size"
    )
    assert choices == [{"name": size.replace("*", " × "), "value": size} for size in offered]


# --- 2. a successful run of each command --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "body", "settings", "seed", "cost"),
    [
        pytest.param(
            {"prompt": "a paper boat on a rainy street", "seed": 7},
            {
                "prompt": "a paper boat on a rainy street",
                "size": "832*480",  # the bot's default: the cheaper 480P tier
                "duration": 5,
                "prompt_extend": True,
                "seed": 7,
            },
            "size: 832*480\nduration: 5\nprompt extend: on\nseed: 7",
            "7",
            "$0.10 (estimated)",
            id="defaults",
        ),
        pytest.param(
            {
                "prompt": "a lighthouse at night",
                "negative_prompt": "people, text",
                "size": "832*480",
                "prompt_extend": False,
            },
            {
                "prompt": "a lighthouse at night",
                "negative_prompt": "people, text",
                "size": "832*480",
                "duration": 5,
                "prompt_extend": False,
            },
            "size: 832*480\nduration: 5\nprompt extend: off",
            "random",
            "$0.10 (estimated)",
            id="choices",
        ),
    ],
)
async def test_t2v_runs_end_to_end(
    world: World, options: dict[str, Any], body: dict[str, Any], settings: str, seed: str, cost: str
) -> None:
    job, status, result, create = await run(world, "alice", "wan-t2v", options)

    assert create.path == "/vendors/alibaba/v1/wan2.2-t2v-plus/generation"
    assert create.body == body
    assert result.content == f"<@{job.user_id}> your video is ready."
    [attachment] = result.attachments
    assert attachment["filename"].endswith(".mp4")
    assert world.discord.attachment_bytes(attachment) == SAMPLE_MP4
    [embed] = result.embeds
    assert embed["title"] == "Wan 2.2 text to video (Plus)"
    assert embed["description"] == f"> {options['prompt']}"
    assert fields_of(result) == {
        "Settings": settings,
        "Seed": seed,
        "Duration": "5 s",
        "Cost": cost,
    }
    assert fields_of(status)["Cost"] == cost
    assert result.custom_ids == [
        f"wan:retry:{job.id}",
        f"wan:vary:{job.id}",
        f"wan:delete:{job.id}",
        f"wan:extend:{job.id}",
    ]


async def test_i2v_flash_runs_end_to_end(world: World) -> None:
    image = jpeg_bytes(800, 600)
    attachment = world.discord.cdn.add("harbour.jpg", image, "image/jpeg")
    _, status, result, create = await run(
        world,
        "bob",
        "wan-i2v-flash",
        {"prompt": "the boats rock gently"},
        attachments={"image": attachment},
    )

    assert create.path == "/vendors/alibaba/v1/wan2.2-i2v-flash/generation"
    body = dict(create.body)
    assert decode_data_uri(body.pop("image")) == ("image/jpeg", image)  # byte for byte
    assert body == {
        "prompt": "the boats rock gently",
        "resolution": "480P",  # the bot's default: the cheaper tier
        "duration": 5,
        "prompt_extend": True,
        "safety_filter": True,
    }
    # The input rides along on the status message (for staff, and for Retry).
    [preview] = status.attachments
    assert preview["filename"] == "input-image-1.jpg"
    assert world.discord.attachment_bytes(preview) == image
    [video] = result.attachments
    assert world.discord.attachment_bytes(video) == SAMPLE_MP4
    assert result.embeds[0]["title"] == "Wan 2.2 image to video (Flash)"
    assert fields_of(result) == {
        "Settings": "resolution: 480P\nduration: 5\nprompt extend: on\nsafety filter: on",
        "Seed": "random",
        "Duration": "5 s",
        "Cost": "$0.07 (estimated)",
    }


async def test_i2v_runs_with_last_frame_and_audio_file(world: World) -> None:
    first = png_bytes(640, 480, colour=(10, 200, 90))
    last = jpeg_bytes(640, 480, colour=(250, 250, 20))
    sound = wav_bytes(5.0)
    attachments = {
        "image": world.discord.cdn.add("first.png", first, "image/png"),
        "last_frame": world.discord.cdn.add("last.jpg", last, "image/jpeg"),
        "audio_file": world.discord.cdn.add("voice.wav", sound, "audio/wav"),
    }
    _, status, result, create = await run(
        world,
        "staff",
        "wan-i2v",
        {"prompt": "the meadow turns to autumn", "seed": 99},
        attachments=attachments,
    )

    assert create.path == "/vendors/alibaba/v1/wan2.6-i2v/generation"
    body = dict(create.body)
    assert decode_data_uri(body.pop("image")) == ("image/png", first)
    assert decode_data_uri(body.pop("last_frame")) == ("image/jpeg", last)
    assert body == {
        "prompt": "the meadow turns to autumn",
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "audio_url": attachments["audio_file"]["url"],
        "seed": 99,
        "safety_filter": True,
    }
    assert [a["filename"] for a in status.attachments] == [
        "input-image-1.png",
        "input-last_frame-1.jpg",
    ]
    assert [world.discord.attachment_bytes(a) for a in status.attachments] == [first, last]
    [video] = result.attachments
    assert world.discord.attachment_bytes(video) == SAMPLE_MP4
    assert result.embeds[0]["title"] == "Wan 2.6 image to video"
    assert fields_of(result) == {
        "Settings": "resolution: 720P\nduration: 5\nprompt extend: on\nshot type: single\n"
        "audio: on\naudio file: yes\nseed: 99\nsafety filter: on",
        "Seed": "99",
        "Duration": "5 s",
        "Cost": "$0.50 (estimated)",
    }


async def test_i2v_sends_the_chosen_resolution_duration_and_shot_type(world: World) -> None:
    first = png_bytes(1200, 1600, colour=(90, 30, 160))
    job, _, result, create = await run(
        world,
        "owner",
        "wan-i2v",
        {
            "prompt": "a slow pan across the skyline",
            "resolution": "1080P",
            "duration": 10,
            "shot_type": "multi",
            "audio": False,
            "negative_prompt": "rain",
        },
        attachments={"image": world.discord.cdn.add("sky.png", first, "image/png")},
    )

    body = dict(create.body)
    assert decode_data_uri(body.pop("image")) == ("image/png", first)
    assert body == {
        "prompt": "a slow pan across the skyline",
        "negative_prompt": "rain",
        "resolution": "1080P",
        "duration": 10,
        "prompt_extend": True,
        "shot_type": "multi",
        "audio": False,
        "safety_filter": True,
    }
    assert fields_of(result)["Duration"] == "10 s"
    assert fields_of(result)["Cost"] == "$1.50 (estimated)"  # 10 s at $0.15 (1080P)
    assert job.estimated_cost == Decimal("1.5")


async def test_i2i_three_images_make_three_results(world: World) -> None:
    images = [
        png_bytes(512, 512, colour=(255, 0, 0)),
        jpeg_bytes(640, 480),
        png_bytes(400, 800, colour=(0, 0, 255)),
    ]
    attachments = {
        "image": world.discord.cdn.add("a.png", images[0], "image/png"),
        "image2": world.discord.cdn.add("b.jpg", images[1], "image/jpeg"),
        "image3": world.discord.cdn.add("c.png", images[2], "image/png"),
    }
    job, status, result, create = await run(
        world,
        "alice",
        "wan-i2i",
        {"prompt": "merge them into one poster", "n": 3},
        attachments=attachments,
    )

    assert create.path == "/vendors/alibaba/v1/wan2.5-i2i-preview/generation"
    body = dict(create.body)
    assert [decode_data_uri(uri) for uri in body.pop("images")] == [
        ("image/png", images[0]),
        ("image/jpeg", images[1]),
        ("image/png", images[2]),
    ]
    assert body == {
        "prompt": "merge them into one poster",
        "size": "1280*1280",
        "n": 3,
        "prompt_extend": False,
        "safety_filter": True,
    }
    assert [a["filename"] for a in status.attachments] == [
        "input-images-1.png",
        "input-images-2.jpg",
        "input-images-3.png",
    ]

    assert len(result.attachments) == 3
    assert all(a["filename"].endswith(".png") for a in result.attachments)
    assert [world.discord.attachment_bytes(a) for a in result.attachments] == [
        render_png(job.task_id, index, 1280, 1280) for index in range(3)
    ]
    assert result.embeds[0]["title"] == "Wan 2.5 image edit (preview)"
    assert fields_of(result) == {
        "Settings": "images: 3\nsize: 1280*1280\nn: 3\nprompt extend: off\nsafety filter: on",
        "Seed": "random",
        "Images": "3",
        "Cost": "$0.09 (estimated)",
    }
    assert result.custom_ids == [
        f"wan:retry:{job.id}",
        f"wan:vary:{job.id}",
        f"wan:delete:{job.id}",
        f"wan:animate:{job.id}:0",
        f"wan:animate:{job.id}:1",
        f"wan:animate:{job.id}:2",
    ]


async def test_i2i_sends_n_1_and_a_typed_custom_size(world: World) -> None:
    image = png_bytes(800, 800, colour=(0, 128, 128))
    job, _, result, create = await run(
        world,
        "bob",
        "wan-i2i",
        {"prompt": "make it night", "size": "1000x1000", "seed": 5},
        attachments={"image": world.discord.cdn.add("d.png", image, "image/png")},
    )

    body = dict(create.body)
    assert [decode_data_uri(uri) for uri in body.pop("images")] == [("image/png", image)]
    assert body == {
        "prompt": "make it night",
        "size": "1000*1000",
        "n": 1,
        "seed": 5,
        "prompt_extend": False,
        "safety_filter": True,
    }
    [attachment] = result.attachments
    assert world.discord.attachment_bytes(attachment) == render_png(job.task_id, 0, 1000, 1000)
    assert result.content == f"<@{job.user_id}> your image is ready."
    assert fields_of(result)["Cost"] == "$0.03 (estimated)"


async def test_i2i_several_images_are_announced_in_plural(world: World) -> None:
    image = png_bytes(600, 600, colour=(30, 30, 30))
    job, _, result, _ = await run(
        world,
        "bob",
        "wan-i2i",
        {"prompt": "two variations", "n": 2},
        attachments={"image": world.discord.cdn.add("e.png", image, "image/png")},
    )
    assert len(result.attachments) == 2
    assert result.content == f"<@{job.user_id}> your images are ready."


# --- 3. upstream failures ------------------------------------------------------------------------


async def test_upstream_failure_posts_a_notice_with_retry(world: World) -> None:
    world.sim.state.patch_config({"failure_rate": 1.0})
    try:
        itx = await world.discord.slash(
            "alice", "general", "wan-t2v", {"prompt": "a storm over the sea", "seed": 1234}
        )
        job_id = await queued(itx)
        status = await status_of(world, job_id)
        notice = await outcome_of(world, job_id, "notice")
        failed = await final_status(world, status, "❌ Failed")
    finally:
        world.sim.state.patch_config({"failure_rate": 0.0})
    job = read_job(world, job_id, JobState.FAILED)

    error = world.sim.state.tasks[job.task_id].error
    assert error is not None
    assert job.error_code == str(error.code)
    uid = world.discord.guild.users["alice"].id
    assert notice.content == f"<@{uid}>"
    assert uid in notice.mentions
    assert notice.reply_to == status.id
    assert notice.attachments == []
    [embed] = notice.embeds
    assert embed["title"] == "The generation failed · Wan 2.2 text to video (Plus)"
    # The provider's own reason, in a sentence (no codes, titles or JSON).
    if error.detail == "prompt violation":
        expected = (
            "The provider refused the content (prompt violation). Try rewording the "
            "prompt or using another image."
        )
    else:
        expected = f"The provider could not generate this ({error.detail})."
    assert fields_of(notice)["Why"] == expected
    assert fields_of(notice)["Cost"] == "Nothing was charged."
    assert notice.custom_ids == [f"wan:retry:{job_id}"]
    assert notice.buttons[0]["label"] == "Retry"
    assert failed.components == []

    # Retry runs the same settings again (same seed) and now succeeds.
    click = await world.discord.click("alice", notice, f"wan:retry:{job_id}")
    retry_id = await queued(click)
    assert retry_id != job_id
    await outcome_of(world, retry_id, "result")
    await final_status(world, await status_of(world, retry_id), "✅ Done")
    retried = read_job(world, retry_id, JobState.DELIVERED)
    assert retried.parent_job_id == job_id
    assert create_of(world, retried).body == {
        "prompt": "a storm over the sea",
        "size": "832*480",
        "duration": 5,
        "prompt_extend": True,
        "seed": 1234,
    }


async def test_out_of_balance_is_a_definite_refusal(world: World) -> None:
    before = len(world.creates())
    tasks_before = set(world.sim.state.tasks)
    world.sim.state.patch_config({"balance": "0"})
    try:
        itx = await world.discord.slash("bob", "general", "wan-t2v", {"prompt": "a quiet pond"})
        job_id = await queued(itx)
        status = await status_of(world, job_id)
        notice = await outcome_of(world, job_id, "notice")
        await final_status(world, status, "❌ Failed")
    finally:
        world.sim.state.patch_config({"balance": None})
    job = read_job(world, job_id, JobState.FAILED)

    [create] = world.creates()[before:]
    assert create.status == 402
    assert create.body == {
        "prompt": "a quiet pond",
        "size": "832*480",
        "duration": 5,
        "prompt_extend": True,
    }
    assert set(world.sim.state.tasks) == tasks_before  # nothing was created upstream
    assert job.task_id is None
    assert job.error_code == "InsufficientBalance"
    assert notice.reply_to == status.id
    why = fields_of(notice)["Why"]
    assert "out of balance" in why
    assert why == (
        "The generation account is out of balance. An admin needs to top it up; "
        "nothing was charged."
    )
    assert fields_of(notice)["Cost"] == "Nothing was charged."
    assert notice.custom_ids == [f"wan:retry:{job_id}"]


# --- 4. results over the upload limit ------------------------------------------------------------


async def test_result_over_the_upload_limit_is_delivered_as_a_link(world: World) -> None:
    assert len(SAMPLE_MP4) > 1000
    world.discord.rules.set_upload_limit(world.discord.guild, 1000)
    job, _, result, create = await run(
        world, "owner", "wan-t2v", {"prompt": "fireworks over a lake"}
    )
    assert create.body["prompt"] == "fireworks over a lake"

    assert result.attachments == []
    url = f"{world.sim.base_url}/media/video/{job.task_id}.mp4"
    assert job.result_urls == (url,)
    links = [b for b in result.buttons if b.get("style") == 5]
    assert [(b["label"], b["url"], b["disabled"]) for b in links] == [("Download 1", url, False)]
    download = fields_of(result)["Download"]
    assert "link button" in download
    assert "expire" in download
    assert result.custom_ids == [
        f"wan:retry:{job.id}",
        f"wan:vary:{job.id}",
        f"wan:delete:{job.id}",
        f"wan:extend:{job.id}",
    ]


# --- 5. a job that outlives the interaction token ------------------------------------------------


async def test_a_job_longer_than_the_token_is_delivered_through_the_channel(world: World) -> None:
    general = world.discord.guild.channels["general"]
    discord = world.discord
    # ~3 s at the simulator's speed, against a 1 s interaction token.
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 600.0}})
    try:
        itx = await discord.slash("staff", "general", "wan-t2v", {"prompt": "a long voyage"})
        job_id = await queued(itx)
        discord.rules.token_ttl_seconds = 1.0
        token_dead_at = itx.record.created_at + 1.0
        status = await status_of(world, job_id)
        result = await outcome_of(world, job_id, "result", within=30)
        done = await final_status(world, status, "✅ Done")
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
    job = read_job(world, job_id, JobState.DELIVERED)

    assert job.delivered_at is not None
    assert job.delivered_at - job.created_at > 1.0  # the job outlived the token
    assert discord.state.now() > token_dead_at
    assert result.reply_to == status.id
    assert [discord.attachment_bytes(a) for a in result.attachments] == [SAMPLE_MP4]
    # The result was created by a channel send, and the token was never needed afterwards.
    [posted] = [
        r
        for r in discord.requests.matching("POST /channels/{channel_id}/messages")
        if isinstance(r.response, dict) and r.response.get("id") == str(result.id)
    ]
    assert posted.path == f"/channels/{general.id}/messages"
    assert posted.status == 200
    webhook_calls = [r for r in discord.requests if itx.token in r.path]
    assert webhook_calls  # the "Queued as job" edit, made while the token was alive
    assert all(r.at <= token_dead_at for r in webhook_calls)
    assert all(r.status is not None and r.status < 400 for r in webhook_calls)
    # The status message was edited through the channel route, and nothing failed.
    # (The channel's writer keeps only the latest state of a message, so "generating" may be
    # folded into "done" when both are waiting: at least the last edit is certain.)
    edits = discord.requests.matching(f"PATCH /channels/{general.id}/messages/{status.id}")
    assert len(edits) >= 1
    assert all(r.status == 200 for r in edits)
    assert any(r.at > token_dead_at for r in edits)
    assert done.edits >= 1
    assert not any(
        r.status is not None and r.status >= 400 for r in discord.requests if r.at > token_dead_at
    )
