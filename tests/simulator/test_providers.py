"""Both provider contracts over real loopback HTTP: shapes, status words, auth, money, checks."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.catalog import VtrixWan22I2VFlashRequest
from bot.pricing import PriceTable
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY, SimulatorServer
from bot.simulator.contracts import MULEROUTER
from tests.waiting import wait_until

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]  # the make_simulator fixture
MULE = {"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"}
VTRIX = {"Authorization": f"Bearer {DEFAULT_VTRIX_KEY}"}
MULE_PENDING = {"pending", "queued", "processing", "running", "retrying"}
MULE_DONE = {"completed", "succeeded"}
VTRIX_WORDS = {"pending", "processing", "in_progress", "completed", "failed"}
PngUri = Callable[[int, int], str]


def mule_path(model: str) -> str:
    return f"/vendors/alibaba/v1/{model}/generation"


def vtrix_body(image: str, **parameters: Any) -> dict[str, Any]:
    return {
        "model": "wan22_i2v_flash",
        "input": {"prompt": "a wave", "img_url": image},
        "parameters": {"resolution": "480P", "duration": 5, **parameters},
    }


def vtrix_id(body: dict[str, Any]) -> str:
    value = body.get("id") or body.get("task_id") or body["data"]["id"]
    assert isinstance(value, str)
    return value


async def mule_create(
    session: aiohttp.ClientSession, sim: SimulatorServer, model: str, body: dict[str, Any]
) -> str:
    async with session.post(sim.base_url + mule_path(model), json=body, headers=MULE) as resp:
        assert resp.status == 202, await resp.text()
        task_id: str = (await resp.json())["task_info"]["id"]
        return task_id


async def mule_until_done(
    session: aiohttp.ClientSession, sim: SimulatorServer, model: str, task_id: str
) -> tuple[list[str], dict[str, Any]]:
    """Poll every 20 ms until finished; the status words seen and the final body."""
    words: list[str] = []

    async def look() -> dict[str, Any]:
        async with session.get(f"{sim.base_url}{mule_path(model)}/{task_id}", headers=MULE) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
        words.append(body["task_info"]["status"])
        return body

    final = await wait_until(
        look,
        done=lambda body: body["task_info"]["status"] in MULE_DONE | {"failed"},
        timeout=8.0,
        interval=0.02,
        message=lambda: f"task {task_id} to finish (last words {words[-5:]})",
    )
    return words, final


async def vtrix_until_done(
    session: aiohttp.ClientSession, sim: SimulatorServer, task_id: str
) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    async def look() -> dict[str, Any]:
        async with session.get(
            f"{sim.base_url}/model/v1/generation/task/{task_id}", headers=VTRIX
        ) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
        bodies.append(body)
        return body

    await wait_until(
        look,
        done=lambda body: body["status"] in ("completed", "failed"),
        timeout=8.0,
        interval=0.02,
        message=f"task {task_id} to finish",
    )
    return bodies


def _bodies(png: PngUri) -> dict[str, dict[str, Any]]:
    return {
        "wan2.2-t2v-plus": {"prompt": "a cat", "size": "832*480"},
        "wan2.2-i2v-flash": {"prompt": "a cat", "image": png(400, 400), "resolution": "480P"},
        "wan2.6-i2v": {"prompt": "a cat", "image": png(400, 400), "duration": 5},
        "wan2.5-i2i-preview": {
            "prompt": "a hat",
            "images": [png(400, 400)],
            "n": 2,
            "size": "1024*768",
        },
    }


@pytest.mark.parametrize(
    "model", ["wan2.2-t2v-plus", "wan2.2-i2v-flash", "wan2.6-i2v", "wan2.5-i2i-preview"]
)
async def test_mulerouter_create_then_poll_to_completion(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
    model: str,
) -> None:
    url = simulator.base_url + mule_path(model)
    async with sim_session.post(url, json=_bodies(png_data_uri)[model], headers=MULE) as resp:
        assert resp.status == 202
        created = await resp.json()
    info = created["task_info"]
    assert set(info) == {"id", "status", "created_at", "updated_at"}
    assert info["status"] == "pending"
    uuid.UUID(info["id"])
    datetime.fromisoformat(info["created_at"])

    words, final = await mule_until_done(sim_session, simulator, model, info["id"])
    assert set(words[:-1]) <= MULE_PENDING
    assert final["task_info"]["status"] in MULE_DONE
    if model == "wan2.5-i2i-preview":
        assert "videos" not in final
        assert final["images"] == [
            f"{simulator.base_url}/media/images/{info['id']}/{i}.png" for i in range(2)
        ]
    else:
        assert "images" not in final
        assert final["videos"] == [f"{simulator.base_url}/media/video/{info['id']}.mp4"]


async def test_mulerouter_status_words_cover_every_spelling(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(pending_share=0.4, duration_jitter=0.0)
    ids = [
        await mule_create(sim_session, sim, "wan2.2-t2v-plus", {"prompt": f"cat {i}"})
        for i in range(24)
    ]
    seen = await asyncio.gather(
        *(mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id) for task_id in ids)
    )
    words = {word for task_words, _ in seen for word in task_words}
    assert words == MULE_PENDING | MULE_DONE


async def test_unknown_status_words_when_enabled(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(unknown_status_words=True, duration_jitter=0.0)
    ids = [
        await mule_create(sim_session, sim, "wan2.2-t2v-plus", {"prompt": f"cat {i}"})
        for i in range(8)
    ]
    seen = await asyncio.gather(
        *(mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id) for task_id in ids)
    )
    words = {word for task_words, _ in seen for word in task_words}
    assert words & {"warming_up", "preparing"}


async def test_mulerouter_failures_use_both_error_locations(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(failure_rate=1.0)
    ids = [
        await mule_create(sim_session, sim, "wan2.2-t2v-plus", {"prompt": f"cat {i}"})
        for i in range(12)
    ]
    finals = [
        body
        for _, body in await asyncio.gather(
            *(mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id) for task_id in ids)
        )
    ]
    locations = set()
    for body in finals:
        assert body["task_info"]["status"] == "failed"
        assert "videos" not in body
        if "error" in body:
            locations.add("top")
            error = body["error"]
            assert set(error) == {"error_code", "title", "detail"}
            code = error["error_code"]
        else:
            locations.add("task_info")
            error = body["task_info"]["error"]
            assert set(error) == {"code", "title", "detail"}
            code = error["code"]
        assert 3001 <= code <= 3005
        assert error["title"]
        assert error["detail"]
    assert locations == {"top", "task_info"}


async def test_out_of_bounds_image_is_accepted_then_fails(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    body = {"prompt": "a cat", "image": png_data_uri(100, 400)}
    task_id = await mule_create(sim_session, simulator, "wan2.2-i2v-flash", body)
    _, final = await mule_until_done(sim_session, simulator, "wan2.2-i2v-flash", task_id)
    error = final.get("error") or final["task_info"]["error"]
    assert error.get("code", error.get("error_code")) == 3001
    assert (error["title"], error["detail"]) == ("Task Execution Error", "Invalid image dimensions")


async def test_vtrix_create_poll_progress_and_cost(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    body = vtrix_body(png_data_uri(400, 400))
    id_shapes = set()
    ids = []
    for _ in range(9):
        async with sim_session.post(
            simulator.base_url + "/model/v1/generation", json=body, headers=VTRIX
        ) as resp:
            assert resp.status == 200
            created = await resp.json()
        id_shapes.add(next(iter(created)))
        ids.append(vtrix_id(created))
    assert id_shapes == {"id", "task_id", "data"}

    bodies = await vtrix_until_done(sim_session, simulator, ids[0])
    progress = [b["progress"] for b in bodies]
    assert progress == sorted(progress)
    assert progress[0] < progress[-1] == 1.0
    assert all(0 <= p <= 1 for p in progress)
    assert {b["status"] for b in bodies} <= VTRIX_WORDS
    final = bodies[-1]
    assert final["status"] == "completed"
    assert final["id"] == ids[0]
    assert final["model"] == "wan22_i2v_flash"
    assert isinstance(final["created_at"], int)
    assert final["metadata"] == {}
    assert "error" not in final
    [content] = final["output"][0]["content"]
    assert content["type"] == "video"
    assert content["url"] == f"{simulator.base_url}/media/video/{ids[0]}.mp4"
    assert content["duration"] == 5
    assert content["jobId"]
    cost = final["usage"]["cost"]
    assert isinstance(cost, str)
    request = VtrixWan22I2VFlashRequest.parse(VtrixWan22I2VFlashRequest.from_provider_body(body))
    assert Decimal(cost) == PriceTable().estimate("wan2.2-i2v-flash", request) == Decimal("0.07")
    assert final["usage"]["discount"] == 0


async def test_vtrix_failure_has_string_code(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    sim = await make_simulator(failure_rate=1.0)
    async with sim_session.post(
        sim.base_url + "/model/v1/generation",
        json=vtrix_body(png_data_uri(400, 400)),
        headers=VTRIX,
    ) as resp:
        task_id = vtrix_id(await resp.json())
    final = (await vtrix_until_done(sim_session, sim, task_id))[-1]
    assert final["status"] == "failed"
    assert re.fullmatch(r"300[1-5]", final["error"]["code"])
    assert final["error"]["message"]
    assert "output" not in final
    assert "usage" not in final


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, VTRIX, {"Authorization": DEFAULT_MULEROUTER_KEY}],
)
async def test_mulerouter_rejects_bad_keys(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    headers: dict[str, str],
) -> None:
    url = simulator.base_url + mule_path("wan2.2-t2v-plus")
    async with sim_session.post(url, json={"prompt": "a cat"}, headers=headers) as resp:
        assert resp.status == 401
        assert await resp.json() == {"detail": "Invalid API key"}
    async with sim_session.get(url + "/some-id", headers=headers) as resp:
        assert resp.status == 401
    assert not simulator.state.tasks
    assert [r.auth_ok for r in simulator.state.requests] == [False, False]


async def test_vtrix_rejects_bad_keys(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    async with sim_session.post(
        simulator.base_url + "/model/v1/generation",
        json=vtrix_body(png_data_uri(400, 400)),
        headers=MULE,
    ) as resp:
        assert resp.status == 401
        assert await resp.json() == {
            "error": {"code": "unauthorized", "message": "Invalid API key"}
        }
    recorded = simulator.state.requests[0].to_json(full=True)
    assert DEFAULT_MULEROUTER_KEY not in str(recorded)
    assert recorded["auth_ok"] is False


async def test_balance_runs_out_with_402(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    sim = await make_simulator(balance=Decimal("0.25"))
    url = sim.base_url + mule_path("wan2.2-t2v-plus")
    statuses = []
    for _ in range(3):  # 480P t2v: 5 s at 0.02 = 0.10 each
        async with sim_session.post(
            url, json={"prompt": "cat", "size": "832*480"}, headers=MULE
        ) as resp:
            statuses.append(resp.status)
            last = await resp.json()
    assert statuses == [202, 202, 402]
    assert last == {"detail": "Insufficient balance"}
    assert sim.state.balance == Decimal("0.05")
    assert len(sim.state.tasks) == 2

    async with sim_session.post(
        sim.base_url + "/model/v1/generation",
        json=vtrix_body(png_data_uri(400, 400)),
        headers=VTRIX,
    ) as resp:
        assert resp.status == 402
        assert (await resp.json())["error"]["code"] == "insufficient_balance"


async def test_mulerouter_validation_answers_400_in_both_shapes(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    url = simulator.base_url + mule_path("wan2.2-t2v-plus")
    shapes = set()
    for _ in range(10):
        async with sim_session.post(
            url, json={"prompt": "", "size": "1*1", "colour": "red"}, headers=MULE
        ) as resp:
            assert resp.status == 400
            body = await resp.json()
        if "detail" in body:
            shapes.add("detail")
            detail = body["detail"]
        else:
            shapes.add("task_info")
            assert body["task_info"]["status"] == "failed"
            error = body["task_info"]["error"]
            assert (error["code"], error["title"]) == (2001, "Invalid Request")
            detail = error["detail"]
        assert "prompt" in detail
        assert "size" in detail
        assert "colour" in detail
    assert shapes == {"detail", "task_info"}
    assert not simulator.state.tasks

    async with sim_session.post(url, data=b"not json", headers=MULE) as resp:
        assert resp.status == 400
    async with sim_session.post(
        simulator.base_url + mule_path("wan9-nope"), json={"prompt": "x"}, headers=MULE
    ) as resp:
        assert resp.status == 404
    async with sim_session.get(url + "/no-such-task", headers=MULE) as resp:
        assert resp.status == 404


async def test_mulerouter_poll_must_use_the_tasks_own_model(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await mule_create(sim_session, simulator, "wan2.2-t2v-plus", {"prompt": "cat"})
    async with sim_session.get(
        f"{simulator.base_url}{mule_path('wan2.6-i2v')}/{task_id}", headers=MULE
    ) as resp:
        assert resp.status == 404


async def test_vtrix_validation_answers_invalid_parameter(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    url = simulator.base_url + "/model/v1/generation"
    bad_bodies: list[Any] = [
        vtrix_body(png_data_uri(400, 400), resolution="1080P"),
        {**vtrix_body(png_data_uri(400, 400)), "model": "wan99"},
        {"model": "wan22_i2v_flash", "input": "nope"},
    ]
    for body in bad_bodies:
        async with sim_session.post(url, json=body, headers=VTRIX) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
            assert error["code"] == "invalid_parameter"
            assert error["message"]
    async with sim_session.post(url, data=b"{", headers=VTRIX) as resp:
        assert resp.status == 400
    async with sim_session.get(url + "/task/unknown", headers=VTRIX) as resp:
        assert resp.status == 404
    assert not simulator.state.tasks


async def test_finished_time_is_recorded(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await mule_create(sim_session, simulator, "wan2.2-t2v-plus", {"prompt": "cat"})
    task = simulator.state.task(task_id)
    assert task is not None
    assert task.finished_at(task.created_mono) is None
    await mule_until_done(sim_session, simulator, "wan2.2-t2v-plus", task_id)
    now = time.monotonic()
    finished = task.finished_at(now)
    assert finished is not None
    assert task.seen_finished_at is not None
    assert finished <= task.seen_finished_at <= now
    assert task.contract is MULEROUTER["wan2.2-t2v-plus"]
    assert task.request == {
        "prompt": "cat",
        "size": "1920*1080",
        "duration": 5,
        "prompt_extend": True,
    }
