"""/wanbot's pure parts: reading a budget a staff member typed, the settings summary, and
what ``/wanbot release`` answers."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from bot.discord_ui.errors import UserFacingError
from bot.jobs.budget import Limits
from bot.jobs.records import GuildConfig
from bot.jobs.states import JobState
from bot.policy import GuildPolicy
from cogs.admin import describe, not_on_this_server, parse_budget, released_text, why_nothing_held
from tests.records import NOW, make_job


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2.50", Decimal("2.50")),
        ("$2.50", Decimal("2.50")),
        (" 10 ", Decimal(10)),
        ("0", Decimal(0)),
        ("0.014", Decimal("0.014")),
        ("none", None),
        ("No Cap", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_budget_reads_exact_dollars(text: str | None, value: Decimal | None) -> None:
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["two dollars", "1e3x", "-1", "NaN", "Infinity", "1000001"])
def test_parse_budget_refuses_with_what_to_write(text: str) -> None:
    with pytest.raises(UserFacingError) as refused:
        parse_budget(text)
    message = str(refused.value)
    assert "dollars" in message or "between 0 and 1000000" in message, message


def test_describe_lists_every_setting() -> None:
    config = GuildConfig(
        limits=Limits(
            user_daily_budget=Decimal("2.5"),
            guild_monthly_budget=Decimal(0),
            cooldown_seconds=30.0,
        ),
        policy=GuildPolicy(
            allowed_channel_ids=[5],
            allowed_role_ids=[6],
            disabled_models=["wan2.6-i2v"],
            safety_locked=True,
            blocklist=["gore*"],
            audit_channel_id=9,
        ),
    )
    assert describe(config, Limits(max_concurrent_per_user=3, queue_per_user=2)).splitlines() == [
        "**Per-member daily budget:** $2.50",
        "**Server monthly budget:** generation off",
        "**Jobs at once per member:** 3",
        "**Queue per member:** 2",
        "**Cooldown between submissions:** 30 s",
        "**Channels:** <#5>",
        "**Roles:** <@&6>",
        "**Models off:** wan2.6-i2v",
        "**Safety filter:** locked on",
        "**Blocklist:** 1 entry",
        "**Audit channel:** <#9>",
        "**Approval:** not needed",
        "**Defaults:** the bot's (cheapest size or resolution)",
    ]


def test_a_servers_own_concurrency_wins_over_the_default() -> None:
    config = GuildConfig(limits=Limits(max_concurrent_per_user=7))
    assert (
        "**Jobs at once per member:** 7"
        in describe(config, Limits(max_concurrent_per_user=3)).splitlines()
    )


# ---------------------------------------------------------------------------------------------
# /wanbot release: why a job holds nothing, and the confirmation
# ---------------------------------------------------------------------------------------------

HELD = make_job(state=JobState.SUBMISSION_UNKNOWN, finished_at=NOW, error_code="submission_unknown")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        pytest.param(
            {"hold_released_at": NOW + 30.7},
            "Job #12 holds nothing: its estimate ($0.10) was already released "
            f"<t:{int(NOW) + 30}:f>.",
            id="released",
        ),
        pytest.param(
            {"state": JobState.FAILED, "billed_cost": Decimal("0.07")},
            "Job #12 holds nothing: the provider billed it ($0.07), so that is a charge, not a "
            "hold.",
            id="billed",
        ),
        pytest.param(
            {"state": JobState.DELIVERED},
            "Job #12 holds nothing: it produced a result, so its cost ($0.10 (estimated)) is a "
            "charge.",
            id="delivered",
        ),
        pytest.param(
            {"state": JobState.FAILED, "error_code": "delivery_failed"},
            "Job #12 holds nothing: it produced a result, so its cost ($0.10 (estimated)) is a "
            "charge.",
            id="made-not-posted",
        ),
        pytest.param(
            {"state": JobState.RUNNING, "finished_at": None},
            "Job #12 is still generating: its estimate is reserved until it ends, and released "
            "then unless the provider bills it. `/jobs cancel` stops it.",
            id="running",
        ),
        pytest.param(
            {"state": JobState.CANCELLED},
            "Job #12 holds nothing: it was cancelled while running at the provider, which bills "
            "it, so its estimate ($0.10) is a charge.",
            id="cancelled-running",
        ),
        pytest.param(
            {"state": JobState.CANCELLED, "submitted_at": None, "task_id": None},
            "Job #12 holds nothing: it was never held. It ended (cancelled) without being "
            "billed, and its estimate was released then.",
            id="cancelled-queued",
        ),
        pytest.param(
            {"state": JobState.TIMED_OUT, "submitted_at": None, "task_id": None},
            "Job #12 holds nothing: it was never held. It ended (timed out) without being "
            "billed, and its estimate was released then.",
            id="never-sent",
        ),
        pytest.param(
            {"state": JobState.FAILED, "error_code": "ProviderError"},
            "Job #12 holds nothing: it was never held. It ended (failed) without being billed, "
            "and its estimate was released then.",
            id="failed",
        ),
    ],
)
def test_why_nothing_held_names_the_reason(changes: dict[str, object], why: str) -> None:
    job = dataclasses.replace(HELD, **changes)
    assert not job.holds_estimate
    assert why_nothing_held(job) == why


def test_held_jobs_are_the_ones_release_accepts() -> None:
    assert HELD.holds_estimate
    timed_out = dataclasses.replace(HELD, state=JobState.TIMED_OUT, error_code="timed_out")
    assert timed_out.holds_estimate


def test_released_text_names_amount_job_model_and_member() -> None:
    assert released_text(dataclasses.replace(HELD, estimated_cost=Decimal("0.5"))) == (
        "Released the $0.50 estimate held by job #12 (Wan 2.2 text to video (Plus)) of <@42>: "
        "it no longer counts against their daily budget or the server's monthly budget."
    )


def test_a_job_elsewhere_is_refused_with_where_to_look() -> None:
    assert not_on_this_server(99) == (
        "There is no job #99 on this server. `/usage server` lists the jobs here whose "
        "estimate is held."
    )
