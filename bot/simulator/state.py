"""Everything one simulator instance knows: config, RNG, tasks, balance, requests, faults.

Why this module exists: the HTTP handlers and in-process tests need the same operations (create a
task and bill it, find a task, push faults, patch the config, reset). They live here as plain
methods, so the control API under ``/_sim/`` is only a JSON skin over them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.config import ProviderName
from bot.pricing import PriceTable
from bot.simulator.config import SimulatorConfig
from bot.simulator.contracts import Endpoint
from bot.simulator.faults import Fault, FaultQueue, FaultTarget, ScriptedFault, choose_fault
from bot.simulator.inputs import input_image_error
from bot.simulator.recorder import RecordedRequest, Recorder
from bot.simulator.shapes import result_urls
from bot.simulator.tasks import SimTask, plan_task
from bot.simulator.webhooks import WebhookQueue


class BalanceExhausted(Exception):
    """The configured balance cannot cover a create; nothing was created or charged."""


class SimulatorState:
    """Mutable state of one simulator. Single-threaded: only the event loop touches it."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self._initial = config or SimulatorConfig()
        self._prices = PriceTable()
        self.base_url = ""
        self.faults = FaultQueue()
        self.webhooks = WebhookQueue(self._initial.seed)
        self.reset()

    def reset(self) -> None:
        """Back to the configuration given at construction: no tasks, requests or faults."""
        self.config = self._initial
        self.rng = random.Random(self.config.seed)
        self.tasks: dict[str, SimTask] = {}
        self.recorder = Recorder(self.config.max_recorded_requests)
        self.faults.clear()
        self.webhooks.clear()
        self.webhooks.rng.seed(None if self.config.seed is None else self.config.seed + 1)
        self.balance: Decimal | None = self.config.balance
        self.spent = Decimal(0)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorder.all()

    def patch_config(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """Apply ``changes`` (validated); a given ``balance`` or ``seed`` takes effect now."""
        self.config = self.config.patched(changes)
        if "balance" in changes:
            self.balance = self.config.balance
        if "seed" in changes:
            self.rng.seed(self.config.seed)
            self.webhooks.rng.seed(None if self.config.seed is None else self.config.seed + 1)
        self.recorder.resize(self.config.max_recorded_requests)
        return self.config

    def push_faults(self, *faults: ScriptedFault) -> None:
        self.faults.push(*faults)

    def choose_fault(self, target: FaultTarget, provider: ProviderName | None) -> Fault | None:
        return choose_fault(self.faults, self.config, self.rng, target, provider)

    def create_task(self, contract: Endpoint, request: dict[str, Any]) -> SimTask:
        """Bill and create a task for a validated request, or raise :class:`BalanceExhausted`.

        ``request`` is the record :func:`~bot.simulator.contracts.validate` returned. The cost is
        the reference unit price (:mod:`bot.pricing`) of the tier the contract reads from the
        record, times its billable units (``docs/providers.md#prices``).
        """
        tier = contract.price_tier(request)
        cost = self._prices.unit_price(contract.model_id, tier) * contract.billable_units(request)
        if self.balance is not None:
            if self.balance < cost:
                raise BalanceExhausted(f"balance {self.balance} cannot cover {cost}")
            self.balance -= cost
        self.spent += cost
        task = plan_task(
            rng=self.rng,
            config=self.config,
            contract=contract,
            request=request,
            cost=cost,
            input_error=input_image_error(contract, request),
            now_mono=time.monotonic(),
            now_wall=time.time(),
        )
        self.tasks[task.id] = task
        self.webhooks.task_created(self, task)
        return task

    def task(self, task_id: str) -> SimTask | None:
        return self.tasks.get(task_id)

    def describe_task(self, task: SimTask, now: float | None = None) -> dict[str, Any]:
        """A task as the control API shows it (provider-neutral, with monotonic timings)."""
        now = time.monotonic() if now is None else now
        phase = task.phase(now)
        error = task.error
        return {
            "id": task.id,
            "provider": task.provider,
            "model_id": task.contract.model_id,
            "phase": phase,
            "status": task.word(now),
            "progress": task.progress(now),
            "created_at": task.created_wall,
            "created_monotonic": task.created_mono,
            "running_at_monotonic": task.running_at,
            "finishes_at_monotonic": task.finishes_at,
            "finished_at_monotonic": task.finished_at(now),
            "seen_finished_at_monotonic": task.seen_finished_at,
            "pushed_at_monotonic": task.pushed_at,
            "polls": task.polls,
            "cost": str(task.cost),
            "outcome": "failed" if error is not None else "succeeded",
            "error": None
            if error is None
            else {"code": error.code, "title": error.title, "detail": error.detail},
            "result_urls": result_urls(task, self.base_url)
            if phase.finished and error is None
            else [],
        }
