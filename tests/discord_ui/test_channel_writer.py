"""The per-channel writer: latest edit wins, the window is kept, posts go first, 429 and 404.

Time is fake (:class:`FakeTime` is both the writer's clock and its sleep), so a window of
five writes per five seconds is tested in no real time. Sends are plain coroutines that record
when they ran; Discord's errors are real ``discord.HTTPException`` subclasses built on a small
fake response.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.discord_ui.channel_writer import UNKNOWN_MESSAGE, ChannelWriter, Send

CHANNEL = 100
OTHER_CHANNEL = 200


class FakeTime:
    """A monotonic clock and a sleep that wakes only when the test advances the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._order), future))
        await future

    @staticmethod
    async def settle() -> None:
        """Let every task that can run, run."""
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():
                future.set_result(None)
            await self.settle()
        self.now = target
        await self.settle()


def http_error(status: int, *, code: int = 0, headers: dict[str, str] | None = None) -> Any:
    response = SimpleNamespace(status=status, reason="fake", headers=headers or {})
    message = {"code": code, "message": "fake error"}
    if status == 404:
        return discord.NotFound(cast(Any, response), message)
    return discord.HTTPException(cast(Any, response), message)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def writer(fake_time: FakeTime) -> AsyncIterator[ChannelWriter]:
    writer = ChannelWriter(writes=5, per=5.0, clock=fake_time, sleep=fake_time.sleep)
    yield writer
    await writer.close()


