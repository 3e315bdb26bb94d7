"""Benchmark: 10,000 jobs in flight through the job engine against the simulator.

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/engine_10k.py                      # the full run: 10,000 jobs, speed 1
    .venv/bin/python bench/engine_10k.py --jobs 300 --speed 20  # a quick check of the script

What it does:

1. Starts the simulator in its own process (``python -m bot simulator`` on 127.0.0.1, port
   chosen by the OS) and sets job durations of 1-5 minutes through its control API, so every
   CPU and memory figure below is the engine's own.
2. Builds a real :class:`~bot.jobs.engine.JobEngine` on a temporary SQLite file with the
   production poll settings (4 s .. 120 s, first look at 10 s), a deliverer that only counts
   posts, and the real outbox (results are downloaded from the simulator and deleted again).
3. Gives the poll planner history: by default it inserts 200 finished jobs per model, tier and
   length (durations drawn like the simulator draws them, plus a detection lag); with
   ``--warmup N`` it runs N real jobs per group first instead, measured separately.
4. Submits ``--jobs`` jobs in batches, spread over users and servers, across seven groups
   (models, providers and video lengths). Once every job has been accepted by the provider it
   restarts the engine (stop, close the store, new session, new engine on the same file,
   ``start()``) and measures how long until every running job has been polled again.
5. Waits until every job is delivered, then reads the simulator's task list: per task the
   status polls it received and when the first poll saw it finished.

It stops by itself (``--timeout``), talks to 127.0.0.1 only, and removes the simulator process
and its temporary files on the way out. Figures are from one run: medians and percentiles over
jobs, not over repeated runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import resource
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from simulator_process import Simulator, start_simulator

from bot.catalog import CATALOG, ModelSpec, spec_for
from bot.config import ProviderName, Settings, load_settings
from bot.jobs.budget import Limits
from bot.jobs.build import build_engine
from bot.jobs.delivery import DeliveryKind
from bot.jobs.engine import JobEngine
from bot.jobs.planning import MIN_HISTORY
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.storage import JobStore, open_store
from bot.pricing import PriceTable
from bot.providers import Providers

# --- what the benchmark runs ------------------------------------------------------------------

# Simulated seconds per model; video models per 5 s of video (the simulator's rule). With the
# default jitter of 10 % every group lasts between one and five minutes at speed 1.
SIM_DURATIONS: dict[str, float] = {
    "wan2.2-i2v-flash": 70.0,
    "wan2.5-i2i-preview": 100.0,
    "wan2.2-t2v-plus": 140.0,
    "wan2.6-i2v": 90.0,  # 90 / 180 / 270 s for 5 / 10 / 15 s of video
}
INPUT_URL = "http://127.0.0.1:9/bench-input.png"  # never fetched: the simulator trusts URLs


@dataclass(frozen=True)
class Group:
    """One kind of job: a model on a provider with one request shape."""

    name: str
    model_id: str
    provider: ProviderName
    fields: dict[str, Any]

    @property
    def spec(self) -> ModelSpec:
        return spec_for(self.model_id, self.provider)

    @property
    def video_seconds(self) -> int:
        return int(self.fields.get("duration", 5))

    def nominal_seconds(self) -> float:
        """Simulated seconds before jitter."""
        scale = self.video_seconds / 5 if self.spec.result_kind.value == "video" else 1.0
        return SIM_DURATIONS[self.model_id] * scale


PROMPT = "a lighthouse on a cliff at dusk, waves, slow dolly in"
GROUPS: tuple[Group, ...] = (
    Group(
        "flash (mulerouter)",
        "wan2.2-i2v-flash",
        ProviderName.MULEROUTER,
        {"prompt": PROMPT, "image": INPUT_URL},
    ),
    Group(
        "flash (vtrix)",
        "wan2.2-i2v-flash",
        ProviderName.VTRIX,
        {"prompt": PROMPT, "image": INPUT_URL},
    ),
    Group(
        "i2i 768",
        "wan2.5-i2i-preview",
        ProviderName.MULEROUTER,
        {"prompt": PROMPT, "images": [INPUT_URL], "size": "768*768", "n": 1},
    ),
    Group(
        "t2v 5 s", "wan2.2-t2v-plus", ProviderName.MULEROUTER, {"prompt": PROMPT, "size": "832*480"}
    ),
    Group(
        "wan2.6 5 s",
        "wan2.6-i2v",
        ProviderName.MULEROUTER,
        {"prompt": PROMPT, "image": INPUT_URL, "duration": 5},
    ),
    Group(
        "wan2.6 10 s",
        "wan2.6-i2v",
        ProviderName.MULEROUTER,
        {"prompt": PROMPT, "image": INPUT_URL, "duration": 10},
    ),
    Group(
        "wan2.6 15 s",
        "wan2.6-i2v",
        ProviderName.MULEROUTER,
        {"prompt": PROMPT, "image": INPUT_URL, "duration": 15},
    ),
)

TARGET_RSS_MB = 300.0
TARGET_POLLS_PER_JOB = 8.0
TARGET_DETECTION_P95 = 5.0
TARGET_RESUME = 5.0
TERMINAL = {
    JobState.DELIVERED.value,
    JobState.FAILED.value,
    JobState.TIMED_OUT.value,
    JobState.CANCELLED.value,
    JobState.SUBMISSION_UNKNOWN.value,
}
log = logging.getLogger("bench")


# --- small helpers ----------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def vm_rss_mb() -> float:
    """Current resident set size of this process (``VmRSS``), in MB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the simulator process: bench/simulator_process.py ---------------------------------------


