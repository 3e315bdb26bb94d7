"""A member's daily budget left, in one line: what ``/usage me`` and ``/help`` both say.

What it must never do: compute spend itself (the store sums the ledger).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.i18n import _
from bot.jobs.budget import day_start
from bot.pricing import format_usd

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


async def budget_left_line(bot: WanBot, guild_id: int, user_id: int) -> str:
    """``Daily budget: $0.20 left of $0.30 (resets at 00:00 UTC).`` or ``no cap``."""
    limits = await bot.store.limits_for(guild_id, user_id, bot.engine.config.default_limits)
    if limits.user_daily_budget is None:
        return _("Daily budget: no cap.")
    spent = await bot.store.ledger_total(
        user_id=user_id, guild_id=guild_id, since=day_start(time.time())
    )
    left = max(limits.user_daily_budget - spent, Decimal(0))
    return _("Daily budget: {left} left of {cap} (resets at 00:00 UTC).").format(
        left=format_usd(left), cap=format_usd(limits.user_daily_budget)
    )
