"""Poll planning, duration estimates and ETAs (pure), and the token bucket (a behaviour test)."""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import itertools
import math
import random
import statistics
import time

import pytest

from bot.jobs.durations import CompletionWindow, LogNormal, completion_window
from bot.jobs.planning import (
    DurationEstimate,
    PollPlanner,
    calibrated,
    eta_seconds,
    lognormal_next_look,
)
from bot.jobs.ratelimit import TokenBucket

PLANNER = PollPlanner(target_delay=5.0, min_interval=4.0, max_interval=120.0, first_look=10.0)
WINDOW = DurationEstimate(low=100.0, median=150.0, high=200.0)


# ---------------------------------------------------------------------------------------------
# DurationEstimate and LogNormal.fit (bot.jobs.durations)
# ---------------------------------------------------------------------------------------------


def test_prior_is_the_expected_seconds_with_a_wide_spread() -> None:
    prior = DurationEstimate.prior(120.0)
    assert prior.from_prior
    assert prior.median == pytest.approx(120.0)
    assert prior.low < 60.0  # wider than half to twice
    assert prior.high > 240.0
    assert DurationEstimate.from_windows((), 120.0) == prior


def test_a_handful_of_exact_samples_is_enough_to_learn() -> None:
    rng = random.Random(7)
    samples = [
        CompletionWindow(d, d) for d in (300 * math.exp(rng.gauss(0, 0.2)) for _ in range(8))
    ]
    learned = DurationEstimate.from_windows(samples, 120.0)  # the prior says 120 s
    assert not learned.from_prior
    assert learned.median == pytest.approx(300.0, rel=0.15)
    assert learned.high / learned.low < 4.0  # the prior: over 10


def test_a_spread_much_tighter_than_the_prior_is_learned_from_a_handful_of_jobs() -> None:
    """The prior on the spread pulls by a ratio (on log σ): ten jobs of σ 0.05 against a prior
    of 0.5 give a fit near 0.05, not one dominated by the prior's squared spread."""
    rng = random.Random(2)
    samples = [(d, d) for d in (120.0 * math.exp(rng.gauss(0.0, 0.05)) for _ in range(10))]
    fit = LogNormal.fit(samples, 120.0)
    assert 0.03 < fit.sigma < 0.1
    assert LogNormal.fit(samples[:1], 120.0).sigma > 0.2  # one job: still mostly the prior


def test_the_fit_is_not_biased_by_sparse_censoring_windows() -> None:
    """Durations seen only through wide windows (sparse looks) fit like the exact ones."""
    rng = random.Random(11)
    truth = [120.0 * math.exp(rng.gauss(0.0, 0.3)) for _ in range(400)]
    looks = [60.0 + 30.0 * k for k in range(20)]  # a look every 30 s from 60 s
    windows = []
    for duration in truth:
        by = next(look for look in looks if look >= duration)
        windows.append((by - 30.0 if by > 60.0 else 0.0, by))
    fit = LogNormal.fit(windows, 500.0)
    midpoints = LogNormal.fit([(0.5 * (a + b), 0.5 * (a + b)) for a, b in windows], 500.0)
    assert fit.median == pytest.approx(120.0, rel=0.04)
    assert fit.sigma == pytest.approx(0.3, rel=0.12)
    # Midpoints of wide windows look more spread than the jobs are.
    assert abs(midpoints.sigma - 0.3) > abs(fit.sigma - 0.3)


def test_run_time_is_measured_from_the_start_the_provider_reported() -> None:
    window = completion_window(1000.0, 1150.0, 1160.0, 1090.0)
    assert window == CompletionWindow(after=150.0, by=160.0, started=90.0)
    assert window.run() == (60.0, 70.0)
    # An unknown last look: only "by 160 s, after the start".
    assert completion_window(1000.0, None, 1160.0, None) == CompletionWindow(0.0, 160.0, 0.0)
    # Clock skew: a start after the result was seen is clamped.
    assert completion_window(1000.0, 1150.0, 1160.0, 1200.0).started == 160.0


# ---------------------------------------------------------------------------------------------
# PollPlanner.next_delay: looks spaced c / sqrt(hazard)
# ---------------------------------------------------------------------------------------------


def _plan(planner: PollPlanner, estimate: DurationEstimate, until: float) -> list[float]:
    looks: list[float] = []
    now = 0.0
    while now < until:
        now += planner.next_delay(estimate, now, len(looks), run_elapsed=now)
        looks.append(now)
    return looks