class Recorder:
    """Sends that record (time, label) when they run."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.sent: list[tuple[float, str]] = []

    def send(self, label: str, error: BaseException | None = None) -> Send:
        async def run() -> None:
            self.sent.append((self.time.now, label))
            if error is not None:
                raise error

        return run

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.sent]

    @property
    def times(self) -> list[float]:
        return [at for at, _ in self.sent]


async def test_ten_edits_of_one_message_send_only_the_latest(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    for n in range(10):
        writer.submit_edit(CHANNEL, 1, record.send(f"state {n}"))
    assert writer.pending_edits(CHANNEL) == 1
    await fake_time.advance(30)
    assert record.labels == ["state 9"]


async def test_no_more_than_five_sends_in_any_five_seconds(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    for message_id in range(50):
        writer.submit_edit(CHANNEL, message_id, record.send(f"m{message_id}"))
    await fake_time.advance(120)
    assert record.labels == [f"m{n}" for n in range(50)]  # each one, oldest first
    times = record.times
    # Edits keep one write of each window free for results and notices: four per 5 s.
    assert all(later - earlier >= 5.0 for earlier, later in itertools.pairwise(times[::4]))
    assert all(times[i + 4] - times[i] >= 5.0 for i in range(len(times) - 4))
    assert times[-1] == pytest.approx(60.0)  # and no slower than that allows


async def test_channels_have_their_own_windows(writer: ChannelWriter, fake_time: FakeTime) -> None:
    record = Recorder(fake_time)
    for message_id in range(5):
        writer.submit_edit(CHANNEL, message_id, record.send(f"a{message_id}"))
        writer.submit_edit(OTHER_CHANNEL, message_id, record.send(f"b{message_id}"))
    await fake_time.advance(0)
    assert len(record.sent) == 8  # four edits each at once (one write kept for posts)
    assert set(record.times) == {0.0}
    await fake_time.advance(5)
    assert len(record.sent) == 10


async def test_a_replaced_edit_keeps_its_place_in_line(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    for message_id in range(8):  # five go now, three wait for the window
        writer.submit_edit(CHANNEL, message_id, record.send(f"m{message_id}"))
    await fake_time.advance(0)
    writer.submit_edit(CHANNEL, 5, record.send("m5 newer"))
    await fake_time.advance(10)
    assert record.labels[5:] == ["m5 newer", "m6", "m7"]


async def test_posts_go_before_pending_edits(writer: ChannelWriter, fake_time: FakeTime) -> None:
    record = Recorder(fake_time)
    for message_id in range(10):
        writer.submit_edit(CHANNEL, message_id, record.send(f"edit {message_id}"))
    await fake_time.advance(0)
    assert len(record.sent) == 4  # edits leave the window's fifth write free; six wait

    async def post(label: str) -> None:
        async with writer.post(CHANNEL):
            await record.send(label)()

    results = [asyncio.ensure_future(post("result")), asyncio.ensure_future(post("notice"))]
    await fake_time.advance(10)
    await asyncio.gather(*results)
    assert record.labels[4:6] == ["result", "notice"]
    assert record.sent[4][0] == pytest.approx(0.0)  # the free write: at once
    assert record.sent[5][0] == pytest.approx(5.0)  # the first slot that came free
    assert sorted(record.labels[6:]) == [f"edit {n}" for n in range(4, 10)]
    times = record.times
    assert all(times[i + 5] - times[i] >= 5.0 for i in range(len(times) - 5))


async def test_a_post_with_room_in_the_window_goes_at_once(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    async with writer.post(CHANNEL):
        pass
    assert fake_time.now == 0.0


async def test_a_429_pushes_the_window_back_by_retry_after(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    limited = http_error(429, headers={"Retry-After": "7.5"})
    writer.submit_edit(CHANNEL, 1, record.send("limited", limited))
    writer.submit_edit(CHANNEL, 2, record.send("next"))
    await fake_time.advance(0)
    assert record.labels == ["limited"]
    await fake_time.advance(7.4)
    assert record.labels == ["limited"]
    await fake_time.advance(0.2)
    # the rate-limited edit is tried again, behind the one that was waiting
    assert record.labels == ["limited", "next", "limited"]
    assert record.sent[1][0] == pytest.approx(7.5)


async def test_a_429_edit_is_not_retried_over_a_newer_one(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    limited = http_error(429, headers={"Retry-After": "2"})
    gate = asyncio.Event()

    async def slow_limited() -> None:
        await gate.wait()
        await record.send("old", limited)()

    writer.submit_edit(CHANNEL, 1, slow_limited)
    await fake_time.advance(0)
    writer.submit_edit(CHANNEL, 1, record.send("new"))  # arrives while the old one is in flight
    gate.set()
    await fake_time.advance(5)
    assert record.labels == ["old", "new"]


async def test_a_429_on_a_post_pushes_the_window_back(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    with pytest.raises(discord.HTTPException):
        async with writer.post(CHANNEL):
            raise http_error(429, headers={"Retry-After": "3"})
    writer.submit_edit(CHANNEL, 1, record.send("edit"))
    await fake_time.advance(10)
    assert record.sent == [(3.0, "edit")]


async def test_not_found_calls_the_gone_hook_and_drops_the_edit(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    gone: list[int] = []
    unknown = http_error(404, code=UNKNOWN_MESSAGE)
    writer.submit_edit(CHANNEL, 1, record.send("deleted", unknown), on_gone=lambda: gone.append(1))
    await fake_time.advance(30)
    assert record.labels == ["deleted"]  # tried once, not again
    assert gone == [1]


async def test_an_async_gone_hook_is_awaited(writer: ChannelWriter, fake_time: FakeTime) -> None:
    gone: list[int] = []

    async def hook() -> None:
        gone.append(1)

    writer.submit_edit(
        CHANNEL,
        1,
        Recorder(fake_time).send("x", http_error(404, code=UNKNOWN_MESSAGE)),
        on_gone=hook,
    )
    await fake_time.advance(1)
    assert gone == [1]


async def test_other_failures_are_logged_once_and_dropped(
    writer: ChannelWriter, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    record = Recorder(fake_time)
    gone: list[int] = []
    writer.submit_edit(
        CHANNEL, 1, record.send("a", http_error(403)), on_gone=lambda: gone.append(1)
    )
    writer.submit_edit(CHANNEL, 2, record.send("b", RuntimeError("boom")))
    writer.submit_edit(CHANNEL, 3, record.send("c"))
    with caplog.at_level("INFO", logger="bot.discord_ui.channel_writer"):
        await fake_time.advance(30)
    assert record.labels == ["a", "b", "c"]
    assert gone == []
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert [r.levelname for r in dropped] == ["INFO", "INFO"]


async def test_submit_edit_returns_at_once_while_rate_limited(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    assert not inspect.iscoroutinefunction(writer.submit_edit)
    record = Recorder(fake_time)
    writer.submit_edit(
        CHANNEL, 1, record.send("limited", http_error(429, headers={"Retry-After": "60"}))
    )
    await fake_time.advance(0)
    for message_id in range(2, 200):  # no awaiting at all: the loop never runs in between
        writer.submit_edit(CHANNEL, message_id, record.send(f"m{message_id}"))
    assert fake_time.now == 0.0
    assert record.labels == ["limited"]
    assert writer.pending_edits(CHANNEL) == 199  # 198 new, and the one that met the 429
    await fake_time.advance(60)
    # nothing went before the 60 s were up; then the retry (429 again: another 60 s), then m2
    assert record.sent[1:] == [(60.0, "limited")]
    await fake_time.advance(60)
    assert record.sent[2] == (120.0, "m2")


async def test_the_worker_exits_when_idle_and_comes_back(
    writer: ChannelWriter, fake_time: FakeTime
) -> None:
    record = Recorder(fake_time)
    writer.submit_edit(CHANNEL, 1, record.send("first"))
    await fake_time.advance(1)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("channel-writer-")]
    writer.submit_edit(CHANNEL, 1, record.send("second"))
    await fake_time.advance(1)
    assert record.labels == ["first", "second"]


async def test_close_cancels_workers_and_ignores_later_edits(fake_time: FakeTime) -> None:
    writer = ChannelWriter(writes=1, per=5.0, clock=fake_time, sleep=fake_time.sleep)
    record = Recorder(fake_time)
    for message_id in range(3):
        writer.submit_edit(CHANNEL, message_id, record.send(f"m{message_id}"))
    await fake_time.advance(0)
    await writer.close()
    writer.submit_edit(CHANNEL, 9, record.send("late"))
    await fake_time.advance(30)
    assert record.labels == ["m0"]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("channel-writer-")]
