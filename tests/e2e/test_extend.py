"""Extend on video results, end to end: the Extend button opens a prompt modal; the member sees
the estimate of each image-to-video model on here before anything is downloaded, reserved or
sent; on their choice a new job starts whose first frame is the last frame of the result MP4
(decoded here on its own with PyAV, and compared pixel for pixel), whose status message replies
to the extended result (and its result to that status), and which Retry runs again from the
same frame. The server's rules and budgets are the clicker's, not the original requester's.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import av
import pytest_asyncio
from PIL import Image

import bot.simulator
from bot.jobs.states import JobState
from tests.e2e.conftest import World, ephemeral_text, reply_of
from tests.e2e.test_animate_modal import children
from tests.e2e.test_buttons import (
    MODAL,
    create_body,
    footer,
    generate,
    image_of,
    queued_job,
    result_of,
    text_input_id,
)
from tests.emulator.messages import StoredMessage, walk_components

CHANNEL = "general"
SAMPLE = (Path(bot.simulator.__file__).parent / "assets" / "sample.mp4").read_bytes()
I2V, FLASH = "wan2.6-i2v", "wan2.2-i2v-flash"
# At this server's defaults: wan2.6-i2v 720P 5 s, wan2.2-i2v-flash 480P (as /help prices them).
I2V_BUTTON = f"Extend with {I2V} — $0.50"
FLASH_BUTTON = f"Extend with {FLASH} — $0.07"


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def plain_server(world: World) -> AsyncIterator[None]:
    """After each test: the server's settings this module changes, back to their defaults."""
    yield
    await staff(world, "member-budget", {"member": "bob", "daily": "none"})
    await staff(world, "roles", {"action": "clear"})
    await staff(world, "blocklist", {"action": "clear"})
    await staff(world, "audit-channel", {})
    for model in (I2V, FLASH):
        await staff(world, "model", {"model": model, "enabled": True})


async def staff(world: World, subcommand: str, options: dict[str, Any]) -> str:
    return await ephemeral_text(world, "staff", CHANNEL, f"wanbot {subcommand}", options)


# --- helpers ----------------------------------------------------------------------------------


def every_frame(mp4: bytes) -> list[Image.Image]:
    """Every frame of ``mp4`` in presentation order, decoded plainly from the first packet (not
    the bot's way: it decodes only the last group of pictures)."""
    with av.open(io.BytesIO(mp4)) as container:
        frames = sorted(container.decode(video=0), key=lambda frame: frame.pts)
        return [frame.to_image() for frame in frames]


def as_input(frame: Image.Image) -> bytes:
    """A 320×180 frame as an i2v input must be: 360 pixels on the short side. The bot scales
    with the same Pillow Lanczos filter, so the pixels compare exactly (no tolerance)."""
    return frame.resize((640, 360), Image.Resampling.LANCZOS).tobytes()


