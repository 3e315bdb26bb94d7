"""HTTP faults: what can go wrong with one request, scripted or at random.

Why this module exists: clients must survive rate limits, outages, slow and garbled answers and
dropped connections, and above all must not lose track of money when a create *may* have
succeeded. Tests script exact faults ("the next create answers 500 after the task was created");
benchmarks draw them at random from a seeded generator so a run can be repeated.

A fault in phase ``before`` replaces the request's handling (nothing is created); in phase
``after`` the request is handled first (a create makes a task that will bill) and the fault then
replaces or delays the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from bot.config import ProviderName

if TYPE_CHECKING:
    from bot.simulator.config import SimulatorConfig


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 500
    UNAVAILABLE = "unavailable"  # 503
    SLOW = "slow"  # answer normally after a delay
    MALFORMED = "malformed"  # 200/202 with a truncated JSON body
    DROP = "drop"  # close the connection without answering


class FaultTarget(StrEnum):
    CREATE = "create"
    POLL = "poll"
    MEDIA = "media"
    ALL = "all"


class FaultPhase(StrEnum):
    BEFORE = "before"
    AFTER = "after"


# Kinds that can plausibly strike after a create was accepted; a 429 or 503 never does.
_AFTER_CAPABLE = frozenset(
    {FaultKind.SERVER_ERROR, FaultKind.SLOW, FaultKind.MALFORMED, FaultKind.DROP}
)


class ScriptedFault(BaseModel):
    """One entry of the scripted queue: the next ``count`` matching requests get ``kind``.

    ``retry_after`` (seconds, for ``rate_limit``) and ``seconds`` (for ``slow``) default to the
    configured values. ``provider`` narrows the match to one provider's routes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    target: FaultTarget = FaultTarget.ALL
    phase: FaultPhase = FaultPhase.BEFORE
    count: int = Field(1, ge=1)
    retry_after: int | None = Field(None, ge=0)
    seconds: float | None = Field(None, ge=0)
    provider: ProviderName | None = None

    def matches(self, target: FaultTarget, provider: ProviderName | None) -> bool:
        return self.target in (FaultTarget.ALL, target) and (
            self.provider is None or self.provider is provider
        )


@dataclass(frozen=True, slots=True)
class Fault:
    """The fault chosen for one request."""

    kind: FaultKind
    phase: FaultPhase
    retry_after: int
    seconds: float


@dataclass(slots=True)
class _Queued:
    fault: ScriptedFault
    remaining: int


class FaultQueue:
    """Scripted faults in the order they were pushed; the first one that matches is used."""

    def __init__(self) -> None:
        self._queue: list[_Queued] = []

    def push(self, *faults: ScriptedFault) -> None:
        self._queue.extend(_Queued(fault, fault.count) for fault in faults)

    def take(self, target: FaultTarget, provider: ProviderName | None) -> ScriptedFault | None:
        for index, entry in enumerate(self._queue):
            if entry.fault.matches(target, provider):
                entry.remaining -= 1
                if entry.remaining == 0:
                    del self._queue[index]
                return entry.fault
        return None

    def pending(self) -> list[ScriptedFault]:
        """What is left, with ``count`` set to the uses remaining."""
        return [entry.fault.model_copy(update={"count": entry.remaining}) for entry in self._queue]

    def clear(self) -> None:
        self._queue.clear()


def choose_fault(
    queue: FaultQueue,
    config: SimulatorConfig,
    rng: random.Random,
    target: FaultTarget,
    provider: ProviderName | None,
) -> Fault | None:
    """The scripted fault for this request if one matches, else maybe a random one."""
    scripted = queue.take(target, provider)
    if scripted is not None:
        return Fault(
            kind=scripted.kind,
            phase=scripted.phase,
            retry_after=config.retry_after
            if scripted.retry_after is None
            else scripted.retry_after,
            seconds=config.slow_seconds if scripted.seconds is None else scripted.seconds,
        )
    for kind in FaultKind:
        rate = config.fault_rate(kind)
        targets = config.targets(kind)
        if not rate or not (FaultTarget.ALL in targets or target in targets):
            continue
        if rng.random() < rate:
            after = (
                target is FaultTarget.CREATE
                and kind in _AFTER_CAPABLE
                and rng.random() < config.after_create_share
            )
            return Fault(
                kind,
                FaultPhase.AFTER if after else FaultPhase.BEFORE,
                config.retry_after,
                config.slow_seconds,
            )
    return None
