"""Bad inputs end to end: every one is refused in the member's ephemeral reply, saying what to
change, before anything reaches a provider or the ledger; repairable images are repaired,
submitted, and the repair is told to the member.

The refusals run against the real bot process (see ``conftest.py``); "nothing happened" is
checked from the outside: the simulator saw no request at all, no task was created, the
database holds no new job and the ledger total did not move.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import sqlite3
import struct
import wave
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from bot.jobs.states import JobState
from tests.e2e.conftest import World, png_bytes
from tests.emulator.interaction_builder import InteractionRefused

MIB = 1024 * 1024
PROMPT = "a paper boat drifting down a rainy street"


# --- input files ------------------------------------------------------------------------------


def gif_bytes(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 90)).save(out, format="GIF")
    return out.getvalue()


def wav_bytes(seconds: float, *, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV of ``seconds`` of a quiet square wave, made with the stdlib."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(rate)
        frames = int(seconds * rate)
        writer.writeframes(bytes(120 if (i // 20) % 2 else 136 for i in range(frames)))
    return out.getvalue()


def ogg_bytes() -> bytes:
    """The start of an Ogg stream (capture pattern, version, header type): enough to sniff."""
    return b"OggS" + struct.pack("<BBQ", 0, 2, 0) + b"\x00" * 64


@dataclass(frozen=True)
class File:
    """A file a member attaches. ``declared_size`` overrides the size Discord reports."""

    name: str
    data: bytes
    content_type: str | None = None
    declared_size: int | None = None


GOOD_FRAME = File("frame.png", png_bytes(640, 480), "image/png")
GOOD_I2I = File("photo.png", png_bytes(512, 512, colour=(200, 180, 40)), "image/png")
GOOD_WAV = File("song.wav", wav_bytes(5.0), "audio/wav")
TRUNCATED_PNG = png_bytes(640, 480, colour=(90, 10, 10))
TRUNCATED_PNG = TRUNCATED_PNG[: len(TRUNCATED_PNG) // 2]


@dataclass(frozen=True)
class BadInput:
    id: str
    command: str
    options: dict[str, Any]
    expect: tuple[str, ...]  # phrases the refusal must contain, what to change included
    files: dict[str, File] = field(default_factory=dict)
    channel: str = "general"
    # True: a Discord client would not let the member send this; sent as a modified client.
    client_blocks: bool = False


def flash(
    expect: tuple[str, ...], *, image: File = GOOD_FRAME, case_id: str, **options: Any
) -> BadInput:
    return BadInput(
        case_id, "wan-i2v-flash", {"prompt": PROMPT, **options}, expect, files={"image": image}
    )


def i2v(
    expect: tuple[str, ...],
    *,
    case_id: str,
    image: File = GOOD_FRAME,
    audio_file: File | None = None,
    last_frame: File | None = None,
    **options: Any,
) -> BadInput:
    files = {"image": image}
    if audio_file is not None:
        files["audio_file"] = audio_file
    if last_frame is not None:
        files["last_frame"] = last_frame
    return BadInput(case_id, "wan-i2v", {"prompt": PROMPT, **options}, expect, files=files)


def i2i(
    expect: tuple[str, ...], *, case_id: str, image: File = GOOD_I2I, **options: Any
) -> BadInput:
    return BadInput(
        case_id, "wan-i2i", {"prompt": "make it autumn", **options}, expect, files={"image": image}
    )


SMALL = png_bytes(200, 200)
CASES: list[BadInput] = [
    # Files that are not images of an accepted format.
    flash(
        ("notes.txt isn't an image (text/plain)", "Attach a JPEG, PNG, BMP or WEBP picture"),
        image=File("notes.txt", b"just some words\n", "text/plain"),
        case_id="image-is-txt",
    ),
    flash(
        (
            "anim.gif is a GIF file",
            "the models take JPEG, PNG, BMP or WEBP images",
            "Convert it to JPEG or PNG",
        ),
        image=File("anim.gif", gif_bytes(), "image/gif"),
        case_id="image-is-gif",
    ),
    flash(
        ("holiday.png is a GIF file", "Convert it to JPEG or PNG"),
        image=File("holiday.png", gif_bytes(), "image/png"),
        case_id="gif-named-png",
    ),
    flash(
        ("broken.png looks damaged or incomplete", "export it again"),
        image=File("broken.png", TRUNCATED_PNG, "image/png"),
        case_id="truncated-png",
    ),
    # Too small for the model.
    flash(
        (
            "tiny.png is 200×200 pixels",
            "needs at least 360 pixels on each side",
            "Use a larger image",
        ),
        image=File("tiny.png", SMALL, "image/png"),
        case_id="i2v-flash-200px",
    ),
    i2v(
        ("tiny.png is 200×200 pixels", "needs at least 360 pixels on each side"),
        image=File("tiny.png", SMALL, "image/png"),
        case_id="i2v-200px",
    ),
    i2v(
        ("end.png is 200×200 pixels", "needs at least 360 pixels on each side"),
        last_frame=File("end.png", SMALL, "image/png"),
        case_id="i2v-last-frame-200px",
    ),
    i2i(
        ("small.png is 300×300 pixels", "needs at least 384 pixels on each side"),
        image=File("small.png", png_bytes(300, 300), "image/png"),
        case_id="i2i-300px",
    ),
    # Over the input size cap, refused from Discord's metadata before downloading.
    flash(
        ("huge.png is 26 MB", "images may be at most 25 MB", "Attach a smaller file"),
        image=File("huge.png", png_bytes(640, 480), "image/png", declared_size=26 * MIB),
        case_id="image-over-25MiB",
    ),
    # Options a Discord client would refuse, sent as a modified client would.
    BadInput(
        "t2v-prompt-801-chars",
        "wan-t2v",
        {"prompt": "x" * 801},
        ("The prompt is too long: 801 characters; the limit is 800.",),
        client_blocks=True,
    ),
    BadInput(
        "t2v-seed-too-big",
        "wan-t2v",
        {"prompt": PROMPT, "seed": 2_147_483_648},
        ("The seed must be between 0 and 2147483647.",),
        client_blocks=True,
    ),
    BadInput(
        "t2v-seed-negative",
        "wan-t2v",
        {"prompt": PROMPT, "seed": -1},
        ("The seed must be between 0 and 2147483647.",),
        client_blocks=True,
    ),
    BadInput(
        "i2v-flash-seed-too-big",
        "wan-i2v-flash",
        {"prompt": PROMPT, "seed": 2**40},
        ("The seed must be between 0 and 2147483647.",),
        files={"image": GOOD_FRAME},
        client_blocks=True,
    ),
    # wan2.5-i2i-preview sizes.
    i2i(
        ("The size 100*100 has 10,000 pixels", "between 768*768 (589,824) and 1440*1440"),
        size="100*100",
        case_id="i2i-size-100x100",
    ),
    i2i(
        ("The size 3000*500 is too narrow", "within 1:4 and 4:1"),
        size="3000*500",
        case_id="i2i-size-3000x500",
    ),
    i2i(
        ("The size must be written as width*height, for example 1280*1280",),
        size="abc",
        case_id="i2i-size-abc",
    ),
    # Audio for wan2.6-i2v: wrong type, wrong length.
    i2v(
        ("voice.ogg is audio/ogg, not WAV or MP3 audio", "Convert it to WAV or MP3"),
        audio_file=File("voice.ogg", ogg_bytes(), "audio/ogg"),
        case_id="audio-ogg",
    ),
    i2v(
        (
            "voice.bin isn't WAV or MP3 (it looks like an Ogg (Opus or Vorbis) file)",
            "Convert it to WAV or MP3",
        ),
        audio_file=File("voice.bin", ogg_bytes(), "application/octet-stream"),
        case_id="audio-ogg-bytes-sent-as-octet-stream",
    ),
    i2v(
        ("lyrics.txt is text/plain, not WAV or MP3 audio",),
        audio_file=File("lyrics.txt", b"la la la\n", "text/plain"),
        case_id="audio-text",
    ),
    i2v(
        ("short.wav is 1.0 s long; audio must be 3 to 30 seconds", "Trim or replace it"),
        audio_file=File("short.wav", wav_bytes(1.0), "audio/wav"),
        case_id="audio-1s-wav",
    ),
    i2v(
        ("long.wav is 40.0 s long; audio must be 3 to 30 seconds", "Trim or replace it"),
        audio_file=File("long.wav", wav_bytes(40.0), "audio/wav"),
        case_id="audio-40s-wav",
    ),
    # Options that contradict each other.
    i2v(
        (
            "Shot type 'multi' only works with prompt extend on: turn prompt extend on, or "
            "choose 'single'.",
        ),
        shot_type="multi",
        prompt_extend=False,
        case_id="multi-shot-without-prompt-extend",
    ),
    i2v(
        ("An audio file was given but audio is off: remove the file, or turn audio on.",),
        audio=False,
        audio_file=GOOD_WAV,
        case_id="audio-off-with-audio-file",
    ),
    # The safety filter stays on outside age-restricted channels.
    flash(
        (
            "The safety filter can only be turned off in an age-restricted channel.",
            "Leave it on, or use an age-restricted channel.",
        ),
        safety_filter=False,
        case_id="i2v-flash-safety-off-in-general",
    ),
    i2i(
        ("The safety filter can only be turned off in an age-restricted channel.",),
        safety_filter=False,
        case_id="i2i-safety-off-in-general",
    ),
]


# --- helpers ----------------------------------------------------------------------------------


def attach(world: World, file: File) -> dict[str, Any]:
    attachment = world.discord.cdn.add(file.name, file.data, file.content_type)
    if file.declared_size is not None:
        attachment = {**attachment, "size": file.declared_size}
    return attachment


@dataclass(frozen=True)
class Snapshot:
    sim_requests: int
    sim_tasks: int
    jobs: int
    ledger_total: Decimal


async def snapshot(world: World) -> Snapshot:
    with contextlib.closing(
        sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True, timeout=10)
    ) as db:
        (jobs,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
    total = await world.ledger_total()
    return Snapshot(len(world.sim.state.requests), len(world.sim.state.tasks), jobs, total)


def decoded_image(data_uri: str) -> Image.Image:
    header, _, payload = data_uri.partition(",")
    assert header.startswith("data:image/"), header
    assert header.endswith(";base64"), header
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return image


async def queued(
    world: World,
    user: str,
    channel: str,
    command: str,
    options: dict[str, Any],
    files: dict[str, File],
) -> tuple[int, str]:
    """Run a command that must be accepted; the job id and the member's ephemeral reply."""
    itx = await world.discord.slash(
        user, channel, command, options, attachments={k: attach(world, f) for k, f in files.items()}
    )
    reply = await itx.wait_original(lambda m: not m.loading, timeout=15)
    assert reply.ephemeral
    match = re.search(r"Queued as job #(\d+)", reply.content)
    assert match, reply.content
    return int(match.group(1)), reply.content