def rgb(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        assert img.size == (640, 360)
        return img.convert("RGB").tobytes()


async def video_result(world: World, user: str, prompt: str) -> tuple[int, StoredMessage]:
    job_id, _ = await generate(world, user, "wan-t2v", {"prompt": prompt})
    result = await result_of(world, job_id)
    assert f"wan:extend:{job_id}" in result.custom_ids
    return job_id, result


async def open_extend(world: World, user: str, result: StoredMessage, job_id: int) -> Any:
    """``user`` clicks Extend; the click, answered with the prompt modal."""
    click = await world.discord.click(user, result, f"wan:extend:{job_id}")
    response = await click.response()
    assert response.type == MODAL, response
    assert response.data["title"] == "Extend this video"
    return click


async def prefilled(click: Any) -> str:
    modal = (await click.response()).data
    [field] = [c for c in walk_components(modal["components"]) if c.get("type") == 4]
    return str(field.get("value", ""))


async def submit(world: World, user: str, click: Any, prompt: str) -> Any:
    modal = (await click.response()).data
    return await world.discord.submit_modal(user, click, {text_input_id(modal): prompt})


async def offered(itx: Any) -> StoredMessage:
    """The member's private answer once it shows the choice (or a refusal)."""
    reply = await itx.wait_original(
        lambda m: not m.loading and (m.buttons or "Queued" not in m.content), timeout=20
    )
    assert reply.ephemeral
    return reply


async def choose(world: World, user: str, itx: Any, label: str) -> None:
    reply = await offered(itx)
    [button] = [b for b in reply.buttons if b.get("label") == label]
    click = await world.discord.click(user, reply, button["custom_id"])
    await click.response(timeout=10)
    await itx.wait_original(  # "Starting…", then the outcome
        lambda m: not m.buttons and not m.content.startswith("Starting"), timeout=20
    )


async def extend(world: World, user: str, result: StoredMessage, job_id: int, label: str) -> int:
    """``user`` extends ``job_id`` with the model of button ``label``; the new job's id."""
    itx = await submit(world, user, await open_extend(world, user, result, job_id), "it goes on")
    await choose(world, user, itx, label)
    return await queued_job(itx)


# --- tests ------------------------------------------------------------------------------------


async def test_extend_starts_i2v_from_the_results_last_frame_as_a_reply_to_it(
    world: World,
) -> None:
    job_id, result = await video_result(world, "alice", "a paper boat on a stream")
    [video] = result.attachments
    mp4 = world.discord.attachment_bytes(video)
    assert mp4 == SAMPLE  # the real H.264 file, as posted
    total, creates = await world.ledger_total(), len(world.creates())

    click = await open_extend(world, "alice", result, job_id)
    assert await prefilled(click) == "a paper boat on a stream"
    itx = await submit(world, "alice", click, "the boat drifts under a stone bridge")
    reply = await offered(itx)

    # The estimates come first: nothing reserved, sent or stored until the member chooses.
    assert [b["label"] for b in reply.buttons] == [I2V_BUTTON, FLASH_BUTTON, "Cancel"]
    assert reply.content.splitlines() == [
        f"Extend job #{job_id} from its last frame (at 1.9 s, 320×180, sent as 640×360) with "
        "this server's default settings:",
        f"• **{I2V}**: estimated $0.50",
        f"• **{FLASH}**: estimated $0.07",
        "Nothing is charged until you choose.",
    ]
    assert await world.ledger_total() == total
    assert len(world.creates()) == creates
    assert children(world, job_id) == []

    await choose(world, "alice", itx, I2V_BUTTON)
    new_id = await queued_job(itx)

    new = await world.job(new_id)
    assert (new.model_id, new.parent_job_id, new.user_id) == (
        I2V,
        job_id,
        world.discord.guild.users["alice"].id,
    )
    assert new.estimated_cost == Decimal("0.50")
    body = await create_body(world, new_id)
    assert body["prompt"] == "the boat drifts under a stone bridge"
    frames = every_frame(mp4)
    sent = rgb(image_of(body))
    assert sent == as_input(frames[-1])
    assert all(sent != as_input(frame) for frame in frames[:-1])  # the last, no other

    # One thread: the new status replies to the extended result, its result to that status.
    status = await world.discord.wait_for_message(CHANNEL, footer(new_id, "status"), timeout=10)
    assert status.reply_to == result.id
    # A reply that pings no member (the emulator counts the bot, the author replied to).
    assert set(status.mentions) - {world.discord.bot_user.id} == set()
    new_result = await result_of(world, new_id)
    assert new_result.reply_to == status.id
    assert f"wan:extend:{new_id}" in new_result.custom_ids  # and it can be extended again


async def test_cancel_or_no_choice_starts_and_charges_nothing(world: World) -> None:
    job_id, result = await video_result(world, "bob", "a kite over the dunes")
    total, creates = await world.ledger_total(), len(world.creates())

    itx = await submit(world, "bob", await open_extend(world, "bob", result, job_id), "higher")
    await choose(world, "bob", itx, "Cancel")

    answer = await itx.wait_original(lambda m: not m.loading)
    assert answer.content == "Cancelled: nothing was started or charged."
    assert await world.ledger_total() == total
    assert len(world.creates()) == creates
    assert children(world, job_id) == []


async def test_the_clicker_pays_and_retry_of_the_extension_reuses_its_first_frame(
    world: World,
) -> None:
    job_id, result = await video_result(world, "alice", "lanterns on a river")
    await world.restart(kill=True)  # Extend is a persistent button like the others

    extension_id = await extend(world, "bob", result, job_id, FLASH_BUTTON)

    extension = await world.job(extension_id)
    assert extension.user_id == world.discord.guild.users["bob"].id  # not alice: bob clicked
    assert (extension.model_id, extension.parent_job_id) == (FLASH, job_id)
    frame = image_of(await create_body(world, extension_id))
    assert rgb(frame) == as_input(every_frame(SAMPLE)[-1])
    extended = await result_of(world, extension_id)
    # The frame is the job's input image: on its status message, and gone from the bot's disk
    # once the provider took it, so Retry must read it back from there.
    status = await world.discord.wait_for_message(CHANNEL, footer(extension_id, "status"))
    [attachment] = status.attachments
    assert attachment["filename"] == "input-image-1.png"
    sha = extension.request["image"].removeprefix("input:")
    assert not (world.folder / "media" / "inputs" / sha[:2] / sha).exists()
    downloads = len(world.discord.cdn.downloads)

    retry_id = await queued_job(
        await world.discord.click("bob", extended, f"wan:retry:{extension_id}")
    )

    assert any(
        path.endswith(f"/{attachment['id']}/input-image-1.png")
        for path in world.discord.cdn.downloads[downloads:]
    )
    retried = await create_body(world, retry_id)
    assert retried == await create_body(world, extension_id)
    assert image_of(retried) == frame
    assert (await world.job(retry_id)).parent_job_id == extension_id
    await result_of(world, retry_id)


async def test_a_clicker_over_their_budget_or_without_the_role_is_refused_privately(
    world: World,
) -> None:
    job_id, result = await video_result(world, "alice", "a train through snow")
    await staff(world, "member-budget", {"member": "bob", "daily": "0.05"})
    total, creates = await world.ledger_total(), len(world.creates())
    downloads = len(world.discord.cdn.downloads)

    itx = await submit(world, "bob", await open_extend(world, "bob", result, job_id), "faster")
    refusal = await offered(itx)

    assert refusal.buttons == []
    assert "of your $0.05 daily budget" in refusal.content
    assert len(world.discord.cdn.downloads) == downloads  # not even the video was fetched

    # Alice, who asked for the video, is within her budget: she is offered both.
    itx = await submit(world, "alice", await open_extend(world, "alice", result, job_id), "on")
    assert [b["label"] for b in (await offered(itx)).buttons] == [
        I2V_BUTTON,
        FLASH_BUTTON,
        "Cancel",
    ]
    await choose(world, "alice", itx, "Cancel")

    # Generation for the staff role only: the clicker's roles count, not the requester's.
    await staff(world, "roles", {"action": "add", "role": "staff"})
    itx = await submit(world, "bob", await open_extend(world, "bob", result, job_id), "on")
    refusal = await offered(itx)
    assert refusal.buttons == []
    assert refusal.content.startswith("Generation on this server is for members with one of")
    assert await world.ledger_total() == total
    assert len(world.creates()) == creates
    assert children(world, job_id) == []


async def test_only_the_models_on_here_are_offered(world: World) -> None:
    job_id, result = await video_result(world, "alice", "a slow sunrise")
    await staff(world, "model", {"model": FLASH, "enabled": False})
    itx = await submit(world, "alice", await open_extend(world, "alice", result, job_id), "on")
    assert [b["label"] for b in (await offered(itx)).buttons] == [I2V_BUTTON, "Cancel"]
    await choose(world, "alice", itx, "Cancel")

    await staff(world, "model", {"model": FLASH, "enabled": True})
    await staff(world, "model", {"model": I2V, "enabled": False})
    itx = await submit(world, "alice", await open_extend(world, "alice", result, job_id), "on")
    assert [b["label"] for b in (await offered(itx)).buttons] == [FLASH_BUTTON, "Cancel"]
    await choose(world, "alice", itx, "Cancel")

    await staff(world, "model", {"model": FLASH, "enabled": False})
    itx = await submit(world, "alice", await open_extend(world, "alice", result, job_id), "on")
    refusal = await offered(itx)
    assert refusal.buttons == []
    assert refusal.content == f"{I2V} is turned off on this server. Try another model."
    assert children(world, job_id) == []
    assert (await world.job(job_id)).state is JobState.DELIVERED


async def test_extend_under_a_jobs_show_repost_reads_the_first_posted_file(world: World) -> None:
    job_id, result = await video_result(world, "alice", "rain on a tin roof")
    [video] = result.attachments
    shown = await reply_of(
        await world.discord.slash("alice", CHANNEL, "jobs show", {"job": job_id})
    )
    assert shown.attachments == []  # the repost has the embed and buttons, not the file
    assert f"wan:extend:{job_id}" in shown.custom_ids
    downloads = len(world.discord.cdn.downloads)

    extension_id = await extend(world, "alice", shown, job_id, FLASH_BUTTON)

    assert any(
        path.endswith(f"/{video['id']}/{video['filename']}")
        for path in world.discord.cdn.downloads[downloads:]
    )
    assert rgb(image_of(await create_body(world, extension_id))) == as_input(
        every_frame(SAMPLE)[-1]
    )
    status = await world.discord.wait_for_message(CHANNEL, footer(extension_id, "status"))
    assert status.reply_to == shown.id  # under the message that was clicked
    await result_of(world, extension_id)


async def test_a_model_over_the_clickers_budget_is_listed_with_why_and_the_other_offered(
    world: World,
) -> None:
    carol = world.discord.add_user("carol", roles=["member"])  # nothing spent yet
    await staff(world, "member-budget", {"member": "carol", "daily": "0.10"})
    job_id, result = await video_result(world, "alice", "a lighthouse beam at night")

    itx = await submit(world, "carol", await open_extend(world, "carol", result, job_id), "on")
    reply = await offered(itx)

    assert [b["label"] for b in reply.buttons] == [FLASH_BUTTON, "Cancel"]
    assert reply.content.splitlines()[1:] == [
        f"• **{FLASH}**: estimated $0.07",
        f"• {I2V}: This would cost about $0.50, and you have $0.10 left of your $0.10 daily "
        "budget. Try a cheaper setting or wait until tomorrow (UTC).",
        "Nothing is charged until you choose.",
    ]
    await choose(world, "carol", itx, FLASH_BUTTON)
    extension = await world.job(await queued_job(itx))
    assert (extension.user_id, extension.model_id) == (carol.id, FLASH)
    assert await world.ledger(extension.id) == [("reserve", Decimal("0.07"))]


async def test_a_blocked_prompt_is_refused_and_audited_once_not_per_model(world: World) -> None:
    await staff(world, "audit-channel", {"channel": "audit"})
    await staff(world, "blocklist", {"action": "add", "pattern": "dragon"})
    job_id, result = await video_result(world, "alice", "a quiet valley")
    audits = len(world.discord.messages("audit"))

    itx = await submit(
        world, "bob", await open_extend(world, "bob", result, job_id), "a dragon lands"
    )
    refusal = await offered(itx)

    assert refusal.buttons == []
    assert refusal.content == (
        "Your prompt contains a word or phrase this server doesn't allow. "
        "Rephrase it and try again."
    )
    posted = [m for m in world.discord.messages("audit")[audits:] if m.embeds]
    assert [m.embeds[0]["title"] for m in posted] == ["Refused by the blocklist"]
    assert children(world, job_id) == []