# --- the engine's surroundings ----------------------------------------------------------------


class CountingDeliverer:
    """A deliverer that posts nothing: it remembers each job's latest state and counts posts."""

    def __init__(self) -> None:
        self.state: dict[int, str] = {}
        self.task_of: dict[int, str] = {}
        self.posts: Counter[str] = Counter()
        self.delivered: set[int] = set()
        self._next_message = 0
        self.alerts = 0

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        return self._post(job, DeliveryKind.RESULT)

    async def deliver_notice(self, job: Job) -> list[int]:
        return self._post(job, DeliveryKind.NOTICE)

    async def job_changed(self, job: Job) -> None:
        self.state[job.id] = job.state.value
        if job.task_id is not None:
            self.task_of[job.id] = job.task_id

    async def alert(self, job: Job, text: str) -> None:
        self.alerts += 1

    def _post(self, job: Job, kind: DeliveryKind) -> list[int]:
        self._next_message += 1
        self.posts[kind.value] += 1
        self.delivered.add(job.id)
        return [self._next_message]


class PollLog:
    """Wraps each provider client's ``poll`` to count polls and note when they happen."""

    def __init__(self) -> None:
        self.polls = 0
        self.creates = 0
        self.first_poll_since: dict[str, float] = {}  # task id -> first poll after `since`
        self.since: float | None = None

    def wrap(self, providers: Providers) -> None:
        for name in ProviderName:
            client = providers.get(name)
            original_poll = client.poll
            original_submit = client.submit

            async def poll(spec: ModelSpec, task_id: str, _original: Any = original_poll) -> Any:
                self.polls += 1
                if self.since is not None and task_id not in self.first_poll_since:
                    self.first_poll_since[task_id] = time.monotonic()
                return await _original(spec, task_id)

            async def submit(
                spec: ModelSpec, request: Any, _original: Any = original_submit
            ) -> str:
                self.creates += 1
                task_id: str = await _original(spec, request)
                return task_id

            client.poll = poll  # type: ignore[method-assign]
            client.submit = submit  # type: ignore[method-assign]


@dataclass
class Run:
    """Everything one engine incarnation needs; replaced on restart."""

    session: aiohttp.ClientSession
    store: JobStore
    providers: Providers
    engine: JobEngine


