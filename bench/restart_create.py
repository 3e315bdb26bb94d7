"""Benchmark: a new job's create right after a restart with 10,000 jobs running (issue #10).

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/restart_create.py              # the full run: 10,000 jobs running
    .venv/bin/python bench/restart_create.py --jobs 500   # a quick check of the script

What it does:

1. Starts the simulator in its own process (``python -m bot simulator`` on 127.0.0.1, port
   chosen by the OS) and makes every task last ``--task-seconds`` (an hour), so nothing
   finishes during the benchmark.
2. Puts ``--jobs`` jobs in ``running`` on a temporary SQLite file, as a bot that was stopped
   ``--down`` seconds ago leaves them: each task is created on the simulator (the real provider
   clients), and its job written through the store's own methods (``create_job``,
   ``claim_submission``, ``mark_running``, one ``record_polls``) with times in the past: sent
   30 s to 5 min before the stop, next look due 0 to 120 s after it. With the default 10
   minutes down every job is overdue, the worst case. Jobs are spread round-robin over the
   seven groups of ``bench/engine_10k.py`` (MuleRouter and Vtrix). The store is closed again.
3. Builds a fresh engine on that file with the *default* settings (``requests_per_second``,
   ``max_concurrent_requests``, poll intervals: ``Settings``' own defaults, not the
   environment), a deliverer that only counts, and ``start()`` s it. Right after ``start()``
   returns, and again ``--probes`` seconds after it was called, it submits one new job per
   provider (wan2.2-i2v-flash) through ``engine.submit(...)`` and measures the time from
   ``submit()`` returning until the simulator received the create request (its own request
   log, ``GET /_sim/requests``; both clocks are ``time.monotonic()`` on this machine).

Printed: how long ``start()`` took, each probe's delay (split into the wait inside the engine
until the provider client was called and the HTTP request itself), the status polls the
simulator had received since the restart when the probe's create arrived, the median and the
worst, and PASS or MISS against the 2 s target (the worst must be below it). Exit status 0
only on PASS. It stops by itself (``--timeout``), talks to 127.0.0.1 only and removes the
simulator process and its temporary files on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from simulator_process import Simulator, start_simulator

from bot.catalog import ModelSpec, spec_for
from bot.config import ProviderName, Settings, load_settings
from bot.jobs.budget import Limits
from bot.jobs.build import build_engine
from bot.jobs.delivery import DeliveryKind
from bot.jobs.engine import JobEngine
from bot.jobs.engine_config import EngineConfig
from bot.jobs.records import Job, NewJob
from bot.jobs.states import JobState
from bot.jobs.storage import open_store
from bot.pricing import PriceTable
from bot.providers import Providers

TARGET_SECONDS = 2.0
INPUT_URL = "http://127.0.0.1:9/bench-input.png"  # never fetched: the simulator trusts URLs
PROMPT = "a lighthouse on a cliff at dusk, waves, slow dolly in"
log = logging.getLogger("bench")


@dataclass(frozen=True)
class Group:
    """One kind of job: a model on a provider with one request shape (as in engine_10k)."""

    name: str
    model_id: str
    provider: ProviderName
    fields: dict[str, Any]

    @property
    def spec(self) -> ModelSpec:
        return spec_for(self.model_id, self.provider)


MR, VX = ProviderName.MULEROUTER, ProviderName.VTRIX
GROUPS: tuple[Group, ...] = (
    Group("flash (mulerouter)", "wan2.2-i2v-flash", MR, {"prompt": PROMPT, "image": INPUT_URL}),
    Group("flash (vtrix)", "wan2.2-i2v-flash", VX, {"prompt": PROMPT, "image": INPUT_URL}),
    Group(
        "i2i 768",
        "wan2.5-i2i-preview",
        MR,
        {"prompt": PROMPT, "images": [INPUT_URL], "size": "768*768", "n": 1},
    ),
    Group("t2v 5 s", "wan2.2-t2v-plus", MR, {"prompt": PROMPT, "size": "832*480"}),
    Group("wan2.6 5 s", "wan2.6-i2v", MR, {"prompt": PROMPT, "image": INPUT_URL, "duration": 5}),
    Group("wan2.6 10 s", "wan2.6-i2v", MR, {"prompt": PROMPT, "image": INPUT_URL, "duration": 10}),
    Group("wan2.6 15 s", "wan2.6-i2v", MR, {"prompt": PROMPT, "image": INPUT_URL, "duration": 15}),
)
PROBE_GROUPS = (GROUPS[0], GROUPS[1])  # a new flash job on each provider


def default(name: str) -> Any:
    """A setting's own default (``Settings``), whatever the environment says."""
    return Settings.model_fields[name].default