def test_looks_are_sparse_early_and_dense_where_jobs_finish() -> None:
    dist = LogNormal(median=120.0, sigma=0.3, samples=200)
    looks = _plan(PLANNER, DurationEstimate.of(dist, dist), 300.0)
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert 60.0 < looks[0] < 100.0  # nothing before the first jobs can finish
    assert min(gaps) >= PLANNER.min_interval
    assert 5.0 < gaps[2] < 15.0  # dense around the median
    assert all(gap <= PLANNER.max_interval for gap in gaps)


def test_the_schedule_meets_the_target_delay_on_its_own_distribution() -> None:
    rng = random.Random(5)
    dist = LogNormal(median=120.0, sigma=0.3, samples=200)
    looks = _plan(
        PollPlanner(target_delay=5.0, min_interval=0.5), DurationEstimate.of(dist, dist), 2000.0
    )
    durations = [120.0 * math.exp(rng.gauss(0.0, 0.3)) for _ in range(4000)]
    delays = [looks[bisect.bisect_left(looks, d)] - d for d in durations]
    assert statistics.mean(delays) == pytest.approx(5.0, rel=0.15)


def test_a_smaller_target_costs_more_looks() -> None:
    dist = LogNormal(median=120.0, sigma=0.3, samples=200)
    estimate = DurationEstimate.of(dist, dist)
    loose = _plan(PollPlanner(target_delay=10.0, min_interval=0.5), estimate, 200.0)
    tight = _plan(PollPlanner(target_delay=2.5, min_interval=0.5), estimate, 200.0)
    assert len(tight) > 1.6 * len(loose)


def test_the_first_look_from_the_origin_is_never_past_the_median() -> None:
    """A tight fit with a sparse calibration would put the first look past most jobs; it is
    held at the median, and only that look (later ones follow the schedule)."""
    dist = dataclasses.replace(LogNormal(median=120.0, sigma=0.04, samples=200), delay_ratio=0.5)
    estimate = DurationEstimate.of(dist, dist)
    planner = PollPlanner(target_delay=5.0, min_interval=0.5)
    free = lognormal_next_look(dist, 0.0, 5.0)
    assert free > 120.0
    assert planner.next_delay(estimate, 0.0, 0, run_elapsed=0.0) == pytest.approx(120.0)
    assert planner.next_delay(estimate, 30.0, 1, run_elapsed=0.0) == pytest.approx(120.0)
    assert planner.next_delay(estimate, 60.0, 1, run_elapsed=60.0) == pytest.approx(
        lognormal_next_look(dist, 60.0, 5.0)
    )
    # A lognormal of ordinary spread looks first long before its median: the bound is idle.
    usual = LogNormal(median=120.0, sigma=0.3, samples=200)
    assert lognormal_next_look(usual, 0.0, 5.0) < 100.0


def test_a_task_seen_pending_is_planned_as_starting_now() -> None:
    run = LogNormal(median=100.0, sigma=0.2, samples=200)
    estimate = DurationEstimate.of(LogNormal(median=150.0, sigma=0.5, samples=200), run)
    fresh = PLANNER.next_delay(estimate, 0.0, 0, run_elapsed=0.0)
    pending = PLANNER.next_delay(estimate, 90.0, 1, run_elapsed=0.0)
    assert pending == pytest.approx(fresh)
    # Without a run-time origin the total distribution decides.
    assert PLANNER.next_delay(estimate, 0.0, 0) != pytest.approx(fresh)


def test_far_past_every_similar_job_looks_back_off_to_max_interval() -> None:
    dist = LogNormal(median=120.0, sigma=0.1, samples=200)
    estimate = DurationEstimate.of(dist, dist)
    assert PLANNER.next_delay(estimate, 5000.0, 30, run_elapsed=5000.0) == PLANNER.max_interval


def test_calibration_corrects_a_shape_the_lognormal_misses() -> None:
    """Uniform durations: the fit's tails hold looks no job needs; calibrated, the schedule
    meets the target over the jobs seen."""
    rng = random.Random(3)
    durations = [rng.uniform(108.0, 132.0) for _ in range(200)]
    windows = [(d, d) for d in durations]
    fit = LogNormal.fit(windows, 120.0)
    planner = PollPlanner(target_delay=5.0, min_interval=0.5)
    tuned = calibrated(fit, windows, 5.0)
    looks = _plan(planner, DurationEstimate.of(tuned, tuned), 140.0)
    delays = [looks[bisect.bisect_left(looks, d)] - d for d in durations]
    assert tuned.delay_ratio < 1.0
    assert statistics.mean(delays) == pytest.approx(5.0, rel=0.2)


