"""A status message never stays on a state the job already left (issue #10).

The engine tells the deliverer about every change, but only a job whose status message id is
stored has a message to edit. When the provider refuses the create before the status message is
posted and its id stored (here: the account is out of balance, and Discord answers the status
post with a 502, which discord.py retries a second later, while the failure notice goes out),
the message must still end up showing the failure, not "Queued".
"""

from __future__ import annotations

from bot.jobs.states import JobState
from tests.e2e.conftest import World
from tests.e2e.test_buttons import CHANNEL, field_value, footer, queued_job


async def test_a_create_refused_before_the_status_is_stored_still_shows_failed(
    world: World,
) -> None:
    world.sim.state.patch_config({"balance": "0"})  # every create answers 402 at once
    world.discord.rules.inject_5xx("POST /channels/*/messages", n=1, status=502)
    try:
        itx = await world.discord.slash("bob", CHANNEL, "wan-t2v", {"prompt": "an empty till"})
        job_id = await queued_job(itx)
        job = await world.wait_job(job_id, JobState.FAILED)
    finally:
        world.sim.state.patch_config({"balance": None})
    assert job.error_code == "InsufficientBalance"
    await world.discord.wait_for_message(CHANNEL, footer(job_id, "notice"), timeout=15)
    status = await world.discord.wait_for_message(CHANNEL, footer(job_id, "status"), timeout=15)
    first = status.history[0] if status.history else status.data
    assert any(f["value"] == "⏳ Starting" for e in first["embeds"] for f in e.get("fields", []))

    status = await world.discord.wait_for_message(
        CHANNEL, lambda m: m.id == status.id and field_value(m, "State") == "❌ Failed", timeout=15
    )

    assert status.custom_ids == []  # no Cancel on a job that ended
    assert (await world.job(job_id)).status_message_id == status.id
