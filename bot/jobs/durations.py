"""How long jobs take, learned from what polling actually saw: a lognormal fit on windows.

Why this module exists: the bot never sees when a task finished, only that it was unfinished
at one look and done at the next. With sparse polling those windows are wide, and treating
their midpoints as durations biases the history towards the poll schedule that produced them
(a planner that looks late learns that jobs are late). Here every past job is a
:class:`CompletionWindow` (finished after ``after`` and by ``by`` seconds), and the duration
distribution is fitted to the windows themselves by maximum likelihood (interval-censored
EM on the log of the duration), shrunk towards a prior from the catalog's expected duration,
so the fit stays right however sparse the looks were, and a handful of jobs is enough to learn
from nothing: the prior on the spread is on its logarithm, so a model whose jobs are ten
times tighter than the prior says is learned from a handful of them.

Durations are measured from an *origin*: the submission for the total duration, and for the
run time the moment the provider said it started the task (MuleRouter's ``updated_at`` once
``processing``), else the last look that saw it still pending, else the submission. Queue wait
then stays out of the run-time distribution, which is much tighter than the total.

What it must never do: read the store or the clock (it is pure and deterministic), or return
a distribution with a non-positive median or spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The prior: the catalog's expected seconds as the median, log-spread PRIOR_SIGMA, worth
# PRIOR_WEIGHT observations for the median and PRIOR_SPREAD_WEIGHT for the spread (a prior on
# log σ, so it pulls by a ratio: see _spread).
PRIOR_SIGMA = 0.5
PRIOR_WEIGHT = 1.0
PRIOR_SPREAD_WEIGHT = 2.0
MIN_SIGMA = 0.02
_EM_ROUNDS = 40
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class CompletionWindow:
    """One past job: done after ``after`` and by ``by`` seconds after submission.

    ``started`` is its run-time origin in seconds after submission (see the module docstring);
    0 when the provider never said it was queued.
    """

    after: float
    by: float
    started: float = 0.0

    def total(self) -> tuple[float, float]:
        return self.after, self.by

    def run(self) -> tuple[float, float]:
        return max(self.after - self.started, 0.0), max(self.by - self.started, 0.0)


def completion_window(
    submitted_at: float, after: float | None, by: float, started_at: float | None
) -> CompletionWindow:
    """The window of a job from its epoch times (``after``: the last look that saw it
    unfinished, ``None`` if unknown; ``by``: the look that saw it done)."""
    by_s = max(by - submitted_at, 0.0)
    started = 0.0 if started_at is None else min(max(started_at - submitted_at, 0.0), by_s)
    after_s = started if after is None else min(max(after - submitted_at, started), by_s)
    return CompletionWindow(after=after_s, by=by_s, started=started)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A duration distribution: ``log(duration)`` is normal with median ``median``, sd ``sigma``.

    ``samples`` is how many past jobs it was fitted to (0: the prior alone).
    """

    median: float
    sigma: float
    samples: int = 0
    # How much more (or less) delay the schedule planned on this fit gives over the jobs
    # actually seen than over the fit itself (1: the fit's shape is right; see
    # bot.jobs.planning.calibrated). Lognormal tails where no job finishes make it below 1.
    delay_ratio: float = 1.0

    def quantile(self, z: float) -> float:
        """The duration at ``z`` standard deviations (1.645: the 95th percentile)."""
        return self.median * math.exp(self.sigma * z)

    @classmethod
    def fit(cls, windows: Sequence[tuple[float, float]], prior_median: float) -> LogNormal:
        """The posterior-predictive lognormal of the next job, from ``(after, by)`` windows.

        A window of zero width is an exact duration; ``after == 0`` means only "by ``by``".
        EM: each round replaces every window by the mean and mean square of the log duration
        truncated to it, then re-estimates (the median with the prior's pseudo-observation, the
        spread as the posterior mode under the prior on log σ, :func:`_spread`). The spread
        returned includes the uncertainty of the median (wide when there are few samples).
        """
        mu0 = math.log(max(prior_median, 1e-6))
        logs = [_log_window(after, by) for after, by in windows if by > 0]
        n = len(logs)
        if n == 0:
            sigma = PRIOR_SIGMA * math.sqrt(1.0 + 1.0 / PRIOR_WEIGHT)
            return cls(median=math.exp(mu0), sigma=sigma, samples=0)
        points = [_start_point(low, high) for low, high in logs]
        mu = (PRIOR_WEIGHT * mu0 + sum(points)) / (PRIOR_WEIGHT + n)
        sigma = PRIOR_SIGMA
        for _ in range(_EM_ROUNDS):
            first = second = 0.0
            for (low, high), point in zip(logs, points, strict=True):
                m1, m2 = _truncated_moments(low, high, mu, sigma, point)
                first += m1
                second += m2
            new_mu = (PRIOR_WEIGHT * mu0 + first) / (PRIOR_WEIGHT + n)
            scatter = second - 2.0 * new_mu * first + n * new_mu * new_mu
            scatter += PRIOR_WEIGHT * (new_mu - mu0) ** 2
            new_sigma = _spread(scatter, n + PRIOR_WEIGHT)
            done = abs(new_mu - mu) < 1e-6 and abs(new_sigma - sigma) < 1e-6
            mu, sigma = new_mu, new_sigma
            if done:
                break
        predictive = sigma * math.sqrt(1.0 + 1.0 / (PRIOR_WEIGHT + n))
        return cls(median=math.exp(mu), sigma=predictive, samples=n)


