"""Both provider clients against the simulator over real loopback sockets.

What is proven here: every catalog endpoint round-trips; polls survive 429/5xx/garbage/drops and
honour ``Retry-After``; a create is resent only when the provider certainly did not accept it,
and every other failure after sending is "outcome unknown" with exactly one create on the wire.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from pydantic import HttpUrl, SecretStr

from bot.catalog import CATALOG, ModelSpec, WanRequest, spec_for
from bot.config import ProviderName, Settings, load_settings
from bot.pricing import PriceTable
from bot.providers import PollResult, Providers, RetryPolicy, TaskState, create_path, poll_path
from bot.providers.errors import (
    AuthenticationFailed,
    InsufficientBalance,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    SubmissionOutcomeUnknown,
    TaskNotFound,
)
from bot.providers.http import ProviderHTTP
from bot.providers.mulerouter import MuleRouterClient
from bot.results import ResultTooLarge, download_result, looks_whole
from bot.simulator import (
    DEFAULT_MULEROUTER_KEY,
    DEFAULT_VTRIX_KEY,
    FaultKind,
    FaultPhase,
    FaultTarget,
    RecordedRequest,
    ScriptedFault,
    SimulatorServer,
)
from bot.simulator.media import sample_mp4
from tests.waiting import wait_until

T2V = spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER)
VTRIX_FLASH = spec_for("wan2.2-i2v-flash", ProviderName.VTRIX)


class RecordingSleep:
    """Stands in for ``asyncio.sleep`` in the retry loop: records each wait, waits not at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def settings_for(base_url: str, *, mulerouter_key: str = DEFAULT_MULEROUTER_KEY) -> Settings:
    return load_settings(
        mulerouter_base_url=base_url,
        vtrix_base_url=base_url,
        mulerouter_api_key=mulerouter_key,
        vtrix_api_key=DEFAULT_VTRIX_KEY,
        http_timeout=2.0,
        _env_file=None,
    )


def make_http(
    session: aiohttp.ClientSession,
    base_url: str,
    sleep: RecordingSleep,
    *,
    provider: ProviderName = ProviderName.MULEROUTER,
    key: str | None = None,
    attempts: int = 4,
    timeout: float = 2.0,
) -> ProviderHTTP:
    default_key = (
        DEFAULT_MULEROUTER_KEY if provider is ProviderName.MULEROUTER else (DEFAULT_VTRIX_KEY)
    )
    return ProviderHTTP(
        session,
        provider=provider,
        base_url=base_url,
        api_key=SecretStr(key or default_key),
        timeout=timeout,
        sleep=sleep,
        create_retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05),
        poll_retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05),
    )


def request_for(spec: ModelSpec, png: Callable[[int, int], str]) -> WanRequest:
    image = png(640, 480)
    fields: dict[str, object] = {"prompt": "a lighthouse in a storm"}
    media = spec.request_type.media_fields()
    if "images" in media:
        fields |= {"images": [image, png(500, 500)], "n": 2, "size": "1024*1024"}
    elif "image" in media:
        fields["image"] = image
    return spec.parse(fields)


def creates(sim: SimulatorServer) -> list[RecordedRequest]:
    return [r for r in sim.state.requests if r.method == "POST" and not r.path.startswith("/_")]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def poll_until_done(
    poll: Callable[[], Awaitable[PollResult]], within: float = 10.0
) -> PollResult:
    return await wait_until(
        poll,
        done=lambda result: result.state.finished,
        timeout=within,
        message="the task to finish",
    )


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.key)
async def test_every_endpoint_round_trips_and_results_download(
    spec: ModelSpec,
    simulator: SimulatorServer,
    session: aiohttp.ClientSession,
    png_data_uri: Callable[[int, int], str],
    tmp_path: Path,
) -> None:
    providers = Providers(settings_for(simulator.base_url), session)
    client = providers.for_spec(spec)
    request = request_for(spec, png_data_uri)

    task_id = await client.submit(spec, request)
    result = await poll_until_done(lambda: client.poll(spec, task_id))

    assert result.state is TaskState.SUCCEEDED
    expected_count = 2 if spec.model_id == "wan2.5-i2i-preview" else 1
    assert len(result.result_urls) == expected_count
    sim_task = simulator.state.task(task_id)
    assert sim_task is not None
    if spec.provider is ProviderName.VTRIX:
        assert result.billed_cost == sim_task.cost == PriceTable().estimate(spec.model_id, request)
    else:
        assert result.billed_cost is None
    paths = [
        await download_result(
            session, url, tmp_path, stem="job-1", index=i, default_ext=".bin", max_bytes=10_000_000
        )
        for i, url in enumerate(result.result_urls)
    ]
    for path in paths:
        head = path.read_bytes()[:16]
        if spec.result_kind.value == "video":
            assert head[4:8] == b"ftyp"
            assert path.suffix == ".mp4"
        else:
            assert head.startswith(b"\x89PNG")
            assert path.suffix == ".png"
    assert providers.requests_sent() >= 2


