"""bench/polling.py replays the engine's own planning: same inputs, same delays."""

from __future__ import annotations

import importlib.util
import math
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType, SimpleNamespace

from bot.jobs.durations import LogNormal
from bot.jobs.engine import JobEngine, _Running
from bot.jobs.planning import DurationEstimate
from bot.providers import PollResult, TaskState

BENCH = Path(__file__).resolve().parents[2] / "bench" / "polling.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_polling", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _History:
    def __init__(self, estimate: DurationEstimate) -> None:
        self._estimate = estimate

    async def estimate(self, key: object) -> DurationEstimate:
        return self._estimate


def _engine(planner: object, estimate: DurationEstimate) -> JobEngine:
    """Just what ``_next_look`` reads: the planner, the history, no webhooks."""
    engine = object.__new__(JobEngine)
    engine.planner = planner  # type: ignore[assignment]
    engine.history = _History(estimate)  # type: ignore[assignment]
    engine.pushed = SimpleNamespace(relied_on=lambda provider: False)  # type: ignore[assignment]
    return engine


async def test_bench_replay_gives_the_engines_delays() -> None:
    bench = _bench()
    planner = bench.production_planner()
    run = LogNormal(median=120.0, sigma=0.3, samples=200)
    estimate = DurationEstimate.of(LogNormal(median=150.0, sigma=0.5, samples=200), run)
    engine = _engine(planner, estimate)
    for wait, duration in ((0.0, 130.0), (95.0, 110.0), (0.0, 400.0)):
        polls, delay, window, looks = bench.replay_job(planner, estimate, wait, duration)
        # The engine, driven through _next_look with the answers the bench's provider gives.
        running = _Running(1, bench._SPEC, "t", 0.0, math.inf, ("m", "t", "1"), Decimal(0), 1e9)
        now = planner.next_delay(estimate, 0.0, 0, run_elapsed=0.0)  # as _accepted plans it
        seen = [now]
        while now < wait + duration:
            running.polls += 1
            pending = now < wait
            result = (
                PollResult(TaskState.PENDING, "pending")
                if pending
                else PollResult(TaskState.RUNNING, "processing", started_at=wait)
            )
            running.last_unfinished_at = now
            running.note_start(result, now)
            now += await engine._next_look(running, now)
            seen.append(now)
        assert seen == looks
        assert polls == len(looks)
        assert delay == looks[-1] - (wait + duration)
        assert window.by == looks[-1]
        assert window.started == (wait if wait else 0.0)


def test_the_cli_anchor_looks_at_submission_then_every_20_seconds() -> None:
    """Issue #12's convention: ``ceil(T/20) + 1`` looks, the last at the next multiple of 20."""
    bench = _bench()
    outcome = bench.run_fixed([130.0, 20.0, 0.5], 20.0)
    assert outcome.polls == [8, 2, 2]
    assert outcome.delays == [10.0, 0.0, 19.5]
