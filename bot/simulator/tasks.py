"""One simulated task: its timeline, fixed at creation, and what it looks like at any moment.

Why this module exists: benchmarks keep 10,000 tasks in flight, so a task is a small slotted
record with no timer of its own. Everything a poll shows (status word, progress, result) is
computed from monotonic timestamps when asked. Each task also draws, once, the spellings and
response variants it will use, so that a run exercises every documented form.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.config import ProviderName
from bot.simulator.config import SimulatorConfig
from bot.simulator.contracts import Endpoint
from bot.simulator.failures import TaskError, random_failure


class TaskPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskPhase.SUCCEEDED, TaskPhase.FAILED)


@dataclass(frozen=True, slots=True)
class Spellings:
    """The words one task uses for each phase (shared instances: one per combination)."""

    pending: str
    running: str
    succeeded: str
    failed: str = "failed"

    def word(self, phase: TaskPhase) -> str:
        word: str = getattr(self, phase.value)
        return word


MULEROUTER_SPELLINGS: tuple[Spellings, ...] = tuple(
    Spellings(pending, running, succeeded)
    for pending in ("pending", "queued")
    for running in ("processing", "running", "retrying")
    for succeeded in ("completed", "succeeded")
)
VTRIX_SPELLINGS: tuple[Spellings, ...] = tuple(
    Spellings("pending", running, "completed") for running in ("processing", "in_progress")
)
UNKNOWN_WORDS = ("warming_up", "preparing")
VTRIX_ID_FIELDS = ("id", "task_id", "data.id")

_SPELLINGS = {ProviderName.MULEROUTER: MULEROUTER_SPELLINGS, ProviderName.VTRIX: VTRIX_SPELLINGS}
# A task whose input image is refused fails this far into its timeline.
_INPUT_FAILURE_SHARE = 0.15


@dataclass(slots=True)
class SimTask:
    """A task's fixed timeline (monotonic seconds) and the response variants it drew.

    ``request`` is the simulator's own record of the accepted request (see
    :func:`bot.simulator.contracts.validate`): what upstream would act on, defaults filled in.
    """

    id: str
    contract: Endpoint
    request: dict[str, Any]
    created_wall: float
    created_mono: float
    running_at: float
    finishes_at: float
    error: TaskError | None
    cost: Decimal
    result_count: int
    image_size: tuple[int, int] | None
    video_seconds: int | None
    spellings: Spellings
    unknown_word: str | None
    error_at_top: bool
    vtrix_id_field: str
    precise_timestamps: bool
    polls: int = 0
    seen_finished_at: float | None = None
    # When a task.succeeded/failed webhook about it was first answered 2xx (monotonic).
    pushed_at: float | None = None

    @property
    def provider(self) -> ProviderName:
        return self.contract.provider

    def phase(self, now: float) -> TaskPhase:
        if now < self.running_at:
            return TaskPhase.PENDING
        if now < self.finishes_at:
            return TaskPhase.RUNNING
        return TaskPhase.FAILED if self.error is not None else TaskPhase.SUCCEEDED

    def finished_at(self, now: float) -> float | None:
        """The monotonic time the task became finished, or None while it is not."""
        return self.finishes_at if now >= self.finishes_at else None

    def phase_started(self, now: float) -> float:
        phase = self.phase(now)
        if phase is TaskPhase.PENDING:
            return self.created_mono
        return self.running_at if phase is TaskPhase.RUNNING else self.finishes_at

    def word(self, now: float) -> str:
        """The provider's status word now; an unknown word during the first half of running."""
        phase = self.phase(now)
        if (
            phase is TaskPhase.RUNNING
            and self.unknown_word is not None
            and now < (self.running_at + self.finishes_at) / 2
        ):
            return self.unknown_word
        return self.spellings.word(phase)

    def progress(self, now: float) -> float:
        """0 while pending, rising while running, 1 on success, frozen where it failed."""
        phase = self.phase(now)
        if phase is TaskPhase.SUCCEEDED:
            return 1.0
        if phase is TaskPhase.PENDING:
            return 0.0
        span = self.finishes_at - self.running_at
        share = 1.0 if span <= 0 else (min(now, self.finishes_at) - self.running_at) / span
        return round(0.05 + 0.9 * share, 3)

    def wall_time(self, mono: float) -> float:
        """A monotonic instant of this task as wall-clock epoch seconds."""
        return self.created_wall + (mono - self.created_mono)

    def note_poll(self, now: float) -> None:
        self.polls += 1
        if self.seen_finished_at is None and now >= self.finishes_at:
            self.seen_finished_at = now


def plan_task(
    *,
    rng: random.Random,
    config: SimulatorConfig,
    contract: Endpoint,
    request: dict[str, Any],
    cost: Decimal,
    input_error: TaskError | None,
    now_mono: float,
    now_wall: float,
) -> SimTask:
    """Draw a new task's identity, timeline, outcome and response variants."""
    video_seconds = contract.video_seconds(request)
    simulated = config.base_duration(contract.model_id) * (video_seconds or 5) / 5
    simulated *= 1 + rng.uniform(-config.duration_jitter, config.duration_jitter)
    real = simulated / config.speed
    running_at = now_mono + real * config.pending_share
    finishes_at = now_mono + real
    error = input_error
    if error is not None:
        finishes_at = now_mono + real * max(config.pending_share, _INPUT_FAILURE_SHARE)
    elif rng.random() < config.failure_rate:
        error = random_failure(rng)
        finishes_at = now_mono + real * rng.uniform(max(config.pending_share, 0.3), 1.0)
    unknown = config.unknown_status_words and rng.random() < 0.5
    return SimTask(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        contract=contract,
        request=request,
        created_wall=now_wall,
        created_mono=now_mono,
        running_at=min(running_at, finishes_at),
        finishes_at=finishes_at,
        error=error,
        cost=cost,
        result_count=contract.result_count(request),
        image_size=contract.image_size(request),
        video_seconds=video_seconds,
        spellings=rng.choice(_SPELLINGS[contract.provider]),
        unknown_word=rng.choice(UNKNOWN_WORDS) if unknown else None,
        error_at_top=rng.random() < 0.5,
        vtrix_id_field=rng.choice(VTRIX_ID_FIELDS),
        precise_timestamps=rng.random() < 0.5,
    )
