"""Health and metrics end to end: the real bot process with its HTTP server on a free port.

``/readyz`` turns 503 naming the gateway while the emulator keeps the bot off its gateway
(the connection cut, the reconnection held), and 200 again once the bot has resumed;
``/metrics`` counts what the test made the bot do: generations, provider requests, jobs by
state, a Discord 429 by its templated route.
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs.states import JobState
from tests.e2e.conftest import World
from tests.waiting import wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


PORT = _free_port()
BASE = f"http://127.0.0.1:{PORT}"
BOT_ENV = {"WANBOT_HTTP_PORT": str(PORT)}
MODEL = "wan2.2-t2v-plus"
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"


async def get(path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(BASE + path) as answer,
    ):
        if answer.content_type == "application/json":
            return answer.status, await answer.json()
        return answer.status, await answer.text()


async def readyz() -> tuple[int, Any]:
    return await get("/readyz")


async def readyz_until(status: int) -> Any:
    """The body of the first ``/readyz`` answer with ``status``."""
    answer: tuple[int, Any] = await wait_until(
        readyz,
        done=lambda answer: answer[0] == status,
        timeout=15,
        interval=0.05,
        message=f"/readyz to answer {status}",
    )
    return answer[1]


async def metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = await get("/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def summed(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    want = set(labels.items())
    return sum(v for (n, got), v in found.items() if n == name and want <= got)


async def generate(world: World, prompt: str) -> int:
    itx = await world.discord.slash("alice", "general", "wan-t2v", {"prompt": prompt})
    original = await itx.wait_original(lambda m: "Queued as job" in m.content, timeout=15)
    return int(re.search(r"job #(\d+)", original.content).group(1))  # type: ignore[union-attr]


async def test_healthz_and_readyz_answer_once_the_bot_is_up(world: World) -> None:
    await world.bot.wait_for_output(f"HTTP server listening on {BASE}")
    assert await get("/healthz") == (200, {"status": "ok"})
    body = await readyz_until(200)
    assert body == {
        "status": "ready",
        "checks": {"gateway": "ok", "database": "ok", "scheduler": "ok", "outbox": "ok"},
    }


async def test_readyz_names_the_gateway_while_it_is_down_and_recovers_after_resume(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await readyz_until(200)
    gateway = world.discord.gateway
    resumes = gateway.resumes
    release = asyncio.Event()
    connect = gateway.handle

    async def held(request: web.Request) -> web.StreamResponse:
        await release.wait()  # the bot's reconnection waits here until the test lets it in
        return await connect(request)

    monkeypatch.setattr(gateway, "handle", held)
    try:
        await gateway.drop()
        body = await readyz_until(503)
        assert body["status"] == "not ready"
        assert body["not_ready"] == ["gateway"]
        assert await get("/healthz") == (200, {"status": "ok"})  # alive all along
    finally:
        release.set()
    body = await readyz_until(200)
    assert body["status"] == "ready"
    assert gateway.resumes == resumes + 1  # it resumed its session, not a new one


async def test_metrics_count_what_the_bot_did(world: World) -> None:
    before = await metrics()
    world.discord.rules.inject_429(MESSAGES_ROUTE, n=1, retry_after=0.05)
    jobs = [await generate(world, f"lanterns on a lake, take {i}") for i in range(2)]
    done = [await world.wait_job(job_id, JobState.DELIVERED) for job_id in jobs]
    # A refusal in the command's own checks (a blank prompt) is counted by its reason.
    itx = await world.discord.slash("alice", "general", "wan-t2v", {"prompt": "   "})
    await itx.wait_original(lambda m: "prompt is empty" in m.content, timeout=15)
    after = await metrics()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("wanbot_submissions_total", model=MODEL) == 2
    assert delta("wanbot_refusals_total", reason="invalid_options") == 1
    creates = len(world.creates())
    assert summed(after, "wanbot_provider_requests_total", operation="create") == creates
    assert (
        delta(
            "wanbot_provider_requests_total",
            provider="mulerouter",
            operation="create",
            outcome="ok",
        )
        == 2
    )
    polls = [r for r in world.sim.state.requests if r.method == "GET" and r.provider is not None]
    assert summed(after, "wanbot_provider_requests_total", operation="poll") == len(polls)
    assert delta("wanbot_detection_delay_seconds_count", model=MODEL) == 2
    assert delta("wanbot_delivery_delay_seconds_count", kind="result") == 2
    delivered = sample(after, "wanbot_jobs", state="delivered", model=MODEL)
    assert delivered - sample(before, "wanbot_jobs", state="delivered", model=MODEL) == 2
    assert sample(after, "wanbot_outbox_backlog", kind="result") == 0
    spent = float(sum(job.estimated_cost for job in done))  # MuleRouter reports no cost
    assert delta("wanbot_spend_usd", model=MODEL, kind="estimated") == pytest.approx(spent)
    assert delta("wanbot_discord_rate_limits_total", route=MESSAGES_ROUTE) == 1
    # No label carries an id: every route label is a template.
    routes = {
        dict(labels)["route"] for (name, labels) in after if name.startswith("wanbot_discord")
    }
    assert all(not re.search(r"\d{5,}", route) for route in routes)
