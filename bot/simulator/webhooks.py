"""MuleRouter's webhooks, simulated: signed task events POSTed as tasks are created and finish.

Why this module exists: a bot that receives webhooks must be tested against a sender that
behaves like one, on the wire, faults included. When ``webhook_url`` is set, every MuleRouter
task gets a ``task.created`` event at once and a ``task.succeeded`` or ``task.failed`` event
when its timeline says it finished. The envelope is ``{id, type, created_at, data: {vendor,
model_name, payload}}`` with ``payload`` in the shape of a poll answer
(:func:`bot.simulator.shapes.mulerouter_poll`), signed per Standard Webhooks
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``), the
convention of ``whsec_`` secrets, signed here with the ``standardwebhooks`` library directly,
never with the bot's own code (the simulator is the provider's side).

Faults, drawn per event from their own seeded generator (task timelines stay as they would be
without webhooks): dropped, duplicated, delayed, ``task.created`` held back until after the
task's last event (out of order), signed with a wrong key (the receiver must refuse it, so the
event is lost). A delivery answered 5xx or not answered is tried again with the same id, a few
times, backing off.

What it must never do: send to anything the configuration did not name, send an event for a
Vtrix task (Vtrix has no webhooks), or let a slow receiver hold up the simulator's API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import itertools
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from standardwebhooks.webhooks import Webhook

from bot.config import ProviderName
from bot.simulator.shapes import iso, mulerouter_poll
from bot.simulator.tasks import SimTask

if TYPE_CHECKING:
    from bot.simulator.state import SimulatorState

log = logging.getLogger(__name__)

# Concurrent deliveries at most; more wait their turn (a slow receiver slows only them).
MAX_IN_FLIGHT = 32
DELIVERY_TIMEOUT_SECONDS = 10.0
# A forged signature: the right shape, a key nobody has.
_WRONG_KEY = "whsec_" + base64.b64encode(b"not the webhook secret, forged").decode()


@dataclass(order=True, slots=True)
class _Due:
    at: float  # monotonic
    order: int
    event: PendingEvent = field(compare=False)


@dataclass(slots=True)
class PendingEvent:
    """One event to deliver (and the delivery faults drawn for it)."""

    task: SimTask
    type: str
    event_id: str
    happened_mono: float
    copies: int = 1
    bad_signature: bool = False


@dataclass(slots=True)
class Delivery:
    """One POST made (for tests and the control API)."""

    event_id: str
    type: str
    task_id: str
    at: float  # monotonic, when the answer came
    status: int | None  # None: no answer (connection refused, timeout)
    bad_signature: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "task_id": self.task_id,
            "at_monotonic": self.at,
            "status": self.status,
            "bad_signature": self.bad_signature,
        }


class WebhookQueue:
    """Events waiting for their moment: filled when tasks are created, drained by the sender."""

    def __init__(self, seed: int | None) -> None:
        self.rng = random.Random(None if seed is None else seed + 1)
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self.changed = asyncio.Event()
        self.deliveries: list[Delivery] = []
        self.dropped: list[str] = []  # event ids never sent (the drop fault)

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
        self.deliveries.clear()
        self.dropped.clear()

    def task_created(self, state: SimulatorState, task: SimTask) -> None:
        """Queue ``task``'s events, if webhooks are on and it is a MuleRouter task."""
        config = state.config
        if not config.webhook_url or task.provider is not ProviderName.MULEROUTER:
            return
        finished = "task.failed" if task.error is not None else "task.succeeded"
        created_at = task.created_mono
        if self.rng.random() < config.webhook_out_of_order_rate:
            created_at = task.finishes_at + max(config.webhook_delay_seconds, 0.05)
        self._push(
            state, PendingEvent(task, "task.created", _event_id(), task.created_mono), created_at
        )
        self._push(
            state, PendingEvent(task, finished, _event_id(), task.finishes_at), task.finishes_at
        )

    def _push(self, state: SimulatorState, event: PendingEvent, at: float) -> None:
        config = state.config
        rng = self.rng
        if rng.random() < config.webhook_drop_rate:
            self.dropped.append(event.event_id)
            return
        if rng.random() < config.webhook_duplicate_rate:
            event.copies = 2
        if rng.random() < config.webhook_delay_rate:
            at += config.webhook_delay_seconds
        event.bad_signature = rng.random() < config.webhook_bad_signature_rate
        heapq.heappush(self._heap, _Due(at, next(self._order), event))
        self.changed.set()

    def next_due(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def pop_due(self, now: float) -> list[PendingEvent]:
        due = []
        while self._heap and self._heap[0].at <= now:
            due.append(heapq.heappop(self._heap).event)
        return due


def _event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def envelope(event: PendingEvent, base_url: str) -> dict[str, Any]:
    """The body MuleRouter would send for ``event``."""
    task = event.task
    return {
        "id": event.event_id,
        "type": event.type,
        "created_at": iso(task.wall_time(event.happened_mono), True),
        "data": {
            "vendor": "alibaba",
            "model_name": task.contract.key,
            "payload": mulerouter_poll(task, event.happened_mono, base_url),
        },
    }


def signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed now."""
    now = datetime.now(tz=UTC)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }


class WebhookSender:
    """Delivers the queue's events when due, over one HTTP session."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
        )
        self._loop = asyncio.create_task(self._run(), name="simulator-webhooks")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        for task in list(self._sends):
            task.cancel()
        await asyncio.gather(*self._sends, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        queue = self.state.webhooks
        while True:
            queue.changed.clear()
            for event in queue.pop_due(time.monotonic()):
                for _ in range(event.copies):
                    task = asyncio.create_task(self._deliver(event))
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
            due = queue.next_due()
            timeout = None if due is None else max(due - time.monotonic(), 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await queue.changed.wait()

    async def _deliver(self, event: PendingEvent) -> None:
        config = self.state.config
        url, secret = config.webhook_url, config.webhook_secret
        if not url or not secret or self._session is None:
            return
        body = json.dumps(envelope(event, self.state.base_url), separators=(",", ":"))
        delay = config.webhook_retry_seconds
        for attempt in range(config.webhook_retries + 1):
            key = _WRONG_KEY if event.bad_signature else secret
            status: int | None = None
            async with self._slots:
                try:
                    async with self._session.post(
                        url, data=body, headers=signed_headers(key, event.event_id, body)
                    ) as answer:
                        status = answer.status
                        await answer.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.debug("webhook %s to %s: %s", event.event_id, url, exc)
            now = time.monotonic()
            self.state.webhooks.deliveries.append(
                Delivery(
                    event.event_id, event.type, event.task.id, now, status, event.bad_signature
                )
            )
            if status is not None and 200 <= status < 300:
                if event.type != "task.created" and event.task.pushed_at is None:
                    event.task.pushed_at = now
                return
            if status is not None and status < 500:
                return  # refused (401 for a forged signature, 400, 413): sending again won't help
            if attempt < config.webhook_retries:
                await asyncio.sleep(delay)
                delay *= 2
