"""Only a few orders at a time hold members' images between download and submission."""

from __future__ import annotations

import asyncio
import io
from contextlib import AsyncExitStack
from pathlib import Path
from types import SimpleNamespace

import bot.discord_ui.generation as generation
from bot.discord_ui.generation import MAX_ORDERS_HOLDING_INPUTS, GenerationOrder
from bot.jobs.inputs import InputFiles, InputStash
from bot.media import MAX_CONCURRENT_DECODES
from bot.media.images import PreparedImage
from bot.orders import InputImage, PreparedInput


def with_image(i: int) -> GenerationOrder:
    return GenerationOrder(
        "wan2.5-i2i-preview", {"prompt": "p"}, images={"images": [InputImage(f"{i}", b"x")]}
    )


def test_the_bound_keeps_the_decode_pool_fed_and_no_more() -> None:
    assert MAX_CONCURRENT_DECODES < MAX_ORDERS_HOLDING_INPUTS <= 4 * MAX_CONCURRENT_DECODES


async def test_an_order_past_the_bound_waits_for_one_to_be_stored() -> None:
    async with AsyncExitStack() as held:
        for i in range(MAX_ORDERS_HOLDING_INPUTS):
            await held.enter_async_context(generation._holding_inputs(with_image(i)))
        entered = asyncio.Event()

        async def next_order() -> None:
            async with generation._holding_inputs(with_image(99)):
                entered.set()

        waiting = asyncio.create_task(next_order())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not entered.is_set()
        # An order without images needs no slot.
        async with generation._holding_inputs(GenerationOrder("wan2.2-t2v-plus", {})):
            pass
        assert not entered.is_set()
    await asyncio.wait_for(waiting, 1.0)
    assert entered.is_set()


async def test_a_refused_order_gives_its_slot_back() -> None:
    for _ in range(MAX_ORDERS_HOLDING_INPUTS + 1):
        try:
            async with generation._holding_inputs(with_image(0)):
                raise ValueError("refused")
        except ValueError:
            pass
    async with AsyncExitStack() as held:
        for i in range(MAX_ORDERS_HOLDING_INPUTS):
            await asyncio.wait_for(
                held.enter_async_context(generation._holding_inputs(with_image(i))), 1.0
            )


def test_status_previews_stream_the_stored_copies_not_the_images_in_memory(
    tmp_path: Path,
) -> None:
    """Once the job is stored the order gives its images up: the status message's attachments
    are the stored files, open (they may be deleted once the provider accepts the task), and a
    copy that is already gone is attached from memory instead."""
    files = InputFiles(tmp_path)
    first, second = b"\x89PNG first", b"\x89PNG second"
    sha = files.put(first)
    bot = SimpleNamespace(engine=SimpleNamespace(inputs=InputStash(files, store=None)))
    prepared = [
        PreparedInput(
            "images",
            position,
            InputImage(f"{position}", raw),
            PreparedImage(raw, "image/png", 1, 1),
        )
        for position, raw in enumerate((first, second))
    ]
    job = SimpleNamespace(request={"images": [f"input:{sha}", "input:" + "f" * 64]})
    previews = generation._preview_files(bot, job, prepared)
    files.delete(sha)  # accepted upstream meanwhile: the open file still reads
    try:
        assert [p.filename for p in previews] == ["input-images-1.png", "input-images-2.png"]
        assert isinstance(previews[0].fp, io.BufferedReader)
        assert previews[0].fp.read() == first
        assert previews[1].fp.read() == second  # gone from disk: from memory
    finally:
        for preview in previews:
            preview.fp.close()
