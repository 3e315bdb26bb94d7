"""Benchmark: 1, 2 and 4 engine processes sharing one PostgreSQL database, and a takeover.

Run it from the repository root (a script, not a test; about two minutes)::

    .venv/bin/python bench/processes.py                       # 1, 2, 4 processes, 400 jobs
    .venv/bin/python bench/processes.py --jobs 100 --counts 1,2  # a quick check

What it does:

1. Starts the simulator in its own process (``python -m bot simulator`` on 127.0.0.1) with
   short tasks (about ``--task-seconds``), and for each process count makes a fresh database on
   the PostgreSQL server at ``--url`` (dropped afterwards).
2. Starts that many worker processes (this script with ``--worker``), each a real
   :class:`~bot.jobs.engine.JobEngine` on the shared database (``WANBOT_DATABASE_URL``) with a
   deliverer that only counts posts. ``WANBOT_REQUESTS_PER_SECOND`` is for the whole
   deployment: each worker takes its share from the table of live instances.
3. Tells them all to go at once; each submits its part of ``--jobs``. Measured: how fast the
   jobs were submitted and accepted (jobs per second), provider requests (creates and polls per
   second), and the database's load from ``pg_stat_database`` (transactions and rows touched,
   per second and per job), read from another database so the reading does not count.
4. The takeover: two workers, every job running, then one is SIGKILLed. Measured: from the kill
   until none of its jobs is owned by it any more (the survivor claimed them once its lease ran
   out), and until every job was delivered, each exactly once.

Only 127.0.0.1 is contacted. Figures are from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from engine_10k import CountingDeliverer
from simulator_process import REPO_ROOT, Simulator, start_simulator

from bot.catalog import CATALOG, spec_for
from bot.config import ProviderName, load_settings
from bot.jobs.budget import Limits
from bot.jobs.build import build_engine
from bot.pricing import PriceTable

MODEL = "wan2.2-i2v-flash"
INPUT_URL = "http://127.0.0.1:9/bench-input.png"  # never fetched: the simulator trusts URLs
PROMPT = "a lighthouse on a cliff at dusk, waves, slow dolly in"


# --- the worker: one engine process ------------------------------------------------------------


async def worker(args: argparse.Namespace) -> None:
    speed = args.speed
    settings = load_settings(
        database_url=args.url,
        mulerouter_base_url=args.sim,
        mulerouter_api_key=args.key,
        vtrix_api_key=args.key,
        media_dir=Path(args.media),
        poll_interval_min=4.0 / speed,
        poll_interval_max=120.0 / speed,
        poll_target_delay=5.0 / speed,
        requests_per_second=args.rps,
        lease_seconds=args.lease,
        _env_file=None,
    )
    deliverer = CountingDeliverer()
    async with aiohttp.ClientSession() as session:
        engine = await build_engine(
            settings,
            session,
            deliverer,
            prices=PriceTable(),
            poll_first_look=10.0 / speed,
            history_refresh_seconds=10.0 / speed,
            default_limits=Limits(),
            expected_seconds={spec.model_id: spec.expected_seconds / speed for spec in CATALOG},
        )
        await engine.start()
        say({"ready": engine.membership.instance_id})
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        spec = spec_for(MODEL, ProviderName.MULEROUTER)
        request = spec.parse({"prompt": PROMPT, "image": INPUT_URL})
        for start in range(0, args.jobs, 20):
            await asyncio.gather(
                *(
                    engine.submit(
                        user_id=args.index * 100_000 + index,
                        guild_id=1000 + index % 10,
                        channel_id=1,
                        spec=spec,
                        request=request,
                    )
                    for index in range(start, min(start + 20, args.jobs))
                )
            )
        say({"submitted": args.jobs})
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        while not stop.is_set():
            say(
                {
                    "requests": engine.providers.requests_sent(),
                    "delivered": len(deliverer.delivered),
                    "posts": sum(deliverer.posts.values()),
                    "live": engine.membership.live,
                }
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await stop.wait()
        await engine.stop()
        await engine.store.close()


def say(fields: dict[str, Any]) -> None:
    print(json.dumps(fields), flush=True)


# --- the conductor -------------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[str]
    instance: str = ""
    last: dict[str, Any] = field(default_factory=dict)
    submitted: bool = False

    async def read(self) -> None:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise RuntimeError(f"worker {self.process.pid} exited ({self.process.poll()})")
        fields = json.loads(line)
        if "ready" in fields:
            self.instance = fields["ready"]
        elif "submitted" in fields:
            self.submitted = True
        else:
            self.last = fields

    async def drain(self) -> None:
        """Keep reading its reports (a full pipe would stop the worker)."""
        with contextlib.suppress(RuntimeError):
            while True:
                await self.read()


def database_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


async def db_stats(admin: asyncpg.Connection, name: str) -> dict[str, int]:
    row = await admin.fetchrow(
        "SELECT xact_commit + xact_rollback AS transactions,"
        " tup_returned + tup_fetched AS rows_read,"
        " tup_inserted + tup_updated + tup_deleted AS rows_written"
        " FROM pg_stat_database WHERE datname = $1",
        name,
    )
    assert row is not None
    return dict(row)


@dataclass
class Figures:
    processes: int
    jobs: int
    submit_seconds: float
    done_seconds: float
    requests: int
    transactions: int
    rows_read: int
    rows_written: int
    posts: int


class Conductor:
    def __init__(self, args: argparse.Namespace, sim: Simulator, folder: Path) -> None:
        self.args = args
        self.sim = sim
        self.folder = folder

    def spawn(self, url: str, index: int, jobs: int, lease: float) -> Worker:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "--url",
            url,
            "--sim",
            self.sim.base_url,
            "--key",
            self.sim.keys["mulerouter"],
            "--media",
            str(self.folder / "media"),
            "--jobs",
            str(jobs),
            "--index",
            str(index),
            "--speed",
            repr(self.args.speed),
            "--rps",
            repr(self.args.rps),
            "--lease",
            repr(lease),
        ]
        log = (self.folder / f"worker-{index}.log").open("w")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        return Worker(process)

    @contextlib.asynccontextmanager
    async def database(self, admin: asyncpg.Connection) -> Any:
        name = f"wanbot_bench_{secrets.token_hex(4)}"
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield name, database_url(self.args.url, name)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    async def start_workers(self, url: str, count: int, lease: float) -> list[Worker]:
        total = self.args.jobs
        workers = [
            self.spawn(url, index, total // count + (index < total % count), lease)
            for index in range(count)
        ]
        for worker in workers:  # one by one: the first migrates the fresh database
            while not worker.instance:
                await worker.read()
        return workers

    @staticmethod
    def go(workers: Sequence[Worker]) -> None:
        for worker in workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write("go\n")
            worker.process.stdin.flush()

    @staticmethod
    async def stop(workers: Sequence[Worker]) -> None:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            await asyncio.to_thread(worker.process.wait, 30)

    async def throughput(self, admin: asyncpg.Connection, count: int) -> Figures:
        async with self.database(admin) as (name, url):
            workers = await self.start_workers(url, count, self.args.lease)
            try:
                await asyncio.sleep(1.5)  # the start-up's own statements settle in the stats
                before = await db_stats(admin, name)
                started = time.monotonic()
                self.go(workers)
                readers = {id(w): asyncio.create_task(w.read()) for w in workers}
                submitted_at = None
                while True:
                    done, _ = await asyncio.wait(
                        readers.values(), return_when=asyncio.FIRST_COMPLETED, timeout=600
                    )
                    if not done:
                        raise RuntimeError("the workers stopped reporting")
                    for worker in workers:
                        task = readers[id(worker)]
                        if task.done():
                            task.result()
                            readers[id(worker)] = asyncio.create_task(worker.read())
                    if submitted_at is None and all(w.submitted for w in workers):
                        submitted_at = time.monotonic() - started
                    delivered = sum(w.last.get("delivered", 0) for w in workers)
                    if delivered >= self.args.jobs:
                        break
                done_at = time.monotonic() - started
                for task in readers.values():
                    task.cancel()
                requests = sum(w.last.get("requests", 0) for w in workers)
                posts = sum(w.last.get("posts", 0) for w in workers)
                await asyncio.sleep(1.5)  # PostgreSQL flushes its counters about once a second
                after = await db_stats(admin, name)
            finally:
                await self.stop(workers)
        return Figures(
            count,
            self.args.jobs,
            submitted_at or done_at,
            done_at,
            requests,
            after["transactions"] - before["transactions"],
            after["rows_read"] - before["rows_read"],
            after["rows_written"] - before["rows_written"],
            posts,
        )

    async def takeover(self, admin: asyncpg.Connection) -> str:
        lease = self.args.takeover_lease
        async with self.database(admin) as (_name, url):
            workers = await self.start_workers(url, 2, lease)
            watch = await asyncpg.connect(url)
            drains: list[asyncio.Task[None]] = []
            try:
                self.go(workers)
                victim, survivor = workers
                while not (victim.submitted and survivor.submitted):
                    await asyncio.gather(*(w.read() for w in workers if not w.submitted))

                async def owned_running() -> int:
                    value = await watch.fetchval(
                        "SELECT count(*) FROM jobs WHERE lease_owner = $1"
                        " AND state IN ('created', 'submitting', 'running')",
                        victim.instance,
                    )
                    return int(value)

                drains = [asyncio.create_task(w.drain()) for w in workers]
                # Watching the database is the measurement here (it is what a process sees).
                while await watch.fetchval(  # noqa: ASYNC110
                    "SELECT count(*) FROM jobs WHERE state IN ('created', 'submitting')"
                ):
                    await asyncio.sleep(0.05)
                held = await owned_running()
                victim.process.kill()
                killed = time.monotonic()
                while await owned_running():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                claimed = time.monotonic() - killed
                while True:
                    delivered = await watch.fetchval(
                        "SELECT count(*) FROM jobs WHERE state = 'delivered'"
                    )
                    if delivered >= self.args.jobs:
                        break
                    await asyncio.sleep(0.1)
                finished = time.monotonic() - killed
                posts = await watch.fetchval(
                    "SELECT count(*) FROM outbox WHERE kind = 'result' AND delivered_at IS NOT NULL"
                )
            finally:
                await watch.close()
                await self.stop(workers)
                for task in drains:
                    task.cancel()
        return (
            f"takeover: SIGKILL of a process holding {held} running jobs (lease {lease:g} s, "
            f"heartbeat every {lease / 3:.1f} s): all claimed by the survivor after "
            f"{claimed:.2f} s, every job delivered {finished:.2f} s after the kill; "
            f"{posts} results posted for {self.args.jobs} jobs"
        )


def print_table(rows: list[Figures]) -> None:
    print(
        "processes  jobs  submitted/s  requests/s  polls/job  db xact/s  xact/job"
        "  rows read/job  rows written/job  wall s"
    )
    for row in rows:
        polls = row.requests - row.jobs
        print(
            f"{row.processes:9d}  {row.jobs:4d}  {row.jobs / row.submit_seconds:11.1f}"
            f"  {row.requests / row.done_seconds:10.1f}  {polls / row.jobs:9.2f}"
            f"  {row.transactions / row.done_seconds:9.1f}  {row.transactions / row.jobs:8.1f}"
            f"  {row.rows_read / row.jobs:13.1f}  {row.rows_written / row.jobs:16.1f}"
            f"  {row.done_seconds:6.1f}"
        )


async def conduct(args: argparse.Namespace) -> int:
    admin = await asyncpg.connect(args.url)
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as tmp:
        folder = Path(tmp)
        sim = start_simulator(folder, speed=args.speed, seed=args.seed)
        try:
            await sim.configure(
                {
                    "durations": {MODEL: args.task_seconds * args.speed},
                    "duration_jitter": 0.2,
                    "max_recorded_requests": 0,
                }
            )
            conductor = Conductor(args, sim, folder)
            rows = []
            for count in args.counts:
                rows.append(await conductor.throughput(admin, count))
                print(f"  {count} processes: done in {rows[-1].done_seconds:.1f} s", flush=True)
            print(
                f"{args.jobs} jobs of about {args.task_seconds:g} s ({MODEL} on the simulator), "
                f"WANBOT_REQUESTS_PER_SECOND={args.rps:g} for the whole deployment"
            )
            print_table(rows)
            for row in rows:
                if row.posts != row.jobs:
                    print(f"!! {row.processes} processes: {row.posts} posts for {row.jobs} jobs")
            print(await conductor.takeover(admin))
        finally:
            sim.stop()
            await admin.close()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--task-seconds", type=float, default=8.0)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--takeover-lease", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    # The worker side (spawned by the conductor).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sim", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--media", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker:
        args.counts = [int(part) for part in args.counts.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        asyncio.run(worker(args))
        return 0
    return asyncio.run(conduct(args))


if __name__ == "__main__":
    sys.exit(main())