async def create_body(world: World, job_id: int) -> dict[str, Any]:
    """The body of the create request the provider accepted for ``job_id``."""
    job = await world.wait_job(
        job_id,
        JobState.RUNNING,
        JobState.SUCCEEDED,
        JobState.DELIVERING,
        JobState.DELIVERED,
        within=20,
    )
    [create] = [r for r in world.creates() if r.task_id == job.task_id]
    assert create.status == 202
    return dict(create.body)


# --- the table --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_is_refused_privately_with_nothing_sent_or_charged(
    world: World, case: BadInput
) -> None:
    before = await snapshot(world)
    downloads_before = len(world.discord.cdn.downloads)
    attachments = {name: attach(world, file) for name, file in case.files.items()}
    if case.client_blocks:
        with pytest.raises(InteractionRefused):
            await world.discord.slash(
                "alice", case.channel, case.command, case.options, attachments=attachments
            )

    itx = await world.discord.slash(
        "alice",
        case.channel,
        case.command,
        case.options,
        attachments=attachments,
        validate=not case.client_blocks,
    )

    first = await itx.response(timeout=3)
    assert first.type == 5  # deferred at once, "thinking"…
    assert first.data["flags"] & 64  # …privately
    reply = await itx.wait_original(lambda m: not m.loading, timeout=15)
    assert reply.ephemeral
    for phrase in case.expect:
        assert phrase in reply.content, reply.content
    assert "Queued" not in reply.content
    assert "Something went wrong" not in reply.content
    assert reply.embeds == []
    assert reply.components == []
    assert reply.attachments == []
    # Nothing left the bot, nothing was stored or charged.
    assert await snapshot(world) == before
    if any(f.declared_size for f in case.files.values()):
        assert len(world.discord.cdn.downloads) == downloads_before  # refused before fetching