async def test_vtrix_progress_rises_to_one(
    make_simulator: Callable[..., Awaitable[SimulatorServer]],
    session: aiohttp.ClientSession,
    png_data_uri: Callable[[int, int], str],
) -> None:
    sim = await make_simulator(speed=60.0)
    client = Providers(settings_for(sim.base_url), session).for_spec(VTRIX_FLASH)
    task_id = await client.submit(VTRIX_FLASH, request_for(VTRIX_FLASH, png_data_uri))
    seen: list[float | None] = []
    result = await poll_until_done(lambda: _track(client.poll(VTRIX_FLASH, task_id), seen))
    assert result.progress == 1.0
    rising = [p for p in seen if p is not None]
    assert rising == sorted(rising)
    assert any(0 < p < 1 for p in rising)


async def _track(awaitable: Awaitable[PollResult], seen: list[float | None]) -> PollResult:
    result = await awaitable
    seen.append(result.progress)
    return result


async def test_failed_tasks_read_from_both_error_locations(
    make_simulator: Callable[..., Awaitable[SimulatorServer]],
    session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(failure_rate=1.0)
    client = Providers(settings_for(sim.base_url), session).for_spec(T2V)

    async def one(n: int) -> PollResult:
        task_id = await client.submit(T2V, T2V.parse({"prompt": f"scene {n}"}))
        return await poll_until_done(lambda: client.poll(T2V, task_id))

    codes: set[str] = set()
    for result in await asyncio.gather(*(one(n) for n in range(12))):
        assert result.state is TaskState.FAILED
        assert result.failure is not None
        assert result.failure.detail
        codes.add(result.failure.code)
    assert codes <= {"3001", "3002", "3003", "3004", "3005"}
    # Both documented error locations (task_info.error and top-level error) were read:
    assert {task.error_at_top for task in sim.state.tasks.values()} == {True, False}


# --- polls: transient trouble is retried and never fails the task --------------------------------


async def test_poll_honours_a_short_retry_after_on_429_inline(
    simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep)
    body = await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body())
    task_id = body["task_info"]["id"]
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.RATE_LIMIT, target=FaultTarget.POLL, count=2, retry_after=1)
    )
    answer = await http.get(poll_path(T2V, task_id))
    assert answer["task_info"]["id"] == task_id
    assert sleep.waits == [1.0, 1.0]


@pytest.mark.parametrize(("announced", "handed_back"), [(7, 7.0), (900, 120.0)])
async def test_a_long_retry_after_is_handed_back_not_slept(
    simulator: SimulatorServer,
    session: aiohttp.ClientSession,
    announced: int,
    handed_back: float,
) -> None:
    """The caller holds a provider request slot: a long wait is the engine's to schedule."""
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep)
    task_id = (await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body()))[
        "task_info"
    ]["id"]
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.RATE_LIMIT, target=FaultTarget.POLL, retry_after=announced)
    )
    with pytest.raises(RateLimited) as caught:
        await http.get(poll_path(T2V, task_id))
    assert caught.value.retry_after == handed_back
    assert sleep.waits == []


@pytest.mark.parametrize(
    ("kind", "count"),
    [
        (FaultKind.SERVER_ERROR, 3),
        (FaultKind.UNAVAILABLE, 3),
        (FaultKind.MALFORMED, 3),
        # aiohttp itself resends an idempotent GET once on a dropped keep-alive connection, so
        # six drops are three failed tries of ours.
        (FaultKind.DROP, 6),
    ],
)
async def test_poll_survives_transient_faults(
    kind: FaultKind, count: int, simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep, attempts=4)
    task_id = (await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body()))[
        "task_info"
    ]["id"]
    simulator.state.push_faults(ScriptedFault(kind=kind, target=FaultTarget.POLL, count=count))
    answer = await http.get(poll_path(T2V, task_id))
    assert answer["task_info"]["id"] == task_id
    assert len(sleep.waits) == 3
    assert all(0 <= wait <= 0.05 for wait in sleep.waits)  # jittered exponential backoff


