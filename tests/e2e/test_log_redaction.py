"""The bot's log at DEBUG, end to end: after slash commands, button clicks and a modal, and a
restart, not one interaction token the emulator issued, nor the bot token or a provider key,
appears anywhere in what the bot process wrote.
"""

from __future__ import annotations

from bot.jobs.states import JobState
from bot.logging_setup import REDACTED
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY
from tests.e2e.conftest import World, png_bytes
from tests.e2e.test_buttons import (
    MODAL,
    generate,
    private_answer,
    queued_job,
    result_of,
    text_input_id,
)

BOT_ENV = {"WANBOT_LOG_LEVEL": "DEBUG"}


async def test_no_token_or_key_reaches_the_log_at_debug(world: World) -> None:
    # A command, a Retry click and an Animate click with its modal: each one an interaction
    # whose token discord.py puts in the URLs it calls.
    image = ("pond.png", png_bytes(512, 512, colour=(20, 140, 90)), "image/png")
    job_id, _ = await generate(world, "alice", "wan-i2i", {"prompt": "autumn"}, {"image": image})
    result = await result_of(world, job_id)

    retry = await world.discord.click("alice", result, f"wan:retry:{job_id}")
    assert "Queued as job" in await private_answer(retry)
    retry_id = await queued_job(retry)

    animate = await world.discord.click("alice", result, f"wan:animate:{job_id}:0")
    modal = await animate.response()
    assert modal.type == MODAL
    assert modal.data is not None
    submit = await world.discord.submit_modal(
        "alice", animate, {text_input_id(modal.data): "leaves falling"}
    )
    animate_id = await queued_job(submit)

    for made in (retry_id, animate_id):
        await world.wait_job(made, JobState.DELIVERED, within=60)
    jobs = await world.discord.slash("alice", "general", "jobs list", {})
    await jobs.response()
    # Shutdown and start-up write lines of their own.
    first = world.bot
    await world.restart(kill=False)

    tokens = list(world.discord.state.by_token)
    assert len(tokens) >= 5
    log = first.output + "\n" + world.bot.output
    # The lines that would have carried the tokens are there, redacted.
    assert f"/interactions/{retry.id}/{REDACTED}/callback" in log
    assert f"/webhooks/{world.discord.application_id}/{REDACTED}/messages/@original" in log
    secrets = {
        "bot token": world.discord.token,
        "MuleRouter key": DEFAULT_MULEROUTER_KEY,
        "Vtrix key": DEFAULT_VTRIX_KEY,
        **{f"interaction token {index}": token for index, token in enumerate(tokens)},
    }
    leaked = sorted(name for name, secret in secrets.items() if secret in log)
    assert leaked == []
