"""The status message says so while the provider refuses creates (issue #13).

When a create certainly did not reach the provider (it answered 503 on every try of the
client's first attempt), the job goes back to the queue for the engine's next attempt, 30 s
later in this unmodified bot. Until then the public status message must read "Provider
unavailable, retrying (attempt 2)…" rather than sit on "Queued" for minutes; once the next
attempt is accepted it shows the normal status, and exactly one task was created.
"""

from __future__ import annotations

import pytest

from bot.jobs.states import JobState
from bot.simulator import FaultKind, FaultTarget, ScriptedFault
from tests.e2e.conftest import World
from tests.e2e.test_buttons import CHANNEL, field_value, footer, queued_job

pytestmark = pytest.mark.timeout(120)
RETRYING = "⏳ Provider unavailable, retrying (attempt 2)…"


async def test_the_status_shows_the_retry_then_the_normal_status(world: World) -> None:
    # The bot's provider client tries a create three times before handing it back.
    world.sim.state.push_faults(
        ScriptedFault(kind=FaultKind.UNAVAILABLE, target=FaultTarget.CREATE, count=3)
    )
    itx = await world.discord.slash("bob", CHANNEL, "wan-t2v", {"prompt": "a quiet harbour"})
    job_id = await queued_job(itx)

    status = await world.discord.wait_for_message(
        CHANNEL,
        lambda m: footer(job_id, "status")(m) and field_value(m, "State") == RETRYING,
        timeout=20,
    )
    waiting = await world.job(job_id)
    assert waiting.state is JobState.CREATED
    assert [r.status for r in world.creates()] == [503, 503, 503]

    done = await world.wait_job(job_id, JobState.DELIVERED, within=90)
    status = await world.discord.wait_for_message(
        CHANNEL, lambda m: m.id == status.id and field_value(m, "State") == "✅ Done", timeout=15
    )
    assert [r.status for r in world.creates()] == [503, 503, 503, 202]
    assert done.error_code is None
    assert done.submit_attempts == 2