async def test_discord_schema_caps_i2i_at_three_images(world: World) -> None:
    """A fourth image can't even be expressed: the command has three attachment options."""
    command = world.discord.command("wan-i2i")
    attachment_options = [o["name"] for o in command["options"] if o["type"] == 11]
    assert attachment_options == ["image", "image2", "image3"]
    assert [o["required"] for o in command["options"] if o["type"] == 11] == [True, False, False]
    before = await snapshot(world)
    four = {name: attach(world, GOOD_I2I) for name in ("image", "image2", "image3", "image4")}
    with pytest.raises(InteractionRefused, match="unknown option"):
        await world.discord.slash(
            "alice", "general", "wan-i2i", {"prompt": "merge"}, attachments=four, validate=False
        )
    assert await snapshot(world) == before


# --- allowed, or repaired ---------------------------------------------------------------------


async def test_safety_filter_off_is_allowed_in_an_age_restricted_channel(world: World) -> None:
    """Also the control for the table: an accepted command does move every counter checked."""
    before = await snapshot(world)
    job_id, reply = await queued(
        world,
        "bob",
        "nsfw-art",
        "wan-i2v-flash",
        {"prompt": PROMPT, "safety_filter": False},
        {"image": GOOD_FRAME},
    )
    body = await create_body(world, job_id)
    assert body["safety_filter"] is False
    assert base64.b64decode(body["image"].partition(",")[2]) == GOOD_FRAME.data  # as attached
    assert "•" not in reply  # nothing was repaired
    await world.wait_job(job_id, JobState.DELIVERED)
    after = await snapshot(world)
    assert after.jobs == before.jobs + 1
    assert after.sim_tasks == before.sim_tasks + 1
    assert after.sim_requests > before.sim_requests
    assert after.ledger_total > before.ledger_total


