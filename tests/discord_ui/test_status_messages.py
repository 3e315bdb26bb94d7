"""Status messages: which changes become edits, that queuing never waits, deleted messages are
forgotten, and the refresh loop's fair rotation over running jobs.

The edits go through a real :class:`ChannelWriter` on fake time; the Discord side is a fake
``edit`` that records what it was asked to show.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncIterator

import discord
import pytest

from bot.discord_ui.channel_writer import UNKNOWN_MESSAGE, ChannelWriter
from bot.discord_ui.client import refresh_slice
from bot.discord_ui.status_messages import StatusMessages
from bot.jobs.records import Job
from bot.jobs.states import JobState
from tests.discord_ui.test_channel_writer import FakeTime, http_error
from tests.records import make_job

EDIT_INTERVAL = 24.0


class FakeDiscord:
    """Records each edit; raises ``error`` (once) when set."""

    def __init__(self) -> None:
        self.edits: list[tuple[int, int | None, JobState, discord.ui.View | None]] = []
        self.error: Exception | None = None

    async def edit(self, job: Job, embed: discord.Embed, view: discord.ui.View | None) -> None:
        self.edits.append((job.id, job.status_message_id, job.state, view))
        assert embed.footer.text is not None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake_discord() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
async def writer(fake_time: FakeTime) -> AsyncIterator[ChannelWriter]:
    writer = ChannelWriter(clock=fake_time, sleep=fake_time.sleep)
    yield writer
    await writer.close()


@pytest.fixture
def gone() -> list[int]:
    return []


@pytest.fixture
def status(
    writer: ChannelWriter, fake_time: FakeTime, fake_discord: FakeDiscord, gone: list[int]
) -> StatusMessages:
    return StatusMessages(
        writer,
        edit=fake_discord.edit,
        eta=lambda job: 30.0,
        edit_interval=EDIT_INTERVAL,
        clock=fake_time,
        on_message_gone=gone.append,
    )


async def test_job_changed_only_queues(
    status: StatusMessages, writer: ChannelWriter, fake_discord: FakeDiscord
) -> None:
    assert not inspect.iscoroutinefunction(status.job_changed)
    status.job_changed(make_job())
    assert writer.pending_edits(8) == 1
    assert fake_discord.edits == []


async def test_a_state_change_is_shown_at_once_progress_is_throttled(
    status: StatusMessages, fake_time: FakeTime, fake_discord: FakeDiscord
) -> None:
    status.job_changed(make_job(progress=0.1))
    await fake_time.advance(1)
    status.job_changed(make_job(progress=0.2))  # progress only, too soon: skipped
    await fake_time.advance(1)
    status.job_changed(make_job(state=JobState.SUCCEEDED))  # state change: at once
    await fake_time.advance(1)
    assert [state for _, _, state, _ in fake_discord.edits] == [
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]


async def test_progress_is_shown_again_after_the_interval(
    status: StatusMessages, fake_time: FakeTime, fake_discord: FakeDiscord
) -> None:
    status.job_changed(make_job(progress=0.1))
    await fake_time.advance(EDIT_INTERVAL)
    status.job_changed(make_job(progress=0.5))
    await fake_time.advance(1)
    assert len(fake_discord.edits) == 2


async def test_the_latest_state_of_a_job_is_what_gets_sent(
    status: StatusMessages, writer: ChannelWriter, fake_time: FakeTime, fake_discord: FakeDiscord
) -> None:
    for job_id in range(100, 105):  # fill the channel's window
        status.job_changed(make_job(id=job_id, status_message_id=job_id))
    status.job_changed(make_job())
    status.job_changed(make_job(state=JobState.CANCELLED))
    assert writer.pending_edits(8) == 6
    await fake_time.advance(10)
    assert fake_discord.edits[-1] == (12, 9, JobState.CANCELLED, None)
    assert len(fake_discord.edits) == 6


async def test_jobs_without_a_status_message_are_left_alone(
    status: StatusMessages, writer: ChannelWriter
) -> None:
    status.job_changed(make_job(status_message_id=None))
    status.job_changed(make_job(channel_id=None))
    assert writer.pending_edits(8) == 0


async def test_a_deleted_status_message_is_forgotten_and_reported_once(
    status: StatusMessages,
    fake_time: FakeTime,
    fake_discord: FakeDiscord,
    gone: list[int],
) -> None:
    fake_discord.error = http_error(404, code=UNKNOWN_MESSAGE)
    status.job_changed(make_job())
    await fake_time.advance(1)
    assert gone == [12]
    assert status.is_gone(make_job())
    for n in range(3):
        await fake_time.advance(EDIT_INTERVAL)
        status.job_changed(make_job(progress=n / 10))
        status.job_changed(make_job(state=JobState.SUCCEEDED))
    await fake_time.advance(1)
    assert len(fake_discord.edits) == 1
    assert gone == [12]


async def test_a_new_status_message_of_the_job_is_edited_again(
    status: StatusMessages, fake_time: FakeTime, fake_discord: FakeDiscord
) -> None:
    fake_discord.error = http_error(404, code=UNKNOWN_MESSAGE)
    status.job_changed(make_job())
    await fake_time.advance(1)
    status.job_changed(make_job(status_message_id=99, state=JobState.SUCCEEDED))
    await fake_time.advance(1)
    assert fake_discord.edits[-1][:3] == (12, 99, JobState.SUCCEEDED)


async def test_other_edit_failures_do_not_forget_the_message(
    status: StatusMessages, fake_time: FakeTime, fake_discord: FakeDiscord, gone: list[int]
) -> None:
    fake_discord.error = http_error(500)
    status.job_changed(make_job())
    await fake_time.advance(1)
    status.job_changed(make_job(state=JobState.SUCCEEDED))
    await fake_time.advance(1)
    assert len(fake_discord.edits) == 2
    assert gone == []


# --- the refresh loop's rotation ---------------------------------------------------------------


def test_refresh_takes_every_running_job_when_they_fit() -> None:
    assert refresh_slice([3, 1, 2], None, 50) == [1, 2, 3]
    assert refresh_slice([3, 1, 2], 2, 50) == [1, 2, 3]
    assert refresh_slice([], 7, 50) == []


def test_refresh_rotates_and_wraps_round() -> None:
    running = list(range(1, 11))
    assert refresh_slice(running, None, 4) == [1, 2, 3, 4]
    assert refresh_slice(running, 4, 4) == [5, 6, 7, 8]
    assert refresh_slice(running, 8, 4) == [9, 10, 1, 2]
    assert refresh_slice(running, 2, 4) == [3, 4, 5, 6]


def test_refresh_rotation_survives_jobs_ending_and_starting() -> None:
    # the cursor (job 4) itself ended and job 11 started: carry on after 4, skipping nothing
    assert refresh_slice([1, 2, 3, 5, 6, 11], 4, 3) == [5, 6, 11]
    assert refresh_slice([1, 2, 3, 5, 6, 11], 11, 3) == [1, 2, 3]


@pytest.mark.parametrize(("count", "limit"), [(120, 50), (50, 50), (7, 3), (1000, 50)])
def test_refresh_reaches_every_job_within_bounded_ticks(count: int, limit: int) -> None:
    running = list(range(1000, 1000 + count))
    cursor: int | None = None
    seen: set[int] = set()
    for _ in range(math.ceil(count / limit)):
        picked = refresh_slice(running, cursor, limit)
        assert len(picked) == min(count, limit)
        assert len(set(picked)) == len(picked)
        cursor = picked[-1]
        seen.update(picked)
    assert seen == set(running)


async def test_fifty_jobs_in_one_channel_stay_within_the_limit_and_all_move(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    """Issue #10's case: fifty running jobs in one channel, refreshed every 30 s."""
    running = list(range(1, 51))
    cursor: int | None = None
    sent_at: dict[int, list[float]] = {job_id: [] for job_id in running}
    times: list[float] = []

    async def edit(job: Job, embed: discord.Embed, view: discord.ui.View | None) -> None:
        sent_at[job.id].append(fake_time.now)
        times.append(fake_time.now)

    status = StatusMessages(
        writer, edit=edit, eta=lambda job: None, edit_interval=EDIT_INTERVAL, clock=fake_time
    )
    for _ in range(10):  # five minutes of ticks
        picked = refresh_slice(running, cursor, 50)
        cursor = picked[-1]
        for job_id in picked:
            status.job_changed(make_job(id=job_id, status_message_id=1000 + job_id))
        await fake_time.advance(30)
    assert all(times[i + 5] - times[i] >= 5.0 for i in range(len(times) - 5))
    for job_times in sent_at.values():
        assert job_times
        gaps = [b - a for a, b in zip([0.0, *job_times], [*job_times, fake_time.now], strict=True)]
        # Bounded: re-queued at the next tick (<= 30 s after it was sent), then at most 49
        # messages ahead of it at four edits per 5 s (one write kept for posts): <= 30 + 62 s.
        assert max(gaps) <= 92.5


async def test_a_queued_jobs_retry_is_shown_at_once_though_its_state_stays(
    status: StatusMessages, fake_time: FakeTime, fake_discord: FakeDiscord
) -> None:
    # Posted as queued, then the provider was unreachable: still `created`, now retrying.
    status.job_changed(make_job(state=JobState.CREATED))
    await fake_time.advance(1)
    retrying = {"submit_attempts": 1, "error_code": "provider_unreachable", "error_message": "x"}
    status.job_changed(make_job(state=JobState.CREATED, **retrying))
    await fake_time.advance(1)
    status.job_changed(make_job(state=JobState.CREATED, **{**retrying, "submit_attempts": 2}))
    await fake_time.advance(1)
    assert len(fake_discord.edits) == 3
