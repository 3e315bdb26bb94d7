"""Benchmark: the poll planner replayed in virtual time against known duration distributions.

Run it from the repository root (a script, not a test; a run takes seconds)::

    .venv/bin/python bench/polling.py --dist lognormal --median 120 --sigma 0.3 --mode steady

Why it exists: polls per job and detection delay depend on the duration distribution, and the
planner learns that distribution from its own (censored) samples, so the only honest figure is
a long replay. Each job is drawn from the distribution (an optional queue wait first, then the
run time), and looked at exactly as the engine looks: the first delay as ``JobEngine._accepted``
plans it, every later one through :meth:`bot.jobs.engine._Running.plan` (what
``JobEngine._next_look`` calls) after :meth:`~bot.jobs.engine._Running.note_start` read the
answer (MuleRouter's: ``pending`` while queued, then ``processing`` with its start time), and
the finished job becomes a :func:`~bot.jobs.durations.completion_window` as the store records
it, fitted by :meth:`~bot.jobs.planning.DurationEstimate.from_windows` as the history does
(refitted every ``--refresh`` jobs; jobs run one after another).

Modes: ``steady`` starts from 200 exact past durations and reports jobs 1001 onward, the planner
learning from its own samples; ``cold`` starts with no history (the prior: ``--expected``,
by default the distribution's median, as the catalog would say) and reports the first 300.

It prints, for the planner and for MuleRouter's own CLI (a look at submission, then one every
20 s: ``ceil(T/20) + 1`` looks for a job of T seconds, the convention of issue #12), polls per job
(mean, p95), detection delay (mean, p95, max) and the optimal schedule's polls at the same mean
delay: looks spaced c/sqrt(h(t)) for the true hazard h, c found by bisection so the mean delay
over the same jobs matches. The last line is
``polls_mean=<x> polls_p95=<x> delay_mean=<s> delay_p95=<s> optimal_polls=<x>`` (the planner).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.catalog import CATALOG
from bot.config import Settings
from bot.jobs.durations import CompletionWindow, completion_window, normal_sf
from bot.jobs.engine import _Running
from bot.jobs.planning import DurationEstimate, PollPlanner
from bot.providers import PollResult, TaskState

CLI_INTERVAL = 20.0
SEEDED_HISTORY = 200
STEADY_SKIP = 1000
COLD_JOBS = 300
HISTORY_LIMIT = 200  # what DurationHistory reads (store.completion_windows' default)
_GRID_STEP = 0.05


@dataclass(frozen=True)
class Distribution:
    """Job durations: an optional queue wait (share ``queue_share``, exponential), then run."""

    kind: str
    median: float
    spread: float
    sigma: float
    queue_share: float
    queue_mean: float

    def draw(self, rng: random.Random) -> tuple[float, float]:
        """(queue wait, run time) of one job."""
        if self.kind == "uniform":
            run = self.median * (1 + rng.uniform(-self.spread, self.spread))
        else:
            run = self.median * math.exp(rng.gauss(0.0, self.sigma))
        wait = 0.0
        if self.queue_share > 0 and rng.random() < self.queue_share:
            wait = rng.expovariate(1.0 / self.queue_mean)
        return wait, run

    def run_survival(self, t: float) -> float:
        if self.kind == "uniform":
            low, high = self.median * (1 - self.spread), self.median * (1 + self.spread)
            return 1.0 if t <= low else 0.0 if t >= high else (high - t) / (high - low)
        if t <= 0:
            return 1.0
        return normal_sf(math.log(t / self.median) / self.sigma)

    def survival_grid(self) -> list[float]:
        """S(t) of the total duration at t = k·_GRID_STEP, until it is negligible."""
        grid: list[float] = []
        tail = 0.0  # P(R <= t, R + W > t) for queued jobs, updated step by step
        decay = math.exp(-_GRID_STEP / self.queue_mean) if self.queue_share > 0 else 0.0
        previous_run = 1.0
        t = 0.0
        while True:
            run = self.run_survival(t)
            tail = tail * decay + (previous_run - run)
            previous_run = run
            total = run + self.queue_share * tail if self.queue_share > 0 else run
            grid.append(total)
            if total < 1e-9 and t > self.median:
                return grid
            t += _GRID_STEP


@dataclass
class Outcome:
    polls: list[int]
    delays: list[float]

    def line(self) -> str:
        return (
            f"polls_mean={statistics.mean(self.polls):.2f} "
            f"polls_p95={percentile(self.polls, 0.95):.0f} "
            f"delay_mean={statistics.mean(self.delays):.2f} "
            f"delay_p95={percentile(self.delays, 0.95):.2f}"
        )


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def production_planner() -> PollPlanner:
    """The planner as the engine builds it from the default settings."""
    fields = Settings.model_fields
    return PollPlanner(
        target_delay=float(fields["poll_target_delay"].default),
        min_interval=float(fields["poll_interval_min"].default),
        max_interval=float(fields["poll_interval_max"].default),
        first_look=10.0,  # EngineConfig.poll_first_look
    )


_SPEC = CATALOG[0]


def replay_job(
    planner: PollPlanner, estimate: DurationEstimate, wait: float, run: float
) -> tuple[int, float, CompletionWindow, list[float]]:
    """One job in virtual time (submitted at 0); (polls, delay, window, look times)."""
    finish = wait + run
    running = _Running(0, _SPEC, "task", 0.0, math.inf, ("m", "t", "1"), Decimal(0), math.inf)
    running.last_unfinished_at = 0.0
    now = planner.next_delay(estimate, 0.0, 0, run_elapsed=0.0)  # as JobEngine._accepted
    looks = [now]
    while True:
        running.polls += 1
        if now >= finish:
            window = completion_window(0.0, running.last_unfinished_at, now, running.started_at)
            return running.polls, now - finish, window, looks
        if now < wait:
            result = PollResult(TaskState.PENDING, "pending")
        else:
            result = PollResult(TaskState.RUNNING, "processing", started_at=wait)
        running.last_unfinished_at = now
        running.note_start(result, now)
        now += running.plan(planner, estimate, now)
        looks.append(now)


def run_planner(
    dist: Distribution,
    planner: PollPlanner,
    jobs: Sequence[tuple[float, float]],
    *,
    seeded: Sequence[CompletionWindow],
    expected: float,
    refresh: int,
) -> Outcome:
    history: list[CompletionWindow] = list(seeded)  # most recent last
    estimate = DurationEstimate.from_windows(
        history[::-1][:HISTORY_LIMIT], expected, planner.target_delay
    )
    polls: list[int] = []
    delays: list[float] = []
    for index, (wait, run) in enumerate(jobs):
        if index and index % refresh == 0:
            estimate = DurationEstimate.from_windows(
                history[::-1][:HISTORY_LIMIT], expected, planner.target_delay
            )
        count, delay, window, _ = replay_job(planner, estimate, wait, run)
        history.append(window)
        del history[: max(len(history) - HISTORY_LIMIT, 0)]
        polls.append(count)
        delays.append(delay)
    return Outcome(polls, delays)


def run_fixed(totals: Sequence[float], interval: float) -> Outcome:
    """Fixed polling as MuleRouter's CLI does it: a look at submission, then every
    ``interval`` seconds (``ceil(T / interval) + 1`` looks for a job of ``T`` seconds)."""
    steps = [max(math.ceil(total / interval), 1) for total in totals]
    return Outcome(
        [step + 1 for step in steps],
        [step * interval - total for step, total in zip(steps, totals, strict=True)],
    )


class OptimalSchedule:
    """Looks where ∫ sqrt(h) of the true total duration crosses c, 2c, 3c, …"""

    def __init__(self, dist: Distribution) -> None:
        survival = dist.survival_grid()
        self.cumulative = [0.0]
        for k in range(1, len(survival)):
            density = max(survival[k - 1] - survival[k], 0.0) / _GRID_STEP
            mid = 0.5 * (survival[k - 1] + survival[k])
            root = math.sqrt(density / mid) if mid > 1e-12 else 0.0
            self.cumulative.append(self.cumulative[-1] + root * _GRID_STEP)

    def looks(self, c: float, until: float) -> list[float]:
        times = []
        level = c
        last = self.cumulative[-1]
        while True:
            if level <= last:
                index = bisect_left(self.cumulative, level)
                t = index * _GRID_STEP
            else:  # past the grid (survival negligible): one last look after every job
                t = max(until, (len(self.cumulative) - 1) * _GRID_STEP)
            times.append(t)
            if t >= until:
                return times
            level += c

    def outcome(self, c: float, totals: Sequence[float]) -> Outcome:
        times = self.looks(c, max(totals))
        polls, delays = [], []
        for total in totals:
            index = bisect_left(times, total)
            polls.append(index + 1)
            delays.append(times[index] - total)
        return Outcome(polls, delays)

    def at_delay(self, totals: Sequence[float], mean_delay: float) -> Outcome:
        low, high = 1e-4, 50.0
        for _ in range(60):
            c = math.sqrt(low * high)
            if statistics.mean(self.outcome(c, totals).delays) > mean_delay:
                high = c
            else:
                low = c
        return self.outcome(math.sqrt(low * high), totals)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", choices=("uniform", "lognormal"), required=True)
    parser.add_argument("--median", type=float, required=True)
    parser.add_argument("--spread", type=float, default=0.1, help="uniform: ± share")
    parser.add_argument("--sigma", type=float, default=0.3, help="lognormal: log-spread")
    parser.add_argument("--queue-share", type=float, default=0.0)
    parser.add_argument("--queue-mean", type=float, default=90.0)
    parser.add_argument("--mode", choices=("steady", "cold"), required=True)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--expected", type=float, default=None, help="prior median (cold)")
    parser.add_argument("--refresh", type=int, default=None, help="jobs between refits")
    args = parser.parse_args(argv)
    dist = Distribution(
        args.dist, args.median, args.spread, args.sigma, args.queue_share, args.queue_mean
    )
    steady = args.mode == "steady"
    skip = STEADY_SKIP if steady else 0
    count = args.jobs or (STEADY_SKIP + 2000 if steady else COLD_JOBS)
    if count <= skip:
        parser.error(f"--jobs must exceed {skip} in steady mode")
    refresh = args.refresh or (10 if steady else 1)
    rng = random.Random(args.seed)
    seeded = []
    if steady:
        for _ in range(SEEDED_HISTORY):
            wait, run = dist.draw(rng)
            seeded.append(CompletionWindow(wait + run, wait + run, wait))
    jobs = [dist.draw(rng) for _ in range(count)]
    planner = production_planner()
    expected = args.expected or args.median
    outcome = run_planner(dist, planner, jobs, seeded=seeded, expected=expected, refresh=refresh)
    reported = jobs[skip:]
    totals = [wait + run for wait, run in reported]
    mine = Outcome(outcome.polls[skip:], outcome.delays[skip:])
    cli = run_fixed(totals, CLI_INTERVAL)
    optimum = OptimalSchedule(dist)
    best = optimum.at_delay(totals, statistics.mean(mine.delays))
    best_cli = optimum.at_delay(totals, statistics.mean(cli.delays))
    print(
        f"{args.dist} median {args.median:g}"
        + (f" spread {args.spread:g}" if args.dist == "uniform" else f" sigma {args.sigma:g}")
        + (f" queue {args.queue_share:g}x{args.queue_mean:g}s" if args.queue_share else "")
        + f" mode {args.mode}: {len(reported)} jobs reported, target {planner.target_delay:g}s"
    )
    for name, result, opt in (("cli 20s", cli, best_cli), ("planner", mine, best)):
        ratio = statistics.mean(result.polls) / statistics.mean(opt.polls)
        print(
            f"  {name:8} {result.line()} delay_max={max(result.delays):.2f}"
            f" optimal_polls={statistics.mean(opt.polls):.2f} (x{ratio:.2f})"
            f" p95/mean={percentile(result.delays, 0.95) / statistics.mean(result.delays):.2f}"
        )
    print(f"{mine.line()} optimal_polls={statistics.mean(best.polls):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
