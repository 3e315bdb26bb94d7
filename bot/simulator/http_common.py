"""Plumbing shared by the simulator's route modules: state lookup, auth, JSON, request log.

Why this module exists: every provider route checks a bearer key, reads a JSON object and is
recorded the same way; doing it once keeps the route modules about their provider's contract.
A body is parsed once, by the recording middleware, and the route reads that same parse: create
bodies carry megabytes of base64 and the simulator shares the machine with the client it serves.

What it must never do: record or hand a route anything but what the client sent (a route must
not change the body it reads: the recorder keeps that same object).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Body:
    """A request body read and parsed once: its JSON value when ``is_json``."""

    raw: bytes
    is_json: bool
    value: Any = None

    @classmethod
    def parse(cls, raw: bytes) -> _Body:
        try:
            return cls(raw, True, json.loads(raw))
        except (ValueError, UnicodeDecodeError):
            return cls(raw, False)

    def loggable(self) -> Any:
        """What the recorder keeps: the JSON value, else the start of the text (None if empty)."""
        if not self.raw:
            return None
        if self.is_json:
            return self.value
        return self.raw[:200].decode("utf-8", errors="replace")


# The parsed body of a recorded request (set by the middleware; control routes have none).
_BODY = web.RequestKey("simulator_body", _Body)


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
    """The body as a JSON object, or None when it is not one.

    For a recorded request this is the object the recorder keeps (parsed once, by
    :func:`record_requests`): the caller must not change it.
    """
    body = request.get(_BODY)
    if body is None:  # a control route: not recorded, so not read yet
        body = _Body.parse(await request.read())
    return body.value if body.is_json and isinstance(body.value, dict) else None


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every provider and media request with its outcome; control routes are not logged."""
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    at = time.monotonic()
    body = request[_BODY] = _Body.parse(await request.read())
    record = state_of(request).recorder.add(
        at=at,
        method=request.method,
        path=request.path,
        query=request.query_string,
        provider=provider_of(request.path),
        body=body.loggable(),
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
