"""Bad prompts end to end: blank text is refused in the member's ephemeral reply with nothing
sent or charged; invisible and reordering characters are cleaned out of what reaches the
provider; an over-long prompt is refused naming the limit (see bot/prompts.py).

Runs against the real bot process (``conftest.py``); "nothing happened" is checked from the
outside, as in ``test_bad_inputs.py``: no request at the simulator, no job, no ledger movement.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import World
from tests.e2e.test_bad_inputs import GOOD_FRAME, attach, create_body, queued, snapshot


async def refused(world: World, command: str, options: dict[str, Any], **files: Any) -> str:
    """Run a command that must be refused; its private reply, after checking nothing moved."""
    before = await snapshot(world)
    itx = await world.discord.slash(
        "alice",
        "general",
        command,
        options,
        attachments={name: attach(world, file) for name, file in files.items()},
        validate=False,  # as a modified client would send it
    )
    reply = await itx.wait_original(lambda m: not m.loading, timeout=15)
    assert reply.ephemeral
    assert "Queued" not in reply.content
    assert reply.embeds == []
    assert reply.components == []
    assert await snapshot(world) == before
    return reply.content


@pytest.mark.parametrize(
    "prompt",
    ["\u00a0\u3000\u00a0", "\u200b\u200b\u200b", " \u202e\u202c ", "\u3164\u2800"],
    ids=["nbsp-ideographic", "zero-width", "bidi-only", "blank-looking"],
)
async def test_a_blank_prompt_is_refused_privately_with_nothing_sent(
    world: World, prompt: str
) -> None:
    reply = await refused(world, "wan-t2v", {"prompt": prompt})
    assert "The prompt is empty: describe what to generate." in reply


async def test_ten_thousand_emoji_are_refused_naming_the_limit(world: World) -> None:
    reply = await refused(
        world, "wan-i2v-flash", {"prompt": "\U0001f525" * 10_000}, image=GOOD_FRAME
    )
    assert "The prompt is too long: 10000 characters; the limit is 800." in reply
    assert "Each emoji counts as one character or more." in reply


async def test_a_blank_negative_prompt_is_left_out(world: World) -> None:
    job_id, _ = await queued(
        world,
        "bob",
        "general",
        "wan-t2v",
        {"prompt": "a paper boat", "negative_prompt": "\u00a0\u200b"},
        {},
    )
    body = await create_body(world, job_id)
    assert body["prompt"] == "a paper boat"
    assert "negative_prompt" not in body


async def test_bidi_overrides_and_controls_are_cleaned_before_the_provider(world: World) -> None:
    prompt = "\u202etaob repap a\u202c drifting\x07 down a ra\u200biny street\n\n\n\nslowly"
    job_id, _ = await queued(world, "alice", "general", "wan-t2v", {"prompt": prompt}, {})
    body = await create_body(world, job_id)
    assert body["prompt"] == "taob repap a drifting down a rainy street\n\nslowly"
    job = await world.job(job_id)
    assert job.request["prompt"] == body["prompt"]  # what the status message and Retry show