@dataclass
class Bench:
    args: argparse.Namespace
    sim: Simulator
    folder: Path
    deliverer: CountingDeliverer = field(default_factory=CountingDeliverer)
    polls: PollLog = field(default_factory=PollLog)
    requests_before: int = 0  # provider requests of engine incarnations already stopped
    rss_samples: list[float] = field(default_factory=list)
    group_of_job: dict[int, Group] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.folder / "wanbot.sqlite3"

    def settings(self) -> Settings:
        """Production settings, time scaled by 1/speed so a fast simulator sees the same plan."""
        s = self.args.speed
        return load_settings(
            mulerouter_base_url=self.sim.base_url,
            vtrix_base_url=self.sim.base_url,
            mulerouter_api_key=self.sim.keys["mulerouter"],
            vtrix_api_key=self.sim.keys["vtrix"],
            database_path=self.db_path,
            media_dir=self.folder / "media",
            video_deadline=30 * 60.0 / s,
            image_deadline=10 * 60.0 / s,
            poll_interval_min=4.0 / s,
            poll_interval_max=120.0 / s,
            poll_target_delay=5.0 / s,
            requests_per_second=self.args.rps,
            max_concurrent_requests=self.args.concurrency,
            _env_file=None,
        )

    async def open_run(self) -> Run:
        s = self.args.speed
        session = aiohttp.ClientSession()  # as the bot does: default connector (100 sockets)
        engine = await build_engine(  # production retry policies
            self.settings(),
            session,
            self.deliverer,
            prices=PriceTable(),
            poll_first_look=10.0 / s,
            history_refresh_seconds=10.0 / s,
            default_limits=Limits(),
            expected_seconds={spec.model_id: spec.expected_seconds / s for spec in CATALOG},
        )
        self.polls.wrap(engine.providers)
        return Run(session, engine.store, engine.providers, engine)

    async def close_run(self, run: Run) -> float:
        """Stop the engine as the bot does on shutdown; returns the seconds it took."""
        started = time.monotonic()
        await run.engine.stop()
        await run.store.close()
        self.requests_before += run.providers.requests_sent()
        await run.session.close()
        return time.monotonic() - started

    def requests_sent(self, run: Run | None) -> int:
        return self.requests_before + (run.providers.requests_sent() if run else 0)

    # --- history --------------------------------------------------------------------------

    def seed_history(self, rows_per_group: int) -> list[tuple[str, str, str]]:
        """Insert finished jobs so the planner has history, as a bot that has run a while has.

        Durations are drawn as the simulator draws them (nominal * (1 ± jitter), uniform). The
        detection time (``finished_at``) lags the real finish by U(0, poll_min_interval), as a
        look every ``poll_min_interval`` inside the window gives; ``completed_at`` (the engine's
        estimate of the finish, midway between the last two looks) is that minus half an
        interval, and such a sample is exact. Returns the history keys written.
        """
        rng = random.Random(self.args.seed + 1)
        interval = 4.0 / self.args.speed
        now = time.time()
        rows = []
        keys: list[tuple[str, str, str]] = []
        for group in GROUPS:
            request = group.spec.parse(group.fields)
            key = (group.model_id, request.price_tier(), str(request.billable_units()))
            if key in keys:  # flash on both providers shares one history
                continue
            keys.append(key)
            for index in range(rows_per_group):
                simulated = group.nominal_seconds() * (
                    1 + rng.uniform(-self.args.jitter, self.args.jitter)
                )
                finished = now - 60 - index
                submitted = finished - simulated / self.args.speed - rng.uniform(0, interval)
                rows.append(
                    (
                        1,
                        group.model_id,
                        group.provider.value,
                        "{}",
                        key[1],
                        "delivered",
                        submitted - 1,
                        submitted,
                        finished,
                        finished - interval / 2,
                        1,
                        finished,
                        finished + 600,
                        0,
                        key[2],
                        group.spec.price_unit.value,
                    )
                )
        names = (
            "user_id, model_id, provider, request_json, price_tier, state, created_at,"
            " submitted_at, finished_at, completed_at, completion_exact, delivered_at,"
            " deadline_at, estimated_micros, units, unit"
        )
        marks = ", ".join("?" * len(rows[0]))
        with contextlib.closing(sqlite3.connect(self.db_path)) as db, db:
            # Column names are this file's constants, never input.
            db.executemany(f"INSERT INTO jobs ({names}) VALUES ({marks})", rows)
        return keys

    # --- submitting and waiting -----------------------------------------------------------

    async def submit_jobs(self, run: Run, count: int, first_user: int) -> list[int]:
        """Submit ``count`` jobs round-robin over the groups, in concurrent batches."""
        requests = [(group, group.spec.parse(group.fields)) for group in GROUPS]
        job_ids: list[int] = []
        batch = self.args.batch
        for start in range(0, count, batch):
            calls, groups = [], []
            for index in range(start, min(start + batch, count)):
                group, request = requests[index % len(requests)]
                user = first_user + index % self.args.users
                groups.append(group)
                calls.append(
                    run.engine.submit(
                        user_id=user,
                        guild_id=1000 + user % self.args.guilds,
                        channel_id=user,
                        spec=group.spec,
                        request=request,
                    )
                )
            for group, job in zip(groups, await asyncio.gather(*calls), strict=True):
                job_ids.append(job.id)
                self.group_of_job[job.id] = group
        return job_ids

    async def wait_until(self, what: str, done: Any, run: Run | None, ids: Sequence[int]) -> float:
        """Wait until ``done()``; prints progress every ``--progress`` seconds."""
        started = time.monotonic()
        last = started
        while not done():
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - last >= self.args.progress:
                last = now
                states = Counter(self.deliverer.state.get(job_id, "created") for job_id in ids)
                print(
                    f"  [{now - started:6.0f}s] waiting for {what}: "
                    + ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
                    + f"; requests {self.requests_sent(run)}, RSS {vm_rss_mb():.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        return time.monotonic() - started

    async def sample_rss(self) -> None:
        while True:
            self.rss_samples.append(vm_rss_mb())
            await asyncio.sleep(0.5)

    async def sim_tasks(self) -> dict[str, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                self.sim.base_url + "/_sim/tasks", timeout=aiohttp.ClientTimeout(total=120)
            ) as response,
        ):
            response.raise_for_status()
            body = await response.json()
        return {task["id"]: task for task in body["tasks"]}

    async def configure_simulator(self) -> None:
        changes = {
            "durations": SIM_DURATIONS,
            "duration_jitter": self.args.jitter,
            "pending_share": 0.1,
            "max_recorded_requests": 0,
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.sim.base_url + "/_sim/config",
                json=changes,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response,
        ):
            if response.status != 200:
                raise RuntimeError(f"simulator refused the config: {await response.text()}")