async def test_poll_gives_up_with_a_transient_error(
    simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep, attempts=3)
    task_id = (await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body()))[
        "task_info"
    ]["id"]
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.SERVER_ERROR, target=FaultTarget.POLL, count=5)
    )
    with pytest.raises(ProviderUnavailable) as caught:
        await http.get(poll_path(T2V, task_id))
    assert caught.value.transient
    assert caught.value.status == 500
    assert len(sleep.waits) == 2


async def test_poll_of_unknown_task_is_not_found(
    simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    http = make_http(session, simulator.base_url, RecordingSleep())
    with pytest.raises(TaskNotFound):
        await http.get(poll_path(T2V, "00000000-0000-0000-0000-000000000000"))


# --- creates: resent only when certainly not accepted ---------------------------------------------


@pytest.mark.parametrize("kind", [FaultKind.RATE_LIMIT, FaultKind.UNAVAILABLE])
async def test_create_is_retried_when_the_provider_said_no(
    kind: FaultKind, simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep)
    simulator.state.push_faults(
        ScriptedFault(kind=kind, target=FaultTarget.CREATE, count=2, retry_after=1)
    )
    task_id = await MuleRouterClient(http).submit(T2V, T2V.parse({"prompt": "x"}))
    assert len(creates(simulator)) == 3
    assert list(simulator.state.tasks) == [task_id]
    if kind is FaultKind.RATE_LIMIT:
        assert sleep.waits == [1.0, 1.0]  # the provider's (short) Retry-After
    else:
        assert len(sleep.waits) == 2  # no Retry-After on the 503: jittered backoff
        assert all(0 <= wait <= 0.05 for wait in sleep.waits)


async def test_create_rate_limit_exhausted_is_definite(
    simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    http = make_http(session, simulator.base_url, RecordingSleep(), attempts=2)
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.RATE_LIMIT, target=FaultTarget.CREATE, count=5, retry_after=4)
    )
    with pytest.raises(RateLimited) as caught:
        await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body())
    assert caught.value.retry_after == 4.0
    assert simulator.state.tasks == {}


