"""The Discord deliverer's look-ups that a crash or a restart depend on, with small fakes for
the client (the posting paths themselves run through the emulator in tests/e2e).

* After a restart a channel fetched by id sits in a placeholder guild marked unavailable
  (boost tier 0): the upload limit must come from the real guild.
* Looking for an earlier post reads newest first, and only messages since the earlier
  attempt began (a minute of clock skew allowed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest
from discord.utils import snowflake_time

from bot.discord_ui.deliverer import DiscordDeliverer
from bot.jobs.delivery import DeliveryKind
from bot.jobs.records import GuildConfig
from bot.policy import GuildPolicy
from tests.records import make_job

BOOSTED_LIMIT = 50 * 1024 * 1024


class FakeBot:
    def __init__(self, channel: object) -> None:
        self.channel = channel
        self.fetched_guilds: list[int] = []
        self.user = SimpleNamespace(id=999)
        self.store = SimpleNamespace(guild_config=self._guild_config)

    async def _guild_config(self, guild_id: int) -> GuildConfig:
        # Approval requests go to the audit channel (the fake has one channel).
        return GuildConfig(policy=GuildPolicy(audit_channel_id=8))

    def get_channel(self, channel_id: int) -> object:
        return self.channel

    def get_user(self, user_id: int) -> object:
        return SimpleNamespace(dm_channel=None, create_dm=self._no_dm)

    async def _no_dm(self) -> object:
        raise discord.NotFound(SimpleNamespace(status=404, reason="x"), "Unknown User")  # type: ignore[arg-type]

    async def fetch_guild(self, guild_id: int) -> object:
        self.fetched_guilds.append(guild_id)
        return SimpleNamespace(filesize_limit=BOOSTED_LIMIT)


class FakeChannel(discord.abc.Messageable):
    """Only what the deliverer reads: ``id``, ``guild`` and ``history``."""

    def __init__(self, guild: object) -> None:
        self.id = 8
        self.guild = guild
        self.history_calls: list[dict[str, Any]] = []

    async def _get_channel(self) -> Any:  # pragma: no cover - the abstract hook
        return self

    def history(self, **kwargs: Any) -> AsyncIterator[discord.Message]:  # type: ignore[override]
        self.history_calls.append(kwargs)

        async def none() -> AsyncIterator[discord.Message]:
            return
            yield

        return none()


def deliverer(channel: FakeChannel) -> tuple[DiscordDeliverer, FakeBot]:
    bot = FakeBot(channel)
    return DiscordDeliverer(cast(Any, bot), edit_interval=1.0), bot


async def test_the_upload_limit_comes_from_the_real_guild_when_the_cached_one_is_unavailable() -> (
    None
):
    placeholder = SimpleNamespace(unavailable=True, filesize_limit=10 * 1024 * 1024)
    channel = FakeChannel(placeholder)
    sut, bot = deliverer(channel)
    job = make_job()
    assert await sut._upload_limit(job, channel) == BOOSTED_LIMIT
    assert await sut._upload_limit(job, channel) == BOOSTED_LIMIT
    assert bot.fetched_guilds == [job.guild_id]  # asked once, then reused


async def test_an_available_guild_gives_its_own_limit_without_asking() -> None:
    channel = FakeChannel(SimpleNamespace(unavailable=False, filesize_limit=BOOSTED_LIMIT))
    sut, bot = deliverer(channel)
    assert await sut._upload_limit(make_job(), channel) == BOOSTED_LIMIT
    assert bot.fetched_guilds == []


# A result or notice is looked for in the job's channel; an approval request where requests go.
@pytest.mark.parametrize("kind", list(DeliveryKind))
async def test_an_earlier_post_is_looked_for_newest_first_since_the_earlier_attempt(
    kind: DeliveryKind,
) -> None:
    channel = FakeChannel(SimpleNamespace(unavailable=False, filesize_limit=1))
    sut, _ = deliverer(channel)
    since = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    assert await sut.find_delivered(make_job(), kind, since=since) is None
    (call,) = channel.history_calls
    assert call["oldest_first"] is False
    after = snowflake_time(call["after"].id)
    assert since - 61 <= after.timestamp() <= since - 59