# --- the measured run ---------------------------------------------------------------------------


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, text: str = "") -> None:
        self.lines.append(text)

    def target(self, label: str, value: float, limit: float, unit: str, fmt: str = ".2f") -> None:
        ok = value < limit
        self.verdicts.append((label, ok))
        margin = "" if ok else f"  (over by {value - limit:{fmt}}{unit}, x{value / limit:.2f})"
        self.add(
            f"  {label:<38} {value:>9{fmt}}{unit:<3} target < {limit:g}{unit:<3} "
            f"{'PASS' if ok else 'MISS'}{margin}"
        )


async def warm_up(bench: Bench, per_group: int) -> list[str]:
    """Run ``per_group`` real jobs per group to completion; returns a short report."""
    run = await bench.open_run()
    await run.engine.start()
    started = time.monotonic()
    requests0, polls0 = bench.requests_sent(run), bench.polls.polls
    ids = await bench.submit_jobs(run, per_group * len(GROUPS), first_user=10_000_000)
    await bench.wait_until(
        "warm-up", lambda: all(bench.deliverer.state.get(i) in TERMINAL for i in ids), run, ids
    )
    elapsed = time.monotonic() - started
    tasks = await bench.sim_tasks()
    delays = [
        t["seen_finished_at_monotonic"] - t["finishes_at_monotonic"]
        for t in tasks.values()
        if t["seen_finished_at_monotonic"] is not None
    ]
    polls: dict[str, list[float]] = defaultdict(list)
    for job_id in ids:
        task = tasks.get(bench.deliverer.task_of.get(job_id, ""))
        if task is not None:
            polls[bench.group_of_job[job_id].name].append(task["polls"])
    await bench.close_run(run)
    return [
        f"warm-up: {len(ids)} jobs ({per_group} per group, all submitted at once, so they "
        f"start on the planner's prior) in {elapsed:.0f}s, "
        f"{(bench.polls.polls - polls0) / len(ids):.2f} status polls/job, "
        f"{(bench.requests_sent(None) - requests0) / len(ids):.2f} requests/job, detection "
        f"p50 {pct(delays, 50) * bench.args.speed:.2f}s p95 "
        f"{pct(delays, 95) * bench.args.speed:.2f}s; history comes from these jobs",
        "warm-up polls/job by group: "
        + ", ".join(f"{g.name} {mean(polls[g.name]):.1f}" for g in GROUPS),
    ]


