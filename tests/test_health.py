"""``/healthz`` and ``/readyz`` over a real loopback socket, with checks of every shape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bot.health import HEALTH_PATH, READY_PATH, Check, HealthChecks
from bot.http_server import HttpServer

Get = Callable[[str], Awaitable[tuple[int, Any]]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[HealthChecks], Awaitable[Get]]]:
    """Serve a :class:`HealthChecks` on an ephemeral port; returns ``get(path)``."""
    servers: list[HttpServer] = []
    session = aiohttp.ClientSession()

    async def start(checks: HealthChecks) -> Get:
        server = HttpServer("127.0.0.1", 0)
        server.add_routes(checks.routes())
        await server.start()
        servers.append(server)

        async def get(path: str) -> tuple[int, Any]:
            async with session.get(server.url + path) as answer:
                assert answer.content_type == "application/json"
                return answer.status, await answer.json()

        return get

    yield start
    await session.close()
    for server in servers:
        await server.stop()


class Switch:
    """A check whose answer the test sets."""

    def __init__(self, value: bool = True) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.value


async def test_healthz_answers_while_the_loop_runs_even_when_not_ready(
    serve: Callable[[HealthChecks], Awaitable[Get]],
) -> None:
    gateway = Switch(False)
    get = await serve(HealthChecks({"gateway": gateway}))
    assert await get(HEALTH_PATH) == (200, {"status": "ok"})
    assert gateway.calls == 0  # liveness runs no check


async def test_readyz_is_200_when_every_check_passes(
    serve: Callable[[HealthChecks], Awaitable[Get]],
) -> None:
    async def database() -> bool:
        return True

    get = await serve(HealthChecks({"gateway": Switch(), "database": database}))
    status, body = await get(READY_PATH)
    assert status == 200
    assert body == {"status": "ready", "checks": {"gateway": "ok", "database": "ok"}}


async def test_readyz_is_503_naming_each_check_that_fails_however_it_fails(
    serve: Callable[[HealthChecks], Awaitable[Get]],
) -> None:
    never = asyncio.Event()

    async def raises() -> bool:
        raise OSError("disk I/O error")

    async def hangs() -> bool:
        await never.wait()
        return True

    checks: dict[str, Check] = {
        "gateway": Switch(False),
        "database": raises,
        "scheduler": hangs,
        "outbox": Switch(True),
    }
    get = await serve(HealthChecks(checks, timeout=0.01))
    status, body = await get(READY_PATH)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["not_ready"] == ["gateway", "database", "scheduler"]
    assert body["checks"] == {
        "gateway": "not ready",
        "database": "not ready",
        "scheduler": "not ready",
        "outbox": "ok",
    }


async def test_readiness_follows_its_checks_and_logs_only_changes(
    serve: Callable[[HealthChecks], Awaitable[Get]], caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Switch(True)
    get = await serve(HealthChecks({"gateway": gateway}))
    caplog.set_level(logging.INFO, logger="bot.health")
    assert (await get(READY_PATH))[0] == 200
    gateway.value = False
    assert (await get(READY_PATH))[0] == 503
    assert (await get(READY_PATH))[0] == 503
    gateway.value = True
    assert (await get(READY_PATH))[0] == 200
    assert gateway.calls == 4
    assert [r.getMessage() for r in caplog.records if r.name == "bot.health"] == [
        "not ready: gateway",
        "ready again",
    ]
