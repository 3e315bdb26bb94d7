"""Budget rules: the limits in force for a submission, and the refusal that names the limit.

Why this module exists: "can this member spend this much now?" is the question every
submission asks, and its answer must be exact and worded so the member knows what to change.
The rules are pure functions over :class:`Limits` and :class:`Totals`, unit-testable without a
database; the store reads the totals and calls :func:`check_limits` inside the same
transaction that writes the reservation, so two submissions can never both take the last room.
:func:`precheck_limits` runs the same rules (those that need no estimate) on a plain read,
before a member's attachments are downloaded, so a member at a limit costs no download or
decode.

Periods are calendar periods in UTC: a member's daily budget resets at 00:00 UTC, a server's
monthly budget on the 1st at 00:00 UTC.

What it must never do: compare money as floats (budgets are ``Decimal``, totals integer
micro-dollars), or read or write storage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from bot.i18n import _
from bot.jobs.money import from_micros, to_micros
from bot.pricing import format_usd

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets and limits: the operator's defaults, or one server's own settings.

    As the operator's defaults (``EngineConfig.default_limits``) ``None`` means "no limit"; as
    a server's settings it means "not set here", and the default applies (:meth:`over`). A
    budget of ``0`` turns generation off.
    """

    max_concurrent_per_user: int | None = None
    user_daily_budget: Decimal | None = None
    guild_monthly_budget: Decimal | None = None
    cooldown_seconds: float | None = None
    # Jobs a member at their concurrent-job limit may queue (reserved, started in turn).
    queue_per_user: int | None = None

    def over(self, base: Limits) -> Limits:
        """These settings where set, ``base``'s where not."""
        return Limits(
            max_concurrent_per_user=_first(
                self.max_concurrent_per_user, base.max_concurrent_per_user
            ),
            user_daily_budget=_first(self.user_daily_budget, base.user_daily_budget),
            guild_monthly_budget=_first(self.guild_monthly_budget, base.guild_monthly_budget),
            cooldown_seconds=_first(self.cooldown_seconds, base.cooldown_seconds),
            queue_per_user=_first(self.queue_per_user, base.queue_per_user),
        )


def _first(value: _T | None, fallback: _T | None) -> _T | None:
    return value if value is not None else fallback


def effective_limits(
    defaults: Limits, guild: Limits | None, member_daily_budget: Decimal | None
) -> Limits:
    """What a submission is checked against: a member's own daily cap over the server's
    settings over the operator's defaults."""
    limits = defaults if guild is None else guild.over(defaults)
    if member_daily_budget is not None:
        limits = dataclasses.replace(limits, user_daily_budget=member_daily_budget)
    return limits


@dataclass(frozen=True, slots=True)
class Totals:
    """What a member and their server have used, as the store read it (micro-dollars)."""

    user_day_micros: int = 0
    guild_month_micros: int = 0
    generating: int = 0
    last_created: float | None = None
    queued: int = 0  # waiting for one of the member's slots (not awaiting approval)


class Admission(StrEnum):
    """Where a submission that passed every limit goes."""

    START = "start"  # a job slot is free: send it now
    QUEUE = "queue"  # the member's slots are full and their queue has room: wait in turn