# --- the simulator process ------------------------------------------------------------------


async def sim_call(sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, sim.base_url + path, json=body, timeout=aiohttp.ClientTimeout(total=120)
        ) as response,
    ):
        if response.status != 200:
            raise RuntimeError(
                f"simulator {method} {path}: {response.status} {await response.text()}"
            )
        return await response.json()


# --- the engine's surroundings ----------------------------------------------------------------


class CountingDeliverer:
    """Posts nothing: notes each job's task id and when it was first seen running."""

    def __init__(self) -> None:
        self.task_of: dict[int, str] = {}
        self.running_at: dict[int, float] = {}
        self.posts: Counter[str] = Counter()
        self._next_message = 0
        self._waiters: dict[int, asyncio.Future[None]] = {}

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        return self._post(DeliveryKind.RESULT)

    async def deliver_notice(self, job: Job) -> list[int]:
        return self._post(DeliveryKind.NOTICE)

    async def job_changed(self, job: Job) -> None:
        if job.task_id is not None:
            self.task_of[job.id] = job.task_id
        if job.state is JobState.RUNNING and job.id not in self.running_at:
            self.running_at[job.id] = time.monotonic()
            waiter = self._waiters.pop(job.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def wait_running(self, job_id: int, patience: float) -> None:
        """Until ``job_id`` was seen running, or ``patience`` seconds."""
        if job_id in self.running_at:
            return
        waiter = self._waiters[job_id] = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, patience)

    async def alert(self, job: Job, text: str) -> None:
        pass

    def _post(self, kind: DeliveryKind) -> list[int]:
        self._next_message += 1
        self.posts[kind.value] += 1
        return [self._next_message]


class CallLog:
    """Wraps the provider clients: counts polls per provider, notes when a create is handed over."""

    def __init__(self) -> None:
        self.polls: Counter[str] = Counter()
        self.submit_called: list[tuple[float, str]] = []  # (monotonic, provider)

    def wrap(self, providers: Providers) -> None:
        for name in ProviderName:
            client = providers.get(name)
            original_poll, original_submit = client.poll, client.submit

            async def poll(
                spec: ModelSpec, task_id: str, _original: Any = original_poll, _n: str = name
            ) -> Any:
                self.polls[_n] += 1
                return await _original(spec, task_id)

            async def submit(
                spec: ModelSpec, request: Any, _original: Any = original_submit, _n: str = name
            ) -> str:
                self.submit_called.append((time.monotonic(), _n))
                task_id: str = await _original(spec, request)
                return task_id

            client.poll = poll  # type: ignore[method-assign]
            client.submit = submit  # type: ignore[method-assign]


@dataclass
class Probe:
    at: float  # seconds after start() was called, as planned
    group: Group
    submitted: float = math.nan  # monotonic: submit() returned
    job_id: int = 0
    handed: float = math.nan  # the provider client's submit() was called
    arrived: float = math.nan  # the simulator received the create
    running: float = math.nan  # the deliverer saw the job running
    polls_before: int = 0  # status polls the simulator received since start(), before it

    @property
    def delay(self) -> float:
        return self.arrived - self.submitted


