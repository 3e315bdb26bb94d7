"""What the front ends are told while a create waits to be sent again (issue #13).

When the provider certainly did not take a create (the connection was refused, or it answered
503 or 429), the engine puts the job back to ``created`` with why, and tells the deliverer at
once, so the status message and the terminal's status line can say "Provider unreachable,
retrying (attempt 2)" instead of staying silent for minutes; once the create is accepted the
reason is cleared and the normal status follows. A create whose outcome is unknown (the
connection dropped after it was sent) is never resent, so it never shows a retry.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.discord_ui.embeds import status_embed
from bot.jobs.budget import Limits
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.simulator import FaultKind, FaultTarget, ScriptedFault, SimulatorServer
from bot.wording import retry_words
from tests.jobs.support import EngineParts, build_engine
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(30)

T2V = spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER)
MakeSimulator = Callable[..., Awaitable[SimulatorServer]]


@pytest.fixture
async def built(
    tmp_path: Path, sim_session: aiohttp.ClientSession
) -> AsyncIterator[list[EngineParts]]:
    parts: list[EngineParts] = []
    yield parts
    for each in parts:
        await each.engine.stop(0.5)
        await each.store.close()


async def start(
    built: list[EngineParts],
    base_url: str,
    folder: Path,
    session: aiohttp.ClientSession,
    **config: object,
) -> tuple[EngineParts, list[Job]]:
    """A started engine whose deliverer keeps every job it is told about, in order."""
    parts = await build_engine(
        base_url,
        folder,
        session,
        speed=200.0,
        default_limits=Limits(max_concurrent_per_user=None),
        **config,
    )
    built.append(parts)
    seen: list[Job] = []
    original = parts.deliverer.job_changed

    async def job_changed(job: Job) -> None:
        seen.append(job)
        await original(job)

    parts.deliverer.job_changed = job_changed  # type: ignore[method-assign]
    await parts.engine.start()
    return parts, seen


async def submit(parts: EngineParts) -> Job:
    request = T2V.parse({"prompt": "a lighthouse at dusk", "size": "832*480"})
    return await parts.engine.submit(
        user_id=1, guild_id=10, channel_id=555, spec=T2V, request=request
    )


def state_field(job: Job) -> str:
    embed = status_embed(job, eta=None)
    return next(str(f.value) for f in embed.fields if f.name == "State")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (FaultKind.UNAVAILABLE, "Provider unavailable, retrying (attempt 2)"),
        (FaultKind.RATE_LIMIT, "Provider busy, retrying (attempt 2)"),
    ],
    ids=str,
)
async def test_a_refused_create_shows_the_retry_then_the_normal_status(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
    built: list[EngineParts],
    kind: FaultKind,
    words: str,
) -> None:
    sim = await make_simulator()
    # Both tries of the client's first attempt are refused (it tries twice here).
    sim.state.push_faults(
        ScriptedFault(kind=kind, target=FaultTarget.CREATE, count=2, retry_after=0)
    )
    parts, seen = await start(built, sim.base_url, tmp_path, sim_session, submit_retry_seconds=0.2)
    job = await submit(parts)

    await wait_until(
        lambda: [j.state for j in seen],
        done=lambda states: JobState.DELIVERED in states,
        timeout=20,
        interval=0.01,
        message="the job to be delivered",
    )
    mine = [j for j in seen if j.id == job.id]
    retrying = [j for j in mine if retry_words(j) is not None]
    assert [retry_words(j) for j in retrying] == [words]
    assert retrying[0].state is JobState.CREATED
    assert state_field(retrying[0]) == f"⏳ {words}…"
    after = mine[mine.index(retrying[0]) + 1 :]
    assert after
    assert after[0].state is JobState.RUNNING
    assert all(retry_words(j) is None for j in after)
    assert after[0].error_code is None
    assert after[0].error_message is None
    assert state_field(after[0]).startswith("🎨 Generating")
    assert [r.status for r in sim.state.requests if r.method == "POST"] == [
        429 if kind is FaultKind.RATE_LIMIT else 503,
    ] * 2 + [202]


async def test_a_refused_connection_is_retried_and_says_unreachable(
    tmp_path: Path, sim_session: aiohttp.ClientSession, built: list[EngineParts]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: nothing can be sent
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    parts, seen = await start(
        built, closed, tmp_path, sim_session, submit_retry_seconds=0.05, max_submit_attempts=3
    )
    job = await submit(parts)

    ended = await wait_until(
        lambda: parts.store.get_job(job.id),
        done=lambda j: j is not None and j.state.final,
        timeout=20,
        interval=0.01,
        message="the job to fail",
    )
    assert ended is not None
    assert ended.state is JobState.FAILED
    assert [retry_words(j) for j in seen if retry_words(j) is not None] == [
        "Provider unreachable, retrying (attempt 2)",
        "Provider unreachable, retrying (attempt 3)",
    ]


async def test_a_create_dropped_after_sending_is_never_retried(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
    built: list[EngineParts],
) -> None:
    sim = await make_simulator()
    sim.state.push_faults(ScriptedFault(kind=FaultKind.DROP, target=FaultTarget.CREATE, count=5))
    parts, seen = await start(built, sim.base_url, tmp_path, sim_session, submit_retry_seconds=0.05)
    job = await submit(parts)

    ended = await wait_until(
        lambda: parts.store.get_job(job.id),
        done=lambda j: j is not None and j.state.final,
        timeout=20,
        interval=0.01,
        message="the job to end",
    )
    assert ended is not None
    assert ended.state is JobState.SUBMISSION_UNKNOWN
    assert all(retry_words(j) is None for j in seen)
    assert len([r for r in sim.state.requests if r.method == "POST"]) == 1