async def measure(bench: Bench) -> Figures:
    args = bench.args
    await bench.configure_simulator()
    history_note: list[str]
    if args.warmup:
        history_note = await warm_up(bench, args.warmup)
    else:
        store = await open_store(bench.db_path)  # creates the schema
        await store.close()
        keys = bench.seed_history(args.history_rows)
        store = await open_store(bench.db_path)  # the engine must see it as history
        seen = [
            len(await store.duration_history(model, tier, Decimal(units)))
            for model, tier, units in keys
        ]
        await store.close()
        if min(seen) < MIN_HISTORY:
            raise RuntimeError(f"inserted history is not read back by the store: {seen}")
        history_note = [
            f"history: {args.history_rows} finished jobs per model/tier/length "
            f"({len(keys)} keys) inserted into the database before the run, same "
            "duration distribution, finish detected U(0, 4 s) late; no warm-up run"
        ]
    warm_tasks = set((await bench.sim_tasks()).keys()) if args.warmup else set()

    sampler = asyncio.create_task(bench.sample_rss())
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    sim_cpu0 = bench.sim.cpu_seconds()
    rss_at_start = vm_rss_mb()
    requests0 = bench.requests_sent(None)
    polls0, creates0 = bench.polls.polls, bench.polls.creates
    posts0 = Counter(bench.deliverer.posts)

    run = await bench.open_run()
    await run.engine.start()
    submit_started = time.monotonic()
    ids = await bench.submit_jobs(run, args.jobs, first_user=1)
    submit_seconds = time.monotonic() - submit_started
    cpu_submitted = cpu_seconds()
    print(f"  submitted {len(ids)} jobs in {submit_seconds:.1f}s", file=sys.stderr, flush=True)
    pending = {JobState.CREATED.value, JobState.SUBMITTING.value}
    await bench.wait_until(
        "every create to be answered",
        lambda: all(bench.deliverer.state.get(i, "created") not in pending for i in ids),
        run,
        ids,
    )
    accepted_seconds = time.monotonic() - submit_started

    # --- restart --------------------------------------------------------------------------
    resume: dict[str, float] = {}
    running_tasks: set[str] = set()
    if not args.no_restart:
        stop_seconds = await bench.close_run(run)
        running_tasks = {
            bench.deliverer.task_of[i]
            for i in ids
            if bench.deliverer.state.get(i) == JobState.RUNNING.value
        }
        print(f"  restarting with {len(running_tasks)} jobs running", file=sys.stderr, flush=True)
        cpu_restart0 = cpu_seconds()
        opened = time.monotonic()
        run = await bench.open_run()
        start_called = time.monotonic()
        bench.polls.since = start_called
        await run.engine.start()
        start_returned = time.monotonic()
        await bench.wait_until(
            "every running job to be polled again",
            lambda: running_tasks <= (bench.polls.first_poll_since.keys()),
            run,
            ids,
        )
        firsts = [bench.polls.first_poll_since[t] - start_called for t in running_tasks]
        resume = {
            "stop": stop_seconds,
            "open": start_called - opened,
            "start": start_returned - start_called,
            "all_polled": max(firsts, default=0.0),
            "p50": pct(firsts, 50),
            "cpu": cpu_seconds() - cpu_restart0,
        }

    await bench.wait_until(
        "every job to finish and be posted",
        lambda: all(bench.deliverer.state.get(i) in TERMINAL for i in ids),
        run,
        ids,
    )
    wall = time.monotonic() - wall0
    cpu = cpu_seconds() - cpu0
    peak_rss = peak_rss_mb()
    sampler.cancel()
    rss_peak_sample = max(bench.rss_samples)
    sim_cpu = bench.sim.cpu_seconds() - sim_cpu0
    requests = bench.requests_sent(run) - requests0
    polls = bench.polls.polls - polls0
    creates = bench.polls.creates - creates0
    await bench.close_run(run)

    # --- the simulator's view (fetched after the memory and CPU figures) -------------------
    tasks = await bench.sim_tasks()
    job_task = {i: bench.deliverer.task_of.get(i) for i in ids}
    main = {t: tasks[t] for t in job_task.values() if t in tasks and t not in warm_tasks}
    delays: list[float] = []
    sim_polls: list[float] = []
    per_group: dict[str, tuple[list[float], list[float], list[float]]] = defaultdict(
        lambda: ([], [], [])
    )
    undetected = 0
    for job_id, task_id in job_task.items():
        task = main.get(task_id or "")
        if task is None:
            continue
        group = bench.group_of_job[job_id].name
        sim_polls.append(task["polls"])
        per_group[group][1].append(task["polls"])
        length = task["finishes_at_monotonic"] - task["created_monotonic"]
        per_group[group][2].append(length * args.speed)
        if task["seen_finished_at_monotonic"] is None:
            undetected += 1
            continue
        delay = (task["seen_finished_at_monotonic"] - task["finishes_at_monotonic"]) * args.speed
        delays.append(delay)
        per_group[group][0].append(delay)
    final_states = Counter(bench.deliverer.state.get(i) for i in ids)

    # --- the figure block -----------------------------------------------------------------
    f = Figures()
    n = len(ids)
    status_per_job = (requests - creates) / n
    f.add("=" * 96)
    f.add(f"wanbot engine benchmark: {n} jobs in flight against the simulator (separate process)")
    f.add("=" * 96)
    f.add("configuration")
    f.add(
        f"  jobs {n}; simulator speed {args.speed:g}; duration jitter ±{args.jitter:.0%} "
        f"(uniform); pending share 10 %; seed {args.seed}"
    )
    f.add(
        "  groups (round-robin, nominal simulated seconds): "
        + "; ".join(f"{g.name} {g.nominal_seconds():.0f}s" for g in GROUPS)
    )
    f.add(
        f"  engine: poll_min_interval {4.0:g}s, poll_max_interval {120.0:g}s, first look "
        f"{10.0:g}s, history refresh {10.0:g}s (production defaults"
        f"{'' if args.speed == 1 else f', all divided by speed {args.speed:g}'})"
    )
    f.add(
        f"  engine: requests_per_second {args.rps:g} per provider, max_concurrent_requests "
        f"{args.concurrency}, aiohttp default connector (100 sockets), production retry "
        "policies, outbox downloads results from the simulator"
    )
    f.add(
        f"  users {args.users}, servers {args.guilds}, per-user concurrency limit off; submit "
        f"batches of {args.batch}; SQLite WAL on a temp file; logging at WARNING"
    )
    for note in history_note:
        f.add(f"  {note}")
    f.add("")
    f.add("results")
    f.add(
        f"  submitted in {submit_seconds:.1f}s ({n / submit_seconds:.0f} jobs/s); all accepted "
        f"by the provider after {accepted_seconds:.1f}s; run total {wall:.0f}s; final states "
        + ", ".join(f"{state} {count}" for state, count in sorted(final_states.items(), key=str))
    )
    f.add(
        f"  posts: {dict(bench.deliverer.posts - posts0)}; tasks never seen finished: {undetected}"
    )
    f.add(
        f"  peak RSS (ru_maxrss) {peak_rss:.0f} MB; highest VmRSS sample {rss_peak_sample:.0f}"
        f" MB; VmRSS at engine start {rss_at_start:.0f} MB"
    )
    f.add(
        f"  CPU (user+sys, this process) {cpu:.1f}s over {wall:.0f}s wall "
        f"({cpu / wall:.0%} of a core): submitting {cpu_submitted - cpu0:.1f}s"
        + (f", restart {resume['cpu']:.1f}s" if resume else "")
        + f"; simulator process {sim_cpu:.1f}s"
    )
    f.add(
        f"  provider requests {requests} = {creates} creates + {polls} status polls "
        f"(+{requests - creates - polls} retries); per job {requests / n:.2f}, status "
        f"{status_per_job:.2f}"
    )
    f.add(
        f"  status polls per job as the simulator counted them: mean {mean(sim_polls):.2f}, "
        f"p50 {pct(sim_polls, 50):.0f}, p95 {pct(sim_polls, 95):.0f}, max "
        f"{max(sim_polls, default=0):.0f}"
    )
    f.add(
        f"  detection delay (simulator: first poll that saw it finished - finish time): "
        f"p50 {pct(delays, 50):.2f}s, p95 {pct(delays, 95):.2f}s, p99 {pct(delays, 99):.2f}s, "
        f"max {max(delays, default=math.nan):.2f}s"
    )
    if resume:
        f.add(
            f"  restart {accepted_seconds:.0f}s after the first submit, once every create was "
            "answered (stop, close store and session, new engine on the same file, start())"
        )
        f.add(
            f"  restart with {len(running_tasks)} running: stop {resume['stop']:.2f}s, open "
            f"store+session {resume['open']:.2f}s, start() {resume['start']:.2f}s, every "
            f"running job polled again {resume['all_polled']:.2f}s after start() "
            f"(p50 {resume['p50']:.2f}s)"
        )
    f.add("  per group:  jobs  length s (p50)  polls/job (mean, p95)  detection s (p50, p95)")
    for group in GROUPS:
        d, p, length = per_group[group.name]
        f.add(
            f"    {group.name:<20} {len(p):>5}  {pct(length, 50):>6.0f}"
            f"          {mean(p):>6.2f} {pct(p, 95):>4.0f}"
            f"              {pct(d, 50):>6.2f} {pct(d, 95):>6.2f}"
        )
    f.add("")
    f.add("targets")
    f.target("peak RSS (ru_maxrss)", peak_rss, TARGET_RSS_MB, "MB", ".0f")
    f.target("status requests per job", status_per_job, TARGET_POLLS_PER_JOB, "")
    f.target("detection delay p95", pct(delays, 95), TARGET_DETECTION_P95, "s")
    if resume:
        f.target("resume: start() returns", resume["start"], TARGET_RESUME, "s")
        # Jobs resume at their saved next look (issue #10), not all at once: how long until the
        # last one is looked at again follows the poll plan (up to the longest interval).
        f.add(
            f"  resume: every running job polled again {resume['all_polled']:.2f}s after start()"
            " (at each job's saved next look; no target)"
        )
    f.add(f"  CPU seconds: {cpu:.1f}s (no target)")
    f.add("=" * 96)
    return f


