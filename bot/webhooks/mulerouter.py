"""``POST /webhooks/mulerouter``: MuleRouter's signed task events, taken as poll answers.

Why this module exists: MuleRouter can push an event when a task is created, succeeds or fails,
so a result is known within a second instead of at the next poll. The envelope is
``{id, type, created_at, data: {vendor, model_name, payload}}`` where ``payload`` has the shape
of a poll answer (``docs/providers.md``): it is read by the very parser a poll uses
(:func:`bot.providers.mulerouter.parse_task`) and handed to the engine, which takes it down the
path a poll's answer takes. Polling stays on as the safety net for events that never come.

One request, in order:

1. the engine is not taking events (starting, stopping): 503, the provider delivers again;
2. the signature or its age is wrong (:mod:`bot.webhooks.signatures`): 401, nothing changes;
3. an event that is not ``task.succeeded``/``task.failed``, or about a task this bot does not
   follow (someone else's, or already settled): 200, nothing changes;
4. its id was taken before (kept in the database): 200, nothing changes (a duplicate);
5. otherwise the id is recorded, then the engine takes the event in the background: 200.

The id is recorded before the engine takes the event, so two deliveries racing each other are
taken once. A crash between the two loses nothing: the job is still running in the database
and its next safety-net look finds the result. Bodies over the server's limit (1 MiB) are
refused with 413 before they are read (:mod:`bot.http_server`).

What it must never do: act on an event whose signature it did not check, wait for the
engine's work (downloads, posting) inside the request, or log a body or the secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from bot.catalog import ModelSpec
from bot.config import ProviderName
from bot.providers import PollResult, TaskState
from bot.providers.mulerouter import parse_task
from bot.providers.reading import epoch
from bot.webhooks.signatures import BadSignature, SignatureVerifier

log = logging.getLogger(__name__)

PATH = "/webhooks/mulerouter"
SOURCE = ProviderName.MULEROUTER.value
FINISHED_TYPES = frozenset({"task.succeeded", "task.failed"})
# Event ids are kept this long (redeliveries come within hours; a replay older than the
# signature's 5-minute tolerance is refused anyway), pruned at most this often.
KEEP_EVENT_IDS_SECONDS = 7 * 86_400.0
PRUNE_EVERY_SECONDS = 3_600.0
# At most one warning per this many seconds about refused signatures (a flood stays one line).
REFUSAL_LOG_SECONDS = 60.0


class TaskEvents(Protocol):
    """What the receiver needs of the job engine (:class:`bot.jobs.engine.JobEngine`)."""

    @property
    def accepting(self) -> bool: ...

    def task_spec(self, provider: ProviderName, task_id: str) -> ModelSpec | None: ...

    def forward_task_event(self, provider: ProviderName, task_id: str) -> bool: ...

    def on_task_event(
        self,
        provider: ProviderName,
        task_id: str,
        result: PollResult | None,
        *,
        at: float | None = None,
    ) -> bool: ...


class SeenEvents(Protocol):
    """Where taken event ids are kept (the job store)."""

    async def record_webhook_event(self, source: str, event_id: str, now: float) -> bool: ...

    async def forget_webhook_events(self, before: float) -> int: ...


class MalformedEvent(ValueError):
    """A correctly signed body that is not an event envelope."""


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One envelope, read."""

    event_id: str
    type: str
    task_id: str | None
    model_name: str | None
    payload: dict[str, Any]
    created_at: float | None


def read_event(body: bytes) -> TaskEvent:
    """The envelope of a MuleRouter event; :class:`MalformedEvent` when it is not one."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent("the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise MalformedEvent("the body is not a JSON object")
    event_id, kind = envelope.get("id"), envelope.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
        raise MalformedEvent("the envelope has no id or type")
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    payload = data.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    task_info = payload.get("task_info")
    task_id = task_info.get("id") if isinstance(task_info, dict) else None
    model_name = data.get("model_name")
    return TaskEvent(
        event_id=event_id,
        type=kind,
        task_id=task_id if isinstance(task_id, str) and task_id else None,
        model_name=model_name if isinstance(model_name, str) else None,
        payload=payload,
        created_at=epoch(envelope.get("created_at")),
    )


def _answer(status: str, code: int = 200) -> web.Response:
    return web.json_response({"status": status}, status=code)


class MuleRouterWebhooks:
    """The receiver: verify, de-duplicate, hand to the engine, answer."""

    def __init__(
        self,
        verifier: SignatureVerifier,
        engine: TaskEvents,
        seen: SeenEvents,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._engine = engine
        self._seen = seen
        self._clock = clock
        self._pruned_at: float | None = None
        self._refusals = 0
        self._refusal_logged_at: float | None = None

    def __repr__(self) -> str:
        return f"MuleRouterWebhooks({PATH})"

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        if not self._engine.accepting:
            return _answer("not ready, deliver again later", 503)
        body = await request.read()  # over the server's body limit: 413, raised here
        try:
            self._verifier.verify(body, request.headers)
        except BadSignature as exc:
            self._refused(str(exc))
            return _answer("bad signature", 401)
        try:
            event = read_event(body)
        except MalformedEvent as exc:
            log.warning("MuleRouter webhook refused: %s", exc)
            return _answer(str(exc), 400)
        return await self._take(event)

    async def _take(self, event: TaskEvent) -> web.Response:
        provider = ProviderName.MULEROUTER
        if event.type == "balance.low":
            log.warning("MuleRouter says the account balance is low (webhook balance.low)")
        if event.task_id is None:
            self._engine.on_task_event(provider, "", None)  # heard, nothing to act on
            return _answer("ignored")
        spec = self._engine.task_spec(provider, event.task_id)
        # Followed by another bot process on the same database, perhaps: it looks now.
        if (
            spec is None
            and event.type in FINISHED_TYPES
            and self._engine.forward_task_event(provider, event.task_id)
        ):
            return _answer("forwarded")
        result = None
        if spec is not None and event.type in FINISHED_TYPES:
            result = parse_task(event.payload, spec.result_kind)
            if result.state not in (TaskState.SUCCEEDED, TaskState.FAILED):
                result = None  # e.g. "completed" without its result list: polling decides
        if result is None:
            self._engine.on_task_event(provider, event.task_id, None)
            return _answer("ignored")
        now = self._clock()
        try:
            first = await self._seen.record_webhook_event(SOURCE, event.event_id, now)
        except Exception as exc:
            log.warning("MuleRouter webhook %s not taken (store: %s)", event.event_id, exc)
            return _answer("not ready, deliver again later", 503)
        if not first:
            return _answer("duplicate")
        followed = self._engine.on_task_event(provider, event.task_id, result, at=event.created_at)
        await self._prune(now)
        return _answer("accepted" if followed else "ignored")

    async def _prune(self, now: float) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        try:
            await self._seen.forget_webhook_events(now - KEEP_EVENT_IDS_SECONDS)
        except Exception as exc:
            log.warning("pruning old webhook event ids failed (%s); trying again later", exc)

    def _refused(self, reason: str) -> None:
        self._refusals += 1
        now = self._clock()
        last = self._refusal_logged_at
        if last is None or now - last >= REFUSAL_LOG_SECONDS:
            log.warning(
                "MuleRouter webhook refused (401): %s (%d refused since the last such line; "
                "check MULEROUTER_WEBHOOK_SECRET against the provider's console)",
                reason,
                self._refusals,
            )
            self._refusals = 0
            self._refusal_logged_at = now
