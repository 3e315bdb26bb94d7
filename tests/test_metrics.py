"""``/metrics`` over a real loopback socket: names and labels, the database's gauges read at
scrape time, what the real engine reports against the provider simulator, and how provider
requests are counted by outcome."""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import SecretStr

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.http_server import HttpServer
from bot.jobs.budget import Limits, ReservationRefused
from bot.jobs.states import JobState
from bot.jobs.storage import JobStore, open_store
from bot.metrics import PATH, Metrics
from bot.providers.errors import InvalidRequest, ProviderUnavailable, SubmissionOutcomeUnknown
from bot.providers.http import ProviderHTTP, RetryPolicy
from bot.simulator import SimulatorServer
from tests.jobs.support import EngineParts, build_engine
from tests.waiting import wait_until

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]
T2V = spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER)
SPEED = 200.0

pytestmark = pytest.mark.timeout(60)


Families = dict[str, tuple[str, list[Sample]]]


def parse(text: str) -> Families:
    """Every family by name: (type, samples)."""
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def value(families: Families, sample: str, **labels: str) -> float:
    """The one sample named ``sample`` whose labels include ``labels`` (0 when none)."""
    found = [
        s.value
        for _, samples in families.values()
        for s in samples
        if s.name == sample and labels.items() <= s.labels.items()
    ]
    assert len(found) <= 1, f"{sample} {labels}: {found}"
    return found[0] if found else 0.0


def total(families: Families, sample: str, **labels: str) -> float:
    """The sum of the samples named ``sample`` whose labels include ``labels``."""
    return sum(
        s.value
        for _, samples in families.values()
        for s in samples
        if s.name == sample and labels.items() <= s.labels.items()
    )


async def scrape(session: aiohttp.ClientSession, server: HttpServer) -> Families:
    async with session.get(server.url + PATH) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        return parse(await answer.text())


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Metrics, JobStore], Awaitable[HttpServer]]]:
    servers: list[HttpServer] = []

    async def start(metrics: Metrics, store: JobStore) -> HttpServer:
        server = HttpServer("127.0.0.1", 0)
        server.add_routes(metrics.routes(store))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


# ---------------------------------------------------------------------------------------------
# Names, labels, and the registry
# ---------------------------------------------------------------------------------------------


async def test_every_metric_is_named_and_labelled_by_convention(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    serve: Callable[[Metrics, JobStore], Awaitable[HttpServer]],
) -> None:
    metrics = Metrics()
    metrics.job_submitted("wan2.2-t2v-plus")
    metrics.job_refused("user_budget")
    metrics.provider_request("mulerouter", "create", "ok")
    metrics.result_detected("wan2.2-t2v-plus", 1.5)
    metrics.delivery_posted("result", 0.7)
    metrics.discord_rate_limited("POST /channels/{channel_id}/messages")
    store = await open_store(tmp_path / "wanbot.sqlite3")
    try:
        families = await scrape(session, await serve(metrics, store))
    finally:
        await store.close()

    types = {name: kind for name, (kind, _) in families.items() if not name.endswith("_created")}
    assert types == {
        "wanbot_submissions": "counter",
        "wanbot_refusals": "counter",
        "wanbot_provider_requests": "counter",
        "wanbot_detection_delay_seconds": "histogram",
        "wanbot_delivery_delay_seconds": "histogram",
        "wanbot_discord_rate_limits": "counter",
        "wanbot_jobs": "gauge",
        "wanbot_outbox_backlog": "gauge",
        "wanbot_spend_usd": "gauge",
    }
    assert value(families, "wanbot_submissions_total", model="wan2.2-t2v-plus") == 1
    assert value(families, "wanbot_refusals_total", reason="user_budget") == 1
    assert (
        value(
            families,
            "wanbot_provider_requests_total",
            provider="mulerouter",
            operation="create",
            outcome="ok",
        )
        == 1
    )
    assert value(families, "wanbot_detection_delay_seconds_sum", model="wan2.2-t2v-plus") == 1.5
    assert value(families, "wanbot_delivery_delay_seconds_count", kind="result") == 1
    route = "POST /channels/{channel_id}/messages"
    assert value(families, "wanbot_discord_rate_limits_total", route=route) == 1
    # An empty database: no jobs, nothing queued, nothing spent.
    assert families["wanbot_jobs"][1] == []
    assert value(families, "wanbot_outbox_backlog", kind="result") == 0
    assert value(families, "wanbot_outbox_backlog", kind="notice") == 0
    assert value(families, "wanbot_outbox_backlog", kind="approval") == 0
    assert families["wanbot_spend_usd"][1] == []


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.job_submitted("wan2.6-i2v")
    assert b'wanbot_submissions_total{model="wan2.6-i2v"} 1.0' in first.exposition()
    assert b"wanbot_submissions_total{" not in second.exposition()


async def test_a_database_that_does_not_answer_leaves_its_gauges_out(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    serve: Callable[[Metrics, JobStore], Awaitable[HttpServer]],
) -> None:
    metrics = Metrics()
    metrics.job_refused("cooldown")
    store = await open_store(tmp_path / "wanbot.sqlite3")
    server = await serve(metrics, store)
    await store.close()  # every query now fails
    families = await scrape(session, server)
    assert value(families, "wanbot_refusals_total", reason="cooldown") == 1
    assert "wanbot_jobs" not in families
    assert "wanbot_spend_usd" not in families


# ---------------------------------------------------------------------------------------------
# The real engine, reporting as it works
# ---------------------------------------------------------------------------------------------