# --- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the measured run")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (engine times scaled to match)",
    )
    parser.add_argument(
        "--jitter", type=float, default=0.1, help="simulator duration jitter (± share, uniform)"
    )
    parser.add_argument(
        "--rps", type=float, default=2000.0, help="engine requests_per_second (per provider)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=128, help="engine max_concurrent_requests"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator and history seed")
    parser.add_argument("--users", type=int, default=2000, help="distinct users submitting")
    parser.add_argument("--guilds", type=int, default=50, help="distinct servers")
    parser.add_argument("--batch", type=int, default=200, help="submits awaited together")
    parser.add_argument(
        "--history-rows",
        type=int,
        default=200,
        help="finished jobs inserted per model/tier/length as history",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="instead of inserting history, run this many real jobs per group "
        "first (measured separately)",
    )
    parser.add_argument("--no-restart", action="store_true", help="skip the restart")
    parser.add_argument(
        "--progress", type=float, default=15.0, help="seconds between progress lines on stderr"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up after this many seconds (default: from jobs and speed)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, simulator log)"
    )
    args = parser.parse_args(argv)
    if args.timeout is None:
        longest = max(g.nominal_seconds() for g in GROUPS) * (1 + args.jitter)
        runs = 2 if args.warmup else 1
        args.timeout = 180 + args.jobs / args.rps * 2 + runs * 3 * longest / args.speed
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    folder = Path(tempfile.mkdtemp(prefix="wanbot-bench-"))
    sim: Simulator | None = None
    try:
        sim = start_simulator(folder, speed=args.speed, seed=args.seed)
        print(
            f"simulator pid {sim.process.pid} at {sim.base_url}; temp folder {folder}; "
            f"timeout {args.timeout:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        bench = Bench(args, sim, folder)

        async def bounded() -> Figures:
            async with asyncio.timeout(args.timeout):
                return await measure(bench)

        figures = asyncio.run(bounded())
        print("\n".join(figures.lines), flush=True)
        return 0 if all(ok for _, ok in figures.verdicts) else 1
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