def _spread(scatter: float, count: float) -> float:
    """The posterior mode of σ given ``scatter`` (the sum of squared deviations, with the
    median prior's) over ``count`` terms, with the prior on log σ.

    The prior is normal on log σ around log PRIOR_SIGMA, as sharp as PRIOR_SPREAD_WEIGHT
    observations (each adds 2 to the curvature of the log-likelihood in log σ): it pulls σ
    towards PRIOR_SIGMA by a *ratio*, so a spread ten times tighter than the prior is learned
    from a handful of jobs (a prior on σ² would weigh in as its square, a hundred times).
    Solves ``-count + scatter·exp(-2l) - 2·w·(l - l0) = 0`` for l = log σ (decreasing in l).
    """
    l0 = math.log(PRIOR_SIGMA)
    curvature = 2.0 * PRIOR_SPREAD_WEIGHT
    scatter = max(scatter, 0.0)

    def slope(level: float) -> float:
        return -count + scatter * math.exp(-2.0 * level) - curvature * (level - l0)

    low, high = math.log(MIN_SIGMA), max(l0, 0.5 * math.log(max(scatter, 1e-300) / count))
    if slope(low) <= 0:
        return MIN_SIGMA
    while slope(high) > 0:
        high += 1.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if slope(mid) > 0:
            low = mid
        else:
            high = mid
    return math.exp(0.5 * (low + high))


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / _SQRT2)


def normal_pdf(z: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * z * z)


def _log_window(after: float, by: float) -> tuple[float, float]:
    high = math.log(by)
    low = math.log(after) if after > 0 else -math.inf
    return min(low, high), high


def _start_point(low: float, high: float) -> float:
    if low == -math.inf:
        return high - 0.5
    return 0.5 * (low + high)


def _truncated_moments(
    low: float, high: float, mu: float, sigma: float, point: float
) -> tuple[float, float]:
    """E[x] and E[x^2] of N(mu, sigma) truncated to [low, high] (a point if it is one)."""
    if high - low < 1e-9:
        return high, high * high
    alpha = (low - mu) / sigma
    beta = (high - mu) / sigma
    mass = normal_cdf(beta) - normal_cdf(alpha)
    if mass < 1e-12:  # far in a tail of the current fit: use the window's own middle
        return point, point * point
    pa = 0.0 if alpha == -math.inf else normal_pdf(alpha)
    pb = normal_pdf(beta)
    apa = 0.0 if alpha == -math.inf else alpha * pa
    ez = (pa - pb) / mass
    ez2 = 1.0 + (apa - beta * pb) / mass
    m1 = mu + sigma * ez
    m2 = mu * mu + 2.0 * mu * sigma * ez + sigma * sigma * ez2
    return m1, m2
