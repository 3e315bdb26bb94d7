"""/usage and /jobs: the lines members and staff read, and the links to jump to a job."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bot.jobs.records import UsageRow
from bot.jobs.states import JobState
from cogs.jobs import jump_url
from cogs.usage import totals, usage_lines
from tests.records import make_job

ROWS = [
    UsageRow(
        key="wan2.6-i2v",
        jobs=3,
        charged_jobs=2,
        video_seconds=Decimal("15.0"),
        images=Decimal(0),
        estimated=Decimal("1.5"),
        billed=Decimal(0),
    ),
    UsageRow(
        key="wan2.5-i2i-preview",
        jobs=1,
        charged_jobs=1,
        video_seconds=Decimal(0),
        images=Decimal(2),
        estimated=Decimal(0),
        billed=Decimal("0.06"),
    ),
    UsageRow(
        key="wan2.2-t2v-plus",
        jobs=1,
        charged_jobs=0,
        video_seconds=Decimal(0),
        images=Decimal(0),
        estimated=Decimal(0),
        billed=Decimal(0),
    ),
]


def test_usage_lines_say_what_was_made_and_keep_estimated_and_billed_apart() -> None:
    assert usage_lines(ROWS) == [
        "**wan2.6-i2v**: 3 job(s), 15 s of video; $1.50 estimated, $0.00 billed",
        "**wan2.5-i2i-preview**: 1 job(s), 2 images; $0.00 estimated, $0.06 billed",
        "**wan2.2-t2v-plus**: 1 job(s), nothing made; $0.00 estimated, $0.00 billed",
    ]


def test_totals_are_exact() -> None:
    assert totals(ROWS) == (5, Decimal("1.5"), Decimal("0.06"))
    assert totals([]) == (0, Decimal(0), Decimal(0))


def test_jump_url_prefers_the_result_then_the_status_message() -> None:
    running = make_job()
    assert jump_url(7, running) == "https://discord.com/channels/7/8/9"
    delivered = dataclasses.replace(
        running, state=JobState.DELIVERED, delivered_message_ids=(31, 32)
    )
    assert jump_url(7, delivered) == "https://discord.com/channels/7/8/31"
    assert jump_url(7, dataclasses.replace(running, status_message_id=None)) is None
    assert jump_url(7, dataclasses.replace(running, channel_id=None)) is None
