"""Snowflake ids and ISO timestamps, as Discord makes them.

Why this module exists: discord.py derives ``created_at`` from ids and sorts history by id, so
the emulator's ids must be real snowflakes (milliseconds since 2015 in the top bits), strictly
increasing within one emulator.
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

    def next(self) -> int:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (millis << 22) | (self._worker << 17) | (self._process << 12)
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def snowflake_time(value: int) -> datetime.datetime:
    millis = (int(value) >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)


def iso_now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def iso_of_snowflake(value: int) -> str:
    return snowflake_time(value).isoformat()
