"""Records for unit tests: a real :class:`~bot.jobs.records.Job` with sensible values."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bot.jobs.records import Job
from bot.jobs.states import JobState

NOW = 1_800_000_000.0


def make_job(**changes: object) -> Job:
    job = Job(
        id=12,
        user_id=42,
        guild_id=7,
        channel_id=8,
        status_message_id=9,
        parent_job_id=None,
        model_id="wan2.2-t2v-plus",
        provider="mulerouter",
        request={
            "prompt": "a cat surfing " * 40,
            "size": "832*480",
            "duration": 5,
            "prompt_extend": False,
            "seed": 5,
        },
        price_tier="480P",
        task_id="t-1",
        state=JobState.RUNNING,
        submit_attempts=1,
        poll_count=3,
        poll_errors=0,
        delivery_attempts=0,
        created_at=NOW - 75,
        submitted_at=NOW - 70,
        finished_at=None,
        delivered_at=None,
        deadline_at=NOW + 1000,
        next_attempt_at=None,
        progress=None,
        result_urls=(),
        delivered_message_ids=(),
        error_code=None,
        error_message=None,
        error_detail=None,
        estimated_cost=Decimal("0.10"),
        billed_cost=None,
        units=Decimal(5),
        unit="second",
    )
    return dataclasses.replace(job, **changes)
