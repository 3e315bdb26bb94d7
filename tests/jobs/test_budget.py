"""Budget rules without a database: which limits apply, which one says no, and in what words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.jobs.budget import (
    Limits,
    ReservationRefused,
    Totals,
    check_limits,
    day_start,
    effective_limits,
    month_start,
    period_start,
)
from bot.jobs.money import to_micros

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC).timestamp()
DEFAULTS = Limits(max_concurrent_per_user=3, user_daily_budget=Decimal(5))


def refusal(limits: Limits, totals: Totals, estimate: str = "0.50") -> ReservationRefused:
    with pytest.raises(ReservationRefused) as refused:
        check_limits(limits, totals, to_micros(Decimal(estimate)), NOW)
    return refused.value


def test_a_server_setting_wins_where_set_and_the_default_applies_elsewhere() -> None:
    guild = Limits(guild_monthly_budget=Decimal(100), cooldown_seconds=10.0)
    assert effective_limits(DEFAULTS, guild, None) == Limits(
        max_concurrent_per_user=3,
        user_daily_budget=Decimal(5),
        guild_monthly_budget=Decimal(100),
        cooldown_seconds=10.0,
    )
    assert effective_limits(DEFAULTS, None, None) == DEFAULTS


def test_a_members_own_cap_wins_over_the_servers() -> None:
    guild = Limits(user_daily_budget=Decimal(2))
    assert effective_limits(DEFAULTS, guild, Decimal("0.5")).user_daily_budget == Decimal("0.5")
    assert effective_limits(DEFAULTS, guild, None).user_daily_budget == Decimal(2)


def test_room_left_passes() -> None:
    check_limits(DEFAULTS, Totals(user_day_micros=to_micros(Decimal("4.5"))), 500_000, NOW)


@pytest.mark.parametrize(
    ("limits", "totals", "reason", "words"),
    [
        (Limits(user_daily_budget=Decimal(0)), Totals(), "generation_off", "turned off for you"),
        (Limits(guild_monthly_budget=Decimal(0)), Totals(), "generation_off", "on this server"),
        (
            Limits(max_concurrent_per_user=2),
            Totals(generating=2),
            "concurrency",
            "You already have 2 generation(s) running; the limit is 2.",
        ),
        (
            Limits(cooldown_seconds=60.0),
            Totals(last_created=NOW - 15),
            "cooldown",
            "Please wait 45 more second(s)",
        ),
        (
            Limits(user_daily_budget=Decimal(5)),
            Totals(user_day_micros=to_micros(Decimal("4.75"))),
            "user_budget",
            "This would cost about $0.50, and you have $0.25 left of your $5.00 daily budget.",
        ),
        (
            Limits(guild_monthly_budget=Decimal(10)),
            Totals(guild_month_micros=to_micros(Decimal(12))),
            "guild_budget",
            "the server has $0.00 left of its $10.00 monthly budget. Ask the server staff.",
        ),
    ],
)
def test_each_limit_refuses_in_words_that_say_what_to_do(
    limits: Limits, totals: Totals, reason: str, words: str
) -> None:
    refused = refusal(limits, totals)
    assert refused.reason == reason
    assert words in str(refused), str(refused)


def test_the_last_micro_dollar_counts() -> None:
    limits = Limits(user_daily_budget=Decimal("1.000001"))
    check_limits(limits, Totals(user_day_micros=500_001), 500_000, NOW)  # exactly full
    assert refusal(limits, Totals(user_day_micros=500_002)).reason == "user_budget"


def test_periods_are_utc_calendar_periods() -> None:
    assert datetime.fromtimestamp(day_start(NOW), UTC) == datetime(2025, 6, 18, tzinfo=UTC)
    assert datetime.fromtimestamp(month_start(NOW), UTC) == datetime(2025, 6, 1, tzinfo=UTC)
    assert period_start("today", NOW) == day_start(NOW)
    assert period_start("month", NOW) == month_start(NOW)
    assert period_start("all", NOW) == 0.0
    with pytest.raises(ValueError, match="week"):
        period_start("week", NOW)
