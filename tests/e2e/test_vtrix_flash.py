"""End-to-end: /wan-i2v-flash served by Vtrix (``WAN_I2V_FLASH_PROVIDER=vtrix``).

Vtrix takes a nested body (``input`` / ``parameters``) at ``POST /model/v1/generation``, has
no ``template`` or ``safety_filter`` (the bot refuses them before anything is sent), and
reports the billed cost, which the result shows instead of the estimate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.config import ProviderName
from bot.pricing import format_usd
from tests.e2e.conftest import World, png_bytes
from tests.e2e.test_generation_commands import (
    SAMPLE_MP4,
    decode_data_uri,
    fields_of,
    jpeg_bytes,
    run,
)

BOT_ENV = {"WAN_I2V_FLASH_PROVIDER": "vtrix"}


@pytest.mark.parametrize(
    ("options", "image", "inputs", "parameters", "settings", "billed"),
    [
        pytest.param(
            {"prompt": "the flag waves in the wind"},
            png_bytes(640, 640),
            {"prompt": "the flag waves in the wind"},
            {"resolution": "480P", "duration": 5, "prompt_extend": True, "watermark": False},
            "resolution: 480P\nduration: 5\nprompt extend: on\nwatermark: off",
            Decimal("0.07"),  # 480P, the bot's default
            id="defaults",
        ),
        pytest.param(
            {
                "prompt": "leaves fall",
                "negative_prompt": "snow",
                "resolution": "480P",
                "prompt_extend": False,
                "seed": 321,
            },
            jpeg_bytes(720, 960),
            {"prompt": "leaves fall", "negative_prompt": "snow"},
            {
                "resolution": "480P",
                "duration": 5,
                "prompt_extend": False,
                "watermark": False,
                "seed": 321,
            },
            "resolution: 480P\nduration: 5\nprompt extend: off\nwatermark: off\nseed: 321",
            Decimal("0.07"),
            id="choices",
        ),
    ],
)
async def test_vtrix_flash_runs_end_to_end(
    world: World,
    options: dict[str, Any],
    image: bytes,
    inputs: dict[str, Any],
    parameters: dict[str, Any],
    settings: str,
    billed: Decimal,
) -> None:
    kind = "image/jpeg" if image.startswith(b"\xff\xd8") else "image/png"
    attachment = world.discord.cdn.add(f"frame.{kind.split('/')[1]}", image, kind)
    job, status, result, create = await run(
        world, "alice", "wan-i2v-flash", options, attachments={"image": attachment}
    )

    assert job.provider == ProviderName.VTRIX
    assert create.provider == ProviderName.VTRIX
    assert create.path == "/model/v1/generation"
    body = {**create.body, "input": dict(create.body["input"])}
    assert decode_data_uri(body["input"].pop("img_url")) == (kind, image)  # byte for byte
    assert body == {"model": "wan22_i2v_flash", "input": inputs, "parameters": parameters}

    task = world.sim.state.tasks[job.task_id]
    assert task.cost == billed
    assert job.billed_cost == task.cost
    cost = f"{format_usd(task.cost)} (billed)"
    assert cost == f"${billed:.2f} (billed)"
    [video] = result.attachments
    assert world.discord.attachment_bytes(video) == SAMPLE_MP4
    assert result.embeds[0]["title"] == "Wan 2.2 image to video (Flash, via Vtrix)"
    assert fields_of(result) == {
        "Settings": settings,
        "Seed": str(options.get("seed", "random")),
        "Duration": "5 s",
        "Cost": cost,
    }
    assert fields_of(status)["Cost"] == cost
    # Nothing went to MuleRouter in this module.
    assert all(r.provider is ProviderName.VTRIX for r in world.creates())


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("template", "solaron", "template"),
        ("safety_filter", True, "safety filter"),
        ("safety_filter", False, "safety filter"),
    ],
)
async def test_vtrix_refuses_options_it_does_not_have(
    world: World, option: str, value: Any, named: str
) -> None:
    general = world.discord.guild.channels["general"]
    creates_before = len(world.creates())
    requests_before = len(world.sim.state.requests)
    public_before = len(world.discord.messages(general, include_ephemeral=False))
    attachment = world.discord.cdn.add("frame.png", png_bytes(640, 640), "image/png")
    itx = await world.discord.slash(
        "bob",
        "general",
        "wan-i2v-flash",
        {"prompt": "a spinning top", option: value},
        attachments={"image": attachment},
    )

    response = await itx.response(timeout=3)
    assert response.type == 5
    assert response.data["flags"] & 64
    refusal = await itx.wait_original(timeout=10)
    assert refusal.ephemeral
    assert refusal.content == (
        f"{named} can't be used here: this server runs wan2.2-i2v-flash on vtrix, which has "
        "no such option. Leave it out."
    )
    assert refusal.embeds == []
    assert len(world.creates()) == creates_before
    assert len(world.sim.state.requests) == requests_before  # nothing upstream at all
    assert len(world.discord.messages(general, include_ephemeral=False)) == public_before
