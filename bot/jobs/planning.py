"""When to look at a running task next, and when it should be done.

Why this module exists: a provider is asked about thousands of tasks that each take minutes.
Polling every few seconds would cost dozens of requests a job; polling every minute would post
results a minute late. Past jobs of the same model, tier and length say when a task is likely to
finish, so polls are sparse before that window, dense inside it and back off after it.

The plan for a job that has been running ``elapsed`` seconds:

* before the window (the 5th percentile of past durations): one early look (fast failures such
  as a refused image show up within seconds), then straight to the window's start;
* inside the window (up to the 95th percentile): every ``min_interval`` seconds, so most
  results are seen within that long of being ready;
* after it: intervals grow by half each time, up to ``max_interval``.

Which past durations count: a completion seen between two looks at most a couple of
``min_interval`` apart is *exact* (its midpoint is within a few seconds of the truth); one seen
after a long gap (the jump from the first look to the window) is *rough*. Rough samples would
drag the window's start down and cost polls, so they are used only when they are the majority:
then most jobs finish before the window opens, the history is too long, and it must learn down.

Before there is history the window is wide (half to twice the expected duration), so polls
inside it are spaced at a tenth of the elapsed time (never below ``min_interval``) rather than
every ``min_interval``.

The same history gives members an ETA (the median), refined by real progress where a provider
reports it (Vtrix).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_HISTORY = 5


@dataclass(frozen=True, slots=True)
class DurationEstimate:
    """Expected duration of a job: low end, median, high end (seconds since submission)."""

    low: float
    median: float
    high: float
    from_prior: bool = False

    @classmethod
    def prior(cls, default_seconds: float) -> DurationEstimate:
        return cls(
            low=default_seconds * 0.5,
            median=default_seconds,
            high=default_seconds * 2.0,
            from_prior=True,
        )

    @classmethod
    def from_history(cls, durations: Sequence[float], default_seconds: float) -> DurationEstimate:
        """Percentiles of past (exact) durations; the wide prior before there are enough."""
        usable = sorted(d for d in durations if d > 0)
        if len(usable) < MIN_HISTORY:
            return cls.prior(default_seconds)
        cuts = statistics.quantiles(usable, n=20, method="inclusive")  # 5 %, 10 %, … 95 %
        return cls(low=cuts[0], median=statistics.median(usable), high=cuts[-1])

    @classmethod
    def from_samples(
        cls, samples: Sequence[tuple[float, bool]], default_seconds: float
    ) -> DurationEstimate:
        """From (duration, exact) samples: exact ones, unless rough ones are the majority."""
        exact = [duration for duration, is_exact in samples if is_exact]
        rough = [duration for duration, is_exact in samples if not is_exact]
        if len(rough) > len(exact) or len(exact) < MIN_HISTORY:
            return cls.from_history(exact + rough, default_seconds)
        return cls.from_history(exact, default_seconds)


@dataclass(frozen=True, slots=True)
class PollPlanner:
    """Turns an estimate and the time since submission into the next poll delay."""

    min_interval: float = 4.0
    max_interval: float = 120.0
    first_look: float = 10.0

    def next_delay(self, estimate: DurationEstimate, elapsed: float, polls: int) -> float:
        """Seconds until the next look at a task submitted ``elapsed`` seconds ago."""
        dense = self.min_interval
        if elapsed < estimate.low - dense:
            if polls == 0 and self.first_look < estimate.low - dense:
                return self._clamp(self.first_look - elapsed, low=dense)
            return self._clamp(estimate.low - elapsed, low=dense)
        if elapsed < estimate.high:
            if estimate.from_prior:
                return self._clamp(elapsed * 0.1, low=dense)
            return dense
        overdue = elapsed - estimate.high
        return self._clamp(max(dense, overdue * 0.5), low=dense)

    def is_exact(self, gap: float) -> bool:
        """Whether a completion seen ``gap`` seconds after the last look is an exact sample."""
        return gap <= 2.5 * self.min_interval

    def after_error(self, consecutive_errors: int, retry_after: float | None) -> float:
        """Backoff after a failed look; the provider's ``Retry-After`` wins (capped)."""
        if retry_after is not None:
            return min(max(retry_after, self.min_interval), 300.0)
        return min(self.min_interval * 2.0 ** min(consecutive_errors, 8), 300.0)

    def _clamp(self, delay: float, *, low: float) -> float:
        return min(max(delay, low), self.max_interval)


def eta_seconds(estimate: DurationEstimate, elapsed: float, progress: float | None) -> float:
    """Seconds left, from real progress when the provider reports it, else the median."""
    if progress is not None and 0.05 <= progress < 1.0 and elapsed > 0:
        return max(elapsed * (1 - progress) / progress, 0.0)
    return max(estimate.median - elapsed, 0.0)