async def test_transparent_png_is_flattened_and_the_member_is_told(world: World) -> None:
    rgba = png_bytes(640, 480, colour=(200, 30, 30, 128), mode="RGBA")
    job_id, reply = await queued(
        world,
        "alice",
        "general",
        "wan-i2v-flash",
        {"prompt": PROMPT, "seed": 5},
        {"image": File("sticker.png", rgba, "image/png")},
    )
    assert (
        "• sticker.png: Flattened the transparent background onto white (the model does "
        "not accept transparency)."
    ) in reply
    body = await create_body(world, job_id)
    upstream = decoded_image(body["image"])
    assert upstream.mode == "RGB"
    assert upstream.size == (640, 480)
    # Half-transparent red over white: the background the member saw, not black.
    assert upstream.getpixel((10, 10)) == pytest.approx((227, 142, 142), abs=2)
    await world.wait_job(job_id, JobState.DELIVERED)


async def test_oversized_image_is_scaled_down_and_the_member_is_told(world: World) -> None:
    big = png_bytes(3000, 1500, colour=(30, 160, 220))
    job_id, reply = await queued(
        world,
        "bob",
        "general",
        "wan-i2v-flash",
        {"prompt": PROMPT},
        {"image": File("panorama.png", big, "image/png")},
    )
    assert (
        "• panorama.png: Scaled down from 3000×1500 to 2000×1000 to fit the 2000-pixel limit."
    ) in reply
    body = await create_body(world, job_id)
    upstream = decoded_image(body["image"])
    assert upstream.size == (2000, 1000)
    assert upstream.getpixel((1000, 500))[:3] == (30, 160, 220)
    await world.wait_job(job_id, JobState.DELIVERED)
