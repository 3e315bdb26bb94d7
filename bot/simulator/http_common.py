"""Plumbing shared by the simulator's route modules: state lookup, auth, JSON, request log.

Why this module exists: every provider route checks a bearer key, reads a JSON object and is
recorded the same way; doing it once keeps the route modules about their provider's contract.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from bot.config import ProviderName
from bot.simulator.recorder import RecordedRequest
from bot.simulator.state import SimulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE = web.AppKey("simulator_state", SimulatorState)
# The record of the request being handled (set by the middleware, in the handler's own task).
_RECORD: ContextVar[RecordedRequest | None] = ContextVar("simulator_record", default=None)
CONTROL_PREFIX = "/_sim/"


def state_of(request: web.Request) -> SimulatorState:
    return request.app[STATE]


def current_record() -> RecordedRequest | None:
    return _RECORD.get()


def provider_of(path: str) -> ProviderName | None:
    """Which provider a path belongs to; None for media and control routes."""
    if path.startswith("/vendors/"):
        return ProviderName.MULEROUTER
    if path.startswith("/model/"):
        return ProviderName.VTRIX
    return None


def note_task(task_id: str) -> None:
    record = current_record()
    if record is not None:
        record.task_id = task_id


def authorized(request: web.Request, provider: ProviderName) -> bool:
    """Whether the bearer key is one ``provider`` accepts; the outcome (never the key) is logged."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    offered = key.strip().encode()
    accepted = state_of(request).config.keys.get(provider, frozenset())
    ok = scheme.lower() == "bearer" and any(
        hmac.compare_digest(offered, candidate.encode()) for candidate in accepted
    )
    record = current_record()
    if record is not None:
        record.auth_ok = ok
    return ok


async def json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _loggable_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", errors="replace")


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every provider and media request with its outcome; control routes are not logged."""
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    record = state_of(request).recorder.add(
        at=time.monotonic(),
        method=request.method,
        path=request.path,
        query=request.query_string,
        provider=provider_of(request.path),
        body=_loggable_body(await request.read()),
    )
    token = _RECORD.set(record)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        record.status = exc.status
        raise
    finally:
        _RECORD.reset(token)
    transport = request.transport
    if transport is not None and not transport.is_closing():
        record.status = response.status
    return response
