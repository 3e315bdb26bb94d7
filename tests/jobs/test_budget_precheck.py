"""The limit pre-check run before a member's attachments are fetched: the same rules and words
as the reservation, for every limit that needs no estimate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.jobs.budget import Limits, ReservationRefused, Totals, check_limits, precheck_limits

NOW = 1_800_000_000.0


def refused(check: object, *args: object) -> ReservationRefused:
    with pytest.raises(ReservationRefused) as info:
        check(*args)  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize(
    ("limits", "totals"),
    [
        (Limits(max_concurrent_per_user=2), Totals(generating=2)),
        (Limits(cooldown_seconds=60), Totals(last_created=NOW - 10)),
        (Limits(user_daily_budget=Decimal(0)), Totals()),
        (Limits(guild_monthly_budget=Decimal(0)), Totals()),
    ],
)
def test_the_pre_check_refuses_as_the_reservation_would(limits: Limits, totals: Totals) -> None:
    early = refused(precheck_limits, limits, totals, NOW)
    late = refused(check_limits, limits, totals, 10_000, NOW)
    assert (early.reason, str(early)) == (late.reason, str(late))


def test_a_used_up_budget_is_refused_before_any_estimate() -> None:
    daily = refused(
        precheck_limits,
        Limits(user_daily_budget=Decimal(1)),
        Totals(user_day_micros=1_000_000),
        NOW,
    )
    assert daily.reason == "user_budget"
    assert (
        str(daily) == "You have $0.00 left of your $1.00 daily budget. Wait until tomorrow (UTC)."
    )
    monthly = refused(
        precheck_limits,
        Limits(guild_monthly_budget=Decimal(5)),
        Totals(guild_month_micros=6_000_000),
        NOW,
    )
    assert monthly.reason == "guild_budget"


def test_room_left_passes_the_pre_check() -> None:
    limits = Limits(
        max_concurrent_per_user=2,
        cooldown_seconds=60,
        user_daily_budget=Decimal(1),
        guild_monthly_budget=Decimal(5),
    )
    precheck_limits(
        limits, Totals(user_day_micros=999_999, generating=1, last_created=NOW - 61), NOW
    )