@dataclass
class Bench:
    args: argparse.Namespace
    sim: Simulator
    folder: Path
    deliverer: CountingDeliverer = field(default_factory=CountingDeliverer)
    calls: CallLog = field(default_factory=CallLog)

    @property
    def db_path(self) -> Path:
        return self.folder / "wanbot.sqlite3"

    def settings(self, **changes: Any) -> Settings:
        """The defaults, pinned: the environment may not raise the rate behind our back."""
        pinned = {
            name: default(name)
            for name in (
                "requests_per_second",
                "max_concurrent_requests",
                "poll_interval_min",
                "poll_interval_max",
                "video_deadline",
                "image_deadline",
                "http_timeout",
                "max_jobs_per_member",
            )
        }
        pinned.update(changes)
        return load_settings(
            mulerouter_base_url=self.sim.base_url,
            vtrix_base_url=self.sim.base_url,
            mulerouter_api_key=self.sim.keys["mulerouter"],
            vtrix_api_key=self.sim.keys["vtrix"],
            database_path=self.db_path,
            media_dir=self.folder / "media",
            _env_file=None,
            **pinned,
        )

    # --- step 2: a database of running jobs -----------------------------------------------

    async def seed(self) -> tuple[Counter[str], float]:
        """Create ``--jobs`` tasks on the simulator and write their jobs as ``running``."""
        args = self.args
        rng = random.Random(args.seed)
        settings = self.settings()
        config = EngineConfig.from_settings(settings)
        prices = PriceTable()
        parsed = [(g, g.spec.parse(g.fields)) for g in GROUPS]
        store = await open_store(self.db_path)
        stopped_at = time.time() - args.down
        updates: list[tuple[int, float, float | None, bool]] = []
        per_provider: Counter[str] = Counter()
        done = 0
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            providers = Providers(settings, session)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for index in range(args.jobs):
                queue.put_nowait(index)

            async def worker() -> None:
                nonlocal done
                while not queue.empty():
                    index = queue.get_nowait()
                    group, request = parsed[index % len(parsed)]
                    spec = group.spec
                    task_id = await providers.for_spec(spec).submit(spec, request)
                    sent = stopped_at - rng.uniform(30, 300)
                    user = 1 + index % args.users
                    new = NewJob(
                        user_id=user,
                        guild_id=1000 + user % args.guilds,
                        channel_id=user,
                        model_id=spec.model_id,
                        provider=spec.provider.value,
                        request=request.model_dump(mode="json"),
                        price_tier=request.price_tier(),
                        estimated_cost=prices.estimate(spec.model_id, request),
                        units=request.billable_units(),
                        unit=spec.price_unit.value,
                        deadline_seconds=config.deadline_for(spec),
                    )
                    job = await store.create_job(new, Limits(), sent - 0.5)
                    if not await store.claim_submission(job.id, sent - 0.2):
                        raise RuntimeError(f"job {job.id}: claim_submission refused")
                    # The first look as the engine plans it; replaced below by a later one.
                    if await store.mark_running(job.id, task_id, sent, sent + 10) is None:
                        raise RuntimeError(f"job {job.id}: mark_running refused")
                    updates.append((job.id, stopped_at + rng.uniform(0, 120), None, False))
                    per_provider[spec.provider.value] += 1
                    done += 1
                    if done % 1000 == 0:
                        print(
                            f"  seeded {done} running jobs in {time.monotonic() - started:.0f}s",
                            file=sys.stderr,
                            flush=True,
                        )

            try:
                await asyncio.gather(*(worker() for _ in range(args.seed_concurrency)))
                await store.record_polls(updates)  # each looked at once more before the stop
                states = Counter(job.state for job in await store.active_jobs())
            finally:
                await store.close()
        if states != Counter({JobState.RUNNING: args.jobs}):
            raise RuntimeError(f"seeded database holds {dict(states)}, not {args.jobs} running")
        return per_provider, time.monotonic() - started

    # --- step 3: restart and probe ----------------------------------------------------------

    async def probe(self, engine: JobEngine, probe: Probe, index: int) -> None:
        spec = probe.group.spec
        job = await engine.submit(
            user_id=90_000_000 + index,
            guild_id=1000,
            channel_id=90_000_000 + index,
            spec=spec,
            request=spec.parse(probe.group.fields),
        )
        probe.submitted = time.monotonic()
        probe.job_id = job.id
        await self.deliverer.wait_running(job.id, self.args.probe_timeout)
        probe.running = self.deliverer.running_at.get(job.id, math.nan)