async def wait_delivered(parts: EngineParts, job_id: int) -> None:
    async def state() -> JobState | None:
        job = await parts.store.get_job(job_id)
        return None if job is None else job.state

    found: JobState | None = await wait_until(
        state,
        done=lambda found: found is JobState.DELIVERED,
        timeout=15,
        interval=0.02,
        message=f"job {job_id} to be delivered",
    )
    assert found is JobState.DELIVERED


async def test_after_generations_the_counters_match_what_happened(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    session: aiohttp.ClientSession,
    serve: Callable[[Metrics, JobStore], Awaitable[HttpServer]],
) -> None:
    sim = await make_simulator(speed=SPEED)
    metrics = Metrics()
    limits = Limits(max_concurrent_per_user=None, user_daily_budget=Decimal("0.30"))
    parts: EngineParts = await build_engine(
        sim.base_url, tmp_path, session, speed=SPEED, default_limits=limits, telemetry=metrics
    )
    await parts.engine.start()
    try:
        jobs = []
        for index in range(3):
            request = T2V.parse({"prompt": f"a lighthouse, take {index}", "size": "832*480"})
            jobs.append(
                await parts.engine.submit(
                    user_id=1, guild_id=10, channel_id=555, spec=T2V, request=request
                )
            )
        request = T2V.parse({"prompt": "one too many", "size": "832*480"})
        with pytest.raises(ReservationRefused) as refused:  # $0.10 each against $0.30
            await parts.engine.submit(
                user_id=1, guild_id=10, channel_id=555, spec=T2V, request=request
            )
        assert refused.value.reason == "user_budget"
        for job in jobs:
            await wait_delivered(parts, job.id)
        server = await serve(metrics, parts.store)
        families = await scrape(session, server)
    finally:
        await parts.engine.stop(0.5)
        await parts.store.close()

    model = T2V.model_id
    assert value(families, "wanbot_submissions_total", model=model) == 3
    assert value(families, "wanbot_refusals_total", reason="user_budget") == 1
    upstream = [r for r in sim.state.requests if r.provider is not None]
    creates = [r for r in upstream if r.method == "POST"]
    polls = [r for r in upstream if r.method == "GET"]
    assert len(creates) == 3
    labels = {"provider": "mulerouter"}
    create_ok = value(families, "wanbot_provider_requests_total", operation="create", outcome="ok")
    assert create_ok == 3
    assert total(families, "wanbot_provider_requests_total", operation="poll", **labels) == len(
        polls
    )
    assert total(families, "wanbot_provider_requests_total") == len(upstream)
    assert value(families, "wanbot_detection_delay_seconds_count", model=model) == 3
    assert value(families, "wanbot_delivery_delay_seconds_count", kind="result") == 3
    assert value(families, "wanbot_jobs", state="delivered", model=model) == 3
    assert total(families, "wanbot_jobs") == 3
    assert value(families, "wanbot_outbox_backlog", kind="result") == 0
    # MuleRouter reports no cost: all three are settled at the estimate.
    assert value(families, "wanbot_spend_usd", model=model, kind="estimated") == pytest.approx(0.30)
    assert value(families, "wanbot_spend_usd", model=model, kind="billed") == 0


# ---------------------------------------------------------------------------------------------
# Provider requests by outcome
# ---------------------------------------------------------------------------------------------


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


class Scripted:
    """A provider on loopback answering each request with the next scripted answer."""

    def __init__(self) -> None:
        self.answers: list[web.Response] = []
        self.server = HttpServer("127.0.0.1", 0)
        self.server.add_routes([web.route("*", "/{tail:.*}", self._answer)])

    async def _answer(self, request: web.Request) -> web.Response:
        await request.read()
        return self.answers.pop(0)


async def test_provider_requests_are_counted_by_operation_and_outcome() -> None:
    metrics = Metrics()
    provider = Scripted()
    await provider.server.start()
    fast = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)

    async def no_sleep(seconds: float) -> None:
        pass

    try:
        async with aiohttp.ClientSession() as client:
            http = ProviderHTTP(
                client,
                provider=ProviderName.VTRIX,
                base_url=provider.server.url,
                api_key=SecretStr("key"),
                create_retry=fast,
                poll_retry=fast,
                sleep=no_sleep,
                telemetry=metrics,
            )
            provider.answers = [
                web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "0"}),
                web.json_response({"error": "oops"}, status=502),
                web.json_response({"status": "running"}),
            ]
            assert await http.get("/tasks/1") == {"status": "running"}
            provider.answers = [web.json_response({"error": "bad size"}, status=400)]
            with pytest.raises(InvalidRequest):
                await http.create("/tasks", {"image": _png()})
            provider.answers = [web.Response(text="<html>", status=200)]
            with pytest.raises(SubmissionOutcomeUnknown):
                await http.create("/tasks", {"prompt": "x"})
            with socket.socket() as closed:
                closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
                http.base_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
                with pytest.raises(ProviderUnavailable):
                    await http.get("/tasks/1")
    finally:
        await provider.server.stop()

    families = parse(metrics.exposition().decode())
    counted: dict[tuple[str, str], float] = {
        (s.labels["operation"], s.labels["outcome"]): s.value
        for s in families["wanbot_provider_requests"][1]
        if s.name == "wanbot_provider_requests_total"
    }
    assert {s.labels["provider"] for s in families["wanbot_provider_requests"][1]} == {"vtrix"}
    assert counted == {
        ("poll", "rate_limited"): 1,
        ("poll", "server_error"): 1,
        ("poll", "ok"): 1,
        ("create", "client_error"): 1,
        ("create", "unreadable"): 1,
        ("poll", "network_error"): 3,
    }
