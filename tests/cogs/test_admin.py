"""/wanbot's pure parts: reading a budget a staff member typed, and the settings summary."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.discord_ui.errors import UserFacingError
from bot.jobs.budget import Limits
from bot.jobs.records import GuildConfig
from bot.policy import GuildPolicy
from cogs.admin import describe, parse_budget


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
    assert describe(config, 3).splitlines() == [
        "**Per-member daily budget:** $2.50",
        "**Server monthly budget:** generation off",
        "**Jobs at once per member:** 3",
        "**Cooldown between submissions:** 30 s",
        "**Channels:** <#5>",
        "**Roles:** <@&6>",
        "**Models off:** wan2.6-i2v",
        "**Safety filter:** locked on",
        "**Blocklist:** 1 entry",
        "**Audit channel:** <#9>",
    ]


def test_a_servers_own_concurrency_wins_over_the_default() -> None:
    config = GuildConfig(limits=Limits(max_concurrent_per_user=7))
    assert "**Jobs at once per member:** 7" in describe(config, 3).splitlines()
