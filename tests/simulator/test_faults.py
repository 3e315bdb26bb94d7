"""Scripted and random HTTP faults, before and after a task is created, over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.config import ProviderName
from bot.simulator import (
    DEFAULT_MULEROUTER_KEY,
    DEFAULT_VTRIX_KEY,
    FaultKind,
    FaultPhase,
    FaultTarget,
    ScriptedFault,
    SimulatorServer,
)

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]  # the make_simulator fixture
MULE = {"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"}
VTRIX = {"Authorization": f"Bearer {DEFAULT_VTRIX_KEY}"}
T2V = "/vendors/alibaba/v1/wan2.2-t2v-plus/generation"
BODY = {"prompt": "a cat", "size": "832*480"}


async def create(
    session: aiohttp.ClientSession, sim: SimulatorServer, **kwargs: Any
) -> aiohttp.ClientResponse:
    async with session.post(sim.base_url + T2V, json=BODY, headers=MULE, **kwargs) as resp:
        await resp.read()
        return resp


async def created_task_id(session: aiohttp.ClientSession, sim: SimulatorServer) -> str:
    async with session.post(sim.base_url + T2V, json=BODY, headers=MULE) as resp:
        assert resp.status == 202
        task_id: str = (await resp.json())["task_info"]["id"]
        return task_id


async def test_scripted_rate_limit_with_retry_after(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.RATE_LIMIT, target=FaultTarget.CREATE, count=2, retry_after=1)
    )
    first, second, third = [await create(sim_session, simulator) for _ in range(3)]
    assert [first.status, second.status, third.status] == [429, 429, 202]
    assert first.headers["Retry-After"] == second.headers["Retry-After"] == "1"
    assert len(simulator.state.tasks) == 1
    assert [r.fault for r in simulator.state.requests] == ["rate_limit", "rate_limit", None]


async def test_server_error_before_creates_nothing_after_creates_and_bills(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(balance=Decimal("1.00"))
    sim.state.push_faults(
        ScriptedFault(kind=FaultKind.SERVER_ERROR, target=FaultTarget.CREATE),
        ScriptedFault(
            kind=FaultKind.SERVER_ERROR, target=FaultTarget.CREATE, phase=FaultPhase.AFTER
        ),
    )
    async with sim_session.post(sim.base_url + T2V, json=BODY, headers=MULE) as resp:
        assert resp.status == 500
        assert await resp.json() == {"detail": "Internal server error"}
    assert not sim.state.tasks
    assert sim.state.balance == Decimal("1.00")

    async with sim_session.post(sim.base_url + T2V, json=BODY, headers=MULE) as resp:
        assert resp.status == 500
    [task] = sim.state.tasks.values()
    assert sim.state.balance == Decimal("0.90")
    assert sim.state.requests[-1].task_id == task.id
    assert sim.state.requests[-1].fault_phase == "after"


async def test_unavailable_on_poll_in_vtrix_shape(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    simulator.state.push_faults(ScriptedFault(kind=FaultKind.UNAVAILABLE, target=FaultTarget.POLL))
    url = simulator.base_url + "/model/v1/generation/task/anything"
    async with sim_session.get(url, headers=VTRIX) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "service_unavailable"
    async with sim_session.get(url, headers=VTRIX) as resp:
        assert resp.status == 404


async def test_malformed_json_before_and_after_create(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.MALFORMED, target=FaultTarget.CREATE),
        ScriptedFault(kind=FaultKind.MALFORMED, target=FaultTarget.CREATE, phase=FaultPhase.AFTER),
    )
    for expected_tasks in (0, 1):
        async with sim_session.post(simulator.base_url + T2V, json=BODY, headers=MULE) as resp:
            assert resp.content_type == "application/json"
            text = await resp.text()
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        assert len(simulator.state.tasks) == expected_tasks


async def test_malformed_poll(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await created_task_id(sim_session, simulator)
    simulator.state.push_faults(ScriptedFault(kind=FaultKind.MALFORMED, target=FaultTarget.POLL))
    async with sim_session.get(f"{simulator.base_url}{T2V}/{task_id}", headers=MULE) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.text())


async def test_dropped_connections(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await created_task_id(sim_session, simulator)
    simulator.state.push_faults(
        # aiohttp retries an idempotent request once by itself when the connection drops,
        # so a GET must be dropped twice for the client to see it.
        ScriptedFault(kind=FaultKind.DROP, target=FaultTarget.POLL, count=2),
        ScriptedFault(kind=FaultKind.DROP, target=FaultTarget.CREATE, phase=FaultPhase.AFTER),
    )
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sim_session.get(f"{simulator.base_url}{T2V}/{task_id}", headers=MULE)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await create(sim_session, simulator)
    assert len(simulator.state.tasks) == 2
    assert [r.status for r in simulator.state.requests] == [202, None, None, None]
    async with sim_session.get(f"{simulator.base_url}{T2V}/{task_id}", headers=MULE) as resp:
        assert resp.status == 200


async def test_slow_answer(simulator: SimulatorServer, sim_session: aiohttp.ClientSession) -> None:
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.SLOW, target=FaultTarget.CREATE, seconds=0.3)
    )
    started = time.monotonic()
    assert (await create(sim_session, simulator)).status == 202
    assert time.monotonic() - started >= 0.3


async def test_slow_before_and_after_create_when_the_client_gives_up(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.SLOW, target=FaultTarget.CREATE, seconds=0.5),
        ScriptedFault(
            kind=FaultKind.SLOW, target=FaultTarget.CREATE, seconds=0.5, phase=FaultPhase.AFTER
        ),
    )
    impatient = aiohttp.ClientTimeout(total=0.15)
    with pytest.raises(asyncio.TimeoutError):
        await create(sim_session, simulator, timeout=impatient)
    await asyncio.sleep(0.5)
    assert not simulator.state.tasks  # the request was abandoned before the task was made

    with pytest.raises(asyncio.TimeoutError):
        await create(sim_session, simulator, timeout=impatient)
    assert len(simulator.state.tasks) == 1  # created, though the client never heard


async def test_faults_via_control_api_and_provider_filter(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    faults = {
        "faults": [
            {"kind": "rate_limit", "target": "create", "provider": "vtrix", "retry_after": 7},
            {"kind": "server_error", "target": "all", "count": 2},
        ]
    }
    async with sim_session.post(simulator.base_url + "/_sim/faults", json=faults) as resp:
        assert resp.status == 200
        pending = (await resp.json())["pending"]
    assert [(f["kind"], f["count"]) for f in pending] == [("rate_limit", 1), ("server_error", 2)]

    assert (await create(sim_session, simulator)).status == 500  # vtrix fault skipped
    async with sim_session.post(
        simulator.base_url + "/model/v1/generation", json={}, headers=VTRIX
    ) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
    async with sim_session.get(simulator.base_url + "/_sim/faults") as resp:
        assert (await resp.json())["pending"] == [
            {
                "kind": "server_error",
                "target": "all",
                "phase": "before",
                "count": 1,
                "retry_after": None,
                "seconds": None,
                "provider": None,
            }
        ]

    async with sim_session.post(
        simulator.base_url + "/_sim/faults", json={"kind": "explode"}
    ) as resp:
        assert resp.status == 400


async def test_media_fault_strikes_once(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await created_task_id(sim_session, simulator)
    await asyncio.sleep(0.7)  # a 90 s task at speed 200 (+20 % jitter) is done by now
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.SERVER_ERROR, target=FaultTarget.MEDIA)
    )
    url = f"{simulator.base_url}/media/video/{task_id}.mp4"
    async with sim_session.get(url) as resp:
        assert resp.status == 500
    async with sim_session.get(url) as resp:
        assert resp.status == 200


async def test_random_faults_are_reproducible_and_respect_targets(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    async def statuses(sim: SimulatorServer) -> list[int | None]:
        for _ in range(30):
            with contextlib.suppress(aiohttp.ClientError):
                await create(sim_session, sim)
        return [r.status for r in sim.state.requests]

    rates = {
        "server_error_rate": 0.2,
        "rate_limit_rate": 0.2,
        "malformed_rate": 0.2,
        "drop_rate": 0.3,
        "seed": 99,
    }
    first = await statuses(await make_simulator(**rates))
    second = await statuses(await make_simulator(**rates))
    assert first == second
    assert {429, 500, 202, None} <= set(first)

    poll_only = await make_simulator(rate_limit_rate=1.0, fault_targets={"rate_limit": ["poll"]})
    task_id = await created_task_id(sim_session, poll_only)
    async with sim_session.get(f"{poll_only.base_url}{T2V}/{task_id}", headers=MULE) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
    assert poll_only.state.requests[-1].provider is ProviderName.MULEROUTER
