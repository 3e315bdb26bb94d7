"""The REST front door: route templates, auth, recording, injected faults, JSON answers.

Why this module exists: every ``/api/v10`` request is recorded whole, may be answered by an
injected 429 or 5xx, and gets Discord's headers (``Content-Type: application/json`` exactly,
``X-RateLimit-*``, ``Via``); unknown routes answer Discord's 404 and are kept for the test.
Channel message writes pass the per-channel write limit first (:mod:`tests.emulator.write_limits`),
whose bucket headers they then carry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.emulator.bodies import Body, read_body
from tests.emulator.errors import DiscordError, not_found_route, unauthorized
from tests.emulator.recorder import RecordedRequest
from tests.emulator.rules import Fault
from tests.emulator.state import EmulatorState

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
NO_CONTENT = object()


@dataclass
class Call:
    request: web.Request
    state: EmulatorState
    params: dict[str, str]
    body: Body
    record: RecordedRequest

    @property
    def json(self) -> Any:
        return self.body.json

    @property
    def query(self) -> Any:
        return self.request.query

    def int_param(self, name: str) -> int:
        return int(self.params[name])


Handler = Callable[[Call], Awaitable[Any]]


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        # Snowflake parameters (``*_id``) match digits or ``@me``/``@original`` only, so that
        # ``/messages/pins`` is another route, as on Discord; tokens match any segment.
        regex = re.sub(r"\\\{(\w+_id)\\\}", r"(?P<\1>[0-9]+|@[a-z]+)", re.escape(template))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        self.routes.append(Route(method, template, re.compile(f"^{regex}$"), handler, auth))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        other_method = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), False
            other_method = True
        return None, {}, other_method

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        path = request.path[len(API_PREFIX) :] or "/"
        method = request.method.upper()
        route, params, other_method = self._match(method, path)
        record = RecordedRequest(
            method=method,
            path=path,
            query=dict(request.query),
            headers={k: v for k, v in request.headers.items()},
            at=state.now(),
            route=route.key if route else None,
        )
        state.record(record)
        status: int
        body: Any
        extra_headers: dict[str, str] = {}
        try:
            parsed = await read_body(request)
            record.json, record.files, record.form = parsed.json, parsed.files, parsed.form
            fault = state.rules.take_fault(method, path, record.route)
            if fault is not None:
                status, body, extra_headers = _fault_answer(fault, record.route or path)
            elif route is None:
                if other_method:
                    raise DiscordError(405, 0, "405: Method Not Allowed")
                state.unknown_routes.append(record)
                raise not_found_route()
            else:
                if route.auth and request.headers.get("Authorization") != (
                    f"Bot {state.config.token}"
                ):
                    raise unauthorized()
                write = state.admit_write(route.key, params)
                if write is not None:
                    extra_headers = write.headers  # on every answer, errors included
                if write is not None and not write.allowed:
                    status, body = 429, write.body()
                else:
                    result = await route.handler(Call(request, state, params, parsed, record))
                    if result is NO_CONTENT:
                        status, body = 204, None
                    elif isinstance(result, tuple):
                        status, body = result
                    else:
                        status, body = 200, result
        except DiscordError as exc:
            status, body = exc.status, exc.body()
        except Exception as exc:  # an emulator bug: answer 500 and keep it for the test
            log.exception("emulator error on %s %s", method, path)
            state.internal_errors.append(f"{method} {path}: {exc!r}")
            status, body = 500, {"message": "500: Internal Server Error", "code": 0}
        record.status, record.response = status, body
        state.notify()
        headers = {**_rate_headers(record.route or path), "Via": "1.1 google", **extra_headers}
        if status == 204 or body is None:
            return web.Response(status=status, headers=headers)
        headers["Content-Type"] = "application/json"  # exactly: discord.py compares the string
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)


def _bucket(route: str) -> str:
    return hashlib.sha1(route.encode()).hexdigest()[:16]


def _rate_headers(route: str) -> dict[str, str]:
    reset = time.time() + 1.0
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{reset:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": _bucket(route),
    }


def _fault_answer(fault: Fault, route: str) -> tuple[int, Any, dict[str, str]]:
    if fault.status == 429:
        retry = fault.retry_after
        headers = {
            "Retry-After": str(max(1, math.ceil(retry))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry:.3f}",
            "X-RateLimit-Reset-After": f"{retry:.3f}",
            "X-RateLimit-Bucket": _bucket(route),
            "X-RateLimit-Scope": "global" if fault.is_global else "user",
        }
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry,
            "global": fault.is_global,
            "code": 0,
        }
        return 429, body, headers
    messages = {
        500: "500: Internal Server Error",
        502: "502: Bad Gateway",
        503: "503: Service Unavailable",
        504: "504: Gateway Timeout",
    }
    return (
        fault.status,
        {"message": messages.get(fault.status, f"{fault.status}: Error"), "code": 0},
        {},
    )
