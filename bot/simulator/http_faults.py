"""Applies a chosen fault to one request: before handling it, or after (when it has effects).

Why this module exists: the difference between "failed before anything happened" and "failed
after the task was created" is what clients must get right for money, so the rule lives in one
wrapper around every provider and media route instead of inside each handler.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.config import ProviderName
from bot.simulator.faults import Fault, FaultKind, FaultPhase, FaultTarget
from bot.simulator.http_common import Handler, current_record, provider_of, state_of
from bot.simulator.shapes import error_body

_STATUS = {FaultKind.RATE_LIMIT: 429, FaultKind.SERVER_ERROR: 500, FaultKind.UNAVAILABLE: 503}
# What a garbled answer starts with when no real answer was made (a create refused early).
_GARBLED_START = {
    ProviderName.MULEROUTER: b'{"task_info": {"id": "',
    ProviderName.VTRIX: b'{"id": "',
}


def with_faults(target: FaultTarget, handler: Handler) -> Handler:
    """``handler`` behind scripted and random faults for ``target``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        provider = provider_of(request.path)
        fault = state_of(request).choose_fault(target, provider)
        if fault is None:
            return await handler(request)
        record = current_record()
        if record is not None:
            record.fault, record.fault_phase = fault.kind, fault.phase
        # Media routes have no side effects: their faults always distort the real answer.
        handle_first = fault.phase is FaultPhase.AFTER or target is FaultTarget.MEDIA
        if fault.kind is FaultKind.SLOW:
            if handle_first:
                late = await handler(request)
                await asyncio.sleep(fault.seconds)
                return late
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        answer = await handler(request) if handle_first else None
        return _faulty_answer(request, fault, provider, answer)

    return handle


def _faulty_answer(
    request: web.Request,
    fault: Fault,
    provider: ProviderName | None,
    answer: web.StreamResponse | None,
) -> web.StreamResponse:
    if fault.kind is FaultKind.DROP:
        if request.transport is not None:
            request.transport.close()
        return web.Response()
    if fault.kind is FaultKind.MALFORMED:
        return _truncated(answer, provider)
    status = _STATUS[fault.kind]
    headers = {"Retry-After": str(fault.retry_after)} if status == 429 else None
    if provider is None:
        return web.Response(status=status, text=f"simulated {status}", headers=headers)
    return web.json_response(error_body(provider, status), status=status, headers=headers)


def _truncated(answer: web.StreamResponse | None, provider: ProviderName | None) -> web.Response:
    """Half of the real answer's body (or the start of one), still labelled as JSON/media."""
    if isinstance(answer, web.Response) and isinstance(answer.body, bytes) and answer.body:
        body = answer.body
        return web.Response(
            status=answer.status, body=body[: len(body) // 2], content_type=answer.content_type
        )
    start = _GARBLED_START[provider] if provider is not None else b'{"'
    return web.Response(status=200, body=start, content_type="application/json")
