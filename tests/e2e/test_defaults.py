"""Per-server defaults end to end (issue #15): ``/wanbot defaults``, what an omitted option
takes, the cheaper built-in defaults, and a dearer choice priced and confirmed before anything
is reserved or sent.

One bot process for the module; each test puts the server's defaults back as it found them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest_asyncio

from tests.e2e.conftest import World, ephemeral_text, png_bytes, reply_of
from tests.emulator.messages import StoredMessage

T2V = "wan2.2-t2v-plus"


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def no_defaults(world: World) -> AsyncIterator[None]:
    yield
    for option in ("size", "prompt_extend"):
        await staff(world, {"model": T2V, "option": option})


async def staff(world: World, options: dict[str, Any]) -> str:
    return await ephemeral_text(world, "staff", "general", "wanbot defaults", options)


def defaults_line(answer: str) -> str:
    (line,) = [entry for entry in answer.splitlines() if entry.startswith("**Defaults:**")]
    return line


async def queued(world: World, user: str, options: dict[str, Any]) -> tuple[int, str]:
    itx = await world.discord.slash(user, "general", "wan-t2v", options)
    reply = await reply_of(itx, within=15)
    match = re.match(r"Queued as job #(\d+): estimated (\$\d+\.\d+)", reply.content)
    assert match, reply.content
    return int(match.group(1)), match.group(2)


async def test_an_omitted_size_is_the_cheap_tier_and_what_is_sent_says_so(world: World) -> None:
    job_id, cost = await queued(world, "alice", {"prompt": "a fox in the snow"})
    assert cost == "$0.10"  # 832*480 (480P), not the $0.50 of 1920*1080
    job = await world.job(job_id)
    assert job.request["size"] == "832*480"
    assert job.estimated_cost == Decimal("0.10")
    await world.wait_job(job_id, *_past_create())
    (create,) = [r for r in world.creates() if r.body.get("prompt") == "a fox in the snow"]
    assert create.body["size"] == "832*480"


async def test_the_server_s_default_fills_an_omitted_option_at_the_cost_shown(
    world: World,
) -> None:
    answer = await staff(world, {"model": T2V, "option": "size", "value": "1920*1080"})
    assert answer.startswith(f"{T2V}: size is 1920*1080 when a member leaves it out.")
    assert defaults_line(answer) == f"**Defaults:** {T2V} size 1920*1080"
    shown = await ephemeral_text(world, "staff", "general", "wanbot show")
    assert defaults_line(shown) == f"**Defaults:** {T2V} size 1920*1080"
    # The server's own default costs what it costs: no question asked, the price is shown.
    job_id, cost = await queued(world, "bob", {"prompt": "a lighthouse at dusk"})
    assert cost == "$0.50"
    job = await world.job(job_id)
    assert (job.request["size"], job.estimated_cost) == ("1920*1080", Decimal("0.50"))
    # A member's own choice still wins, and a cheaper one is never asked about.
    job_id, cost = await queued(world, "bob", {"prompt": "a small boat", "size": "624*624"})
    assert cost == "$0.10"
    # Back to the bot's default.
    answer = await staff(world, {"model": T2V, "option": "size"})
    assert answer.startswith(f"{T2V}: size is back to the bot's default (832*480).")
    assert defaults_line(answer) == "**Defaults:** the bot's (cheapest size or resolution)"


async def test_a_default_the_model_would_refuse_is_refused_with_the_values_it_takes(
    world: World,
) -> None:
    answer = await staff(world, {"model": T2V, "option": "size", "value": "1*1"})
    assert answer.startswith("'1*1' isn't a size of wan2.2-t2v-plus: use one of 832*480, ")
    answer = await staff(world, {"model": T2V, "option": "n", "value": "2"})
    assert answer == "wan2.2-t2v-plus has no default for n; it has: size, prompt_extend."
    shown = await ephemeral_text(world, "staff", "general", "wanbot show")
    assert defaults_line(shown) == "**Defaults:** the bot's (cheapest size or resolution)"


async def test_a_dearer_choice_is_priced_and_asked_before_anything_is_spent(
    world: World,
) -> None:
    carol = world.discord.add_user("carol", roles=["member"])
    creates, prompt = len(world.creates()), "a city at night, 1080p"
    itx = await world.discord.slash(
        carol, "general", "wan-t2v", {"prompt": prompt, "size": "1920*1080"}
    )
    question = await _question(itx)
    assert question.content == (
        "These settings are estimated at **$0.50**; this server's default settings for "
        f"{T2V} (size 832*480, prompt extend on) cost $0.10. Generate anyway?"
    )
    assert [b["label"] for b in question.buttons] == ["Generate for $0.50", "Cancel"]
    assert len(world.creates()) == creates  # nothing sent, nothing stored yet
    go = next(b["custom_id"] for b in question.buttons if b["label"].startswith("Generate"))
    click = await world.discord.click(carol, question, go)
    await click.response(timeout=10)
    reply = await itx.wait_original(lambda m: m.content.startswith("Queued"), timeout=15)
    match = re.match(r"Queued as job #(\d+): estimated \$0\.50\. Follow it here", reply.content)
    assert match, reply.content
    assert reply.buttons == []
    job = await world.job(int(match.group(1)))
    assert (job.request["size"], job.estimated_cost) == ("1920*1080", Decimal("0.50"))


async def test_declining_a_dearer_choice_starts_and_charges_nothing(world: World) -> None:
    dave = world.discord.add_user("dave", roles=["member"])
    creates, spent = len(world.creates()), await world.ledger_total()
    itx = await world.discord.slash(
        dave, "general", "wan-t2v", {"prompt": "a storm at sea", "size": "1440*1440"}
    )
    question = await _question(itx)
    stop = next(b["custom_id"] for b in question.buttons if b["label"] == "Cancel")
    click = await world.discord.click(dave, question, stop)
    await click.response(timeout=10)
    reply = await itx.wait_original(lambda m: m.content.startswith("Cancelled"), timeout=10)
    assert reply.content == (
        "Cancelled: nothing was started or charged. Leave the options out to use this "
        "server's defaults."
    )
    assert reply.buttons == []
    assert len(world.creates()) == creates
    assert await world.ledger_total() == spent


async def _question(itx: Any) -> StoredMessage:
    await itx.response(timeout=10)
    return await itx.wait_original(lambda m: bool(m.buttons), timeout=15)


def _past_create() -> tuple[Any, ...]:
    from bot.jobs.states import JobState

    return (JobState.RUNNING, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)


async def test_a_safety_filter_default_of_off_applies_only_where_it_may_be_off(
    world: World,
) -> None:
    answer = await staff(
        world, {"model": "wan2.5-i2i-preview", "option": "safety_filter", "value": "off"}
    )
    assert answer.startswith("wan2.5-i2i-preview: safety filter is off when a member leaves")
    try:
        image = {"image": ("p.png", png_bytes(512, 512))}
        ids = {}
        for channel in ("nsfw-art", "general"):
            itx = await world.discord.slash(
                "alice", channel, "wan-i2i", {"prompt": f"an edit in {channel}"}, attachments=image
            )
            reply = await reply_of(itx, within=15)
            match = re.match(r"Queued as job #(\d+)", reply.content)
            assert match, reply.content  # never a refusal for an option the member left out
            ids[channel] = int(match.group(1))
        assert (await world.job(ids["nsfw-art"])).request["safety_filter"] is False
        assert (await world.job(ids["general"])).request["safety_filter"] is True
    finally:
        await staff(world, {"model": "wan2.5-i2i-preview", "option": "safety_filter"})
