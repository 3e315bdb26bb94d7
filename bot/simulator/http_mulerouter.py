"""MuleRouter's contract: create and poll under ``/vendors/alibaba/v1/{model}/generation``.

Why this module exists: it answers exactly as the real MuleRouter endpoints are documented to
(``docs/providers.md#mulerouter``): validation with the simulator's own contract of that endpoint
(:mod:`bot.simulator.contracts`, never the bot's catalog), the two observed 400 shapes,
``{"detail"}`` errors, 202 on create and ``task_info`` polls.
"""

from __future__ import annotations

import time

from aiohttp import web

from bot.config import ProviderName
from bot.simulator.contracts import MULEROUTER, Refused, validate
from bot.simulator.faults import FaultTarget
from bot.simulator.http_common import authorized, json_object, note_task, state_of
from bot.simulator.http_faults import with_faults
from bot.simulator.shapes import error_body, mulerouter_created, mulerouter_invalid, mulerouter_poll
from bot.simulator.state import BalanceExhausted, SimulatorState

_PROVIDER = ProviderName.MULEROUTER
CREATE_PATH = "/vendors/alibaba/v1/{model}/generation"
POLL_PATH = CREATE_PATH + "/{task_id}"


def _error(status: int, message: str | None = None) -> web.Response:
    return web.json_response(error_body(_PROVIDER, status, message), status=status)


def _invalid(state: SimulatorState, detail: str) -> web.Response:
    """A 400 in either observed shape, chosen at random so clients read both."""
    body = mulerouter_invalid(detail, plain=state.rng.random() < 0.5)
    return web.json_response(body, status=400)


async def create(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    contract = MULEROUTER.get(request.match_info["model"])
    if contract is None:
        return _error(404, "Model not found")
    body = await json_object(request)
    if body is None:
        return _invalid(state, "The request body must be a JSON object.")
    try:
        record = validate(contract, body)
    except Refused as exc:
        return _invalid(state, " ".join(exc.problems))
    try:
        task = state.create_task(contract, record)
    except BalanceExhausted:
        return _error(402)
    note_task(task.id)
    return web.json_response(mulerouter_created(task), status=202)


async def poll(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    contract = MULEROUTER.get(request.match_info["model"])
    task = state.task(request.match_info["task_id"])
    if contract is None or task is None or task.contract is not contract:
        return _error(404, "Task not found")
    now = time.monotonic()
    task.note_poll(now)
    note_task(task.id)
    return web.json_response(mulerouter_poll(task, now, state.base_url))


def routes() -> list[web.RouteDef]:
    return [
        web.post(CREATE_PATH, with_faults(FaultTarget.CREATE, create)),
        web.get(POLL_PATH, with_faults(FaultTarget.POLL, poll)),
    ]
