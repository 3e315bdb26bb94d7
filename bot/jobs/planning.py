"""When to look at a running task next: as few looks as meet a target detection delay.

Why this module exists: a provider is asked about thousands of tasks that each take minutes.
Every look costs a request; every second between a task finishing and the bot seeing it is a
second a member waits. The operator sets one figure, the target mean detection delay
(``WANBOT_POLL_TARGET_DELAY_SECONDS``), and the planner spends as few looks as it can to meet
it, from the duration distribution of similar jobs (:mod:`bot.jobs.durations`).

The schedule: for a duration with density f, survival S and hazard h = f / S, looks spaced
``Δ(t)`` apart around time t cost ``∫ S/Δ`` looks and ``∫ f Δ/2`` mean delay; the fewest looks
for a given delay space them ``Δ(t) = c / sqrt(h(t))`` (a Lagrange multiplier), with c set so
the mean delay is the target. So looks are sparse where few jobs finish (early, and in a long
tail) and dense where the hazard is high. With the distribution lognormal (median m, log-spread
σ), the next look after one at time t is where ``∫ sqrt(h)`` from t reaches c; in standard
units z that is a fixed table per σ (:func:`_table`), so a plan costs a table lookup.

Time is counted from the task's *origin* (see :mod:`bot.jobs.durations`): when the provider
said it started (MuleRouter), else the last look that saw it pending, else the submission. A
task seen pending is planned as if it started now, on the run-time distribution, which is
tighter than the total (queue wait left out).

Safety bounds, the operator's guarantees whatever the history says: never two looks closer
than ``min_interval``, never more than ``max_interval`` between two looks (the first included:
a history that is wrong, e.g. a provider that became much faster, costs at most that long),
and the very first look never sooner than ``first_look`` (unless that exceeds
``max_interval``).

The first look from the origin is never later than the median. Its window is the only one not
bracketed by two looks ("done by then"), so where in it those jobs finished is the fit's guess,
not data; past the median that window would hold most jobs, and on a shape the lognormal misses
(a hard upper edge) the fit and the calibration below could drift together, each later first
look leaving less to correct the next. On a lognormal of σ 0.3 or more the c/sqrt(h) first look
comes long before the median anyway (when a few per cent of jobs are done), so the bound costs
nothing there.

What it must never do: read the clock or the store (callers pass elapsed times), or return a
delay that is not a positive finite number of seconds.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from bot.jobs.durations import (
    MIN_SIGMA,
    CompletionWindow,
    LogNormal,
    normal_pdf,
    normal_sf,
)

# Past jobs before the estimate counts as learned (the fit uses every one of them).
MIN_HISTORY = 5
Z95 = 1.6448536269514722  # the 95th percentile of a standard normal


@dataclass(frozen=True, slots=True)
class DurationEstimate:
    """Expected duration of a job: low end, median, high end (seconds since submission).

    ``low``/``high`` are the 5th/95th percentiles of the total duration; ``run`` is the run-time
    distribution (seconds since the task's origin), the one polls are planned on. Without
    ``run`` the total (lognormal through ``median`` and ``high``) is used.
    """

    low: float
    median: float
    high: float
    from_prior: bool = False
    run: LogNormal | None = None

    @property
    def total(self) -> LogNormal:
        spread = math.log(self.high / self.median) / Z95 if self.high > self.median > 0 else 0.0
        return LogNormal(median=max(self.median, 1e-3), sigma=max(spread, MIN_SIGMA))

    @classmethod
    def of(cls, total: LogNormal, run: LogNormal | None = None) -> DurationEstimate:
        return cls(
            low=total.quantile(-Z95),
            median=total.median,
            high=total.quantile(Z95),
            from_prior=total.samples == 0,
            run=run,
        )

    @classmethod
    def prior(cls, default_seconds: float) -> DurationEstimate:
        """No history: the catalog's expected seconds, with a wide spread."""
        return cls.from_windows((), default_seconds)

    @classmethod
    def from_windows(
        cls,
        windows: Sequence[CompletionWindow],
        default_seconds: float,
        target_delay: float = 0.0,
    ) -> DurationEstimate:
        """Fitted to past jobs' completion windows (most recent first, any number); with a
        ``target_delay`` the run-time schedule is calibrated to it (:func:`calibrated`)."""
        totals = [window.total() for window in windows]
        runs = [window.run() for window in windows]
        total = LogNormal.fit(totals, default_seconds)
        run = calibrated(LogNormal.fit(runs, default_seconds), runs, target_delay)
        return cls.of(total, run)


@dataclass(frozen=True, slots=True)
class PollPlanner:
    """Turns an estimate and the time a task has been running into the next poll delay."""

    target_delay: float = 5.0
    min_interval: float = 4.0
    max_interval: float = 120.0
    first_look: float = 0.0

    def next_delay(
        self,
        estimate: DurationEstimate,
        elapsed: float,
        polls: int,
        *,
        run_elapsed: float | None = None,
    ) -> float:
        """Seconds until the next look at a task submitted ``elapsed`` seconds ago.

        ``run_elapsed``: seconds since the task's origin (0 for a task just seen pending);
        ``None`` plans on the total duration since submission.
        """
        if run_elapsed is not None and estimate.run is not None:
            dist, at = estimate.run, run_elapsed
        else:
            dist, at = estimate.total, elapsed
        delay = lognormal_next_look(dist, max(at, 0.0), self.target_delay)
        if at <= 0:  # the first look from the origin: no later than the median (see above)
            delay = min(delay, dist.median)
        if polls == 0:
            delay = max(delay, self.first_look - elapsed)
        return min(max(delay, self.min_interval), self.max_interval)

    def safety_net_delay(self, estimate: DurationEstimate, elapsed: float, polls: int) -> float:
        """Seconds until the next look when webhooks report completion and polling is a backup.

        Nothing is asked before the late end of the history (``estimate.high``) plus a margin of
        a quarter of the median (at least ``min_interval``): a webhook normally arrives first.
        After that, looks are sparse, every ``max(60 s, median / 2)`` growing by half each time
        the job is overdue by another such step, capped at ten times the first step.
        """
        del polls  # the schedule depends on time only; kept for a stable signature
        median = max(estimate.median, 1.0)
        margin = max(self.min_interval, 0.25 * median)
        due = estimate.high + margin
        if elapsed < due:
            return max(due - elapsed, self.min_interval)
        step = max(60.0, median / 2.0)
        overdue = elapsed - due
        return min(max(step, overdue * 0.5), 10.0 * step)

    def is_exact(self, gap: float) -> bool:
        """Whether a completion seen ``gap`` seconds after the last look is an exact sample."""
        return gap <= 2.5 * self.min_interval

    def after_error(self, consecutive_errors: int, retry_after: float | None) -> float:
        """Backoff after a failed look; the provider's ``Retry-After`` wins (capped)."""
        if retry_after is not None:
            return min(max(retry_after, self.min_interval), 300.0)
        return min(self.min_interval * 2.0 ** min(consecutive_errors, 8), 300.0)


def eta_seconds(estimate: DurationEstimate, elapsed: float, progress: float | None) -> float:
    """Seconds left, from real progress when the provider reports it, else the median."""
    if progress is not None and 0.05 <= progress < 1.0 and elapsed > 0:
        return max(elapsed * (1 - progress) / progress, 0.0)
    return max(estimate.median - elapsed, 0.0)


# --- the schedule of a lognormal duration ------------------------------------------------------

_Z_LOW, _Z_HIGH, _Z_STEP = -8.0, 8.0, 0.01
_Z_POINTS = round((_Z_HIGH - _Z_LOW) / _Z_STEP) + 1


@dataclass(frozen=True, slots=True)
class _Table:
    """For one σ, in standard units z (duration = m·exp(σz)):

    ``cumulative[i]``: ∫ sqrt(exp(σz)·φ(z)/Q(z)) dz from ``_Z_LOW`` to z_i, so that
    ∫ sqrt(h(t)) dt between two durations is sqrt(σm) times the difference;
    ``delay_integral``: ∫ sqrt(exp(σz)·φ(z)·Q(z)) dz, so that ∫ sqrt(f·S) dt = sqrt(σm) times it.
    """

    cumulative: tuple[float, ...]
    delay_integral: float


@lru_cache(maxsize=512)
def _table(sigma: float) -> _Table:
    cumulative = [0.0]
    delay_integral = 0.0
    previous_g = previous_k = 0.0
    for index in range(_Z_POINTS):
        z = _Z_LOW + index * _Z_STEP
        pdf, sf = normal_pdf(z), normal_sf(z)
        grow = math.exp(sigma * z)
        g = math.sqrt(grow * pdf / sf) if sf > 0 else 0.0
        k = math.sqrt(grow * pdf * sf)
        if index:
            cumulative.append(cumulative[-1] + 0.5 * (g + previous_g) * _Z_STEP)
            delay_integral += 0.5 * (k + previous_k) * _Z_STEP
        previous_g, previous_k = g, k
    return _Table(tuple(cumulative), delay_integral)


def lognormal_next_look(dist: LogNormal, at: float, target_delay: float) -> float:
    """Seconds after ``at`` (since the origin) of the next look on the c/sqrt(h) schedule.

    ``c`` makes the mean delay ``(c/2)·∫ sqrt(f·S) dt`` equal ``target_delay``; the next look is
    where ``∫ sqrt(h)`` from ``at`` reaches c. Past the table's end (a task far beyond every
    similar one) the answer is "a long time" and the caller's bounds decide.
    """
    sigma = round(max(dist.sigma, MIN_SIGMA), 3)
    median = dist.median
    table = _table(sigma)
    # In table units: G(z_next) - G(z_now) = c / sqrt(σm) = 2·target / (σ·m·J).
    step = 2.0 * target_delay / (sigma * median * table.delay_integral * dist.delay_ratio)
    z_now = math.log(at / median) / sigma if at > 0 else _Z_LOW
    z_now = min(max(z_now, _Z_LOW), _Z_HIGH)
    position = (z_now - _Z_LOW) / _Z_STEP
    index = min(int(position), _Z_POINTS - 2)
    fraction = position - index
    cumulative = table.cumulative
    here = cumulative[index] + fraction * (cumulative[index + 1] - cumulative[index])
    wanted = here + step
    if wanted >= cumulative[-1]:
        return math.inf
    upper = max(bisect_left(cumulative, wanted), 1)
    below, above = cumulative[upper - 1], cumulative[upper]
    share = 0.0 if above <= below else (wanted - below) / (above - below)
    z_next = _Z_LOW + (upper - 1 + share) * _Z_STEP
    return max(median * math.exp(sigma * z_next) - at, 0.0)


_CALIBRATION_POINTS = 8
_CALIBRATION_ROUNDS = 4


def calibrated(
    dist: LogNormal, windows: Sequence[tuple[float, float]], target_delay: float
) -> LogNormal:
    """``dist`` with the ``delay_ratio`` that makes its schedule meet ``target_delay`` over the
    jobs actually seen, not only over the fit.

    The c/sqrt(h) spacing meets the target exactly only if the durations are lognormal; where
    they are not (a hard upper edge, as in a uniform spread) the fit's tails hold looks no job
    needs and the delay falls short. So the schedule from the origin is replayed over the past
    windows (each filled with the fit's conditional quantiles, since a window only says the job
    ended inside it) and its spacing rescaled until the mean delay there is the target.
    """
    if len(windows) < MIN_HISTORY or target_delay <= 0:
        return dist
    durations = _fill_windows(dist, windows)
    if not durations:
        return dist
    latest = max(durations)
    ratio = 1.0
    for _ in range(_CALIBRATION_ROUNDS):
        trial = dataclasses.replace(dist, delay_ratio=ratio)
        looks = [0.0]
        while looks[-1] < latest and len(looks) < 1000:
            looks.append(looks[-1] + max(lognormal_next_look(trial, looks[-1], target_delay), 1e-3))
        delay = sum(looks[bisect_left(looks, d)] - d for d in durations) / len(durations)
        if delay <= 0:
            break
        ratio = min(max(ratio * delay / target_delay, 0.25), 4.0)
    return dataclasses.replace(dist, delay_ratio=ratio)


def _fill_windows(dist: LogNormal, windows: Sequence[tuple[float, float]]) -> list[float]:
    sigma = max(dist.sigma, MIN_SIGMA)
    unit = NormalDist()
    durations = []
    for after, by in windows:
        if by <= 0:
            continue
        if by - after < 1e-6:
            durations.append(by)
            continue
        low = unit.cdf(math.log(after / dist.median) / sigma) if after > 0 else 0.0
        high = unit.cdf(math.log(by / dist.median) / sigma)
        if high - low < 1e-9:
            durations.append(0.5 * (after + by))
            continue
        for j in range(_CALIBRATION_POINTS):
            share = low + (high - low) * (j + 0.5) / _CALIBRATION_POINTS
            value = dist.median * math.exp(sigma * unit.inv_cdf(share))
            durations.append(min(max(value, after), by))
    return durations
