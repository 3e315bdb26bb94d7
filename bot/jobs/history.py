"""How long similar jobs took: the planner's input and the members' ETA.

Why this module exists: the poll planner (:mod:`bot.jobs.planning`) and the ETA on every status
message ask the same question, "how long do jobs like this one take?", and must get the same
answer. :class:`DurationHistory` reads when recent similar jobs (same model, price tier and
length) finished, as windows between two looks (:mod:`bot.jobs.durations` fits them without
the bias of the planner's own sparse looks), caches the estimate for a few seconds, and starts
from each model's expected duration in the catalog, with a wide spread, before there is history.

What it must never do: write to the store, or block the scheduler on a slow read for longer
than one query (estimates are cached per group).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from bot.catalog import CATALOG, PriceUnit
from bot.jobs.planning import DurationEstimate, eta_seconds
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.storage import JobStore

HistoryKey = tuple[str, str, str]  # (model id, price tier, units)

_PRICE_UNITS = {spec.model_id: spec.price_unit for spec in CATALOG}
_ETA_STATES = (JobState.CREATED, JobState.SUBMITTING, JobState.RUNNING)


class DurationHistory:
    """Duration estimates per group of similar jobs, refreshed at most every few seconds."""

    def __init__(
        self,
        store: JobStore,
        expected_seconds: Mapping[str, float],
        *,
        refresh_seconds: float,
        target_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        # The planner's target mean detection delay: the fit's schedule is calibrated to it.
        self.target_delay = target_delay
        self.expected_seconds = expected_seconds
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._cache: dict[HistoryKey, tuple[float, DurationEstimate]] = {}

    async def estimate(self, key: HistoryKey) -> DurationEstimate:
        """The estimate for ``key``, read again from the store when the cached one is old."""
        cached = self._cache.get(key)
        now = self.clock()
        if cached is not None and now - cached[0] <= self.refresh_seconds:
            return cached[1]
        model_id, tier, units = key
        windows = await self.store.completion_windows(model_id, tier, Decimal(units))
        estimate = DurationEstimate.from_windows(windows, self.expected(key), self.target_delay)
        self._cache[key] = (now, estimate)
        return estimate

    def cached_estimate(self, job: Job) -> DurationEstimate:
        """The last estimate for ``job``'s group without reading the store (the prior if none)."""
        cached = self._cache.get(job.history_key)
        if cached is not None:
            return cached[1]
        return DurationEstimate.prior(self.expected(job.history_key))

    def eta(self, job: Job) -> float | None:
        """Seconds until the result is likely ready, or ``None`` when it is not being made."""
        if job.state not in _ETA_STATES:
            return None
        now = self.clock()
        elapsed = now - (job.submitted_at or now)
        return eta_seconds(self.cached_estimate(job), elapsed, job.progress)

    def expected(self, key: HistoryKey) -> float:
        """Expected seconds before there is history; scaled per 5 s of video for video models."""
        model_id, _, units = key
        seconds = self.expected_seconds.get(model_id, 120.0)
        if _PRICE_UNITS.get(model_id) is PriceUnit.SECOND:
            seconds *= float(units) / 5
        return seconds