class ReservationRefused(Exception):
    """A submission would break a budget or limit. ``str()`` tells the member what to do."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def check_limits(
    limits: Limits,
    totals: Totals,
    estimate_micros: int,
    now: float,
    *,
    needs_slot: bool = True,
) -> Admission:
    """Raise :class:`ReservationRefused` naming the first limit this submission would break;
    else say whether it starts now or waits in the member's queue. ``needs_slot=False`` (a
    job that waits for staff approval first) skips the job-slot check: the queue takes it
    once approved."""
    admission = _check_standing(limits, totals, now, needs_slot=needs_slot)
    estimate = format_usd(from_micros(estimate_micros))
    if limits.user_daily_budget is not None:
        cap = to_micros(limits.user_daily_budget)
        if totals.user_day_micros + estimate_micros > cap:
            left = format_usd(from_micros(max(cap - totals.user_day_micros, 0)))
            raise ReservationRefused(
                "user_budget",
                _(
                    "This would cost about {estimate}, and you have {left} left of your {cap} "
                    "daily budget. Try a cheaper setting or wait until tomorrow (UTC)."
                ).format(estimate=estimate, left=left, cap=format_usd(from_micros(cap))),
            )
    if limits.guild_monthly_budget is not None:
        cap = to_micros(limits.guild_monthly_budget)
        if totals.guild_month_micros + estimate_micros > cap:
            left = format_usd(from_micros(max(cap - totals.guild_month_micros, 0)))
            raise ReservationRefused(
                "guild_budget",
                _(
                    "This would cost about {estimate}, and the server has {left} left of its "
                    "{cap} monthly budget. Ask the server staff."
                ).format(estimate=estimate, left=left, cap=format_usd(from_micros(cap))),
            )
    return admission


def precheck_limits(limits: Limits, totals: Totals, now: float) -> None:
    """The checks that need no estimate, run before any attachment is downloaded or decoded.

    Raises the :class:`ReservationRefused` that :func:`check_limits` would raise, word for
    word, when generation is off, the member is at their concurrent-job limit or in their
    cooldown; and, with the same reason, when a budget has no room left at all (any
    generation costs something; there is no estimate yet to quote). The reservation checks
    again, atomically, with the real estimate: this is only a read.
    """
    _check_standing(limits, totals, now)
    if limits.user_daily_budget is not None:
        cap = to_micros(limits.user_daily_budget)
        if cap > 0 and totals.user_day_micros >= cap:
            raise ReservationRefused(
                "user_budget",
                _(
                    "You have {left} left of your {cap} daily budget. Wait until tomorrow (UTC)."
                ).format(left=format_usd(from_micros(0)), cap=format_usd(from_micros(cap))),
            )
    if limits.guild_monthly_budget is not None:
        cap = to_micros(limits.guild_monthly_budget)
        if cap > 0 and totals.guild_month_micros >= cap:
            raise ReservationRefused(
                "guild_budget",
                _(
                    "The server has {left} left of its {cap} monthly budget. Ask the server staff."
                ).format(left=format_usd(from_micros(0)), cap=format_usd(from_micros(cap))),
            )


def _check_standing(
    limits: Limits, totals: Totals, now: float, *, needs_slot: bool = True
) -> Admission:
    """Generation on, a free job slot (or room in the member's queue), no cooldown running:
    whatever the request costs."""
    if limits.user_daily_budget is not None and limits.user_daily_budget == 0:
        raise ReservationRefused(
            "generation_off", _("Generation is turned off for you on this server.")
        )
    if limits.guild_monthly_budget is not None and limits.guild_monthly_budget == 0:
        raise ReservationRefused("generation_off", _("Generation is turned off on this server."))
    admission = Admission.START
    if (
        needs_slot
        and limits.max_concurrent_per_user is not None
        and totals.generating >= limits.max_concurrent_per_user
    ):
        room = limits.queue_per_user or 0
        if totals.queued < room:
            admission = Admission.QUEUE
        elif room:
            raise ReservationRefused(
                "concurrency",
                _(
                    "You already have {running} generation(s) running and {queued} queued; the "
                    "limits are {limit} running and {room} queued. Wait for one to finish or "
                    "cancel one (`/jobs list`)."
                ).format(
                    running=totals.generating,
                    queued=totals.queued,
                    limit=limits.max_concurrent_per_user,
                    room=room,
                ),
            )
        else:
            raise ReservationRefused(
                "concurrency",
                _(
                    "You already have {running} generation(s) running; the limit is {limit}. "
                    "Wait for one to finish or cancel one."
                ).format(running=totals.generating, limit=limits.max_concurrent_per_user),
            )
    if (
        limits.cooldown_seconds
        and totals.last_created is not None
        and now - totals.last_created < limits.cooldown_seconds
    ):
        wait = limits.cooldown_seconds - (now - totals.last_created)
        raise ReservationRefused(
            "cooldown",
            _("Please wait {seconds} more second(s) before the next generation.").format(
                seconds=f"{wait:.0f}"
            ),
        )
    return admission


def day_start(now: float) -> float:
    """00:00 UTC of the day of ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def month_start(now: float) -> float:
    """00:00 UTC on the 1st of the month of ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def period_start(period: str, now: float) -> float:
    """``today`` / ``month`` / ``all`` as a UNIX time (UTC calendar)."""
    if period == "today":
        return day_start(now)
    if period == "month":
        return month_start(now)
    if period == "all":
        return 0.0
    raise ValueError(f"unknown period {period!r}")