@pytest.mark.parametrize(
    ("kind", "phase"),
    [
        (FaultKind.SERVER_ERROR, FaultPhase.AFTER),
        (FaultKind.SERVER_ERROR, FaultPhase.BEFORE),  # a 500 says nothing about acceptance
        (FaultKind.DROP, FaultPhase.AFTER),
        (FaultKind.MALFORMED, FaultPhase.AFTER),
        (FaultKind.SLOW, FaultPhase.AFTER),
    ],
)
async def test_create_with_unknown_outcome_is_never_resent(
    kind: FaultKind, phase: FaultPhase, simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    sleep = RecordingSleep()
    http = make_http(session, simulator.base_url, sleep, timeout=1.0)
    simulator.state.push_faults(
        ScriptedFault(kind=kind, target=FaultTarget.CREATE, phase=phase, seconds=3.0)
    )
    with pytest.raises(SubmissionOutcomeUnknown) as caught:
        await http.create(create_path(T2V), T2V.parse({"prompt": "x"}).provider_body())
    assert len(creates(simulator)) == 1
    assert sleep.waits == []
    assert "twice" in caught.value.user_message
    expected_tasks = 1 if phase is FaultPhase.AFTER else 0
    assert len(simulator.state.tasks) == expected_tasks


async def test_create_is_retried_when_the_connection_is_refused(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()
    http = make_http(session, f"http://127.0.0.1:{port}", sleep, attempts=3)
    with pytest.raises(ProviderUnavailable) as caught:
        await http.create(create_path(T2V), {"prompt": "x"})
    assert not isinstance(caught.value, SubmissionOutcomeUnknown)
    assert len(sleep.waits) == 2
    assert http.requests_sent == 3


# --- definite refusals -----------------------------------------------------------------------


async def test_wrong_key_is_refused_once_without_leaking_it(
    simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    secret = "sk-live-DO-NOT-LEAK-123"
    providers = Providers(settings_for(simulator.base_url, mulerouter_key=secret), session)
    client = providers.for_spec(T2V)
    with pytest.raises(AuthenticationFailed) as caught:
        await client.submit(T2V, T2V.parse({"prompt": "x"}))
    assert len(creates(simulator)) == 1
    assert caught.value.status == 401
    for text in (
        str(caught.value),
        caught.value.user_message,
        caught.value.detail,
        repr(client),
        repr(providers),
    ):
        assert secret not in text
    assert "key" in caught.value.user_message


async def test_no_balance_is_insufficient_balance(
    make_simulator: Callable[..., Awaitable[SimulatorServer]], session: aiohttp.ClientSession
) -> None:
    sim = await make_simulator(balance=Decimal("0.10"))
    client = Providers(settings_for(sim.base_url), session).for_spec(T2V)
    with pytest.raises(InsufficientBalance) as caught:
        await client.submit(T2V, T2V.parse({"prompt": "x"}))  # costs $0.50
    assert caught.value.status == 402
    assert "balance" in caught.value.user_message


@pytest.mark.parametrize("provider", [ProviderName.MULEROUTER, ProviderName.VTRIX])
async def test_invalid_body_carries_the_providers_words(
    provider: ProviderName, simulator: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    """The catalog stops bad requests first; this sends one anyway to read the 400 shapes."""
    http = make_http(session, simulator.base_url, RecordingSleep(), provider=provider)
    spec = T2V if provider is ProviderName.MULEROUTER else VTRIX_FLASH
    body = (
        {"prompt": "x", "size": "1*1"}
        if provider is ProviderName.MULEROUTER
        else {
            "model": "wan22_i2v_flash",
            "input": {"img_url": "https://e/x.png"},
            "parameters": {"duration": 7},
        }
    )
    with pytest.raises(InvalidRequest) as caught:
        await http.create(create_path(spec), body)
    assert caught.value.status == 400
    word = "size" if provider is ProviderName.MULEROUTER else "duration"
    assert word in caught.value.detail
    assert caught.value.detail in caught.value.user_message
    assert simulator.state.tasks == {}


async def test_result_download_is_capped(
    simulator: SimulatorServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = Providers(settings_for(simulator.base_url), session).for_spec(T2V)
    task_id = await client.submit(T2V, T2V.parse({"prompt": "x"}))
    result = await poll_until_done(lambda: client.poll(T2V, task_id))
    with pytest.raises(ResultTooLarge):
        await download_result(
            session,
            result.result_urls[0],
            tmp_path,
            stem="j",
            index=0,
            default_ext=".mp4",
            max_bytes=1000,
        )
    assert not any(tmp_path.iterdir())  # no partial file left behind  # noqa: ASYNC240


async def test_result_download_retries_a_server_error(
    simulator: SimulatorServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = Providers(settings_for(simulator.base_url), session).for_spec(T2V)
    task_id = await client.submit(T2V, T2V.parse({"prompt": "x"}))
    result = await poll_until_done(lambda: client.poll(T2V, task_id))
    simulator.state.push_faults(
        ScriptedFault(kind=FaultKind.SERVER_ERROR, target=FaultTarget.MEDIA)
    )
    path = await download_result(
        session,
        result.result_urls[0],
        tmp_path,
        stem="j",
        index=0,
        default_ext=".mp4",
        max_bytes=10_000_000,
        retry_delay=0.01,
    )
    assert path.read_bytes()[4:8] == b"ftyp"


async def test_a_result_cut_short_upstream_is_fetched_again_not_kept(
    simulator: SimulatorServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Half the file with a Content-Length that matches the half: only the MP4's own box
    lengths show it is cut short."""
    client = Providers(settings_for(simulator.base_url), session).for_spec(T2V)
    task_id = await client.submit(T2V, T2V.parse({"prompt": "x"}))
    result = await poll_until_done(lambda: client.poll(T2V, task_id))
    simulator.state.push_faults(ScriptedFault(kind=FaultKind.MALFORMED, target=FaultTarget.MEDIA))
    path = await download_result(
        session,
        result.result_urls[0],
        tmp_path,
        stem="j",
        index=0,
        default_ext=".mp4",
        max_bytes=10_000_000,
        retry_delay=0.01,
    )
    assert looks_whole(path)
    assert path.stat().st_size == len(sample_mp4())
    media = [r for r in simulator.state.requests if r.path.startswith("/media/")]
    assert len(media) == 2  # the cut one, then the whole one


@pytest.mark.parametrize("cut", [1, 100, 3935])
def test_looks_whole_spots_a_cut_mp4_png_and_passes_whole_ones(tmp_path: Path, cut: int) -> None:
    video = sample_mp4()
    png = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(png, format="PNG")
    for name, data in (("v.mp4", video), ("i.png", png.getvalue())):
        whole = tmp_path / name
        whole.write_bytes(data)
        assert looks_whole(whole)
        cut_short = tmp_path / f"cut-{name}"
        cut_short.write_bytes(data[: max(len(data) - cut, 8)])
        assert not looks_whole(cut_short), name


def test_settings_for_does_not_read_the_environment() -> None:
    settings = settings_for("http://127.0.0.1:1")
    assert settings.base_url(ProviderName.MULEROUTER) == "http://127.0.0.1:1"
    assert isinstance(settings.mulerouter_base_url, HttpUrl)


# --- answers that must not be trusted, from a stand-in server on loopback ---------------------


@pytest.fixture
async def odd_server() -> AsyncIterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """A server on 127.0.0.1 that answers every path with ``answers[path]`` (status, body)."""
    from aiohttp import web

    answers: dict[str, tuple[int, bytes]] = {}

    async def handle(request: web.Request) -> web.Response:
        status, body = answers[request.path]
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", answers
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "body",
    [
        b'{"task_info": {"status": "processing"}, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        b"[" * 100_000 + b"]" * 100_000,  # json.loads: RecursionError
        b'{"task_info": {"id": ' + b"9" * 5000 + b"}}",  # json.loads: ValueError (int digits)
    ],
    ids=["2MiB", "deep-nesting", "5000-digit-int"],
)
async def test_answers_json_cannot_safely_hold_are_unreadable_not_crashes(
    odd_server: tuple[str, dict[str, tuple[int, bytes]]],
    session: aiohttp.ClientSession,
    body: bytes,
) -> None:
    base_url, answers = odd_server
    sleep = RecordingSleep()
    http = make_http(session, base_url, sleep, attempts=2)
    client = MuleRouterClient(http)
    answers[create_path(T2V)] = (202, body)
    answers[poll_path(T2V, "t-1")] = (200, body)
    with pytest.raises(SubmissionOutcomeUnknown, match="unreadable body"):
        await client.submit(T2V, T2V.parse({"prompt": "a boat"}))
    with pytest.raises(ProviderUnavailable, match="unreadable body"):
        await client.poll(T2V, "t-1")
    assert http.requests_sent == 3  # the create once (never resent), the poll twice


@pytest.mark.parametrize("task_id", ['"../../v1/other"', '"a/b"', "true", '""', '{"x": 1}', "null"])
async def test_a_create_answer_without_a_safe_task_id_is_outcome_unknown(
    odd_server: tuple[str, dict[str, tuple[int, bytes]]],
    session: aiohttp.ClientSession,
    task_id: str,
) -> None:
    base_url, answers = odd_server
    client = MuleRouterClient(make_http(session, base_url, RecordingSleep()))
    answers[create_path(T2V)] = (
        202,
        b'{"task_info": {"id": %b, "status": "pending"}}' % task_id.encode(),
    )
    with pytest.raises(SubmissionOutcomeUnknown, match=r"no usable task_info\.id"):
        await client.submit(T2V, T2V.parse({"prompt": "a boat"}))


async def test_an_unreadable_poll_answer_is_logged_once_per_task_clipped(
    odd_server: tuple[str, dict[str, tuple[int, bytes]]],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url, answers = odd_server
    client = MuleRouterClient(make_http(session, base_url, RecordingSleep()))
    secretish = "s" * 50_000
    body = b'{"task_info": {"status": "completed"}, "videos": "https://cdn/v.mp4", "pad": "%b"}'
    answers[poll_path(T2V, "t-1")] = (200, body % secretish.encode())
    answers[poll_path(T2V, "t-2")] = (200, body % secretish.encode())
    caplog.set_level("DEBUG", logger="bot.providers.mulerouter")
    for task in ("t-1", "t-1", "t-1", "t-2"):
        result = await client.poll(T2V, task)
        assert result.state is TaskState.RUNNING
        assert result.result_urls == ()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "mulerouter task t-1",
        "mulerouter task t-2",
    ]
    assert all("videos is text, not a list" in r.getMessage() for r in warnings)
    assert all(len(r.getMessage()) < 600 for r in caplog.records)
