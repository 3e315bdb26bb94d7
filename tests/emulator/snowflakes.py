"""Snowflake ids and ISO timestamps, as Discord makes them.

Why this module exists: discord.py derives ``created_at`` from ids and sorts history by id, so
the emulator's ids must be real snowflakes (milliseconds since 2015 in the top bits), strictly
increasing within one emulator. A guild's gateway shard is ``(guild_id >> 22) % shard_count``
(:func:`shard_of`); ``next(shard=(k, n))`` makes an id that lands on shard ``k`` of ``n``.
"""

from __future__ import annotations

import datetime
import time

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeFactory:
    """Strictly increasing snowflakes built from the wall clock."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._last = 0

    def next(self, *, shard: tuple[int, int] | None = None) -> int:
        """The next id; with ``shard=(shard_id, shard_count)``, one whose guild would be on
        that shard (its millisecond moved up to the next that fits: at most ``shard_count``
        - 1 ms ahead of the clock)."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        low = (self._worker << 17) | (self._process << 12)
        if shard is None:
            value = (millis << 22) | low
            if value <= self._last:
                value = self._last + 1
            self._last = value
            return value
        shard_id, count = shard
        if not 0 <= shard_id < count:
            raise ValueError(f"shard {shard_id} is not one of {count} shards")
        millis = max(millis, self._last >> 22)
        millis += (shard_id - millis) % count
        value = (millis << 22) | low
        if value <= self._last:  # the same millisecond as the last id
            value = self._last + 1
            if value >> 22 != millis:
                value = ((millis + count) << 22) | low
        self._last = value
        return value


def shard_of(guild_id: int, shard_count: int) -> int:
    """The gateway shard that receives ``guild_id``'s events, as Discord computes it."""
    return (int(guild_id) >> 22) % shard_count


def snowflake_time(value: int) -> datetime.datetime:
    millis = (int(value) >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)


def iso_now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def iso_of_snowflake(value: int) -> str:
    return snowflake_time(value).isoformat()
