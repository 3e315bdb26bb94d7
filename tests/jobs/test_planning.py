"""Poll planning, duration estimates and ETAs (pure), and the token bucket (a behaviour test)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from bot.jobs.planning import MIN_HISTORY, DurationEstimate, PollPlanner, eta_seconds
from bot.jobs.ratelimit import TokenBucket

PLANNER = PollPlanner(min_interval=4.0, max_interval=120.0, first_look=10.0)
WINDOW = DurationEstimate(low=100.0, median=150.0, high=200.0)


# ---------------------------------------------------------------------------------------------
# DurationEstimate
# ---------------------------------------------------------------------------------------------


def test_prior_before_enough_history() -> None:
    assert MIN_HISTORY == 5
    prior = DurationEstimate(low=60.0, median=120.0, high=240.0, from_prior=True)
    assert DurationEstimate.prior(120.0) == prior
    assert DurationEstimate.from_history((), 120.0) == prior
    assert DurationEstimate.from_history([300.0, 310.0, 320.0, 330.0], 120.0) == prior
    # Non-positive durations (clock trouble) do not count as history.
    assert DurationEstimate.from_history([0.0, -5.0, 300.0, 310.0, 320.0, 330.0], 120.0) == prior


def test_percentiles_once_there_is_history() -> None:
    durations = [float(n) for n in range(1, 21)]  # 1..20 s
    random.Random(3).shuffle(durations)
    estimate = DurationEstimate.from_history(durations, 999.0)
    assert estimate.low == pytest.approx(1.95)  # 5th percentile, inclusive method
    assert estimate.median == pytest.approx(10.5)
    assert estimate.high == pytest.approx(19.05)  # 95th percentile


def test_exactly_min_history_samples_are_enough() -> None:
    estimate = DurationEstimate.from_history([100.0, 110.0, 120.0, 130.0, 140.0], 999.0)
    assert estimate.median == 120.0
    assert estimate.low == pytest.approx(102.0)
    assert estimate.high == pytest.approx(138.0)
    assert DurationEstimate.from_history([42.0] * 5, 999.0) == DurationEstimate(42.0, 42.0, 42.0)


# ---------------------------------------------------------------------------------------------
# PollPlanner.next_delay
# ---------------------------------------------------------------------------------------------


def test_first_look_comes_early() -> None:
    assert PLANNER.next_delay(WINDOW, elapsed=0.0, polls=0) == 10.0
    # Resumed after a restart a few seconds in: the first look is still at 10 s.
    assert PLANNER.next_delay(WINDOW, elapsed=3.0, polls=0) == 7.0
    # ...but never sooner than the dense interval.
    assert PLANNER.next_delay(WINDOW, elapsed=8.0, polls=0) == 4.0


def test_no_separate_first_look_when_the_window_is_near() -> None:
    near = DurationEstimate(low=12.0, median=20.0, high=30.0)
    assert PLANNER.next_delay(near, elapsed=0.0, polls=0) == 12.0


def test_jump_to_the_window_start_after_the_first_look() -> None:
    assert PLANNER.next_delay(WINDOW, elapsed=10.0, polls=1) == 90.0
    assert PLANNER.next_delay(WINDOW, elapsed=50.0, polls=3) == 50.0
    # A far window is approached at most max_interval at a time.
    far = DurationEstimate(low=1000.0, median=1200.0, high=1500.0)
    assert PLANNER.next_delay(far, elapsed=10.0, polls=1) == 120.0


def test_dense_inside_the_window() -> None:
    for elapsed in (96.0, 100.0, 150.0, 199.9):
        assert PLANNER.next_delay(WINDOW, elapsed=elapsed, polls=5) == 4.0


def test_backoff_after_the_window_up_to_max_interval() -> None:
    assert PLANNER.next_delay(WINDOW, elapsed=200.0, polls=9) == 4.0
    assert PLANNER.next_delay(WINDOW, elapsed=220.0, polls=9) == 10.0
    assert PLANNER.next_delay(WINDOW, elapsed=260.0, polls=9) == 30.0
    assert PLANNER.next_delay(WINDOW, elapsed=1000.0, polls=9) == 120.0


def test_a_whole_plan_is_sparse_before_dense_inside_and_sparse_after() -> None:
    elapsed, polls, delays = 0.0, 0, []
    while elapsed < 1500.0:
        delay = PLANNER.next_delay(WINDOW, elapsed, polls)
        delays.append((elapsed, delay))
        elapsed += delay
        polls += 1
    before = [d for at, d in delays if at < 96.0]
    inside = [d for at, d in delays if 96.0 <= at < 200.0]
    after = [d for at, d in delays if at >= 200.0]
    assert before == [10.0, 90.0]  # first look at 10 s, then straight to the window
    assert set(inside) == {4.0}
    assert len(inside) == 25  # 100 s, 104 s … 196 s
    assert after == sorted(after)  # never denser again
    assert after[-1] == 120.0
    assert all(4.0 <= d <= 120.0 for _, d in delays)


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


def test_rough_samples_count_only_when_they_are_the_majority() -> None:
    exact = [(d, True) for d in (100.0, 102.0, 104.0, 106.0, 108.0, 110.0)]
    # A few jobs seen after the long jump into the window: their midpoints are far too early.
    rough = [(55.0, False), (56.0, False)]
    assert DurationEstimate.from_samples(exact + rough, 999.0) == (
        DurationEstimate.from_history([d for d, _ in exact], 999.0)
    )
    # Most jobs finish before the window opens: the history is too long and learns down.
    mostly_rough = [(d, False) for d in (40.0, 42.0, 44.0, 46.0, 48.0, 50.0, 52.0)]
    learned = DurationEstimate.from_samples(exact + mostly_rough, 999.0)
    assert learned.low < 45.0
    # Too few exact samples: everything counts, rough or not.
    assert DurationEstimate.from_samples(rough * 3, 999.0).median == pytest.approx(55.5)


def test_exact_means_two_close_looks() -> None:
    planner = PollPlanner(min_interval=4.0)
    assert planner.is_exact(4.0)
    assert planner.is_exact(10.0)
    assert not planner.is_exact(10.1)


def test_the_prior_window_is_polled_sparsely() -> None:
    planner = PollPlanner(min_interval=4.0, max_interval=120.0, first_look=10.0)
    prior = DurationEstimate.prior(150.0)  # window 75 s .. 300 s
    assert planner.next_delay(prior, 80.0, 2) == pytest.approx(8.0)  # a tenth of the elapsed
    assert planner.next_delay(prior, 200.0, 5) == pytest.approx(20.0)
    learned = DurationEstimate(low=75.0, median=150.0, high=300.0)
    assert planner.next_delay(learned, 200.0, 5) == 4.0  # history: dense inside the window