# ---------------------------------------------------------------------------------------------
# PollPlanner.after_error
# ---------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_capped() -> None:
    assert PLANNER.after_error(1, retry_after=30.0) == 30.0
    assert PLANNER.after_error(5, retry_after=30.0) == 30.0
    assert PLANNER.after_error(1, retry_after=0.5) == 4.0  # never below the dense interval
    assert PLANNER.after_error(1, retry_after=3600.0) == 300.0


def test_errors_back_off_exponentially_up_to_a_cap() -> None:
    assert [PLANNER.after_error(n, None) for n in range(7)] == [
        4.0,
        8.0,
        16.0,
        32.0,
        64.0,
        128.0,
        256.0,
    ]
    assert PLANNER.after_error(7, None) == 300.0
    assert PLANNER.after_error(1000, None) == 300.0


# ---------------------------------------------------------------------------------------------
# eta_seconds
# ---------------------------------------------------------------------------------------------


def test_eta_from_progress_when_reported() -> None:
    assert eta_seconds(WINDOW, elapsed=30.0, progress=0.25) == pytest.approx(90.0)
    assert eta_seconds(WINDOW, elapsed=90.0, progress=0.9) == pytest.approx(10.0)


def test_eta_from_the_median_without_usable_progress() -> None:
    assert eta_seconds(WINDOW, elapsed=30.0, progress=None) == 120.0
    assert eta_seconds(WINDOW, elapsed=30.0, progress=0.01) == 120.0  # too early to trust
    assert eta_seconds(WINDOW, elapsed=30.0, progress=1.0) == 120.0
    assert eta_seconds(WINDOW, elapsed=0.0, progress=0.5) == 150.0  # not started yet
    assert eta_seconds(WINDOW, elapsed=400.0, progress=None) == 0.0  # late: never negative


def test_eta_decreases_as_time_passes() -> None:
    etas = [eta_seconds(WINDOW, float(t), None) for t in range(0, 200, 10)]
    assert etas == sorted(etas, reverse=True)
    assert etas[0] > etas[-1]


# ---------------------------------------------------------------------------------------------
# TokenBucket
# ---------------------------------------------------------------------------------------------


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(-1.0)


async def test_bucket_respects_its_rate() -> None:
    bucket = TokenBucket(rate=50.0, burst=1.0)
    started = time.monotonic()
    for _ in range(26):  # one token in the bucket, then 25 at 50 a second: about 0.5 s
        await bucket.acquire()
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed <= 2.0


async def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=20.0)  # burst defaults to one second's worth
    assert bucket.capacity == 20.0
    started = time.monotonic()
    for _ in range(20):
        await bucket.acquire()
    burst = time.monotonic() - started
    for _ in range(10):  # these wait for refills: about 0.5 s
        await bucket.acquire()
    total = time.monotonic() - started
    assert burst < 0.2
    assert 0.4 <= total <= 2.0


async def test_bucket_shared_by_concurrent_callers() -> None:
    bucket = TokenBucket(rate=40.0, burst=1.0)
    done: list[float] = []
    started = time.monotonic()

    async def take() -> None:
        await bucket.acquire()
        done.append(time.monotonic() - started)

    await asyncio.gather(*(take() for _ in range(21)))  # 1 now, 20 at 40 a second
    assert len(done) == 21
    assert 0.4 <= max(done) <= 2.0
    assert sorted(done)[1] >= 0.015  # the second caller waited for a token


# ---------------------------------------------------------------------------------------------
# PollPlanner.safety_net_delay (webhooks on; polling only backs them up)
# ---------------------------------------------------------------------------------------------


def test_safety_net_waits_past_the_late_end_then_looks_sparsely() -> None:
    estimate = DurationEstimate(low=100.0, median=150.0, high=200.0)
    # First look after high + a quarter of the median (200 + 37.5).
    assert PLANNER.safety_net_delay(estimate, elapsed=0.0, polls=0) == pytest.approx(237.5)
    assert PLANNER.safety_net_delay(estimate, elapsed=230.0, polls=1) == pytest.approx(7.5)
    # Past it: every max(60 s, median / 2), growing with how overdue the job is, capped.
    assert PLANNER.safety_net_delay(estimate, elapsed=237.5, polls=1) == pytest.approx(75.0)
    assert PLANNER.safety_net_delay(estimate, elapsed=237.5 + 400, polls=3) == pytest.approx(200.0)
    assert PLANNER.safety_net_delay(estimate, elapsed=1e6, polls=50) == pytest.approx(750.0)
    short = DurationEstimate(low=5.0, median=10.0, high=20.0)
    assert PLANNER.safety_net_delay(short, elapsed=30.0, polls=2) == pytest.approx(60.0)