async def measure(bench: Bench) -> tuple[list[str], bool]:
    args = bench.args
    await sim_call(
        bench.sim,
        "POST",
        "/_sim/config",
        {
            "durations": dict.fromkeys(
                ("wan2.2-i2v-flash", "wan2.5-i2i-preview", "wan2.2-t2v-plus", "wan2.6-i2v"),
                args.task_seconds,
            ),
            "duration_jitter": 0.0,
            "max_recorded_requests": 0,  # nothing recorded while seeding
        },
    )
    print(f"  seeding {args.jobs} running jobs...", file=sys.stderr, flush=True)
    per_provider, seed_seconds = await bench.seed()
    await sim_call(bench.sim, "POST", "/_sim/config", {"max_recorded_requests": 200_000})

    settings = bench.settings()
    session = aiohttp.ClientSession()  # as the bot does: default connector (100 sockets)
    probes = [Probe(at, group) for at in args.probes for group in PROBE_GROUPS]
    engine: JobEngine | None = None
    try:
        opened = time.monotonic()
        engine = await build_engine(
            settings, session, bench.deliverer, prices=PriceTable(), default_limits=Limits()
        )
        bench.calls.wrap(engine.providers)
        start_called = time.monotonic()
        await engine.start()
        start_returned = time.monotonic()
        print(
            f"  engine started in {start_returned - start_called:.2f}s; probing",
            file=sys.stderr,
            flush=True,
        )
        tasks = []
        for index, probe in enumerate(probes):
            await asyncio.sleep(max(0.0, start_called + probe.at - time.monotonic()))
            tasks.append(asyncio.create_task(bench.probe(engine, probe, index)))
        await asyncio.gather(*tasks)
        polls_at_end = sum(bench.calls.polls.values())
        end = time.monotonic()
        await engine.stop()
        await engine.store.close()
        engine = None
    finally:
        if engine is not None:
            await engine.stop()
            await engine.store.close()
        await session.close()

    # The simulator's request log: when each probe's create arrived, and the polls before it.
    records = (await sim_call(bench.sim, "GET", "/_sim/requests"))["requests"]
    creates = {r["task_id"]: r["at"] for r in records if r["method"] == "POST" and r["task_id"]}
    poll_times = sorted(
        r["at"] for r in records if r["method"] == "GET" and not r["path"].startswith("/_sim")
    )
    handed = sorted(bench.calls.submit_called)
    for probe in probes:
        task_id = bench.deliverer.task_of.get(probe.job_id)
        probe.arrived = creates.get(task_id, math.nan) if task_id else math.nan
        probe.handed = next(
            (t for t, name in handed if name == probe.group.provider and t >= probe.submitted),
            math.nan,
        )
        cut = probe.arrived if not math.isnan(probe.arrived) else end
        probe.polls_before = sum(1 for t in poll_times if start_called <= t < cut)

    # --- the figure block -----------------------------------------------------------------
    rps = settings.requests_per_second
    lines = ["=" * 96, "wanbot restart benchmark: a new job's create after a restart", "=" * 96]
    lines.append(
        f"  {args.jobs} jobs running ("
        + ", ".join(f"{p} {n}" for p, n in sorted(per_provider.items()))
        + f"), seeded in {seed_seconds:.0f}s; bot down {args.down:g}s, so "
        + ("every job is overdue" if args.down >= 120 else "some jobs are overdue")
        + f"; tasks last {args.task_seconds:g}s on the simulator (separate process)"
    )
    lines.append(
        f"  engine defaults: requests_per_second {rps:g} per provider, max_concurrent_requests "
        f"{settings.max_concurrent_requests}, poll {settings.poll_interval_min:g}-"
        f"{settings.poll_interval_max:g}s; re-polling {max(per_provider.values())} overdue "
        f"jobs on one provider takes >= {max(per_provider.values()) / rps:.0f}s"
    )
    lines.append(
        f"  open store+engine {start_called - opened:.2f}s; start() took "
        f"{start_returned - start_called:.2f}s"
    )
    lines.append(
        "  probe   provider     submit() -> create at simulator   (in engine, HTTP)"
        "   -> running   polls since start()"
    )
    delays = []
    for probe in probes:
        delays.append(probe.delay)
        lines.append(
            f"  {probe.at:>4g}s   {probe.group.provider.value:<11}  {probe.delay:>8.3f}s"
            f"{probe.handed - probe.submitted:>22.3f}s {probe.arrived - probe.handed:>6.3f}s"
            f"  {probe.running - probe.submitted:>8.3f}s   {probe.polls_before:>8}"
        )
    good = [d for d in delays if not math.isnan(d)]
    worst = max(delays) if len(good) == len(delays) else math.inf
    median = statistics.median(good) if good else math.nan
    lines.append(
        f"  median {median:.3f}s, worst {worst:.3f}s over {len(delays)} probes; status polls "
        f"{polls_at_end} in the {end - start_called:.0f}s after start() "
        f"({polls_at_end / (end - start_called):.1f}/s; "
        + ", ".join(f"{p} {n}" for p, n in sorted(bench.calls.polls.items()))
        + ")"
    )
    ok = worst < TARGET_SECONDS
    lines.append(
        f"  worst create delay {worst:.3f}s  target < {TARGET_SECONDS:g}s  "
        f"{'PASS' if ok else 'MISS'}"
    )
    lines.append("=" * 96)
    return lines, ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="running jobs at the restart")
    parser.add_argument(
        "--down",
        type=float,
        default=600.0,
        help="seconds the bot was down (next looks were due 0-120 s after the stop)",
    )
    parser.add_argument(
        "--probes",
        type=lambda text: [float(x) for x in text.split(",")],
        default="0,5,15,30",
        help="seconds after start() to submit a new job (one per provider)",
    )
    parser.add_argument(
        "--task-seconds", type=float, default=3600.0, help="simulated task duration"
    )
    parser.add_argument("--users", type=int, default=2000, help="distinct users of seeded jobs")
    parser.add_argument("--guilds", type=int, default=50, help="distinct servers")
    parser.add_argument(
        "--seed-concurrency", type=int, default=64, help="creates in flight while seeding"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator and timing seed")
    parser.add_argument(
        "--probe-timeout", type=float, default=120.0, help="give up on one probe after this"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up after this many seconds (default: from --jobs)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, simulator log)"
    )
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 300 + args.jobs / 50 + max(args.probes) + args.probe_timeout
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    folder = Path(tempfile.mkdtemp(prefix="wanbot-restart-"))
    sim: Simulator | None = None
    try:
        sim = start_simulator(folder, seed=args.seed)
        print(
            f"simulator pid {sim.process.pid} at {sim.base_url}; temp folder {folder}",
            file=sys.stderr,
            flush=True,
        )
        bench = Bench(args, sim, folder)

        async def bounded() -> tuple[list[str], bool]:
            async with asyncio.timeout(args.timeout):
                return await measure(bench)

        lines, ok = asyncio.run(bounded())
        print("\n".join(lines), flush=True)
        return 0 if ok else 1
    except TimeoutError:
        print(f"benchmark timed out after {args.timeout:.0f}s", file=sys.stderr)
        return 2
    finally:
        if sim is not None:
            sim.stop()
            if sim.process.returncode not in (0, -signal.SIGTERM):
                print(
                    "simulator log (tail):\n"
                    + "\n".join(sim.log_path.read_text(errors="replace").splitlines()[-20:]),
                    file=sys.stderr,
                )
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
